"""GB/T 4754-2017 sections, divisions and client industry codes."""

from __future__ import annotations

import re

import pytest

from python_tasks.codes.industry import (
    DIVISIONS_CSV,
    INDUSTRY_CODE_PATTERN,
    SECTIONS_CSV,
    divisions,
    is_valid_industry_code,
    section_of,
    sections,
    valid_section_division_pairs,
)

# Division ranges of each section, as printed in GB/T 4754-2017.
SECTION_RANGES = {
    "A": (1, 5),
    "B": (6, 12),
    "C": (13, 43),
    "D": (44, 46),
    "E": (47, 50),
    "F": (51, 52),
    "G": (53, 60),
    "H": (61, 62),
    "I": (63, 65),
    "J": (66, 69),
    "K": (70, 70),
    "L": (71, 72),
    "M": (73, 75),
    "N": (76, 79),
    "O": (80, 82),
    "P": (83, 83),
    "Q": (84, 85),
    "R": (86, 90),
    "S": (91, 96),
    "T": (97, 97),
}


def test_twenty_sections_a_to_t() -> None:
    assert list(sections()) == [chr(c) for c in range(ord("A"), ord("T") + 1)]
    assert sections()["C"] == ("制造业", "Manufacturing")
    assert sections()["J"][0] == "金融业"
    assert sections()["D"][0] == "电力、热力、燃气及水生产和供应业"


def test_ninety_seven_divisions_with_two_digit_codes() -> None:
    assert list(divisions()) == [f"{n:02d}" for n in range(1, 98)]


@pytest.mark.parametrize(("section", "bounds"), sorted(SECTION_RANGES.items()))
def test_division_ranges_match_sections(section: str, bounds: tuple[int, int]) -> None:
    low, high = bounds
    expected = {f"{n:02d}" for n in range(low, high + 1)}
    actual = {code for code, (sec, _, _) in divisions().items() if sec == section}
    assert actual == expected


def test_names_are_filled_and_unique() -> None:
    zh = [name for _, name, _ in divisions().values()]
    en = [name for _, _, name in divisions().values()]
    assert all(zh) and all(en)
    assert len(set(zh)) == 97
    assert len(set(en)) == 97


@pytest.mark.parametrize(
    ("division", "name"),
    [
        ("05", "农、林、牧、渔专业及辅助性活动"),
        ("11", "开采专业及辅助性活动"),
        ("25", "石油、煤炭及其他燃料加工业"),
        ("39", "计算机、通信和其他电子设备制造业"),
        ("58", "多式联运和运输代理业"),
        ("59", "装卸搬运和仓储业"),
        ("66", "货币金融服务"),
        ("79", "土地管理业"),
        ("96", "基层群众自治组织及其他组织"),
    ],
)
def test_2017_edition_names(division: str, name: str) -> None:
    # These are the divisions renamed or added in the 2017 edition; 2011 names would be wrong.
    assert divisions()[division][1] == name


def test_csv_files_are_utf8_with_header() -> None:
    assert SECTIONS_CSV.read_text(encoding="utf-8").splitlines()[0] == (
        "section_code,section_name_zh,section_name_en"
    )
    assert DIVISIONS_CSV.read_text(encoding="utf-8").splitlines()[0] == (
        "division_code,section_code,division_name_zh,division_name_en"
    )


@pytest.mark.parametrize("code", ["C39", "C3911", "A01", "A0511", "F51", "K70", "K7010", "T97", "S96"])
def test_valid_industry_codes(code: str) -> None:
    assert is_valid_industry_code(code)
    assert re.fullmatch(INDUSTRY_CODE_PATTERN, code)


@pytest.mark.parametrize(
    "code",
    [
        "A39",  # division 39 is manufacturing
        "C01",
        "C12",
        "C44",
        "T96",
        "S97",
        "C00",
        "C98",
        "U01",  # no section U
        "c39",
        "C3",
        "C391",
        "C39111",
        "39",
        "",
        " C39",
        "C39 ",
        "C３9",
        None,
        39,
    ],
)
def test_invalid_industry_codes(code: object) -> None:
    assert not is_valid_industry_code(code)


def test_section_of() -> None:
    assert section_of("C3911") == "C"
    assert section_of("J66") == "J"
    assert section_of("66") == "J"
    assert section_of("A39") is None
    assert section_of("98") is None
    assert section_of(None) is None


def test_valid_section_division_pairs() -> None:
    pairs = valid_section_division_pairs()
    assert len(pairs) == 97
    assert pairs[0] == "A01"
    assert pairs[-1] == "T97"
    assert "C39" in pairs and "A39" not in pairs
    assert all(is_valid_industry_code(p) for p in pairs)
