"""GX Data Docs of the quality gates, per run and business date, for readers who do not query
``audit.dq_results`` (risk, audit, the model owners): what each gate checked and what failed.

Layout under ``<CLV_HOME>/quality/data_docs/``::

    <run id>/<as_of_date>/index.html           every gate of the run for D, rebuilt whenever a gate finishes
    <run id>/<as_of_date>/<gate>/<suite>.html  GX's validation results page of one suite
    <run id>/<as_of_date>/<gate>/<suite>.json  the same validation result as GX's JSON (the evidence)

The run id is made safe for a path (an Airflow run id carries ``:`` and ``+``; see :func:`path_component`).
A rerun of a gate replaces its folder. The suite pages are GX's own rendering (ValidationResultsPageRenderer
and DefaultJinjaPageView) with three fixes: values are HTML-escaped where GX 1.24 inserts them raw (sampled
unexpected values, observed values); links that GX aims at a full Data Docs site (home, suite page, favicon)
point at this run's index and the JSON; a failed row says so in words, not only with a CDN icon that a
bank's network may block. The index is ours and needs nothing from the network: the GX gates from their
JSON (the suite pages), the gates without GX pages (drift, freshness) from ``audit.dq_results``.

GX is imported only to render pages (inside :func:`write_suite_pages`), so the drift gate stays cheap.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from python_tasks.io.files import partial_path, replace_dir, write_text_atomic
from python_tasks.settings import get_settings, path_component

log = logging.getLogger(__name__)

INDEX_NAME = "index.html"


def data_docs_run_dir(run_id: str, as_of_date: date) -> Path:
    """The folder of one run's Data Docs for business date D."""
    return get_settings().data_docs_dir / path_component(run_id) / as_of_date.isoformat()


def data_docs_index(run_id: str, as_of_date: date) -> Path:
    """The index page of one run for D, whether it has been written or not."""
    return data_docs_run_dir(run_id, as_of_date) / INDEX_NAME


@dataclass(frozen=True)
class DataDocsTarget:
    """Where one gate's suite pages go: the run, the business date and the gate."""

    run_id: str
    as_of_date: date
    gate: str

    @property
    def gate_dir(self) -> Path:
        return data_docs_run_dir(self.run_id, self.as_of_date) / path_component(self.gate)


def exception_message(info: dict) -> str | None:
    """GX reports an error either flat or per failed metric (``{metric id: {...}}``); give the first message."""
    candidates = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    return next((c.get("exception_message") for c in candidates if c.get("raised_exception")), None)


def update_data_docs(
    target: DataDocsTarget, results: Sequence[tuple[str, Any]] | None = None, database: Path | None = None
) -> Path | None:
    """Write the gate's suite pages (when ``results`` is given: (suite name, GX validation result) pairs,
    possibly none) and rebuild the run's index; the index path, or None when the index was not written.

    ``audit.dq_results`` stays the record: a failure here is logged with its traceback and does not fail
    the gate. Pages that could not be written leave no pages of an earlier attempt behind, so the index
    lists the gate's recorded outcomes instead.
    """
    started = time.perf_counter()
    pages: list[Path] = []
    if results is not None:
        try:
            pages = write_suite_pages(target, results)
        except Exception:
            log.exception("Data Docs pages of gate %s for %s (run %s) not written", target.gate,
                          target.as_of_date, target.run_id)  # fmt: skip
            shutil.rmtree(target.gate_dir, ignore_errors=True)
    try:
        index = build_data_docs_index(target.run_id, target.as_of_date, database)
    except Exception:
        log.exception("Data Docs index of run %s for %s not written", target.run_id, target.as_of_date)
        return None
    log.info("Data Docs of gate %s: %d suite pages, index %s (%.3f s)", target.gate, len(pages) // 2, index,
             time.perf_counter() - started)  # fmt: skip
    return index


# --- suite pages (GX's rendering) ------------------------------------------------------------------

#: Styles added to GX's pages (its ``data_docs_custom_styles.css`` hook). The status icons come from a CDN
#: font: the words keep a failed row readable without it. The footer is GX's newsletter form.
_PAGE_STYLES = """
td i.fa-times.text-danger::after { content: " failed"; }
td i.fa-check-circle.text-success::after { content: " passed"; }
td i.fa-times.text-danger::after, td i.fa-check-circle.text-success::after {
  font-family: system-ui, sans-serif; font-style: normal; font-weight: 700; }
tr:has(i.fa-times.text-danger) { background-color: rgba(220, 53, 69, 0.08); }
footer { display: none; }
"""

