"""The run report as one self-contained HTML page: the report's data and charts in, a string out.

No JavaScript, no stylesheet, font or image from elsewhere: the page opens from a file on a machine without
network access and shows the same everywhere. Every value that comes from the warehouse (company names,
reasons, labels, run ids, check messages) is HTML-escaped here, in one place (:func:`esc`); only markup this
module builds itself, and the charts' SVG (whose text is drawn as outlines), is inserted as it is.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from python_tasks.report.amounts import cny_en, cny_zh, count, percent, signed
from python_tasks.report.figures import GATE_LABELS, PART_LABELS, SIGNAL_LABELS, STRATEGY_COLOURS

if TYPE_CHECKING:
    from python_tasks.report.figures import Chart, ChartStyle
    from python_tasks.report.queries import ReportData


class Safe(str):
    """Markup built by this module: inserted as it is."""

    __slots__ = ()


def esc(value: object) -> Safe:
    """Escape ``value`` for HTML text or a quoted attribute, unless it is already markup."""
    if isinstance(value, Safe):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Safe("–")
    return Safe(html.escape(str(value), quote=True))


def join(parts: Iterable[str]) -> Safe:
    return Safe("".join(esc(p) for p in parts))


@dataclass(frozen=True)
class Links:
    """Relative links from the page to the files around it (so they work from any folder it is copied to)."""

    data_docs: Sequence[tuple[str, str]] = ()  # (run id, href of its Data Docs index)
    previous_date: tuple[date, str] | None = None  # the previous business date's report index
    date_index: str | None = None  # this business date's index of runs


# ---------------------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------------------


def money(value: float | None) -> Safe:
    """An amount in 亿/万元, with CNY bn/m on hover."""
    return Safe(f'<span class="num" title="{esc(cny_en(value))}">{esc(cny_zh(value))}</span>')


def both(en: str, zh: str | None) -> Safe:
    """English with the Chinese beneath (the Chinese in a lighter style)."""
    if not zh:
        return esc(en)
    return Safe(f'{esc(en)} <span class="zh">{esc(zh)}</span>')


def badge(text: str, kind: str) -> Safe:
    return Safe(f'<span class="badge badge-{esc(kind)}">{esc(text)}</span>')


def table(headers: Sequence[object], rows: Iterable[Sequence[object]], *, numeric: Iterable[int] = (),
          table_id: str | None = None, caption: str | None = None) -> Safe:  # fmt: skip
    """A table; every cell escaped unless it is :class:`Safe`; ``numeric`` columns right-aligned."""
    right = set(numeric)
    head = join(Safe(f"<th{' class=num' if i in right else ''}>{esc(h)}</th>") for i, h in enumerate(headers))
    body = join(
        Safe(
            "<tr>"
            + join(Safe(f"<td{' class=num' if i in right else ''}>{esc(c)}</td>") for i, c in enumerate(row))
            + "</tr>"
        )
        for row in rows
    )
    attributes = f' id="{esc(table_id)}"' if table_id else ""
    caption_html = f"<caption>{esc(caption)}</caption>" if caption else ""
    return Safe(f'<div class="table-wrap"><table{attributes}>{caption_html}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")  # fmt: skip


def figure(chart: Chart, wide: bool = False) -> Safe:
    classes = "chart wide" if wide else "chart"
    return Safe(
        f'<figure class="{classes}" id="{esc(chart.id)}">{chart.svg}'
        f"<figcaption><strong>{esc(chart.title)}.</strong> {esc(chart.caption)}</figcaption></figure>"
    )


def note(text: str | Safe, note_id: str, kind: str = "info") -> Safe:
    return Safe(f'<p class="note note-{esc(kind)}" id="{esc(note_id)}">{esc(text)}</p>')


def section(section_id: str, en: str, zh: str, body: Iterable[str], intro: str | None = None) -> Safe:
    intro_html = f'<p class="intro">{esc(intro)}</p>' if intro else ""
    return Safe(
        f'<section id="{esc(section_id)}"><h2>{esc(en)} <span class="zh">{esc(zh)}</span></h2>'
        f"{intro_html}{join(body)}</section>"
    )


def _labels(rules: dict[str, Any], dimension: str) -> dict[str, tuple[str, str | None]]:
    return {k: (v.get("en", k), v.get("zh")) for k, v in rules.get("labels", {}).get(dimension, {}).items()}


def _label(rules: dict[str, Any], dimension: str, key: object) -> Safe:
    en, zh = _labels(rules, dimension).get(str(key), (str(key), None))
    return both(en, zh)


def _strategy(rules: dict[str, Any], strategy: object) -> Safe:
    label = rules.get("policies", {}).get(str(strategy), {}).get("label", {})
    colour = STRATEGY_COLOURS.get(str(strategy), "#8a99a8")
    return Safe(
        f'<span class="dot" style="background:{colour}"></span>' + both(label.get("en", str(strategy)), label.get("zh"))
    )


def _change(current: float | None, previous: float | None) -> str:
    if current is None or previous is None:
        return ""
    delta = current - previous
    share = f" ({signed(percent(delta / abs(previous)), delta)})" if previous else ""
    return f"{signed(cny_zh(delta), delta)}{share}"


# ---------------------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------------------


def _kpi(kpi_id: str, en: str, zh: str, value: object, main: str | Safe, detail: str | Safe = "",
         kind: str = "") -> Safe:  # fmt: skip
    return Safe(
        f'<div class="kpi {esc(kind)}" id="{esc(kpi_id)}" data-value="{esc(value)}">'
        f'<div class="kpi-label">{esc(en)} <span class="zh">{esc(zh)}</span></div>'
        f'<div class="kpi-value">{esc(main)}</div><div class="kpi-detail">{esc(detail)}</div></div>'
    )


def quality_status(data: ReportData) -> tuple[str, str]:
    """(kind, text) of the run's data quality: failed, warnings, passed, or not recorded."""
    gates = data.quality.gates
    if gates.empty:
        return "muted", "no checks recorded"
    errors, warns = int(gates["failed_error"].sum()), int(gates["failed_warn"].sum())
    if errors:
        return "bad", f"{errors} error-level check{'s' if errors != 1 else ''} failed"
    if warns:
        return "warn", f"passed with {warns} warning{'s' if warns != 1 else ''}"
    return "good", "all checks passed"


