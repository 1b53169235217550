"""GB/T 4754-2017 industry classification (国民经济行业分类): sections and divisions.

Client industry codes in the loan book are a section letter plus the two-digit division,
optionally followed by the two digits of group and class ("C39", "C3911"). Division numbers
are unique across sections, so a code is only meaningful if its division really belongs to
the section letter it carries; a mismatch ("A39") means a keying error upstream.

The reference data live in the dbt seeds so that SQL models and Python read one table.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
SECTIONS_CSV = SEEDS_DIR / "ref_gbt4754_sections.csv"
DIVISIONS_CSV = SEEDS_DIR / "ref_gbt4754_divisions.csv"

INDUSTRY_CODE_PATTERN = r"^[A-T][0-9]{2}([0-9]{2})?$"
"""Shape of a client industry code: section letter, division, optional group+class digits."""

_INDUSTRY_CODE_RE = re.compile(INDUSTRY_CODE_PATTERN)


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def sections() -> dict[str, tuple[str, str]]:
    """Section letter -> (Chinese name, English name), in code order."""
    return {row["section_code"]: (row["section_name_zh"], row["section_name_en"]) for row in _read_rows(SECTIONS_CSV)}


@cache
def divisions() -> dict[str, tuple[str, str, str]]:
    """Two-digit division code -> (section letter, Chinese name, English name)."""
    return {
        row["division_code"]: (row["section_code"], row["division_name_zh"], row["division_name_en"])
        for row in _read_rows(DIVISIONS_CSV)
    }


def is_valid_industry_code(code: object) -> bool:
    """True if ``code`` matches INDUSTRY_CODE_PATTERN and its division belongs to its section.

    Group and class digits (positions 4-5) are checked for shape only, because the
    standard's class list is not shipped here.
    """
    if not isinstance(code, str) or not _INDUSTRY_CODE_RE.fullmatch(code):
        return False
    division = divisions().get(code[1:3])
    return division is not None and division[0] == code[0]


def section_of(code: object) -> str | None:
    """Section letter of a valid industry code or of a bare two-digit division, else None."""
    if not isinstance(code, str):
        return None
    if len(code) == 2:
        division = divisions().get(code)
        return division[0] if division else None
    return code[0] if is_valid_industry_code(code) else None


def valid_section_division_pairs() -> list[str]:
    """Every valid section+division prefix ("A01" ... "T97"), for SQL ``left(code, 3) IN (...)``."""
    return [section + code for code, (section, _, _) in sorted(divisions().items())]