_GX_SITE_LINKS = (
    # GX links its pages into a whole Data Docs site that does not exist here.
    (re.compile(r'href="(?:\.\./)+index\.html"'), lambda name: 'href="../index.html"'),
    (re.compile(r'href="(?:\.\./)+expectations/[^"]*"'), lambda name: f'href="{quote(name)}.json"'),
    (re.compile(r'<link rel="shortcut icon"[^>]*>'), lambda name: ""),
)


@functools.cache
def _page_view() -> Any:  # GX's view, imported lazily
    """GX's page view, escaping the values GX inserts raw, with our styles."""
    from great_expectations.render import RenderedComponentContent
    from great_expectations.render.view import DefaultJinjaPageView
    from jinja2 import ChoiceLoader, DictLoader, pass_context

    class EscapingPageView(DefaultJinjaPageView):
        def __init__(self) -> None:
            super().__init__()
            styles = DictLoader({"data_docs_custom_styles.css": _PAGE_STYLES})
            self.env.loader = ChoiceLoader([self.env.loader, styles])

        @pass_context
        def render_content_block(
            self,
            jinja_context: Any,
            content_block: Any,
            index: Any = None,
            content_block_id: Any = None,
            render_to_markdown: bool = False,
        ) -> Any:
            # GX returns a plain value (a table cell: an unexpected or observed value) as it is, into a
            # template that does not escape: ``<`` in the data would be markup. Rendered blocks (dicts)
            # escape their own parameters.
            if not render_to_markdown:
                if isinstance(content_block, list):
                    content_block = [
                        c if _is_block(c, RenderedComponentContent) else html.escape(str(c)) for c in content_block
                    ]
                elif content_block is not None and not _is_block(content_block, RenderedComponentContent):
                    return html.escape(str(content_block))
            return super().render_content_block(
                jinja_context, content_block, index, content_block_id, render_to_markdown
            )

    return EscapingPageView()


def _is_block(value: Any, component_type: type) -> bool:
    return isinstance(value, component_type) or (isinstance(value, dict) and "content_block_type" in value)