def headline_section(data: ReportData) -> Safe:
    h = data.headline
    stressed_share = (h.total_clv_stressed_cny / h.total_clv_cny - 1) if h.total_clv_cny else None
    previous = (
        f"{_change(h.total_clv_cny, h.previous_total_clv_cny)} since {h.previous_date}"
        if h.previous_date is not None and h.previous_total_clv_cny is not None
        else "first run: no previous business date"
    )
    kind, status = quality_status(data)
    gates = data.quality.gates
    checks = int(gates["checks"].sum()) if not gates.empty else 0
    cards = [
        _kpi("kpi-clients", "Clients", "客户数", h.clients, count(h.clients),
             f"of which {count(h.prospects)} prospects 潜在客户"),
        _kpi("kpi-total-clv", "Total base CLV", "客户终身价值合计", repr(h.total_clv_cny), cny_zh(h.total_clv_cny),
             Safe(f"{esc(cny_en(h.total_clv_cny))}<br>{esc(previous)}")),
        _kpi("kpi-stressed-clv", f"Stressed CLV ({h.stressed_scenario})", "压力情景价值", repr(h.total_clv_stressed_cny),
             cny_zh(h.total_clv_stressed_cny),
             Safe(f"{esc(cny_en(h.total_clv_stressed_cny))}<br>{esc(signed(percent(stressed_share), stressed_share))} "
                  "against base")),
        _kpi("kpi-ead", "Exposure at default", "违约风险暴露", repr(h.total_ead_cny), cny_zh(h.total_ead_cny),
             cny_en(h.total_ead_cny)),
        _kpi("kpi-warnings", "Open warnings", "风险预警", h.open_warnings, count(h.open_warnings),
             Safe(f"{count(h.new_warnings)} new, {count(h.high_warnings)} high severity<br>"
                  f"{count(h.watch_list_clients)} clients on the watch list"),
             "warn" if h.high_warnings else ""),
        _kpi("kpi-quality", "Data quality", "数据质量", checks, status,
             f"{count(checks)} checks in {len(gates)} gates", f"{kind} text"),
    ]  # fmt: skip
    return Safe(f'<section id="headline" class="kpis">{join(cards)}</section>')


