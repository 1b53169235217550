"""The report's charts: pure functions from the report's frames to a :class:`Chart` (id, title, caption,
axis labels and the chart as inline SVG). Nothing here reads the warehouse or writes files.

Drawn with matplotlib's object API (``Figure`` and its SVG canvas, no pyplot, so no GUI backend and no
global figure state: safe in an Airflow worker). Text is embedded as glyph outlines (``svg.fonttype =
path``): a chart looks the same on every machine, needs no font where it is opened and cannot carry
markup from a label. Chinese labels are drawn when a CJK font is installed where the report is built
(fontconfig's ``fc-list :lang=zh``; ``scripts/install_chromium.sh`` installs WenQuanYi Micro Hei);
without one the charts are labelled in English and the Chinese names stay in the HTML tables.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.cbook import boxplot_stats
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from python_tasks.report.amounts import cny_en, cny_tick

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from python_tasks.report.queries import ReportData

log = logging.getLogger(__name__)


def _not_a_weight_fallback(record: logging.LogRecord) -> bool:
    # CJK fonts come in one weight: matplotlib draws bold titles' Chinese in it and says so for every title
    return "Failed to find font weight" not in record.getMessage()


logging.getLogger("matplotlib.font_manager").addFilter(_not_a_weight_fallback)

#: CJK families tried first (the font cache already knows them), in order of preference
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "SimHei", "Droid Sans Fallback",
)  # fmt: skip

POSITIVE = "#2f7d6d"
NEGATIVE = "#c0504d"
NEUTRAL = "#8a99a8"
INK = "#1f2a36"
GRID = "#e3e8ee"
STRATEGY_COLOURS = {
    "grow": "#2e7d32", "maintain": "#4a78c2", "monitor": "#e0a020", "restructure": "#8e5ba8", "exit": "#c0392b",
}  # fmt: skip
SEVERITY_COLOURS = {"low": "#f2c94c", "medium": "#f2994a", "high": "#d64541"}
TIER_COLOURS = {"high": "#1f5f8b", "mid": "#5b9bd5", "low": "#a9c4e0"}
PART_COLOURS = {
    "exposure": "#4e79a7", "margin": "#f28e2b", "pd": "#e15759", "lgd": "#76b7b2", "retention": "#59a14f",
    "macro": "#edc948", "parameters": "#b07aa1", "new_client": "#9c755f", "lost_client": "#bab0ac",
}  # fmt: skip
PART_LABELS = {
    "exposure": ("Exposure", "敞口"), "margin": ("Margin", "利差"), "pd": ("PD", "违约概率"), "lgd": ("LGD", "违约损失率"),
    "retention": ("Retention", "留存"), "macro": ("Macro", "宏观"), "parameters": ("Parameters", "参数"),
    "new_client": ("New clients", "新增客户"), "lost_client": ("Clients gone", "流失客户"),
}  # fmt: skip
SIGNAL_LABELS = {
    "clv_drop": ("CLV drop", "价值下降"), "dpd_rising": ("Rising days past due", "逾期上升"),
    "rating_downgrade": ("Rating downgrade", "评级下调"), "covenant_dscr": ("Covenant: DSCR", "偿债覆盖率"),
    "covenant_leverage": ("Covenant: leverage", "资产负债率"), "covenant_icr": ("Covenant: interest cover", "利息保障倍数"),
    "industry_stress": ("Industry stress", "行业压力"), "collateral_falling": ("Collateral falling", "押品价值下降"),
    "maturity_wall": ("Maturity wall", "集中到期"),
}  # fmt: skip
GATE_LABELS = {
    "freshness": ("Freshness", "及时性"), "raw": ("Raw data", "原始数据"), "profile": ("Client profile", "客户画像"),
    "clv": ("CLV", "客户价值"), "segments": ("Segments", "客户细分"), "drift": ("Drift", "漂移"),
}  # fmt: skip
SEVERITY_ORDER = ("high", "medium", "low")
MAX_FLIERS = 150  # outliers drawn per box
MIGRATION_DIMENSIONS = ("value_tier", "risk_tier", "lifecycle_stage")
MIGRATION_TITLES = {
    "value_tier": ("Value tier migration", "价值层级迁移"),
    "risk_tier": ("Risk tier migration", "风险层级迁移"),
    "lifecycle_stage": ("Lifecycle stage migration", "生命周期迁移"),
}


@dataclass(frozen=True)
class Chart:
    """One chart of the report: what the page needs to place, title and explain it."""

    id: str
    title: str
    caption: str
    x_label: str
    y_label: str
    svg: str


@dataclass(frozen=True)
class ChartStyle:
    """How charts are labelled: with Chinese (a CJK font is available) or in English only."""

    chinese: bool
    cjk_font: str | None = None

    def text(self, en: str, zh: str | None = None, sep: str = " ") -> str:
        """English, with the Chinese beside it when Chinese can be drawn."""
        return f"{en}{sep}{zh}" if self.chinese and zh else en

    def money(self, value: float) -> str:
        return cny_tick(value, self.chinese)

    @property
    def families(self) -> list[str]:
        return ["DejaVu Sans", self.cjk_font] if self.cjk_font else ["DejaVu Sans"]


@functools.cache
def find_cjk_font() -> str | None:
    """A font family that draws Chinese, or None: the font cache first, then fontconfig (a font installed
    after matplotlib built its cache is added from its file)."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    if not shutil.which("fc-list"):
        return None
    try:
        listing = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(listing.splitlines()):
        path = line.split(":")[0].strip()
        if not path.lower().endswith((".ttf", ".otf", ".ttc")):
            continue
        try:
            font_manager.fontManager.addfont(path)
            return font_manager.get_font(path).family_name
        except (OSError, RuntimeError, ValueError):
            log.debug("font %s could not be loaded", path, exc_info=True)
    return None


