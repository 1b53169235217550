"""The CLV engine's parameters: one versioned YAML (config/clv_params.yml), validated on load.

A bad value fails with a message naming the field. Every output row carries the parameter version, and
production mode refuses a version that has not been approved: a parameter change is a model change and
gets human review, as the bank's model governance requires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from python_tasks.versioned_params import Approval, ParamsError, load_versioned

__all__ = ["Approval", "ClvParams", "ParamsError", "load_params"]

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
COLLATERAL_TYPES = (
    "real_estate", "land_use_right", "equipment", "receivables", "deposit_pledge", "ip_rights", "guarantee",
    "equity_pledge",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capital(_Strict):
    pd_floor: Annotated[float, Field(gt=0.0, lt=0.01)]
    sme_turnover_floor_cny: Annotated[float, Field(gt=0.0)]
    sme_turnover_cap_cny: Annotated[float, Field(gt=0.0)]
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)]

    @model_validator(mode="after")
    def _floor_below_cap(self) -> Capital:
        if self.sme_turnover_floor_cny >= self.sme_turnover_cap_cny:
            raise ValueError("sme_turnover_floor_cny must be below sme_turnover_cap_cny")
        return self


ASSET_CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")
OUTLOOKS = ("baseline", "adverse", "severe")


class Scenario(_Strict):
    """A macro scenario: which published GDP outlook (as known at D) it follows, plus an optional extra
    shift of new-business growth."""

    outlook: Literal["baseline", "adverse", "severe"]
    growth_shift_pp: Annotated[float, Field(ge=-50.0, le=50.0)] = 0.0


class Macro(_Strict):
    """Z = (GDP growth outlook − long-run mean) / sd: the systematic factor of the one-factor PD model."""

    gdp_long_run_mean_pct: Annotated[float, Field(ge=-10.0, le=20.0)]
    gdp_sd_pct: Annotated[float, Field(gt=0.0, le=10.0)]
    max_abs_systematic_factor: Annotated[float, Field(gt=0.0, le=6.0)]


class NewBusiness(_Strict):
    """Expected growth of a client's business: g = w_rev · revenue growth + w_ind · industry output growth
    + w_gdp · (GDP outlook − long-run mean) + scenario shift, bounded."""

    revenue_growth_weight: Annotated[float, Field(ge=0.0, le=1.0)]
    industry_growth_weight: Annotated[float, Field(ge=0.0, le=1.0)]
    gdp_gap_weight: Annotated[float, Field(ge=0.0, le=5.0)]
    growth_floor: Annotated[float, Field(ge=-0.9, le=0.0)]
    growth_cap: Annotated[float, Field(ge=0.0, le=1.0)]
    renew_maturing: bool


class Retention(_Strict):
    """sBG retention fitted per segment on yearly relationship cohorts; a segment with fewer clients uses
    the fit on all clients."""

    segment_column: Literal["enterprise_size", "industry_section_code", "region_economic_tier"]
    min_clients_per_segment: Annotated[int, Field(ge=10)]
    cohort_years: Annotated[int, Field(ge=2, le=30)]


class Prospects(_Strict):
    """A prospect is valued as if won: the median exposure of its peers, less the cost of winning it."""

    acquisition_cost_cny: Annotated[float, Field(ge=0.0)]


class Attribution(_Strict):
    """How ΔCLV since the last run is split over its drivers: ``sequential`` (a waterfall in the documented
    order, 8 valuations) or ``shapley`` (order-free, 128 valuations)."""

    method: Literal["sequential", "shapley"]


class Scorecard(_Strict):
    """The PD scorecard for unrated clients, fitted on the history's annual statements."""

    outcome_window_months: Annotated[int, Field(ge=3, le=36)]
    seed: int


class ClvParams(_Strict):
    version: Annotated[str, Field(min_length=1)]
    approval: Approval
    horizon_years: Annotated[int, Field(ge=1, le=30)]
    periods_per_year: Literal[1, 4, 12]
    discount_rate: Annotated[float, Field(ge=0.0, le=0.5)]
    cost_of_equity: Annotated[float, Field(ge=0.0, le=0.5)]
    ftp_spread_bps: Annotated[float, Field(ge=-500.0, le=500.0)]
    capital: Capital
    lgd_floors: dict[str, Rate]
    monitoring_multipliers: dict[str, Annotated[float, Field(ge=0.0, le=20.0)]]
    macro: Macro
    new_business: NewBusiness
    retention: Retention
    prospects: Prospects
    scorecard: Scorecard
    attribution: Attribution
    scenarios: dict[str, Scenario]

    @model_validator(mode="after")
    def _complete(self) -> ClvParams:
        missing = [t for t in ("unsecured", *COLLATERAL_TYPES) if t not in self.lgd_floors]
        unknown = sorted(set(self.lgd_floors) - {"unsecured", *COLLATERAL_TYPES})
        if missing or unknown:
            raise ValueError(f"lgd_floors: missing {missing}, unknown {unknown}")
        missing = [c for c in ASSET_CLASSES if c not in self.monitoring_multipliers]
        unknown = sorted(set(self.monitoring_multipliers) - set(ASSET_CLASSES))
        if missing or unknown:
            raise ValueError(f"monitoring_multipliers: missing {missing}, unknown {unknown}")
        if "baseline" not in self.scenarios:
            raise ValueError("scenarios: a 'baseline' scenario is required")
        return self

    @property
    def periods(self) -> int:
        return self.horizon_years * self.periods_per_year


def load_params(path: Path, *, mode: str = "demo") -> ClvParams:
    """Read and validate the parameter file; in production mode the version must be approved."""
    return load_versioned(path, ClvParams, what="CLV parameters", mode=mode)