def _summary_rows(data: ReportData, dimension: str, order: Sequence[str]) -> list[list[object]]:
    rows = data.summary[data.summary["dimension"] == dimension].set_index("segment")
    keys = [k for k in order if k in rows.index] + sorted(set(rows.index) - set(order))
    out = []
    for key in keys:
        r = rows.loc[key]
        label = _strategy(data.rules, key) if dimension == "strategy" else _label(data.rules, dimension, key)
        out.append([
            label, count(r["clients"]), percent(r["share_of_clients"]), money(r["ead_cny"]), money(r["clv_cny"]),
            money(r["clv_stressed_cny"]), money(r["expected_loss_12m_cny"]), percent(r["raroc"]),
        ])  # fmt: skip
    return out


_SUMMARY_HEADERS = (
    Safe("Segment <span class=zh>细分</span>"), Safe("Clients <span class=zh>客户</span>"), "Share",
    Safe("EAD <span class=zh>风险暴露</span>"), Safe("Base CLV <span class=zh>基准价值</span>"),
    Safe("Stressed CLV <span class=zh>压力价值</span>"), Safe("EL 12m <span class=zh>预期损失</span>"), "RAROC",
)  # fmt: skip


def clv_section(data: ReportData, charts: dict[str, Chart]) -> Safe:
    value_order = list(_labels(data.rules, "value_tier"))
    strategy_order = list(STRATEGY_COLOURS)
    body = [
        figure(charts["chart-clv-distribution"], wide=True),
        Safe('<div class="grid3">'),
        figure(charts["chart-clv-by-value-tier"]),
        figure(charts["chart-clv-by-strategy"]),
        figure(charts["chart-clv-by-industry"]),
        Safe("</div>"),
        Safe("<h3>By value tier <span class=zh>按价值层级</span></h3>"),
        table(
            _SUMMARY_HEADERS,
            _summary_rows(data, "value_tier", value_order),
            numeric=range(1, 8),
            table_id="table-value-tiers",
        ),  # fmt: skip
        Safe("<h3>By strategy <span class=zh>按经营策略</span></h3>"),
        table(
            _SUMMARY_HEADERS,
            _summary_rows(data, "strategy", strategy_order),
            numeric=range(1, 8),
            table_id="table-strategies",
        ),  # fmt: skip
    ]
    low, high = data.value_thresholds
    intro = (
        "Client lifetime value (CLV) is the present value of each client's expected risk-adjusted contribution "
        "(net interest and fees less costs, expected loss and the cost of capital) over the horizon. Value tiers "
        f"this run: high from {cny_zh(high)}, low below {cny_zh(low)}."
    )
    return section("clv", "Client lifetime value", "客户终身价值", body, intro)


def strategy_section(data: ReportData, charts: dict[str, Chart]) -> Safe:
    policies = data.rules.get("policies", {})
    matrix = data.matrix.groupby("strategy")[["clients", "clv_cny"]].sum()
    rows = []
    for strategy in [s for s in STRATEGY_COLOURS if s in policies] + sorted(set(policies) - set(STRATEGY_COLOURS)):
        policy = policies[strategy]
        clients = int(matrix.at[strategy, "clients"]) if strategy in matrix.index else 0
        clv = float(matrix.at[strategy, "clv_cny"]) if strategy in matrix.index else 0.0

        def pair(key: str, p: dict = policy) -> Safe:
            value = p.get(key, {})
            return both(value.get("en", ""), value.get("zh"))

        rows.append([_strategy(data.rules, strategy), count(clients), money(clv), pair("pricing"),
                     pair("credit_terms"), pair("service"), f"{policy.get('review_months', '–')} months"])  # fmt: skip
    headers = (Safe("Strategy <span class=zh>策略</span>"), "Clients", Safe("Base CLV"),
               Safe("Pricing <span class=zh>定价</span>"), Safe("Credit terms <span class=zh>授信条件</span>"),
               Safe("Service <span class=zh>服务</span>"), Safe("Review <span class=zh>复查</span>"))  # fmt: skip
    body = [figure(charts["chart-strategy-matrix"], wide=True),
            Safe("<h3>Credit policy per strategy <span class=zh>差异化授信政策</span></h3>"),
            table(headers, rows, numeric=(1, 2), table_id="table-policies")]  # fmt: skip
    intro = (
        "The rules in force assign each value tier × risk tier cell a strategy and its differentiated credit policy "
        f"(segment rules version {data.rules.get('version', '–')})."
    )
    return section("strategy", "Strategy matrix", "价值 × 风险策略矩阵", body, intro)