def chart_style() -> ChartStyle:
    """Chinese labels when a CJK font is there, English otherwise (logged, so the choice is on record)."""
    font = find_cjk_font()
    if font:
        log.info("report charts: Chinese and English labels (CJK font %s)", font)
    else:
        log.info("report charts: English labels (no CJK font found by fc-list :lang=zh); Chinese stays in the tables")
    return ChartStyle(chinese=font is not None, cjk_font=font)


# ---------------------------------------------------------------------------------------------------------
# SVG: figure → inline markup
# ---------------------------------------------------------------------------------------------------------

_RC = {
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#9aa7b4",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8,
}
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(xlink:href|href)="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")


def _escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def inline_svg(svg: str, chart_id: str, title: str, description: str) -> str:
    """matplotlib's SVG document as an element to inline in HTML: no XML prolog, DOCTYPE, comments or
    namespace URLs; every id prefixed with the chart's so that several charts can share a page; scaled to
    the width of its container; with an accessible ``<title>`` and ``<desc>``."""
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg, flags=re.S)
    svg = re.sub(r"\s*<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = _ID.sub(lambda m: f'id="{chart_id}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f'href="#{chart_id}-{m.group(2)}"', svg)
    svg = _URL.sub(lambda m: f"url(#{chart_id}-{m.group(1)})", svg)
    match = re.search(r"<svg\b[^>]*>", svg)
    if match is None:
        raise ValueError(f"chart {chart_id}: matplotlib wrote no <svg> element")
    view_box = re.search(r'viewBox="([^"]+)"', match.group(0))
    width = float(view_box.group(1).split()[2]) if view_box else 720.0
    opening = (
        f'<svg id="{chart_id}-svg" class="chart-svg" viewBox="{view_box.group(1) if view_box else ""}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" style="max-width:{width * 4 / 3:.0f}px">'
        f'<title id="{chart_id}-title">{_escape_xml(title)}</title>'
        f'<desc id="{chart_id}-desc">{_escape_xml(description)}</desc>'
    )
    return svg[: match.start()] + opening + svg[match.end() :].strip()


def _render(fig: Figure, chart_id: str, title: str, caption: str, x_label: str, y_label: str) -> Chart:
    buffer = io.StringIO()
    with mpl.rc_context({**_RC, "svg.hashsalt": chart_id}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    description = f"{caption} X axis: {x_label}. Y axis: {y_label}."
    return Chart(
        chart_id, title, caption, x_label, y_label, inline_svg(buffer.getvalue(), chart_id, title, description)
    )


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    fig.set_facecolor("white")
    return fig


def _styled(draw: Callable[..., Chart]) -> Callable[..., Chart]:
    """Draw under the report's rc settings (they apply while artists are created), restored afterwards."""

    @functools.wraps(draw)
    def wrapper(*args: Any, style: ChartStyle, **kwargs: Any) -> Chart:  # noqa: ANN401
        with mpl.rc_context({**_RC, "font.family": style.families}):
            return draw(*args, style=style, **kwargs)

    return wrapper


def _title(fig: Figure, title: str) -> None:
    """The chart's title at the figure's top left (an axes title would be clipped beside long tick labels)."""
    fig.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")


def _money_axis(axis: Any, style: ChartStyle) -> None:  # noqa: ANN401 - a matplotlib Axis
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: style.money(v)))


