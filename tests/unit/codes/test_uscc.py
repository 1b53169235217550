"""USCC (GB 32100-2015) validator, builder and DuckDB macro."""

from __future__ import annotations

import random
import re

import duckdb
import pytest

from python_tasks.codes.uscc import (
    CHARSET,
    CHARSET_REGEX_CLASS,
    DEPARTMENTS,
    WEIGHTS,
    check_character,
    duckdb_macro_sql,
    explain_uscc,
    is_valid_uscc,
    make_uscc,
)

# Real codes printed on business licences and widely cited as valid examples; each was
# re-checked by hand with the GB 32100 algorithm.
PUBLISHED_VALID = [
    "91350100M000100Y43",
    "91110000600037341L",
    "91440300708461136T",
    "914403001922038216",
    "91110108551385082Q",
]


def _random_valid(rng: random.Random) -> str:
    dept = rng.choice(sorted(DEPARTMENTS))
    org_type = rng.choice("1239")
    region = f"{rng.randrange(11, 66)}{rng.randrange(0, 10000):04d}"
    body = "".join(rng.choice(CHARSET) for _ in range(9))
    return make_uscc(dept, org_type, region, body)


def _corrupt(code: str, rng: random.Random) -> str:
    pos = rng.randrange(len(code))
    replacement = rng.choice([c for c in CHARSET if c != code[pos]])
    return code[:pos] + replacement + code[pos + 1 :]


def test_charset_and_weights_are_the_standard_ones() -> None:
    assert len(CHARSET) == 31
    assert not set("IOZSV") & set(CHARSET)
    assert WEIGHTS == tuple(pow(3, i, 31) for i in range(17))


def test_regex_class_matches_charset_exactly() -> None:
    printable = [chr(n) for n in range(0x20, 0x7F)]
    assert "".join(c for c in printable if re.fullmatch(CHARSET_REGEX_CLASS, c)) == CHARSET


def test_department_codes_are_those_of_the_standard() -> None:
    assert set(DEPARTMENTS) == set("123456789ANY")


@pytest.mark.parametrize("code", PUBLISHED_VALID)
def test_published_examples_are_valid(code: str) -> None:
    assert explain_uscc(code) is None
    assert is_valid_uscc(code)
    assert check_character(code[:17]) == code[17]


def test_hand_computed_check_character() -> None:
    # Values: M=21, Y=30. Sum = 9*1 + 1*3 + 3*9 + 5*27 + 0 + 1*26 + 0 + 0 + 21*20 + 0 + 0 + 0
    #   + 1*8 + 0 + 0 + 30*30 + 4*28 = 1640 = 52*31 + 28, so the check index is 31 - 28 = 3.
    assert check_character("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y42", "check character is '2', expected '3'"),
        ("91110000600037341K", "check character is 'K', expected 'L'"),
        ("91440300708461136U", "check character is 'U', expected 'T'"),
        ("91110000600037341", "length 17, expected 18"),
        ("91110000600037341LL", "length 19, expected 18"),
        ("", "length 0, expected 18"),
        ("91350100m000100Y43", "character 'm' at position 9 is lowercase"),
        ("9135O100M000100Y43", "character 'O' at position 5 is not allowed"),
        ("91350100M000100I43", "character 'I' at position 16 is not allowed"),
        ("91350100M000100Z43", "character 'Z' at position 16 is not allowed"),
        ("91350100M000100S43", "character 'S' at position 16 is not allowed"),
        ("91350100M000100V43", "character 'V' at position 16 is not allowed"),
        ("91350100M000100Y4 ", "character ' ' at position 18 is not allowed"),
        ("91350100M00０100Y43", "character '０' at position 12 is not allowed"),
        ("B1350100M000100Y43", "registration department code 'B' at position 1 is unknown"),
        ("0111000060003734XX", "registration department code '0' at position 1 is unknown"),
        ("9135A100M000100Y43", "region code '35A100' at positions 3-8 is not six digits"),
    ],
)
def test_invalid_codes_are_explained(code: str, reason: str) -> None:
    assert explain_uscc(code) == reason
    assert not is_valid_uscc(code)


@pytest.mark.parametrize("value", [None, 91110000600037341, b"91110000600037341L"])
def test_non_strings_are_invalid(value: object) -> None:
    assert not is_valid_uscc(value)
    assert explain_uscc(value) is not None


def test_lowercase_of_valid_code_is_invalid() -> None:
    assert not is_valid_uscc("91110000600037341l")


def test_check_character_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="17"):
        check_character("9111")
    with pytest.raises(ValueError, match="position 3"):
        check_character("91O100006000373410"[:17])


def test_make_uscc_rejects_bad_parts() -> None:
    with pytest.raises(ValueError):
        make_uscc("B", "1", "110000", "600037341")
    with pytest.raises(ValueError):
        make_uscc("9", "1", "11000A", "600037341")
    with pytest.raises(ValueError):
        make_uscc("9", "1", "110000", "60003734")
    with pytest.raises(ValueError):
        make_uscc("9", "1", "110000", "60003734O")


def test_make_uscc_reproduces_published_code() -> None:
    assert make_uscc("9", "1", "110000", "600037341") == "91110000600037341L"


def test_make_uscc_output_is_always_valid_and_single_changes_break_it() -> None:
    rng = random.Random(20240601)
    for _ in range(400):
        code = _random_valid(rng)
        assert is_valid_uscc(code), code
        for pos in range(len(code)):
            for replacement in CHARSET:
                if replacement == code[pos]:
                    continue
                mutated = code[:pos] + replacement + code[pos + 1 :]
                assert not is_valid_uscc(mutated), (code, mutated)


def test_duckdb_macro_agrees_with_python() -> None:
    rng = random.Random(7)
    codes: list[str] = list(PUBLISHED_VALID)
    for _ in range(1500):
        valid = _random_valid(rng)
        codes.append(valid)
        codes.append(_corrupt(valid, rng))
    for _ in range(300):
        valid = _random_valid(rng)
        pos = rng.randrange(18)
        codes.append(valid[:pos] + rng.choice("IOZSVaz -_é中") + valid[pos + 1 :])
        codes.append(valid[: rng.randrange(18)])
        codes.append(valid + rng.choice(CHARSET))
        codes.append(valid.lower())
        codes.append(rng.choice("BCXZ0") + valid[1:])
    codes += ["", " ", "91350100M000100Y4", "９1350100M000100Y43"]

    con = duckdb.connect()
    try:
        con.execute(duckdb_macro_sql())
        con.execute(
            "CREATE TABLE t AS SELECT unnest(range(?)) AS i, unnest(?::VARCHAR[]) AS code",
            [len(codes), codes],
        )
        rows = con.execute("SELECT i, uscc_is_valid(code) FROM t ORDER BY i").fetchall()
        null_row = con.execute("SELECT uscc_is_valid(NULL::VARCHAR)").fetchone()
    finally:
        con.close()

    got = [flag for _, flag in rows]
    expected = [is_valid_uscc(c) for c in codes]
    assert None not in got
    mismatches = [(c, g, e) for c, g, e in zip(codes, got, expected, strict=True) if g != e]
    assert mismatches == []
    assert sum(expected) >= 1500
    assert null_row == (None,)