def migration_section(data: ReportData, charts: dict[str, Chart]) -> Safe:
    if data.previous_date is None:
        body = [note("No previous run: this is the first business date in the warehouse, so there is no segment "
                     "migration to show yet. 首次运行，暂无迁移数据。", "migration-note")]  # fmt: skip
        return section("migration", "Segment migration", "客户迁移", body)
    ids = [c for c in ("chart-migration-value-tier", "chart-migration-risk-tier", "chart-migration-lifecycle-stage")
           if c in charts]  # fmt: skip
    if not ids:
        body = [note(f"No migration rows were recorded against the previous run ({data.previous_date}).",
                     "migration-note", "warn")]  # fmt: skip
        return section("migration", "Segment migration", "客户迁移", body)
    moves = []
    for dimension in ("value_tier", "risk_tier", "lifecycle_stage"):
        rows = data.migration[data.migration["dimension"] == dimension]
        moved = rows[(rows["from_label"] != rows["to_label"]) & ~rows["from_label"].isin(["(new)"])
                     & ~rows["to_label"].isin(["(gone)"])]  # fmt: skip
        moves.append(f"{int(moved['clients'].sum()):,} clients changed {dimension.replace('_', ' ')}")
    new = data.migration[(data.migration["dimension"] == "value_tier") & (data.migration["from_label"] == "(new)")]
    gone = data.migration[(data.migration["dimension"] == "value_tier") & (data.migration["to_label"] == "(gone)")]
    summary = "; ".join(moves) + f"; {int(new['clients'].sum()):,} new clients, {int(gone['clients'].sum()):,} gone."
    body = [Safe('<div class="grid3">'), join(figure(charts[c]) for c in ids), Safe("</div>")]
    intro = f"Since the previous business date ({data.previous_date}): {summary}"
    return section("migration", "Segment migration", "客户迁移", body, intro)


def _signal_list(signals: pd.DataFrame) -> Safe:
    items = []
    for s in signals.itertuples(index=False):
        en, _zh = SIGNAL_LABELS.get(s.signal_code, (s.signal_code, None))
        age = "new" if s.status == "new" else f"{int(s.days_open)} d"
        escalated = " · escalated" if s.escalated else ""
        items.append(
            f"<li>{badge(s.severity, s.severity)} <strong>{esc(en)}</strong>: {esc(s.reason_en)} "
            f'<span class="muted">({esc(age)}{escalated})</span><br><span class="zh">{esc(s.reason_zh)}</span></li>'
        )
    return Safe(f'<ul class="signals">{"".join(items)}</ul>')


def _signal_table(counts: pd.DataFrame) -> Safe:
    if counts.empty:
        return Safe("")
    pivot = counts.pivot_table(index="signal_code", columns="status", values="signals", aggfunc="sum", fill_value=0)
    high = counts[(counts["severity"] == "high") & counts["status"].isin(["new", "active"])]
    high = high.groupby("signal_code")["signals"].sum()
    rows = []
    for code in sorted(pivot.index, key=lambda c: -int(pivot.loc[c].drop("closed", errors="ignore").sum())):
        en, zh = SIGNAL_LABELS.get(code, (code, None))
        get = lambda status, c=code: int(pivot.at[c, status]) if status in pivot.columns else 0  # noqa: E731
        rows.append([both(en, zh), count(get("new")), count(get("active")), count(int(high.get(code, 0))),
                     count(get("closed"))])  # fmt: skip
    headers = (Safe("Signal <span class=zh>预警类型</span>"), Safe("New <span class=zh>新增</span>"),
               Safe("Active <span class=zh>持续</span>"), Safe("High <span class=zh>高</span>"),
               Safe("Closed today <span class=zh>解除</span>"))  # fmt: skip
    return table(headers, rows, numeric=(1, 2, 3, 4), table_id="table-signals")