@functools.cache
def _page_renderer() -> Any:  # GX's renderer, imported lazily
    """GX's validation results page, its tables with two more columns: the check's severity (error stops
    the run, warn records) and why it exists, from the meta that ``gx_engine`` gives each expectation."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.renderer.column_section_renderer import ValidationResultsColumnSectionRenderer
    from great_expectations.render.renderer.content_block import ValidationResultsTableContentBlockRenderer

    class MetaColumnsTable(ValidationResultsTableContentBlockRenderer):
        # GX's own way (``meta_properties_to_render``) fails in GX 1.24: the renderer rebuilds each
        # expectation from its kwargs, which then carry an argument the expectation does not accept.
        @classmethod
        def _get_custom_columns(cls, validation_results: Any) -> list[str]:
            return ["Severity", "Why"]

        @classmethod
        def _get_content_block_fn(cls, expectation_type: str, expectation_config: Any = None) -> Any:
            row_fn = super()._get_content_block_fn(expectation_type, expectation_config)

            def row_with_meta(*args: Any, result: Any = None, **kwargs: Any) -> Any:
                rows = row_fn(*args, result=result, **kwargs)
                meta = (result.expectation_config.meta if result and result.expectation_config else None) or {}
                why = " ".join(filter(None, [meta.get("why"), meta.get("rule") and f"(contract rule {meta['rule']})"]))
                rows[0] += [[meta.get("severity", "")], [why]]
                return rows

            return row_with_meta

    renderer = ValidationResultsPageRenderer()
    columns = ValidationResultsColumnSectionRenderer()
    columns._table_renderer = MetaColumnsTable  # GX takes a table renderer only by module path
    renderer._column_section_renderer = columns
    return renderer


def write_suite_pages(target: DataDocsTarget, results: Sequence[tuple[str, Any]]) -> list[Path]:
    """Write GX's page and JSON of each (suite name, ExpectationSuiteValidationResult); the gate's folder
    is replaced as a whole, so a rerun leaves no page of the attempt before. Returns the files written."""
    validated_at = datetime.now(UTC)
    gate_dir = target.gate_dir
    gate_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = partial_path(gate_dir)  # work folders of gates killed while writing are removed
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    written = []
    try:
        for suite, result in results:
            name = path_component(suite)
            _label(result, suite, target, validated_at)
            evidence = json.dumps(result.to_json_dict(), ensure_ascii=False, indent=1, default=str)
            _drop_counts_gx_cannot_render(result)
            page = _page_view().render(_page_renderer().render(result), show_how_to_buttons=False)
            for pattern, replacement in _GX_SITE_LINKS:
                page = pattern.sub(replacement(name), page)
            (staging / f"{name}.html").write_text(page, encoding="utf-8")
            (staging / f"{name}.json").write_text(evidence, encoding="utf-8")
            written += [gate_dir / f"{name}.html", gate_dir / f"{name}.json"]
        replace_dir(staging, gate_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _label(result: Any, suite: str, target: DataDocsTarget, validated_at: datetime) -> None:
    """Name the result for its readers: our suite name (GX's carries a counter that keeps it unique in the
    context), the run, and the business date as the data asset (GX's name is a generated query id)."""
    result.suite_name = suite
    result.meta["run_id"] = {"run_name": target.run_id, "run_time": validated_at.isoformat()}
    result.meta["clv"] = {
        "run_id": target.run_id, "as_of_date": target.as_of_date.isoformat(), "gate": target.gate,
        "suite": suite, "validated_at": validated_at.isoformat(),
    }  # fmt: skip
    batch_spec = result.meta.get("batch_spec")
    if isinstance(batch_spec, dict):
        batch_spec["data_asset_name"] = f"{suite} as of {target.as_of_date.isoformat()}"


def _drop_counts_gx_cannot_render(result: Any) -> None:
    """GX 1.24 cannot render an unexpected count without a percentage and a row count (expect_column_distinct_
    values_to_equal_set counts values, not rows): it logs an error with a traceback and leaves parts of the
    row out. With the count at 0 (on the page only: the JSON is written before) GX skips that sentence and
    still shows the sampled unexpected values; the count is in the JSON and on the index."""
    for item in result.results:
        res = item.result
        if res and res.get("unexpected_count") and not {"unexpected_percent", "element_count"} <= res.keys():
            res["unexpected_count"] = 0


# --- the run's index -------------------------------------------------------------------------------


@dataclass
class _Check:
    suite: str
    expectation: str
    column: str | None
    kwargs: str
    severity: str
    success: bool
    observed: str | None
    element_count: int | None
    unexpected_count: int | None
    sample: str | None
    exception: str | None


@dataclass
class _Suite:
    name: str
    checks: list[_Check] = field(default_factory=list)
    page: str | None = None  # href relative to the index
    evidence: str | None = None

    def failed(self, severity: str) -> int:
        return sum(not c.success and c.severity == severity for c in self.checks)


@dataclass
class _Gate:
    name: str
    at: datetime | None
    suites: list[_Suite]
    has_pages: bool

    @property
    def checks(self) -> list[_Check]:
        return [c for s in self.suites for c in s.checks]

    def failed(self, severity: str) -> int:
        return sum(s.failed(severity) for s in self.suites)


_RESULTS_SQL = """
SELECT gate, suite, expectation_type, column_name, kwargs, severity, success, observed_value, element_count,
       unexpected_count, unexpected_sample, exception, epoch(evaluated_at) AS evaluated_epoch
FROM audit.dq_results
WHERE run_id = $r AND as_of_date = $d
ORDER BY gate, suite, expectation_type, column_name, kwargs
"""


def build_data_docs_index(run_id: str, as_of_date: date, database: Path | None = None) -> Path:
    """(Re)write the index of every gate of ``run_id`` for D: the gates with GX pages from their JSON,
    the others from ``audit.dq_results`` in ``database`` (default: the warehouse), opened read-only."""
    from python_tasks.io import warehouse

    index = data_docs_index(run_id, as_of_date)
    run_dir = index.parent
    gates = {g.name: g for g in _page_gates(run_dir)}
    with warehouse.connect(database or get_settings().warehouse_path, read_only=True) as con:
        rows = con.execute(_RESULTS_SQL, {"r": run_id, "d": as_of_date}).fetchall()
    for gate in _recorded_gates(rows):
        gates.setdefault(gate.name, gate)  # a gate with pages is shown from its pages
    ordered = sorted(gates.values(), key=lambda g: (g.at is None, g.at or datetime.min.replace(tzinfo=UTC), g.name))
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(index, _index_html(run_id, as_of_date, ordered))


def _page_gates(run_dir: Path) -> list[_Gate]:
    if not run_dir.is_dir():
        return []
    gates = []
    for gate_dir in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        suites, times, name = [], [], gate_dir.name
        for evidence in sorted(gate_dir.glob("*.json")):
            result = json.loads(evidence.read_text(encoding="utf-8"))
            clv = result.get("meta", {}).get("clv", {})
            name = clv.get("gate", name)
            if clv.get("validated_at"):
                times.append(datetime.fromisoformat(clv["validated_at"]))
            suite = _Suite(clv.get("suite") or result.get("suite_name") or evidence.stem,
                           evidence=f"{quote(gate_dir.name)}/{quote(evidence.name)}")  # fmt: skip
            page = evidence.with_suffix(".html")
            if page.exists():
                suite.page = f"{quote(gate_dir.name)}/{quote(page.name)}"
            suite.checks = [_check_from_gx(suite.name, item) for item in result.get("results", [])]
            suites.append(suite)
        at = min(times) if times else datetime.fromtimestamp(gate_dir.stat().st_mtime, UTC)
        gates.append(_Gate(name, at, sorted(suites, key=lambda s: s.name), has_pages=True))
    return gates


def _check_from_gx(suite: str, item: dict) -> _Check:
    config = item.get("expectation_config") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k not in ("batch_id", "result_format")}
    res = item.get("result") or {}
    message = exception_message(item.get("exception_info") or {})
    observed = res.get("observed_value")
    unexpected, sample = res.get("unexpected_count"), res.get("partial_unexpected_list")
    if unexpected is None and res.get("element_count") == 0:
        unexpected = 0
    return _Check(
        suite=suite,
        expectation=config.get("type", "?"),
        column=kwargs.get("column") or kwargs.get("column_A"),
        kwargs=json.dumps(kwargs, ensure_ascii=False, sort_keys=True, default=str),
        severity=(config.get("meta") or {}).get("severity") or _OUR_SEVERITY.get(config.get("severity"), "error"),
        success=bool(item.get("success")) and message is None,
        observed=None if observed is None else json.dumps(observed, ensure_ascii=False, default=str),
        element_count=res.get("element_count"),
        unexpected_count=unexpected,
        sample=json.dumps(sample, ensure_ascii=False, default=str) if sample else None,
        exception=message,
    )


