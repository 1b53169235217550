"""GB/T 2260 administrative region codes and the bank's economic tier of each region.

The seed ``ref_regions.csv`` holds all 31 provincial-level divisions of mainland China and
the major prefecture-level cities where the book is concentrated. Municipalities (Beijing,
Tianjin, Shanghai, Chongqing) appear once, as their province row.

Economic tier (1 = strongest, 4 = weakest) is a credit-risk grouping, not an official
classification. The rule, applied by hand when the seed was written:

* Prefecture-level cities (and the municipalities, whose province row is the city):
  - tier 1: Beijing, Shanghai, Guangzhou, Shenzhen (the four first-tier cities);
  - tier 2: any city that is (a) on the 2023 "new first-tier" list (Chengdu, Chongqing,
    Hangzhou, Wuhan, Suzhou, Xi'an, Nanjing, Changsha, Tianjin, Zhengzhou, Dongguan, Wuxi,
    Ningbo, Qingdao, Hefei), or (b) a sub-provincial city (Shenyang, Dalian, Changchun,
    Harbin, Xiamen, Jinan, ...), or (c) in the 2023 club of cities with GDP of at least
    one trillion CNY (adds Fuzhou, Quanzhou, Foshan, Nantong, Changzhou, Yantai);
  - tier 3: every other prefecture-level city.
* Provinces (the row used when only the province of a client is known), other than the
  four municipalities, which keep their city tier above:
  - tier 2: Jiangsu, Zhejiang, Guangdong, Fujian, Shandong (large eastern coastal economies);
  - tier 3: the central provinces (Shanxi, Anhui, Jiangxi, Henan, Hubei, Hunan), Hebei and
    Hainan in the east, and Sichuan and Shaanxi, the largest western economies;
  - tier 4: the other western provinces (Inner Mongolia, Guangxi, Guizhou, Yunnan, Tibet,
    Gansu, Qinghai, Ningxia, Xinjiang) and the north-east (Liaoning, Jilin, Heilongjiang).

Change tiers in the CSV (and this comment), never in code, so the dbt seed stays the one
source of truth.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REGIONS_CSV = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "ref_regions.csv"

REGION_CODE_PATTERN = r"^[0-9]{6}$"

_REGION_CODE_RE = re.compile(REGION_CODE_PATTERN)
_MUNICIPALITY_PREFIXES = frozenset({"11", "12", "31", "50"})


@dataclass(frozen=True)
class Region:
    """One row of ref_regions.csv."""

    region_code: str
    name_zh: str
    name_en: str
    province_code: str
    level: str
    economic_tier: int


@cache
def regions() -> dict[str, Region]:
    """Region code -> Region, for every row of the seed."""
    with REGIONS_CSV.open(encoding="utf-8", newline="") as handle:
        return {
            row["region_code"]: Region(
                region_code=row["region_code"],
                name_zh=row["region_name_zh"],
                name_en=row["region_name_en"],
                province_code=row["province_code"],
                level=row["level"],
                economic_tier=int(row["economic_tier"]),
            )
            for row in csv.DictReader(handle)
        }


def _is_six_digits(code: object) -> bool:
    return isinstance(code, str) and _REGION_CODE_RE.fullmatch(code) is not None


def is_valid_region_code(code: object) -> bool:
    """True if ``code`` is six digits and a row of the reference table."""
    return _is_six_digits(code) and code in regions()


def province_of(code: str) -> str:
    """Provincial-level code of any six-digit GB/T 2260 code (first two digits + "0000").

    Raises ValueError for anything that is not six digits, because a guessed province
    would silently misplace the client.
    """
    if not _is_six_digits(code):
        raise ValueError(f"region code must be six digits, got {code!r}")
    return code[:2] + "0000"


def economic_tier(code: object) -> int | None:
    """Economic tier of a region code, or None if neither it nor a parent is in the table.

    County- and district-level codes inherit the tier of their prefecture (first four
    digits + "00"); districts of the four municipalities inherit the municipality's tier.
    A county of a prefecture that is not listed gets None rather than its province's tier,
    because a province's tier describes its whole economy, not its weaker cities.
    """
    if not isinstance(code, str) or not _REGION_CODE_RE.fullmatch(code):
        return None
    table = regions()
    candidates = [code, code[:4] + "00"]
    if code[:2] in _MUNICIPALITY_PREFIXES:
        candidates.append(code[:2] + "0000")
    for candidate in candidates:
        region = table.get(candidate)
        if region is not None:
            return region.economic_tier
    return None