def warnings_section(data: ReportData, charts: dict[str, Chart]) -> Safe:
    body: list[str] = []
    if "chart-warning-signals" in charts:
        body.append(Safe('<div class="grid2">'))
        body.append(figure(charts["chart-warning-signals"]))
        body.append(Safe(f"<div>{_signal_table(data.signal_counts)}</div></div>"))
    if data.warnings.empty:
        body.append(note("No client has an open early-warning signal on this date. 当日无风险预警。", "warnings-note"))
        return section("warnings", "Early warnings", "风险预警", body)
    by_client = {k: g for k, g in data.warning_signals.groupby("client_id")}
    rows = []
    for w in data.warnings.itertuples(index=False):
        rows.append([
            int(w.priority_rank),
            Safe(f'<span class="mono">{esc(w.client_id)}</span><br>{esc(w.company_name)}'),
            f"{w.priority_score:,.1f}", money(w.ead_cny), money(w.clv_cny),
            _label(data.rules, "risk_tier", w.risk_tier), _strategy(data.rules, w.strategy),
            _signal_list(by_client.get(w.client_id, pd.DataFrame(columns=data.warning_signals.columns))),
        ])  # fmt: skip
    headers = ("#", Safe("Client <span class=zh>客户</span>"), Safe("Priority <span class=zh>优先级</span>"),
               Safe("EAD <span class=zh>风险暴露</span>"), Safe("Base CLV"), Safe("Risk tier <span class=zh>风险</span>"),
               Safe("Strategy <span class=zh>策略</span>"), Safe("Signals and reasons <span class=zh>预警信号与原因</span>"))  # fmt: skip
    body.append(Safe(f"<h3>Top {len(rows)} of the watch list <span class=zh>重点关注名单</span></h3>"))
    body.append(table(headers, rows, numeric=(0, 2, 3, 4), table_id="table-warnings"))
    h = data.headline
    intro = (
        f"{h.open_warnings:,} signals open ({h.new_warnings:,} new today, {h.high_warnings:,} high severity) on "
        f"{h.watch_list_clients:,} clients. The watch list ranks clients by the severity of their signals weighted "
        "by exposure, with extra weight for new and long-open signals."
    )
    return section("warnings", "Early warnings", "风险预警", body, intro)


def attribution_section(data: ReportData, charts: dict[str, Chart]) -> Safe:
    from python_tasks.report.queries import ATTRIBUTION_PARTS

    if not data.attribution_totals:
        text = ("No previous run: the CLV change since the previous business date can be attributed from the second "
                "run on. 首次运行，暂无价值变动归因。")  # fmt: skip
        return section("attribution", "CLV change attribution", "价值变动归因", [note(text, "attribution-note")])
    rows = []
    for m in data.movers.itertuples(index=False):
        parts = {p: float(getattr(m, p)) for p in ATTRIBUTION_PARTS}
        driver = max(parts, key=lambda p: abs(parts[p]))
        en, zh = PART_LABELS.get(driver, (driver, None))
        rows.append([
            Safe(f'<span class="mono">{esc(m.client_id)}</span><br>{esc(m.company_name)}'),
            money(m.clv_previous_cny), money(m.clv_cny),
            Safe(f'<span class="{"pos" if m.delta_clv_cny >= 0 else "neg"}">{money(m.delta_clv_cny)}</span>'),
            both(en, zh), money(parts[driver]), _strategy(data.rules, m.strategy),
        ])  # fmt: skip
    headers = (Safe("Client <span class=zh>客户</span>"), Safe("Previous CLV <span class=zh>上期</span>"),
               Safe("CLV now <span class=zh>本期</span>"), Safe("Change <span class=zh>变动</span>"),
               Safe("Main driver <span class=zh>主要因素</span>"), "Driver's part", Safe("Strategy <span class=zh>策略</span>"))  # fmt: skip
    totals = data.attribution_totals
    body = [
        figure(charts["chart-attribution-waterfall"], wide=True),
        figure(charts["chart-attribution-movers"], wide=True),
        Safe(f"<h3>The {len(rows)} largest movers <span class=zh>价值变动最大的客户</span></h3>"),
        table(headers, rows, numeric=(1, 2, 3, 5), table_id="table-movers"),
    ]
    intro = (
        f"Total base CLV moved from {cny_zh(totals['previous'])} on {data.attribution_previous_date} to "
        f"{cny_zh(totals['current'])} ({signed(cny_zh(totals['delta']), totals['delta'])}). The change of each "
        f"client is split over exposure, margin, PD, LGD, retention, macro outlook and parameters "
        f"({data.attribution_method} attribution); clients new or gone since count apart."
    )
    return section("attribution", "CLV change attribution", "价值变动归因", body, intro)


