"""Unified Social Credit Code (统一社会信用代码, GB 32100-2015).

A client's USCC is its legal identity in every Chinese registry, so a bank must reject codes
that cannot exist before they become keys. The layout is:

    position 1      registration department (登记管理部门代码)
    position 2      organisation type within that department (机构类别代码)
    positions 3-8   registration authority's GB/T 2260 region code (six digits)
    positions 9-17  organisation code body (主体标识码, GB 11714)
    position 18     check character, mod-31 weighted sum over positions 1-17

The same rules are exported as a DuckDB macro (:func:`duckdb_macro_sql`) so that SQL and
Python give one answer for every input.
"""

from __future__ import annotations

import re

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters allowed in a USCC; I, O, Z, S, V are excluded to avoid misreading."""

WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
"""Weight of positions 1-17 in the check-character sum (3**i mod 31)."""

DEPARTMENTS: dict[str, tuple[str, str]] = {
    "1": ("机构编制", "Institutional staffing (government bodies, public institutions)"),
    "2": ("外交", "Foreign affairs"),
    "3": ("司法行政", "Judicial administration"),
    "4": ("文化", "Culture"),
    "5": ("民政", "Civil affairs (social organisations, foundations)"),
    "6": ("旅游", "Tourism"),
    "7": ("宗教", "Religious affairs"),
    "8": ("工会", "Trade unions"),
    "9": ("工商", "Industry and commerce / market regulation (enterprises)"),
    "A": ("中央军委改革和编制办公室", "CMC reform and staffing office"),
    "N": ("农业", "Agriculture (rural collective economic organisations)"),
    "Y": ("其他", "Other"),
}
"""Registration-department codes (position 1) listed in GB 32100-2015 table 1."""

LENGTH = 18

CHARSET_REGEX_CLASS = "[0-9A-HJ-NP-RTUW-Y]"
"""CHARSET as a regex character class, for SQL and other regex engines."""

_CHAR_VALUE = {c: i for i, c in enumerate(CHARSET)}
_REGION_DIGITS = re.compile(r"[0-9]{6}")


def check_character(first17: str) -> str:
    """Return the check character for the first 17 characters of a USCC.

    Raises ValueError if the input is not 17 characters from CHARSET, because a check
    character of garbage is meaningless.
    """
    if len(first17) != LENGTH - 1:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    total = 0
    for pos, (char, weight) in enumerate(zip(first17, WEIGHTS, strict=True), start=1):
        value = _CHAR_VALUE.get(char)
        if value is None:
            raise ValueError(f"character {char!r} at position {pos} is not allowed")
        total += value * weight
    return CHARSET[(31 - total % 31) % 31]


def explain_uscc(code: object) -> str | None:
    """Say in one short sentence why ``code`` is not a valid USCC, or return None if it is.

    Reasons are checked in a fixed order (type, length, characters, department, region
    digits, check character) so the message names the first thing a person should fix.
    """
    if not isinstance(code, str):
        return f"not a string: {type(code).__name__}"
    if len(code) != LENGTH:
        return f"length {len(code)}, expected {LENGTH}"
    for pos, char in enumerate(code, start=1):
        if char not in _CHAR_VALUE:
            if char.upper() in _CHAR_VALUE:
                return f"character {char!r} at position {pos} is lowercase"
            return f"character {char!r} at position {pos} is not allowed"
    if code[0] not in DEPARTMENTS:
        return f"registration department code {code[0]!r} at position 1 is unknown"
    if not _REGION_DIGITS.fullmatch(code[2:8]):
        return f"region code {code[2:8]!r} at positions 3-8 is not six digits"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r}"
    return None


def is_valid_uscc(code: object) -> bool:
    """True if ``code`` is a well-formed USCC with a correct check character."""
    return explain_uscc(code) is None


def make_uscc(dept: str, org_type: str, region_code: str, body9: str) -> str:
    """Build a valid USCC from its parts; used to generate realistic test and demo data."""
    if dept not in DEPARTMENTS:
        raise ValueError(f"unknown registration department code {dept!r}")
    if len(org_type) != 1 or org_type not in _CHAR_VALUE:
        raise ValueError(f"organisation type must be one character from CHARSET, got {org_type!r}")
    if not _REGION_DIGITS.fullmatch(region_code):
        raise ValueError(f"region code must be six digits, got {region_code!r}")
    if len(body9) != 9 or any(c not in _CHAR_VALUE for c in body9):
        raise ValueError(f"body must be nine characters from CHARSET, got {body9!r}")
    first17 = dept + org_type + region_code + body9
    return first17 + check_character(first17)


def duckdb_macro_sql() -> str:
    """Return ``CREATE OR REPLACE MACRO uscc_is_valid(code)`` implementing is_valid_uscc.

    The weighted sum is unrolled into 17 scalar terms generated from CHARSET and WEIGHTS,
    so it vectorises over millions of rows and cannot drift from the Python rules. Any
    non-null string gets true or false (never NULL); NULL input gives NULL.
    """
    charset_re = CHARSET_REGEX_CLASS
    depts = ", ".join(f"'{d}'" for d in DEPARTMENTS)
    terms = "\n            + ".join(
        f"(instr('{CHARSET}', substr(code, {pos}, 1)) - 1) * {weight}" for pos, weight in enumerate(WEIGHTS, start=1)
    )
    return f"""CREATE OR REPLACE MACRO uscc_is_valid(code) AS
CASE
    WHEN code IS NULL THEN NULL
    ELSE coalesce(
        length(code) = {LENGTH}
        AND regexp_full_match(code, '{charset_re}{{{LENGTH}}}')
        AND substr(code, 1, 1) IN ({depts})
        AND regexp_full_match(substr(code, 3, 6), '[0-9]{{6}}')
        AND substr(code, 18, 1) = substr(
            '{CHARSET}',
            ((31 - ((
              {terms}
            ) % 31)) % 31) + 1,
            1
        ),
        false
    )
END"""
