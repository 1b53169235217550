"""The run report on a generated warehouse (200 clients, two business dates, profiled, valued, segmented, the
freshness and drift gates recorded under an Airflow-style run id): every section and chart is there with
real SVG, a title, axis labels and a caption; nothing points outside the page; the headline numbers are the
warehouse's; a malicious company name, reason or label is shown as text, never as markup; the first date's
report says there is no previous run instead of failing; the report renders in headless Chromium (skipped,
saying why, where Debian's chromium is not installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pytest
from generated import generated_home

from python_tasks.clv.job import run_clv
from python_tasks.quality.freshness_gate import run_freshness_gate
from python_tasks.quality.stage_gates import run_drift_gate
from python_tasks.report import build_report
from python_tasks.report.amounts import cny_en, cny_tick, cny_zh
from python_tasks.report.figures import ChartStyle, choose_scale, decade_ticks, draw_charts
from python_tasks.report.job import reports_dir
from python_tasks.report.queries import ReportDataError, read_report_data
from python_tasks.segments.job import run_segments
from python_tasks.settings import get_settings
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)
D1 = D0 + timedelta(days=1)
#: Airflow's run ids carry ':' and '+': the report's folder must be made safe for a path
RUN0 = "scheduled__2026-11-20T00:00:00+00:00"
RUN1 = "scheduled__2026-11-21T00:00:00+00:00"

SECTIONS = ("headline", "clv", "strategy", "migration", "warnings", "attribution", "quality")
FIRST_RUN_CHARTS = {
    "chart-clv-distribution", "chart-clv-by-value-tier", "chart-clv-by-strategy", "chart-clv-by-industry",
    "chart-strategy-matrix", "chart-warning-signals", "chart-data-quality",
}  # fmt: skip
SECOND_RUN_CHARTS = FIRST_RUN_CHARTS | {
    "chart-migration-value-tier", "chart-migration-risk-tier", "chart-migration-lifecycle-stage",
    "chart-attribution-waterfall", "chart-attribution-movers",
}  # fmt: skip
DRAWING = {"path", "use", "rect", "line", "polyline", "polygon", "circle", "ellipse"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """Every element with an id: its tag, attributes, text and the tags inside it; figure captions; every
    link-like attribute; every tag used."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: dict[str, dict] = {}
        self.captions: dict[str, str] = {}
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: Counter[str] = Counter()
        self._open: list[tuple[str, str | None]] = []
        self.feed(text)
        self.close()

    def _enter(self, tag: str, attrs: list[tuple[str, str | None]], closes: bool) -> None:
        attributes = dict(attrs)
        self.tags[tag] += 1
        for name, value in attrs:
            if name in ("href", "src", "xlink:href", "action", "srcset", "poster", "data") and value:
                self.references.append((tag, name, value))
        for _, element_id in self._open:
            if element_id:
                self.elements[element_id]["tags"][tag] += 1
        element_id = attributes.get("id")
        if element_id:
            assert element_id not in self.elements, f"duplicate id {element_id}"
            self.elements[element_id] = {"tag": tag, "attrs": attributes, "text": "", "tags": Counter()}
        if not closes and tag not in VOID:
            self._open.append((tag, element_id))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._enter(tag, attrs, closes=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._enter(tag, attrs, closes=True)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.elements[element_id]["text"] += data
        if any(t == "figcaption" for t, _ in self._open):
            figure = next((i for t, i in reversed(self._open) if t == "figure" and i), None)
            if figure:
                self.captions[figure] = self.captions.get(figure, "") + data

    def charts(self) -> dict[str, dict]:
        return {i: e for i, e in self.elements.items() if e["tag"] == "figure" and i.startswith("chart-")}

    def rows(self, table_id: str) -> int:
        """Body rows of a table (its one header row left out)."""
        return self.elements[table_id]["tags"]["tr"] - 1


def _query(sql: str, **params: object) -> list[tuple]:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two business dates built through the segments, gates of D1 recorded under RUN1, both reports built."""
    root = tmp_path_factory.mktemp("report")
    with generated_home(root, clients=200, first=D0, days=1):
        for day in (D0, D1):
            run_dbt_build(day, f"daily-{day}")
            run_clv(day, f"clv-{day}")
            run_segments(day, f"segments-{day}")
        run_freshness_gate(D0, RUN0)
        run_freshness_gate(D1, RUN1)
        run_drift_gate(D1, RUN1)
        build_report(D0, RUN0)
        build_report(D1, RUN1)
        yield root


@pytest.fixture(scope="module")
def second(home: Path) -> tuple[Path, str, Page]:
    path = reports_dir() / D1.isoformat() / _folder(RUN1) / "report.html"
    text = path.read_text(encoding="utf-8")
    return path, text, Page(text)


@pytest.fixture(scope="module")
def first(home: Path) -> tuple[Path, str, Page]:
    path = reports_dir() / D0.isoformat() / _folder(RUN0) / "report.html"
    text = path.read_text(encoding="utf-8")
    return path, text, Page(text)


def _folder(run_id: str) -> str:
    from python_tasks.settings import path_component

    return path_component(run_id)


def _assert_charts(page: Page, expected: set[str]) -> None:
    charts = page.charts()
    assert set(charts) == expected
    for chart_id in charts:
        svg = page.elements[f"{chart_id}-svg"]
        assert svg["tag"] == "svg" and svg["attrs"].get("viewbox"), chart_id
        assert sum(svg["tags"][t] for t in DRAWING) > 20, f"{chart_id}: the SVG draws next to nothing"
        assert page.elements[f"{chart_id}-title"]["text"].strip(), f"{chart_id}: no title"
        description = page.elements[f"{chart_id}-desc"]["text"]
        assert "X axis: " in description and "Y axis: " in description, chart_id
        assert not description.split("X axis: ")[1].startswith("."), f"{chart_id}: no x-axis label"
        assert len(page.captions.get(chart_id, "").strip()) > 20, f"{chart_id}: no caption"


def _assert_self_contained(path: Path, text: str, page: Page) -> None:
    assert "http://" not in text and "https://" not in text and "//" not in "".join(v for _, _, v in page.references)
    assert "data:" not in "".join(v for _, _, v in page.references), "an embedded raster or file"
    for tag in ("script", "link", "img", "image", "iframe", "object", "embed", "base", "form", "foreignobject"):
        assert page.tags[tag] == 0, f"<{tag}> in the report"
    assert "@import" not in text and "url(http" not in text
    for _tag, _attribute, value in page.references:
        if value.startswith("#"):
            assert value[1:] in page.elements, f"anchor {value} points nowhere"
        else:
            assert (path.parent / value).resolve().is_file(), f"link {value} points at no file"


def test_every_section_and_chart_is_there_with_svg_title_axes_and_caption(second):
    path, text, page = second
    for section in SECTIONS:
        assert page.elements[section]["tag"] == "section", section
    _assert_charts(page, SECOND_RUN_CHARTS)
    assert ":" not in path.parent.name and "+" not in path.parent.name


def test_the_report_needs_nothing_from_outside(second):
    _assert_self_contained(*second)


def test_headline_numbers_are_the_warehouse_s(second):
    _path, _text, page = second
    clients, total, ead = _query(
        "SELECT count(*), sum(clv_cny), sum(ead_cny) FROM valuation.client_values "
        "WHERE as_of_date = $d AND scenario = 'baseline'",
        d=D1,
    )[0]
    kpi = page.elements
    assert int(kpi["kpi-clients"]["attrs"]["data-value"]) == clients > 0
    assert float(kpi["kpi-total-clv"]["attrs"]["data-value"]) == pytest.approx(total, rel=1e-12, abs=1e-6)
    assert cny_zh(total) in kpi["kpi-total-clv"]["text"] and cny_en(total) in kpi["kpi-total-clv"]["text"]
    assert float(kpi["kpi-ead"]["attrs"]["data-value"]) == pytest.approx(ead, rel=1e-12)
    (open_signals,) = _query(
        "SELECT count(*) FROM segments.warning_signals WHERE as_of_date = $d AND status IN ('new', 'active')", d=D1
    )[0]
    assert int(kpi["kpi-warnings"]["attrs"]["data-value"]) == open_signals


def test_tables_hold_the_top_warnings_the_movers_and_every_gate(second):
    _path, _text, page = second
    (watch,) = _query("SELECT count(*) FROM segments.watch_list WHERE as_of_date = $d", d=D1)[0]
    (moved,) = _query("SELECT count(*) FROM valuation.attribution WHERE as_of_date = $d", d=D1)[0]
    assert page.rows("table-warnings") == min(20, watch) > 0
    assert page.rows("table-movers") == min(10, moved) > 0
    top = _query("SELECT client_id FROM segments.watch_list WHERE as_of_date = $d AND priority_rank = 1", d=D1)[0][0]
    assert top in page.elements["table-warnings"]["text"]
    gates = _query(
        "SELECT gate, count(*), count(*) FILTER (WHERE success) FROM audit.dq_results "
        "WHERE as_of_date = $d AND run_id = $r GROUP BY gate ORDER BY gate",
        d=D1,
        r=RUN1,
    )
    assert {g for g, _, _ in gates} == {"freshness", "drift"}
    assert page.rows("table-quality") == len(gates)
    checks = int(page.elements["kpi-quality"]["attrs"]["data-value"])
    assert checks == sum(n for _, n, _ in gates)


def test_the_data_docs_of_the_run_are_linked(second, first):
    """The drift gate wrote RUN1's Data Docs index: the report links it; D0's run has none (the freshness gate
    alone writes no GX pages), so its report has no such link."""
    path, _text, page = second
    docs = get_settings().data_docs_dir / _folder(RUN1) / D1.isoformat() / "index.html"
    assert docs.is_file()
    links = [v for t, _a, v in page.references if t == "a" and "data_docs" in v]
    assert [(path.parent / v).resolve() for v in links] == [docs.resolve()]
    d0_docs = get_settings().data_docs_dir / _folder(RUN0) / D0.isoformat() / "index.html"
    d0_links = [v for t, _a, v in first[2].references if t == "a" and "data_docs" in v]
    assert bool(d0_links) == d0_docs.is_file()


def test_first_run_report_says_there_is_no_previous_run(first):
    path, text, page = first
    for section in SECTIONS:
        assert section in page.elements
    _assert_charts(page, FIRST_RUN_CHARTS)
    assert "No previous run" in page.elements["migration-note"]["text"]
    assert "No previous run" in page.elements["attribution-note"]["text"]
    assert "first run" in page.elements["kpi-total-clv"]["text"]
    _assert_self_contained(path, text, page)


def test_latest_and_the_date_index_point_at_the_newest_report(second, first):
    latest = reports_dir() / "latest.html"
    latest_page = Page(latest.read_text(encoding="utf-8"))
    assert latest_page.elements["kpi-clients"]["attrs"] == second[2].elements["kpi-clients"]["attrs"]
    _assert_self_contained(latest, latest.read_text(encoding="utf-8"), latest_page)
    for day, (path, _, _) in ((D0, first), (D1, second)):
        index = reports_dir() / day.isoformat() / "index.html"
        page = Page(index.read_text(encoding="utf-8"))
        href = page.elements["latest-report"]["attrs"]["href"]
        assert (index.parent / href).resolve() == path.resolve()
    meta = json.loads(second[0].with_name("report.json").read_text(encoding="utf-8"))
    assert meta["run_id"] == RUN1 and set(meta["charts"]) == SECOND_RUN_CHARTS


def test_a_malicious_name_reason_or_label_is_shown_as_text(home, tmp_path, monkeypatch):
    warehouse = tmp_path / "clv.duckdb"
    shutil.copy(get_settings().warehouse_path, warehouse)
    monkeypatch.setenv("CLV_HOME", str(tmp_path))
    monkeypatch.setenv("CLV_WAREHOUSE_PATH", str(warehouse))
    name = '<script>alert("name")</script> & <b>Co</b>'
    reason = "<img src=x onerror=alert(1)> DSCR"
    label = '"><svg onload=alert(2)>'
    with duckdb.connect(str(warehouse)) as con:
        top = con.execute(
            "SELECT client_id FROM segments.watch_list WHERE as_of_date = $d AND priority_rank = 1", {"d": D1}
        ).fetchall()[0][0]
        con.execute("UPDATE marts.dim_client SET company_name = $n WHERE client_id = $c", {"n": name, "c": top})
        con.execute(
            "UPDATE segments.warning_signals SET reason_en = $r WHERE as_of_date = $d AND client_id = $c",
            {"r": reason, "d": D1, "c": top},
        )
        rules = json.loads(
            con.execute("SELECT params_json FROM segments.runs WHERE as_of_date = $d", {"d": D1}).fetchall()[0][0]
        )
        rules["labels"]["value_tier"]["high"]["en"] = label
        con.execute(
            "UPDATE segments.runs SET params_json = $p WHERE as_of_date = $d", {"p": json.dumps(rules), "d": D1}
        )
    path = build_report(D1, "run <evil> & co")
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert "<script" not in text and "<img" not in text and "<svg onload" not in text
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in text
    warnings = page.elements["table-warnings"]["text"]
    assert name in warnings and reason in warnings  # shown to the reader as the text it is
    assert label in page.elements["table-value-tiers"]["text"]
    assert "run &lt;evil&gt; &amp; co" in text and "run <evil>" not in text
    assert page.tags["script"] == page.tags["img"] == 0


def test_a_date_without_outputs_is_refused_naming_the_stage(home):
    with pytest.raises(ReportDataError, match="run the clv stage"):
        build_report(D1 + timedelta(days=30), "too-early")


def test_charts_in_english_carry_no_chinese_glyphs(home):
    from python_tasks.io.warehouse import connect

    with connect(get_settings().warehouse_path, read_only=True) as con:
        data = read_report_data(con, D1, RUN1)
    charts = draw_charts(data, ChartStyle(chinese=False))
    assert set(charts) == SECOND_RUN_CHARTS
    for chart in charts.values():
        assert "WenQuanYi" not in chart.svg and "CJK" not in chart.svg, chart.id
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in chart.title + chart.x_label + chart.y_label), chart.id


# ---------------------------------------------------------------------------------------------------------
# pure helpers
# ---------------------------------------------------------------------------------------------------------


def test_amounts_read_in_yi_and_wan_and_in_bn_and_m():
    assert cny_zh(1_744_585_780.78) == "17.45 亿元"
    assert cny_zh(-3_264_000) == "-326.4 万元"
    assert cny_zh(9_999) == "9,999 元"
    assert cny_en(1_744_585_780.78) == "CNY 1.74 bn"
    assert cny_en(-3_264_000) == "CNY -3.26 m"
    assert cny_tick(1e7, chinese=True) == "1,000万" and cny_tick(1.86e9, chinese=True) == "18.6亿"
    assert cny_tick(1e7, chinese=False) == "10m" and cny_tick(-8_460, chinese=False) == "-8.46k"


def test_the_scale_follows_the_data():
    assert choose_scale(np.array([1.0, 2.0, 50.0])) == "linear"
    assert choose_scale(np.array([1e3, 1e4, 1e5, 1e8])) == "log"
    assert choose_scale(np.array([-1e6, 0.0, 1e3, 2e3, 1e8])) == "symlog"
    ticks = decade_ticks(np.array([-1e6, 0.0, 4e8]), 1e4, max_ticks=15)
    assert ticks == [-1e6, -1e5, -1e4, 0.0, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]
    assert len(decade_ticks(np.array([-1e8, 4e8]), 1e4, max_ticks=7)) <= 7


# ---------------------------------------------------------------------------------------------------------
# headless Chromium
# ---------------------------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed: run scripts/install_chromium.sh (as root) to render the report headless",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@needs_chromium
@pytest.mark.parametrize("which", ["second", "first"])
def test_chromium_renders_every_chart(which, request, tmp_path):
    path, _text, _page = request.getfixturevalue(which)
    result = _chromium(tmp_path, "--dump-dom", path.resolve().as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = Page(result.stdout)
    _assert_charts(dom, SECOND_RUN_CHARTS if which == "second" else FIRST_RUN_CHARTS)
    assert dom.elements["kpi-clients"]["attrs"]["data-value"]


@needs_chromium
def test_chromium_screenshot_is_not_blank(second, tmp_path):
    from PIL import Image

    path = second[0]
    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,3000", path.resolve().as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 3000)
        pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert pixels.std() > 20, "the screenshot is blank"
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, 3).astype(int)}
    assert len(colours) > 200, "the screenshot has almost no colours: no charts drawn"
    # the first chart (the CLV histogram) lies within the first 3000 px: its teal and red bars are there
    teal = np.all(np.abs(pixels - (0x2F, 0x7D, 0x6D)) < 12, axis=2).sum()
    red = np.all(np.abs(pixels - (0xC0, 0x50, 0x4D)) < 12, axis=2).sum()
    assert teal > 500 and red > 100, (teal, red)