def quality_section(data: ReportData, charts: dict[str, Chart], links: Links) -> Safe:
    q = data.quality
    body: list[str] = []
    if q.gates.empty:
        body.append(note(f"No data-quality results are recorded for {data.as_of_date}. 未记录数据质量结果。",
                         "quality-note", "warn"))  # fmt: skip
    else:
        body.append(figure(charts["chart-data-quality"]))
        rows = []
        for g in q.gates.itertuples(index=False):
            en, zh = GATE_LABELS.get(g.gate, (g.gate, None))
            kind = "bad" if g.failed_error else ("warn" if g.failed_warn else "good")
            status = "stopped" if g.failed_error else ("warnings" if g.failed_warn else "passed")
            rows.append([both(en, zh), badge(status, kind), count(g.checks), count(g.passed), count(g.failed_error),
                         count(g.failed_warn), Safe(f'<span class="mono">{esc(g.run_id)}</span>')])  # fmt: skip
        headers = (Safe("Gate <span class=zh>关口</span>"), "Status", "Checks", "Passed", "Failed (error)",
                   "Failed (warn)", "Run")  # fmt: skip
        body.append(table(headers, rows, numeric=(2, 3, 4, 5), table_id="table-quality"))
        if q.other_run_gates:
            body.append(note(f"Not recorded under run {data.run_id}: the gates {', '.join(q.other_run_gates)} are "
                             "shown from the latest run of this date that recorded them.", "quality-other-runs",
                             "warn"))  # fmt: skip
        if not q.failures.empty:
            failed = [
                [f.gate, badge(f.severity, "bad" if f.severity == "error" else "warn"), f.suite, f.expectation_type,
                 f.column_name, count(f.unexpected_count) if pd.notna(f.unexpected_count) else "–",
                 _shorten(f.exception or f.observed_value)]
                for f in q.failures.head(50).itertuples(index=False)
            ]  # fmt: skip
            body.append(Safe("<h3>Failed checks <span class=zh>未通过的检查</span></h3>"))
            body.append(table(("Gate", "Severity", "Suite", "Check", "Column", "Unexpected", "Message"), failed,
                              numeric=(5,), table_id="table-failed-checks"))  # fmt: skip
    if links.data_docs:
        items = join(Safe(f'<li><a href="{esc(href)}">Data Docs of run <span class="mono">{esc(run)}</span></a></li>')
                     for run, href in links.data_docs)  # fmt: skip
        body.append(
            Safe(f'<p id="data-docs-link">Every check with its arguments and observed values: </p><ul>{items}</ul>')
        )
    kind, status = quality_status(data)
    return section("quality", "Data quality", "数据质量", body, f"Gates of {data.as_of_date}: {status}.")


def _shorten(text: object, limit: int = 240) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "–"
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------------------

_SECTIONS = (
    ("headline", "Headline", "概览"), ("clv", "CLV", "客户价值"), ("strategy", "Strategy", "策略"),
    ("migration", "Migration", "迁移"), ("warnings", "Warnings", "预警"), ("attribution", "Attribution", "归因"),
    ("quality", "Data quality", "数据质量"),
)  # fmt: skip