_OUR_SEVERITY = {"critical": "error", "warning": "warn", "info": "warn"}


def _recorded_gates(rows: list[tuple]) -> list[_Gate]:
    gates: dict[str, _Gate] = {}
    suites: dict[tuple[str, str], _Suite] = {}
    for gate, suite, etype, column, kwargs, severity, success, observed, elements, unexpected, sample, exc, at in rows:
        evaluated = datetime.fromtimestamp(at, UTC)
        g = gates.setdefault(gate, _Gate(gate, evaluated, [], has_pages=False))
        g.at = min(g.at, evaluated) if g.at else evaluated
        if (gate, suite) not in suites:
            suites[gate, suite] = _Suite(suite)
            g.suites.append(suites[gate, suite])
        sample = None if sample in (None, "[]") else sample
        suites[gate, suite].checks.append(
            _Check(suite, etype, column, kwargs, severity, bool(success), observed, elements, unexpected, sample, exc)
        )
    return list(gates.values())


_INDEX_STYLES = """
body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; }
td.value { font-family: ui-monospace, monospace; max-width: 40rem; overflow-wrap: anywhere; }
.failed { color: #b00020; font-weight: 700; }
tr.failed-error { background: #fdecea; }
tr.failed-warn { background: #fff6e0; }
.passed { color: #1b7a1b; }
.warned { color: #9a6700; font-weight: 700; }
.note { color: #555; }
"""

_MAX_VALUE_CHARS = 400


def _e(value: Any) -> str:
    """A value as HTML text; None as an em dash; long values cut."""
    if value is None:
        return "—"
    text = str(value)
    return html.escape(text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + " …")


def _verdict(gate: _Gate) -> str:
    if gate.failed("error"):
        return '<span class="failed">failed: stops the run</span>'
    if gate.failed("warn"):
        return '<span class="warned">passed with warnings</span>'
    return '<span class="passed">passed</span>' if gate.checks else '<span class="note">nothing checked</span>'


