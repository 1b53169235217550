"""GB/T 2260 region reference table and lookups."""

from __future__ import annotations

import csv

import pytest

from python_tasks.codes.region import (
    REGIONS_CSV,
    economic_tier,
    is_valid_region_code,
    province_of,
    regions,
)

PROVINCE_CODES = {
    "110000", "120000", "130000", "140000", "150000", "210000", "220000", "230000",
    "310000", "320000", "330000", "340000", "350000", "360000", "370000", "410000",
    "420000", "430000", "440000", "450000", "460000", "500000", "510000", "520000",
    "530000", "540000", "610000", "620000", "630000", "640000", "650000",
}  # fmt: skip


def test_thirty_one_provinces() -> None:
    provinces = {code for code, r in regions().items() if r.level == "province"}
    assert provinces == PROVINCE_CODES


def test_codes_unique_and_well_formed() -> None:
    with REGIONS_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    codes = [row["region_code"] for row in rows]
    assert len(codes) == len(set(codes))
    assert len({row["region_name_zh"] for row in rows}) == len(rows)
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert {row["level"] for row in rows} == {"province", "prefecture"}


def test_at_least_sixty_prefectures_each_in_an_existing_province() -> None:
    prefectures = [r for r in regions().values() if r.level == "prefecture"]
    assert len(prefectures) >= 60
    for r in prefectures:
        assert r.province_code == r.region_code[:2] + "0000"
        assert regions()[r.province_code].level == "province"
        assert r.region_code.endswith("00") and not r.region_code.endswith("0000")
        # Municipalities are represented by their province row only.
        assert r.region_code[:2] not in {"11", "12", "31", "50"}


def test_provinces_point_to_themselves() -> None:
    for r in regions().values():
        if r.level == "province":
            assert r.province_code == r.region_code


def test_tiers_in_range_and_first_tier_is_the_big_four() -> None:
    assert {r.economic_tier for r in regions().values()} <= {1, 2, 3, 4}
    first_tier = {code for code, r in regions().items() if r.economic_tier == 1}
    assert first_tier == {"110000", "310000", "440100", "440300"}
    assert all(r.economic_tier <= 3 for r in regions().values() if r.level == "prefecture")


@pytest.mark.parametrize(
    ("code", "name_zh", "name_en"),
    [
        ("110000", "北京市", "Beijing"),
        ("440000", "广东省", "Guangdong"),
        ("650000", "新疆维吾尔自治区", "Xinjiang"),
        ("440300", "深圳市", "Shenzhen"),
        ("320500", "苏州市", "Suzhou"),
        ("330100", "杭州市", "Hangzhou"),
        ("510100", "成都市", "Chengdu"),
        ("441900", "东莞市", "Dongguan"),
        ("350200", "厦门市", "Xiamen"),
    ],
)
def test_known_examples(code: str, name_zh: str, name_en: str) -> None:
    region = regions()[code]
    assert (region.name_zh, region.name_en) == (name_zh, name_en)
    assert is_valid_region_code(code)


@pytest.mark.parametrize(
    "code", ["440305", "110100", "990000", "44030", "4403000", "44030a", "", None, 440300]
)
def test_invalid_region_codes(code: object) -> None:
    assert not is_valid_region_code(code)


def test_province_of() -> None:
    assert province_of("440305") == "440000"
    assert province_of("110105") == "110000"
    assert province_of("650000") == "650000"
    with pytest.raises(ValueError):
        province_of("4403")


@pytest.mark.parametrize(
    ("code", "tier"),
    [
        ("110000", 1),
        ("310000", 1),
        ("440100", 1),
        ("440300", 1),
        ("440305", 1),  # Nanshan district inherits Shenzhen
        ("110105", 1),  # Chaoyang district inherits Beijing
        ("500000", 2),
        ("330100", 2),
        ("440000", 2),
        ("320000", 2),
        ("420000", 3),
        ("330300", 3),
        ("540000", 4),
        ("230000", 4),
        ("441500", None),  # Shanwei is not listed
        ("999999", None),
        ("abc", None),
        (None, None),
    ],
)
def test_economic_tier(code: object, tier: int | None) -> None:
    assert economic_tier(code) == tier
