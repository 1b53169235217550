"""Amounts as a credit officer reads them: CNY in 亿 / 万 (Chinese) and bn / m (English), percentages,
counts. One definition for the charts' ticks, the headline cards and the tables, so the same amount never
reads two ways in one report."""

from __future__ import annotations

import math

_YI = 1e8  # 亿 = 100 million
_WAN = 1e4  # 万 = 10 thousand


def _finite(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def cny_zh(value: float | None, digits: int = 2) -> str:
    """``1_744_585_800`` → ``17.45 亿元``; ``-3_264_000`` → ``-326.4 万元``; under 10 000 in 元."""
    if not _finite(value):
        return "–"
    size = abs(value)
    if size >= _YI:
        return f"{value / _YI:,.{digits}f} 亿元"
    if size >= _WAN:
        return f"{value / _WAN:,.1f} 万元"
    return f"{value:,.0f} 元"


def cny_en(value: float | None, digits: int = 2) -> str:
    """``1_744_585_800`` → ``CNY 1.74 bn``; ``-3_264_000`` → ``CNY -3.26 m``; ``52_000`` → ``CNY 52.0 k``."""
    if not _finite(value):
        return "–"
    size = abs(value)
    if size >= 1e9:
        return f"CNY {value / 1e9:,.{digits}f} bn"
    if size >= 1e6:
        return f"CNY {value / 1e6:,.{digits}f} m"
    if size >= 1e3:
        return f"CNY {value / 1e3:,.1f} k"
    return f"CNY {value:,.0f}"


def _short(number: float) -> str:
    """Three significant digits without an exponent: 1234 → 1,230; 12.34 → 12.3; 0.1234 → 0.123."""
    size = abs(number)
    if size >= 100:
        return f"{round(number, -int(math.floor(math.log10(size))) + 2):,.0f}"
    if size >= 10:
        return f"{number:.1f}".rstrip("0").rstrip(".")
    return f"{number:.2f}".rstrip("0").rstrip(".")


def cny_tick(value: float, chinese: bool) -> str:
    """A short axis tick: ``1.2亿`` / ``500万`` with Chinese labels, ``1.2bn`` / ``500m`` / ``20k`` without."""
    size = abs(value)
    if size == 0:
        return "0"
    if chinese:
        if size >= _YI:
            return f"{_short(value / _YI)}亿"
        if size >= _WAN:
            return f"{_short(value / _WAN)}万"
        return _short(value)
    if size >= 1e9:
        return f"{_short(value / 1e9)}bn"
    if size >= 1e6:
        return f"{_short(value / 1e6)}m"
    if size >= 1e3:
        return f"{_short(value / 1e3)}k"
    return _short(value)


def signed(text: str, value: float | None) -> str:
    """Prefix ``+`` to a formatted positive change (a negative one already carries its sign)."""
    return f"+{text}" if _finite(value) and value > 0 else text


def percent(value: float | None, digits: int = 1) -> str:
    """``0.1234`` → ``12.3 %``."""
    return "–" if not _finite(value) else f"{value * 100:,.{digits}f} %"


def count(value: int | float | None) -> str:
    """``12345`` → ``12,345``."""
    return "–" if not _finite(value) else f"{int(value):,}"