CSS = """
:root { --ink:#1f2a36; --muted:#5f6d7a; --line:#dfe4ea; --bg:#f5f7fa; --card:#fff; --accent:#1f5f8b;
  --good:#2f7d6d; --warn:#b7791f; --bad:#c0392b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font: 14px/1.5 -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC",
  "WenQuanYi Micro Hei", sans-serif; }
header.top { background:#12324d; color:#fff; padding:22px 32px 16px; }
header.top h1 { margin:0 0 4px; font-size:24px; font-weight:600; }
header.top h1 .zh { color:#b9d3ea; font-weight:400; }
header.top .meta { color:#c9d8e6; font-size:13px; }
header.top .meta span { margin-right:18px; white-space:nowrap; }
header.top .meta a { color:#fff; }
nav.toc { position:sticky; top:0; z-index:2; background:#fff; border-bottom:1px solid var(--line);
  padding:8px 32px; font-size:13px; }
nav.toc a { color:var(--accent); text-decoration:none; margin-right:18px; white-space:nowrap; }
nav.toc a .zh { color:var(--muted); }
main { max-width:1320px; margin:0 auto; padding:20px 32px 40px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:18px 22px;
  margin:0 0 20px; }
section h2 { margin:0 0 8px; font-size:19px; font-weight:600; }
section h3 { margin:18px 0 8px; font-size:15px; font-weight:600; }
.zh { color:var(--muted); font-weight:400; }
p.intro { color:var(--muted); margin:0 0 12px; max-width:1000px; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit, minmax(190px, 1fr)); gap:14px; background:none;
  border:none; padding:0; }
.kpi { background:var(--card); border:1px solid var(--line); border-left:4px solid var(--accent);
  border-radius:8px; padding:12px 14px; }
.kpi.good { border-left-color:var(--good); } .kpi.warn { border-left-color:var(--warn); }
.kpi.bad { border-left-color:var(--bad); } .kpi.muted { border-left-color:#9aa7b4; }
.kpi-label { font-size:12px; color:var(--muted); text-transform:uppercase; letter-spacing:.03em; }
.kpi-label .zh { text-transform:none; }
.kpi-value { font-size:24px; font-weight:600; margin:4px 0 2px; font-variant-numeric:tabular-nums; }
.kpi.text .kpi-value { font-size:18px; }
.kpi-detail { font-size:12px; color:var(--muted); }
figure.chart { margin:0 0 14px; }
figure.chart svg { display:block; width:100%; height:auto; margin:0 auto; }
figcaption { font-size:12.5px; color:var(--muted); margin-top:4px; }
figcaption strong { color:var(--ink); font-weight:600; }
.grid2 { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:18px; align-items:start; }
.grid3 { display:grid; grid-template-columns:repeat(auto-fit, minmax(360px, 1fr)); gap:18px; align-items:start; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:6px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#f0f3f7; font-weight:600; font-size:12px; white-space:nowrap; }
tbody tr:nth-child(even) td { background:#fafbfc; }
.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size:12px; }
.muted { color:var(--muted); font-size:12px; }
.pos { color:var(--good); } .neg { color:var(--bad); }
.dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:6px; vertical-align:baseline; }
.badge { display:inline-block; padding:0 7px; border-radius:9px; font-size:11.5px; font-weight:600; color:#fff;
  background:#8a99a8; white-space:nowrap; }
.badge-high, .badge-bad { background:#d64541; } .badge-medium { background:#e8893a; }
.badge-low { background:#e2b93b; color:#3b2f00; } .badge-warn { background:#e0a020; color:#2b2100; }
.badge-good { background:var(--good); }
ul.signals { margin:0; padding-left:0; list-style:none; }
ul.signals li { margin:0 0 4px; line-height:1.4; }
p.note { padding:10px 14px; border-radius:6px; background:#eef4fa; border:1px solid #d3e2f0; }
p.note-warn { background:#fff6e5; border-color:#f0d9a8; }
footer { max-width:1320px; margin:0 auto; padding:0 32px 40px; color:var(--muted); font-size:12px; }
@media print { nav.toc { display:none; } body { background:#fff; } section { break-inside:avoid-page; }
  header.top { background:#fff; color:var(--ink); } header.top .meta { color:var(--muted); } }
"""