def _grid(ax: Axes, axis: str = "x") -> None:
    ax.grid(axis=axis, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _text_colour(rgba: Sequence[float]) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.55 else INK


def _labels(rules: dict[str, Any], dimension: str) -> dict[str, tuple[str, str | None]]:
    return {k: (v.get("en", k), v.get("zh")) for k, v in rules.get("labels", {}).get(dimension, {}).items()}


def _strategy_label(rules: dict[str, Any], strategy: str) -> tuple[str, str | None]:
    label = rules.get("policies", {}).get(strategy, {}).get("label", {})
    return label.get("en", strategy.title()), label.get("zh")


def _ordered(known: Sequence[str], present: Sequence[str]) -> list[str]:
    """``known`` labels in their order, then any other label present (sorted), so nothing is dropped."""
    extra = sorted({str(p) for p in present} - set(known), key=_natural)
    return [*known, *extra]


def _natural(text: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


# ---------------------------------------------------------------------------------------------------------
# CLV distribution and segments
# ---------------------------------------------------------------------------------------------------------


def choose_scale(values: np.ndarray) -> str:
    """``linear`` when the values span less than two orders of magnitude, ``log`` when they are all positive
    and do, ``symlog`` when they do and some are zero or negative (CLV: losses, prospects, defaulted)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "linear"
    size = np.abs(v)
    typical = float(np.percentile(size[size > 0], 50)) if (size > 0).any() else 0.0
    if typical == 0 or size.max() / typical < 100:
        return "linear"
    return "log" if v.min() > 0 else "symlog"


def linear_threshold(values: np.ndarray) -> float:
    """The symlog scale's linear range: a power of ten near the small amounts (CNY 10 000 at least)."""
    size = np.abs(np.asarray(values, dtype=float))
    size = size[np.isfinite(size) & (size > 0)]
    if size.size == 0:
        return 1e4
    return float(max(1e4, 10 ** math.floor(math.log10(np.percentile(size, 20)))))


def decade_ticks(values: np.ndarray, linthresh: float, max_ticks: int) -> list[float]:
    """0 and ±powers of ten from the linear threshold out to the values' extent, every other decade when
    there would be more than ``max_ticks``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    first = round(math.log10(linthresh))
    sides = []
    for sign, extent in ((1, v.max(initial=0.0)), (-1, -v.min(initial=0.0))):
        last = math.ceil(math.log10(extent)) if extent > linthresh else first
        sides.append((sign, list(range(first, last + 1)) if extent > 0 else []))
    step = 1
    while 1 + sum(len(k[::step]) for _, k in sides) > max_ticks and step < 6:
        step += 1
    return sorted([0.0] + [sign * 10.0**k for sign, ks in sides for k in ks[::step]])


def _scale_axis(ax: Axes, axis: str, scale: str, values: np.ndarray, max_ticks: int = 15) -> None:
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if scale == "symlog":
        linthresh = linear_threshold(values)
        setter("symlog", linthresh=linthresh, linscale=0.6)
        (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(
            FixedLocator(decade_ticks(values, linthresh, max_ticks))
        )
    else:
        setter(scale)


@_styled
def clv_distribution(clients: pd.DataFrame, thresholds: tuple[float, float], *, style: ChartStyle) -> Chart:
    """Histogram of base CLV per client on the scale the data need, with the value-tier thresholds."""
    values = clients["clv_cny"].to_numpy(dtype=float)
    scale = choose_scale(values)
    fig = _figure(10, 3.8)
    ax = fig.add_subplot()
    _scale_axis(ax, "x", scale, values)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if scale == "linear" or lo == hi:
        edges = np.linspace(lo, hi if hi > lo else lo + 1, 41)
    else:
        transform = ax.xaxis.get_transform()
        t_lo, t_hi = transform.transform([lo, hi])
        edges = transform.inverted().transform(np.linspace(t_lo, t_hi, 41))
        edges[0], edges[-1] = lo, hi
    counts, edges = np.histogram(values, bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", linewidth=0.4, edgecolor="white",
           color=[NEGATIVE if c < 0 else POSITIVE for c in centres])  # fmt: skip
    low_max, high_min = thresholds
    for x, en, zh, side in (
        (low_max, "low value below", "低价值 <", "right"),
        (high_min, "high value from", "高价值 ≥", "left"),
    ):
        ax.axvline(x, color=INK, linestyle="--", linewidth=0.9)
        # above the plot area, pointing away from the other threshold, so no bar hides it
        ax.annotate(f"{style.text(en, zh, ' / ')} {style.money(x)}", (x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-3 if side == "right" else 3, 2), textcoords="offset points", va="bottom", ha=side, fontsize=8)  # fmt: skip
    _money_axis(ax.xaxis, style)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _grid(ax, "y")
    scale_name = {"symlog": "symmetric log scale", "log": "log scale", "linear": "linear scale"}[scale]
    x_label = style.text(f"Base-scenario CLV per client (CNY, {scale_name})", "基准情景客户价值", "  ")
    y_label = style.text("Clients", "客户数", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("Distribution of client lifetime value", "客户终身价值分布", " · ")
    _title(fig, title)
    negative = int((values < 0).sum())
    caption = (
        f"{len(values):,} clients, median CLV {cny_en(float(np.median(values)) if values.size else None)}; "
        f"{negative:,} with a negative value (expected losses and costs exceed revenue: defaulted, loss-making or "
        f"prospects valued net of acquisition cost), in red. Dashed lines: the value-tier thresholds of this run. "
        f"The {scale_name} shows the long tail of large clients and the losses on one axis."
    )
    return _render(fig, "chart-clv-distribution", title, caption, x_label, y_label)


@_styled
def clv_by_value_tier(clients: pd.DataFrame, rules: dict[str, Any], *, style: ChartStyle) -> Chart:
    """Box plot of CLV per client in each value tier, with the tier's clients and total CLV."""
    labels = _labels(rules, "value_tier")
    tiers = [t for t in _ordered(list(labels), clients["value_tier"].unique()) if (clients["value_tier"] == t).any()]
    fig = _figure(5.2, 3.4)
    ax = fig.add_subplot()
    values = clients["clv_cny"].to_numpy(dtype=float)
    _scale_axis(ax, "x", choose_scale(values), values, max_ticks=7)
    groups = [clients.loc[clients["value_tier"] == t, "clv_cny"].to_numpy(dtype=float) for t in tiers]
    positions = list(range(len(tiers), 0, -1))
    if groups:
        stats = boxplot_stats(groups)
        for stat in stats:
            stat["fliers"] = thin(stat["fliers"], MAX_FLIERS)
        box = ax.bxp(stats, positions=positions, orientation="horizontal", widths=0.55, patch_artist=True,
                     flierprops={"markersize": 2.5, "markerfacecolor": NEUTRAL, "markeredgecolor": "none"},
                     medianprops={"color": INK, "linewidth": 1.2})  # fmt: skip
        for patch, tier in zip(box["boxes"], tiers, strict=True):
            patch.set_facecolor(TIER_COLOURS.get(tier, NEUTRAL))
            patch.set_edgecolor(INK)
    ax.set_yticks(positions, [
        f"{style.text(*labels.get(t, (t, None)), sep=chr(10))}\n{len(g):,} · {style.money(float(g.sum()))}"
        for t, g in zip(tiers, groups, strict=True)
    ])  # fmt: skip
    _money_axis(ax.xaxis, style)
    _grid(ax, "x")
    x_label = style.text("CLV per client (CNY)", "客户价值", "  ")
    y_label = style.text("Value tier", "价值层级", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("CLV by value tier", "按价值层级", " · ")
    _title(fig, title)
    caption = (
        "Spread of CLV per client within each value tier (box: middle half, line: median, whiskers: 1.5 × the "
        f"box, dots: clients beyond, at most {MAX_FLIERS} per tier drawn). Under each tier: its clients · their total CLV."
    )
    return _render(fig, "chart-clv-by-value-tier", title, caption, x_label, y_label)


def thin(values: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` of ``values``, evenly spaced in sorted order with both extremes kept: the outliers of a
    box plot at 100 000 clients would otherwise be thousands of markers in the SVG for the same picture."""
    values = np.sort(np.asarray(values, dtype=float))
    if len(values) <= limit:
        return values
    return values[np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))]


def _summary_bars(ax: Axes, rows: pd.DataFrame, labels: list[str], colours: list[str], style: ChartStyle) -> None:
    y = np.arange(len(rows))[::-1]
    values = rows["clv_cny"].to_numpy(dtype=float)
    ax.barh(y, values, color=colours, height=0.62)
    ax.set_yticks(y, labels)
    ax.axvline(0, color=INK, linewidth=0.8)
    span = max(np.abs(values).max() if values.size else 1.0, 1.0)
    low = min(values.min() if values.size else 0.0, 0.0)
    ax.set_xlim(low - 0.04 * span, max(values.max() if values.size else 0.0, 0.0) + 0.42 * span)
    for yi, value, clients in zip(y, values, rows["clients"], strict=True):
        # right of the bar, or right of zero for a loss: never over the category labels
        ax.annotate(f"{style.money(value)} · {int(clients):,}", (max(value, 0.0), yi), xytext=(4, 0),
                    textcoords="offset points", ha="left", va="center", fontsize=7.5)  # fmt: skip
    _money_axis(ax.xaxis, style)
    _grid(ax, "x")


@_styled
def clv_by_strategy(summary: pd.DataFrame, rules: dict[str, Any], *, style: ChartStyle) -> Chart:
    """Total CLV and clients per strategy (segment summary)."""
    rows = summary[summary["dimension"] == "strategy"].copy()
    order = _ordered(list(STRATEGY_COLOURS), rows["segment"])
    rows = rows.set_index("segment").reindex([s for s in order if s in set(rows["segment"])]).reset_index()
    fig = _figure(5.2, 3.4)
    ax = fig.add_subplot()
    labels = [style.text(*_strategy_label(rules, s), sep="\n") for s in rows["segment"]]
    _summary_bars(ax, rows, labels, [STRATEGY_COLOURS.get(s, NEUTRAL) for s in rows["segment"]], style)
    x_label = style.text("Total base CLV (CNY)", "基准情景客户价值合计", "  ")
    y_label = style.text("Strategy", "策略", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("CLV by strategy", "按经营策略", " · ")
    _title(fig, title)
    caption = "Total base CLV of the clients each strategy applies to, and their number (CLV · clients)."
    return _render(fig, "chart-clv-by-strategy", title, caption, x_label, y_label)


@_styled
def clv_by_industry(summary: pd.DataFrame, industries: pd.DataFrame, *, style: ChartStyle) -> Chart:
    """Total CLV and clients per industry section (GB/T 4754), largest first."""
    rows = summary[summary["dimension"] == "industry_section_code"].sort_values("clv_cny", ascending=False)
    names = industries.set_index("section_code") if not industries.empty else pd.DataFrame()

    def label(code: str) -> str:
        if code not in names.index:
            return code
        en, zh = str(names.at[code, "section_name_en"]), str(names.at[code, "section_name_zh"])
        if style.chinese:
            return f"{code} {zh if len(zh) <= 9 else zh[:8] + '…'}"
        return f"{code} {en if len(en) <= 26 else en[:25] + '…'}"

    fig = _figure(5.2, max(3.4, 0.26 * len(rows) + 1.2))
    ax = fig.add_subplot()
    values = rows["clv_cny"].to_numpy(dtype=float)
    _summary_bars(ax, rows, [label(str(c)) for c in rows["segment"]],
                  [NEGATIVE if v < 0 else POSITIVE for v in values], style)  # fmt: skip
    x_label = style.text("Total base CLV (CNY)", "基准情景客户价值合计", "  ")
    y_label = style.text("Industry section (GB/T 4754)", "国民经济行业门类", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("CLV by industry", "按行业", " · ")
    _title(fig, title)
    caption = "Total base CLV per industry section, largest first (CLV · clients); red: the section destroys value."
    return _render(fig, "chart-clv-by-industry", title, caption, x_label, y_label)


# ---------------------------------------------------------------------------------------------------------
# Heat maps: strategy matrix, migration
# ---------------------------------------------------------------------------------------------------------


def _heatmap(ax: Axes, values: np.ndarray, cmap: mcolors.Colormap, norm: mcolors.Normalize) -> Any:  # noqa: ANN401
    """Cells as vector quads (``imshow`` would embed a raster image in the SVG); row 0 at the top."""
    rows, cols = values.shape
    mesh = ax.pcolormesh(np.arange(cols + 1) - 0.5, np.arange(rows + 1) - 0.5, values, cmap=cmap, norm=norm)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    return mesh


def _heatmap_frame(ax: Axes, rows: int, cols: int, row_labels: list[str], col_labels: list[str]) -> None:
    ax.set_xticks(np.arange(cols), col_labels)
    ax.set_yticks(np.arange(rows), row_labels)
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=2.5)
    ax.tick_params(which="both", length=0)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    for spine in ax.spines.values():
        spine.set_visible(False)


@_styled
def strategy_matrix(matrix: pd.DataFrame, rules: dict[str, Any], *, style: ChartStyle) -> Chart:
    """Value × risk heat map: colour by the cell's total CLV, text with its strategy, clients and CLV."""
    value_labels, risk_labels = _labels(rules, "value_tier"), _labels(rules, "risk_tier")
    grid_rules = rules.get("strategy_matrix", {})
    values = _ordered(list(value_labels) or list(grid_rules), matrix["value_tier"])
    risks = _ordered(list(risk_labels) or sorted({r for row in grid_rules.values() for r in row}), matrix["risk_tier"])
    cells = matrix.set_index(["value_tier", "risk_tier"])
    clv = np.full((len(values), len(risks)), np.nan)
    for i, v in enumerate(values):
        for j, r in enumerate(risks):
            if (v, r) in cells.index:
                clv[i, j] = float(cells.at[(v, r), "clv_cny"])
    extent = max(float(np.nanmax(np.abs(clv))) if np.isfinite(clv).any() else 1.0, 1.0)
    norm = mcolors.SymLogNorm(linthresh=max(extent / 1000, 1e4), vmin=-extent, vmax=extent, base=10)
    cmap = mpl.colormaps["RdYlGn"].with_extremes(bad="#f1f3f5")
    fig = _figure(10, 4.4 if style.chinese else 4.0)
    ax = fig.add_subplot()
    image = _heatmap(ax, np.ma.masked_invalid(clv), cmap, norm)
    _heatmap_frame(ax, len(values), len(risks),
                   [style.text(*value_labels.get(v, (v, None)), sep="\n") for v in values],
                   [style.text(*risk_labels.get(r, (r, None)), sep="\n") for r in risks])  # fmt: skip
    for i, v in enumerate(values):
        for j, r in enumerate(risks):
            strategy = str(cells.at[(v, r), "strategy"]) if (v, r) in cells.index else grid_rules.get(v, {}).get(r, "")
            name = style.text(*_strategy_label(rules, strategy), sep=" ") if strategy else "–"
            if (v, r) in cells.index:
                n = int(cells.at[(v, r), "clients"])
                text = f"{name}\n{n:,} clients\nCLV {style.money(clv[i, j])}"
                colour = _text_colour(cmap(norm(clv[i, j])))
            else:
                text, colour = f"{name}\nno clients", "#6b7785"
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5, color=colour, linespacing=1.35)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.solids.set_rasterized(False)  # matplotlib rasterises long colour bars: keep the SVG pure vector
    bar.set_label(style.text("Total base CLV of the cell (CNY)", "单元格客户价值合计", "  "))
    _money_axis(bar.ax.yaxis, style)
    x_label = style.text("Risk tier (point-in-time PD, asset class floor)", "风险层级", "  ")
    y_label = style.text("Value tier (base CLV)", "价值层级", "  ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("Value × risk strategy matrix", "价值 × 风险策略矩阵", " · ")
    _title(fig, title)
    caption = (
        "Each cell: the strategy the rules assign to that value and risk tier, its clients and their total base "
        "CLV; the colour is the cell's total CLV (green creates value, red destroys it; symmetric log scale)."
    )
    return _render(fig, "chart-strategy-matrix", title, caption, x_label, y_label)


@_styled
def migration_heatmap(rows: pd.DataFrame, dimension: str, rules: dict[str, Any], *, style: ChartStyle) -> Chart:
    """From-label × to-label client counts between the previous run and D for one segmentation."""
    labels = _labels(rules, dimension)
    present_from, present_to = rows["from_label"].astype(str), rows["to_label"].astype(str)
    known = [k for k in labels if k in set(present_from) | set(present_to)] if labels else []
    base = _ordered(known, [x for x in set(present_from) | set(present_to) if x not in ("(new)", "(gone)")])
    from_labels = (["(new)"] if (present_from == "(new)").any() else []) + base
    to_labels = base + (["(gone)"] if (present_to == "(gone)").any() else [])
    counts = np.zeros((len(from_labels), len(to_labels)))
    for f, t, n in zip(present_from, present_to, rows["clients"], strict=True):
        counts[from_labels.index(f), to_labels.index(t)] += int(n)

    def name(label: str) -> str:
        if label == "(new)":
            return style.text("(new)", "新增", "\n")
        if label == "(gone)":
            return style.text("(gone)", "退出", "\n")
        en, zh = labels.get(label, (label, None))
        return style.text(en, zh, "\n")

    fig = _figure(5.2, 0.42 * len(from_labels) + 1.9)
    ax = fig.add_subplot()
    shown = np.ma.masked_where(counts == 0, counts)
    cmap = mpl.colormaps["Blues"].with_extremes(bad="#f6f7f9")
    norm = mcolors.LogNorm(vmin=1, vmax=max(counts.max(), 2))
    _heatmap(ax, shown, cmap, norm)
    _heatmap_frame(ax, len(from_labels), len(to_labels), [name(x) for x in from_labels], [name(x) for x in to_labels])
    for i, f in enumerate(from_labels):
        for j, t in enumerate(to_labels):
            if counts[i, j]:
                is_move = f != t and f != "(new)" and t != "(gone)"
                ax.text(j, i, f"{int(counts[i, j]):,}", ha="center", va="center", fontsize=8,
                        fontweight="bold" if f != t else "normal", color=_text_colour(cmap(norm(counts[i, j]))))  # fmt: skip
                if is_move:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=NEGATIVE,
                                                       linewidth=1.4))  # fmt: skip
    moved = int(sum(counts[i, j] for i, f in enumerate(from_labels) for j, t in enumerate(to_labels)
                    if f != t and f != "(new)" and t != "(gone)"))  # fmt: skip
    arrived = int(counts[0].sum()) if from_labels[:1] == ["(new)"] else 0
    left = int(counts[:, -1].sum()) if to_labels[-1:] == ["(gone)"] else 0
    from_date, to_date = rows["from_date"].min(), rows["to_date"].max()
    x_label = style.text(f"Now ({pd.Timestamp(to_date).date()})", "本期", " ")
    y_label = style.text(f"Before ({pd.Timestamp(from_date).date()})", "上期", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    en, zh = MIGRATION_TITLES.get(dimension, (f"{dimension} migration", None))
    title = style.text(en, zh, " · ")
    _title(fig, title)
    caption = (
        f"Clients by {dimension.replace('_', ' ')} at the previous run (rows) and now (columns); "
        f"{moved:,} moved (outlined in red), {arrived:,} new, {left:,} gone; the diagonal stayed."
    )
    return _render(fig, f"chart-migration-{dimension.replace('_', '-')}", title, caption, x_label, y_label)


# ---------------------------------------------------------------------------------------------------------
# Early warnings, attribution, data quality
# ---------------------------------------------------------------------------------------------------------


@_styled
def warning_signals(counts: pd.DataFrame, *, style: ChartStyle) -> Chart:
    """Open signals (new and active) per type, stacked by severity."""
    open_ = counts[counts["status"].isin(["new", "active"])]
    table = open_.pivot_table(index="signal_code", columns="severity", values="signals", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=[s for s in reversed(SEVERITY_ORDER)], fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values().index]
    fig = _figure(5.2, max(2.6, 0.32 * len(table) + 1.3))
    ax = fig.add_subplot()
    left = np.zeros(len(table))
    y = np.arange(len(table))
    for severity in table.columns:
        widths = table[severity].to_numpy(dtype=float)
        ax.barh(y, widths, left=left, color=SEVERITY_COLOURS[severity], height=0.62,
                label=style.text(severity.title(), {"low": "低", "medium": "中", "high": "高"}[severity]))  # fmt: skip
        left += widths
    for yi, total in zip(y, left, strict=True):
        ax.annotate(
            f"{int(total):,}", (total, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7.5
        )
    ax.set_yticks(y, [style.text(*SIGNAL_LABELS.get(c, (c, None)), sep=" ") for c in table.index])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(left.max() if left.size else 1, 1) * 1.12)
    _grid(ax, "x")
    if len(table):
        fig.legend(title=style.text("Severity", "严重程度"), loc="outside lower center", ncols=3)
    x_label = style.text("Open signals", "预警信号数", " ")
    y_label = style.text("Signal", "预警类型", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("Open early-warning signals", "风险预警信号", " · ")
    _title(fig, title)
    caption = "Signals open on the business date (raised today or still active), by type and severity."
    return _render(fig, "chart-warning-signals", title, caption, x_label, y_label)


@_styled
def attribution_waterfall(totals: dict[str, float], parts: Sequence[str], *, style: ChartStyle) -> Chart:
    """Portfolio ΔCLV since the previous run as a waterfall over the attribution parts."""
    steps = [(p, totals.get(p, 0.0)) for p in parts]
    fig = _figure(10, 3.6)
    ax = fig.add_subplot()
    running = 0.0
    x = np.arange(len(steps) + 1)
    scale = max([abs(v) for _, v in steps] + [abs(totals.get("delta", 0.0))])
    for i, (_part, value) in enumerate(steps):
        ax.bar(i, value, bottom=running, color=POSITIVE if value >= 0 else NEGATIVE, width=0.62)
        if abs(value) >= max(1.0, 0.002 * scale):  # a part too small to see gets no label either
            ax.annotate(style.money(value), (i, running + value), xytext=(0, 3 if value >= 0 else -3),
                        textcoords="offset points", ha="center", va="bottom" if value >= 0 else "top", fontsize=7.5)  # fmt: skip
        ax.plot([i + 0.31, i + 0.69], [running + value] * 2, color=NEUTRAL, linewidth=0.8)  # to the next bar
        running += value
    delta = totals.get("delta", running)
    ax.bar(len(steps), delta, color=INK, width=0.62)
    ax.annotate(style.money(delta), (len(steps), delta), xytext=(0, 3 if delta >= 0 else -3),
                textcoords="offset points", ha="center", va="bottom" if delta >= 0 else "top", fontsize=8,
                fontweight="bold")  # fmt: skip
    ax.axhline(0, color=INK, linewidth=0.8)
    ax.set_xticks(x, [style.text(*PART_LABELS.get(p, (p, None)), sep="\n") for p, _ in steps]
                  + [style.text("Total change", "合计变动", "\n")])  # fmt: skip
    _money_axis(ax.yaxis, style)
    _grid(ax, "y")
    ax.margins(y=0.15)
    x_label = style.text("Attribution factor", "归因因素", " ")
    y_label = style.text("Change in total base CLV (CNY)", "客户价值变动", "  ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("What moved the portfolio's CLV since the previous run", "组合价值变动归因", " · ")
    _title(fig, title)
    caption = (
        f"Change of the portfolio's total base CLV from {cny_en(totals.get('previous'))} to "
        f"{cny_en(totals.get('current'))}, split over the attribution factors (green raises, red lowers value); "
        "the parts add up to the total change."
    )
    return _render(fig, "chart-attribution-waterfall", title, caption, x_label, y_label)


@_styled
def attribution_movers(movers: pd.DataFrame, parts: Sequence[str], *, style: ChartStyle) -> Chart:
    """The largest movers' ΔCLV as diverging stacked bars by attribution part, with the net change marked."""
    rows = movers.iloc[::-1].reset_index(drop=True)
    fig = _figure(10, 0.36 * len(rows) + 1.8)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    positive, negative = np.zeros(len(rows)), np.zeros(len(rows))
    used = [p for p in parts if (rows[p].abs() > 0).any()]
    for part in used:
        values = rows[part].to_numpy(dtype=float)
        left = np.where(values >= 0, positive, negative)
        ax.barh(y, values, left=left, color=PART_COLOURS.get(part, NEUTRAL), height=0.62,
                label=style.text(*PART_LABELS.get(part, (part, None))))  # fmt: skip
        positive += np.where(values >= 0, values, 0)
        negative += np.where(values < 0, values, 0)
    net = rows["delta_clv_cny"].to_numpy(dtype=float)
    ax.scatter(net, y, marker="D", s=22, color=INK, zorder=3, label=style.text("Net change", "净变动"))
    for yi, value in zip(y, net, strict=True):
        ax.annotate(style.money(value), (max(positive[yi], value) if value >= 0 else min(negative[yi], value), yi),
                    xytext=(5 if value >= 0 else -5, 0), textcoords="offset points", va="center",
                    ha="left" if value >= 0 else "right", fontsize=7.5)  # fmt: skip
    ax.axvline(0, color=INK, linewidth=0.8)
    ax.set_yticks(y, rows["client_id"].astype(str).tolist())
    span = max(np.abs(np.concatenate([positive, negative, net])).max() if len(rows) else 1.0, 1.0)
    ax.set_xlim(
        min(negative.min() if len(rows) else 0, 0) - 0.2 * span, max(positive.max() if len(rows) else 0, 0) + 0.2 * span
    )
    _money_axis(ax.xaxis, style)
    _grid(ax, "x")
    fig.legend(loc="outside lower center", ncols=min(len(used) + 1, 6))
    x_label = style.text("Change in base CLV since the previous run (CNY)", "客户价值变动", "  ")
    y_label = style.text("Client", "客户", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text(f"The {len(rows)} largest CLV changes and their causes", "价值变动最大的客户", " · ")
    _title(fig, title)
    caption = (
        "Each bar splits one client's change in base CLV over the attribution factors (to the right: raising "
        "value, to the left: lowering it); the diamond is the net change. Largest absolute changes first."
    )
    return _render(fig, "chart-attribution-movers", title, caption, x_label, y_label)


@_styled
def data_quality(gates: pd.DataFrame, *, style: ChartStyle) -> Chart:
    """Checks per gate: passed, failed at warn level, failed at error level."""
    rows = gates.iloc[::-1].reset_index(drop=True)
    fig = _figure(5.2, max(2.4, 0.34 * len(rows) + 1.3))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for column, colour, en, zh in (("passed", POSITIVE, "Passed", "通过"), ("failed_warn", "#e0a020", "Failed (warn)", "警告"),
                                   ("failed_error", NEGATIVE, "Failed (error)", "错误")):  # fmt: skip
        widths = rows[column].to_numpy(dtype=float)
        ax.barh(y, widths, left=left, color=colour, height=0.62, label=style.text(en, zh))
        left += widths
    for yi, total, failed in zip(y, left, rows["failed_error"] + rows["failed_warn"], strict=True):
        note = f"{int(total):,}" + (f" ({int(failed)} failed)" if failed else "")
        ax.annotate(note, (total, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7.5)
    ax.set_yticks(y, [style.text(*GATE_LABELS.get(g, (g, None))) for g in rows["gate"]])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(left.max() if left.size else 1, 1) * 1.25)
    _grid(ax, "x")
    fig.legend(loc="outside lower center", ncols=3)
    x_label = style.text("Checks", "检查项", " ")
    y_label = style.text("Gate", "质量关口", " ")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    title = style.text("Data-quality checks by gate", "数据质量检查", " · ")
    _title(fig, title)
    caption = "Every check recorded for this business date, per gate: passed, failed at warn level (recorded, the run "
    caption += "went on) and failed at error level (the run stopped at that gate)."
    return _render(fig, "chart-data-quality", title, caption, x_label, y_label)


def draw_charts(data: ReportData, style: ChartStyle | None = None) -> dict[str, Chart]:
    """Every chart the report's data allow (migration and attribution need a previous run), by id."""
    from python_tasks.report.queries import ATTRIBUTION_PARTS

    style = style or chart_style()
    charts = [
        clv_distribution(data.clients, data.value_thresholds, style=style),
        clv_by_value_tier(data.clients, data.rules, style=style),
        clv_by_strategy(data.summary, data.rules, style=style),
        clv_by_industry(data.summary, data.industries, style=style),
        strategy_matrix(data.matrix, data.rules, style=style),
    ]
    for dimension in MIGRATION_DIMENSIONS:
        rows = data.migration[data.migration["dimension"] == dimension]
        if not rows.empty:
            charts.append(migration_heatmap(rows, dimension, data.rules, style=style))
    if not data.signal_counts.empty:
        charts.append(warning_signals(data.signal_counts, style=style))
    if data.attribution_totals:
        charts.append(attribution_waterfall(data.attribution_totals, ATTRIBUTION_PARTS, style=style))
        charts.append(attribution_movers(data.movers, ATTRIBUTION_PARTS, style=style))
    if not data.quality.gates.empty:
        charts.append(data_quality(data.quality.gates, style=style))
    return {c.id: c for c in charts}
