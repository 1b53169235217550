"""Reference tables of the generator: industries and regions with portfolio weights, and the SME standard.

Codes come from :mod:`python_tasks.codes` (the dbt seeds), so generated codes always pass the loader's
format checks. The weights describe a typical Chinese commercial bank's corporate book: manufacturing,
wholesale/retail and construction heavy, concentrated in the rich coastal provinces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from python_tasks.codes import industry, region

SIZE_CLASSES = ("large", "medium", "small", "micro")
SIZE_WEIGHTS = np.array([0.05, 0.20, 0.45, 0.30])

# Section: portfolio weight, assets/revenue, revenue per employee (CNY), gross margin,
# output growth %, profit margin %, NPL ratio %, cyclical sensitivity.
_SECTION_TABLE: dict[str, tuple[float, float, float, float, float, float, float, float]] = {
    "A": (0.025, 1.2, 0.4e6, 0.18, 3.5, 6.0, 3.0, 0.6),
    "B": (0.015, 2.0, 1.2e6, 0.30, 3.0, 10.0, 2.5, 1.4),
    "C": (0.300, 1.0, 0.9e6, 0.20, 5.5, 5.8, 2.2, 1.2),
    "D": (0.025, 3.0, 2.5e6, 0.22, 5.0, 7.0, 0.8, 0.5),
    "E": (0.100, 1.1, 0.8e6, 0.12, 4.5, 3.0, 2.8, 1.3),
    "F": (0.200, 0.5, 3.0e6, 0.08, 5.5, 2.5, 3.0, 1.1),
    "G": (0.050, 1.6, 0.8e6, 0.15, 5.0, 5.0, 1.3, 1.0),
    "H": (0.020, 1.5, 0.3e6, 0.35, 4.0, 4.0, 4.5, 1.6),
    "I": (0.050, 1.2, 0.7e6, 0.40, 9.0, 11.0, 1.0, 0.8),
    "J": (0.005, 4.0, 2.0e6, 0.50, 6.0, 30.0, 0.4, 0.6),
    "K": (0.030, 3.0, 3.0e6, 0.28, 2.0, 8.0, 3.6, 1.7),
    "L": (0.070, 1.8, 1.0e6, 0.25, 7.0, 7.0, 1.2, 1.0),
    "M": (0.050, 1.2, 0.6e6, 0.35, 8.0, 9.0, 0.9, 0.8),
    "N": (0.020, 3.0, 0.8e6, 0.25, 4.0, 6.0, 0.6, 0.5),
    "O": (0.010, 1.0, 0.3e6, 0.30, 4.5, 5.0, 2.6, 1.0),
    "P": (0.005, 1.5, 0.3e6, 0.40, 5.0, 8.0, 1.2, 0.5),
    "Q": (0.008, 1.3, 0.5e6, 0.35, 6.0, 7.0, 0.9, 0.4),
    "R": (0.007, 1.5, 0.6e6, 0.35, 5.0, 6.0, 2.5, 1.2),
    "S": (0.000, 1.0, 0.5e6, 0.30, 4.0, 3.0, 0.3, 0.2),
    "T": (0.000, 1.0, 0.5e6, 0.30, 3.0, 3.0, 0.3, 0.2),
}

_DIVISION_MULTIPLIER: dict[str, float] = {
    "13": 1.5, "15": 0.6, "16": 0.1, "17": 1.4, "18": 1.2, "19": 0.8, "20": 0.6, "21": 0.8, "22": 0.7,
    "23": 0.5, "24": 0.6, "25": 0.4, "26": 1.8, "27": 1.2, "28": 0.5, "29": 1.4, "30": 1.5, "31": 0.8,
    "32": 0.8, "33": 1.8, "34": 2.0, "35": 1.8, "36": 1.5, "37": 0.6, "38": 2.0, "39": 2.2, "40": 0.8,
    "41": 0.4, "42": 0.4, "43": 0.4, "44": 2.0, "45": 0.8, "46": 0.6, "47": 2.0, "48": 1.8, "50": 1.2,
    "51": 3.0, "52": 1.5, "53": 0.1, "54": 2.0, "55": 0.6, "56": 0.1, "57": 0.1, "58": 1.2, "60": 0.2,
    "63": 0.4, "64": 1.5, "65": 3.0, "66": 0.2, "68": 0.2, "71": 0.8, "72": 2.0, "73": 0.8, "74": 1.5,
    "75": 1.2, "76": 0.5,
}  # fmt: skip

_PROVINCE_WEIGHT: dict[str, float] = {
    "440000": 0.14, "320000": 0.13, "330000": 0.12, "370000": 0.07, "310000": 0.06, "110000": 0.05,
    "350000": 0.05, "510000": 0.035, "420000": 0.03, "410000": 0.03, "340000": 0.03, "430000": 0.025,
    "120000": 0.02, "500000": 0.02, "130000": 0.02, "610000": 0.015, "210000": 0.015, "360000": 0.012,
    "450000": 0.01, "530000": 0.01, "520000": 0.008, "140000": 0.008, "150000": 0.007, "220000": 0.006,
    "230000": 0.006, "460000": 0.005, "650000": 0.005, "620000": 0.004, "640000": 0.002, "630000": 0.002,
    "540000": 0.001,
}  # fmt: skip
_TIER_WEIGHT = {1: 5.0, 2: 2.5, 3: 1.0, 4: 0.7}

# National SME classification (工信部联企业〔2011〕300号): thresholds (large, medium, small) per criterion.
M = 1e6
SME_STANDARD: dict[str, dict[str, tuple[float, float, float]]] = {
    "agriculture": {"revenue": (200 * M, 5 * M, 0.5 * M)},
    "industry": {"employees": (1000, 300, 20), "revenue": (400 * M, 20 * M, 3 * M)},
    "construction": {"revenue": (800 * M, 60 * M, 3 * M), "assets": (800 * M, 50 * M, 3 * M)},
    "wholesale": {"employees": (200, 20, 5), "revenue": (400 * M, 50 * M, 10 * M)},
    "retail": {"employees": (300, 50, 10), "revenue": (200 * M, 5 * M, 1 * M)},
    "transport": {"employees": (1000, 300, 20), "revenue": (300 * M, 30 * M, 2 * M)},
    "warehousing": {"employees": (200, 100, 20), "revenue": (300 * M, 10 * M, 1 * M)},
    "postal": {"employees": (1000, 300, 20), "revenue": (300 * M, 20 * M, 1 * M)},
    "hospitality": {"employees": (300, 100, 10), "revenue": (100 * M, 20 * M, 1 * M)},
    "telecom": {"employees": (2000, 100, 10), "revenue": (1000 * M, 10 * M, 1 * M)},
    "software": {"employees": (300, 100, 10), "revenue": (100 * M, 10 * M, 0.5 * M)},
    "real_estate": {"revenue": (2000 * M, 10 * M, 1 * M), "assets": (100 * M, 50 * M, 20 * M)},
    "leasing_business": {"employees": (300, 100, 10), "assets": (1200 * M, 80 * M, 1 * M)},
    "other": {"employees": (300, 100, 10)},
}
SME_GROUPS = tuple(SME_STANDARD)


def sme_group(section: str, division: str) -> str:
    """Which line of the SME standard applies to a section/division (as dbt_project/seeds/ref_sme_industry_groups)."""
    if section == "A":
        return "agriculture"
    if section in "BCD":
        return "industry"
    if section == "E":
        return "construction"
    if section == "F":
        return "wholesale" if division == "51" else "retail"
    if section == "G":
        return {"53": "other", "59": "warehousing", "60": "postal"}.get(division, "transport")
    if section == "H":
        return "hospitality"
    if section == "I":
        return "telecom" if division in ("63", "64") else "software"
    if section == "K":
        return "real_estate"
    if section == "L":
        return "leasing_business"
    return "other"


@dataclass(frozen=True)
class Reference:
    """Arrays indexed by section, industry (division) and region number, for vectorised lookups."""

    sections: tuple[str, ...]
    section_name: tuple[str, ...]
    section_weight: np.ndarray
    asset_ratio: np.ndarray
    revenue_per_employee: np.ndarray
    gross_margin: np.ndarray
    econ_growth: np.ndarray
    econ_margin: np.ndarray
    econ_npl: np.ndarray
    econ_sensitivity: np.ndarray
    # industries: one per division
    industry_codes: tuple[str, ...]
    industry_section: np.ndarray
    industry_division: tuple[str, ...]
    industry_weight: np.ndarray
    industry_sme_group: np.ndarray
    # regions
    region_codes: tuple[str, ...]
    region_short_name: tuple[str, ...]
    region_tier: np.ndarray
    region_weight: np.ndarray

    def section_index(self, letter: str) -> int:
        return self.sections.index(letter)


def short_region_name(name_zh: str) -> str:
    """深圳市 → 深圳, 广西壮族自治区 → 广西, 内蒙古自治区 → 内蒙古."""
    for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "市", "省"):
        if name_zh.endswith(suffix):
            return name_zh[: -len(suffix)]
    return name_zh


@cache
def load_reference() -> Reference:
    secs = industry.sections()
    letters = tuple(secs)
    table = np.array([_SECTION_TABLE[s] for s in letters])
    divs = industry.divisions()
    codes, sec_idx, div_codes, weights, groups = [], [], [], [], []
    for div, (letter, _zh, _en) in sorted(divs.items()):
        codes.append(letter + div)
        sec_idx.append(letters.index(letter))
        div_codes.append(div)
        weights.append(_DIVISION_MULTIPLIER.get(div, 1.0))
        groups.append(SME_GROUPS.index(sme_group(letter, div)))
    sec_idx_arr = np.array(sec_idx)
    w = np.array(weights)
    # normalise within each section, then weight by the section's share of the book
    section_sum = np.bincount(sec_idx_arr, weights=w, minlength=len(letters))
    w = w / section_sum[sec_idx_arr] * table[sec_idx_arr, 0]
    w = w / w.sum()

    regs = region.regions()
    prefectures: dict[str, list[str]] = {}
    for code, r in regs.items():
        if r.level == "prefecture":
            prefectures.setdefault(r.province_code, []).append(code)
    r_codes, r_names, r_tiers, r_weights = [], [], [], []
    for code in sorted(regs):
        r = regs[code]
        prov_w = _PROVINCE_WEIGHT.get(r.province_code, 0.001)
        children = prefectures.get(r.province_code, [])
        children_w = sum(_TIER_WEIGHT[regs[c].economic_tier] for c in children)
        if r.level == "province":
            weight = prov_w * (0.15 if children else 1.0)
        else:
            weight = prov_w * 0.85 * _TIER_WEIGHT[r.economic_tier] / children_w
        r_codes.append(code)
        r_names.append(short_region_name(r.name_zh))
        r_tiers.append(r.economic_tier)
        r_weights.append(weight)
    rw = np.array(r_weights)
    return Reference(
        sections=letters,
        section_name=tuple(secs[s][0] for s in letters),
        section_weight=table[:, 0] / table[:, 0].sum(),
        asset_ratio=table[:, 1],
        revenue_per_employee=table[:, 2],
        gross_margin=table[:, 3],
        econ_growth=table[:, 4],
        econ_margin=table[:, 5],
        econ_npl=table[:, 6],
        econ_sensitivity=table[:, 7],
        industry_codes=tuple(codes),
        industry_section=sec_idx_arr,
        industry_division=tuple(div_codes),
        industry_weight=w,
        industry_sme_group=np.array(groups),
        region_codes=tuple(r_codes),
        region_short_name=tuple(r_names),
        region_tier=np.array(r_tiers),
        region_weight=rw / rw.sum(),
    )