def render_page(
    data: ReportData, charts: dict[str, Chart], *, links: Links, style: ChartStyle, built_at: datetime,
    seconds: float | None = None,
) -> str:  # fmt: skip
    """The whole report of one run as an HTML document."""
    versions = data.versions
    clv_version = versions.get("clv", {}).get("version", "–")
    rules_version = versions.get("segments", {}).get("version", "–")
    kind, status = quality_status(data)
    previous = (
        Safe(f'<span><a href="{esc(links.previous_date[1])}">← {esc(links.previous_date[0])}</a></span>')
        if links.previous_date
        else Safe("")
    )
    other_runs = (
        Safe(f'<span><a href="{esc(links.date_index)}">all runs of this date</a></span>')
        if links.date_index
        else Safe("")
    )
    toc = join(Safe(f'<a href="#{esc(i)}">{esc(en)} <span class="zh">{esc(zh)}</span></a>') for i, en, zh in _SECTIONS)
    languages = (
        f"Chart labels in English and Chinese (font {style.cjk_font})."
        if style.chinese
        else "Chart labels in English: no CJK font was found where the report was built; Chinese names are in the tables."
    )
    timing = f" in {seconds:.1f} s" if seconds is not None else ""
    body = join([
        headline_section(data), clv_section(data, charts), strategy_section(data, charts),
        migration_section(data, charts), warnings_section(data, charts), attribution_section(data, charts),
        quality_section(data, charts, links),
    ])  # fmt: skip
    title = f"Client value report {data.as_of_date} · 客户价值报告"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="python_tasks.report">
<title>{esc(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header class="top">
<h1>Corporate client value report <span class="zh">对公客户价值报告</span></h1>
<div class="meta"><span>Business date 业务日期 <strong>{esc(data.as_of_date)}</strong></span>
<span>Run <span class="mono">{esc(data.run_id)}</span></span>
<span>Data quality: {badge(status, kind)}</span>
<span>CLV parameters {esc(clv_version)} · segment rules {esc(rules_version)}</span>{previous}{other_runs}</div>
</header>
<nav class="toc">{toc}</nav>
<main>
{body}
</main>
<footer>
<p>Built {esc(built_at.strftime("%Y-%m-%d %H:%M:%S UTC"))}{esc(timing)} from the warehouse tables valuation.*, segments.*
and audit.dq_results of business date {esc(data.as_of_date)} (CLV run <span class="mono">{esc(versions.get("clv", {}).get("run_id", "–"))}</span>,
segments run <span class="mono">{esc(versions.get("segments", {}).get("run_id", "–"))}</span>). Amounts in CNY: 亿元 = 100 million,
万元 = 10 thousand; hover an amount for CNY m/bn. {esc(languages)} This page is self-contained: it loads nothing
from the network.</p>
</footer>
</body>
</html>
"""


def render_date_index(day: date, runs: Sequence[dict[str, Any]]) -> str:
    """The index of one business date's reports, newest run first, pointing at the newest."""
    if runs:
        latest = runs[0]
        lead = Safe(
            f'<p class="latest">Latest report: <a id="latest-report" href="{esc(latest["href"])}">run '
            f'<span class="mono">{esc(latest["run_id"])}</span></a>, built {esc(latest["built_at"])}</p>'
        )
    else:
        lead = Safe("<p>No report has been built for this date.</p>")
    rows = [
        [Safe(f'<a href="{esc(r["href"])}"><span class="mono">{esc(r["run_id"])}</span></a>'), r["built_at"],
         count(r.get("clients")), cny_zh(r.get("total_clv_cny")), r.get("quality", "–")]
        for r in runs
    ]  # fmt: skip
    listing = table(("Run", "Built (UTC)", "Clients", "Total base CLV", "Data quality"), rows, numeric=(2, 3))
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(f"Client value reports {day} · 客户价值报告")}</title><style>{CSS}</style></head>
<body>
<header class="top"><h1>Client value reports <span class="zh">客户价值报告</span></h1>
<div class="meta"><span>Business date 业务日期 <strong>{esc(day)}</strong></span></div></header>
<main><section id="runs"><h2>Runs of {esc(day)} <span class="zh">运行记录</span></h2>{lead}{listing}</section></main>
</body>
</html>
"""