def _counts(checks_total: int, passed: int, errors: int, warns: int) -> str:
    return (f'<td class="num">{checks_total}</td><td class="num">{passed}</td>'
            f'<td class="num{" failed" if errors else ""}">{errors}</td>'
            f'<td class="num{" warned" if warns else ""}">{warns}</td>')  # fmt: skip


def _index_html(run_id: str, as_of_date: date, gates: list[_Gate]) -> str:
    day = as_of_date.isoformat()
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Data quality {_e(day)}, run {_e(run_id)}</title>",
        f"<style>{_INDEX_STYLES}</style></head><body>",
        f"<h1>Data quality gates, business date {_e(day)}</h1>",
        f"<p>Run <code>{_e(run_id)}</code>. Rebuilt {_e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S'))} UTC "
        "after the latest gate. The GX gates link to GX's page and JSON of each suite; the other gates' "
        "outcomes are listed from <code>audit.dq_results</code>. A failed <b>error</b>-level check stops "
        "the run; a failed <b>warn</b>-level check is recorded and the run goes on.</p>",
    ]
    if not gates:
        out.append('<p class="note">No gate has recorded results for this run and date yet.</p>')
    else:
        out.append("<table><thead><tr><th>Gate</th><th>Validated at (UTC)</th><th>Suites</th><th>Checks</th>"
                   "<th>Passed</th><th>Failed (error)</th><th>Failed (warn)</th><th>Result</th></tr></thead><tbody>")  # fmt: skip
        for g in gates:
            checks = g.checks
            at = g.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if g.at else None
            out.append(
                f'<tr><td><a href="#gate-{quote(g.name)}">{_e(g.name)}</a></td><td>{_e(at)}</td>'
                f'<td class="num">{len(g.suites)}</td>'
                + _counts(len(checks), sum(c.success for c in checks), g.failed("error"), g.failed("warn"))
                + f"<td>{_verdict(g)}</td></tr>"
            )
        out.append("</tbody></table>")
    for g in gates:
        out.append(f'<h2 id="gate-{quote(g.name)}">{_e(g.name)}</h2>')
        out.append(_suites_table(g))
        if g.has_pages:
            failed = [c for c in g.checks if not c.success]
            if failed:
                out.append("<h3>Failed checks</h3>")
                out.append(_checks_table(failed))
        elif g.checks:
            out.append(f'<p class="note">No GX pages for this gate: its {len(g.checks)} outcomes as recorded.</p>')
            out.append(_checks_table(g.checks))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _suites_table(gate: _Gate) -> str:
    if not gate.suites:
        return '<p class="note">No suite validated.</p>'
    rows = ["<table><thead><tr><th>Suite</th><th>Checks</th><th>Passed</th><th>Failed (error)</th>"
            "<th>Failed (warn)</th><th>Data Docs</th></tr></thead><tbody>"]  # fmt: skip
    for s in gate.suites:
        links = []
        if s.page:
            links.append(f'<a href="{s.page}">page</a>')
        if s.evidence:
            links.append(f'<a href="{s.evidence}">JSON</a>')
        rows.append(
            f"<tr><td>{_e(s.name)}</td>"
            + _counts(len(s.checks), sum(c.success for c in s.checks), s.failed("error"), s.failed("warn"))
            + f"<td>{' · '.join(links) or '—'}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _checks_table(checks: list[_Check]) -> str:
    rows = ["<table><thead><tr><th>Suite</th><th>Expectation</th><th>Column</th><th>Arguments</th>"
            "<th>Severity</th><th>Result</th><th>Rows</th><th>Unexpected</th><th>Observed</th>"
            "<th>Sample of unexpected values</th><th>Exception</th></tr></thead><tbody>"]  # fmt: skip
    for c in sorted(checks, key=lambda c: (c.success, c.severity != "error", c.suite, c.expectation, c.column or "")):
        result = "passed" if c.success else "failed"
        row_class = "" if c.success else f' class="failed-{_e(c.severity)}"'
        rows.append(
            f"<tr{row_class}><td>{_e(c.suite)}</td><td>{_e(c.expectation)}</td><td>{_e(c.column)}</td>"
            f'<td class="value">{_e(c.kwargs)}</td><td>{_e(c.severity)}</td>'
            f'<td class="{result}">{result}</td><td class="num">{_e(c.element_count)}</td>'
            f'<td class="num">{_e(c.unexpected_count)}</td><td class="value">{_e(c.observed)}</td>'
            f'<td class="value">{_e(c.sample)}</td><td class="value">{_e(c.exception)}</td></tr>'
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)
