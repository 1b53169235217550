"""Segmentation, strategy, next-best-product and early-warning rules: one versioned YAML
(config/segment_rules.yml), validated on load; a bad value fails naming the field, production mode refuses
an unapproved version (python_tasks/versioned_params.py). Every rule is documented in docs/segments.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from python_tasks.segments.clusters import ClusterParams
from python_tasks.segments.early_warning import WarningParams
from python_tasks.versioned_params import Approval, load_versioned

VALUE_TIERS = ("high", "mid", "low")
RISK_TIERS = ("low", "medium", "high", "default")
STRATEGIES = ("grow", "maintain", "monitor", "restructure", "exit")
LIFECYCLE_STAGES = ("prospect", "new", "growing", "mature", "declining", "churned", "defaulted")
USAGE_PATTERNS = (
    "none", "non_credit_only", "credit_only", "credit_and_deposit", "trade_active", "full_relationship",
)  # fmt: skip
ASSET_CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")
Share = Annotated[float, Field(gt=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    en: Annotated[str, Field(min_length=1)]
    zh: Annotated[str, Field(min_length=1)]


class ValueTier(_Strict):
    """High / mid / low value by base-scenario CLV: either quantiles of the current clients' CLV (prospects
    excluded from the thresholds) or absolute amounts. A CLV exactly at a threshold takes the higher tier."""

    method: Literal["quantile", "absolute"]
    high_quantile: Share = 0.8
    low_quantile: Share = 0.4
    high_min_cny: float = 5_000_000.0
    low_max_cny: float = 500_000.0

    @model_validator(mode="after")
    def _ordered(self) -> ValueTier:
        if self.low_quantile >= self.high_quantile:
            raise ValueError("low_quantile must be below high_quantile")
        if self.low_max_cny >= self.high_min_cny:
            raise ValueError("low_max_cny must be below high_min_cny")
        return self


class RiskTier(_Strict):
    """Risk tier from the baseline point-in-time PD, floored by the five-tier asset classification."""

    low_max_pd: Share
    medium_max_pd: Share
    asset_class_floor: dict[str, Literal["low", "medium", "high"]]

    @model_validator(mode="after")
    def _complete(self) -> RiskTier:
        if self.low_max_pd >= self.medium_max_pd:
            raise ValueError("low_max_pd must be below medium_max_pd")
        missing = [c for c in ASSET_CLASSES if c not in self.asset_class_floor]
        unknown = sorted(set(self.asset_class_floor) - set(ASSET_CLASSES))
        if missing or unknown:
            raise ValueError(f"asset_class_floor: missing {missing}, unknown {unknown}")
        return self


class Policy(_Strict):
    """The differentiated credit policy attached to a strategy."""

    label: Label
    pricing: Label
    credit_terms: Label
    service: Label
    review_months: Annotated[int, Field(ge=1, le=24)]


class Lifecycle(_Strict):
    """Thresholds of the lifecycle rules (docs/segments.md gives their order)."""

    new_max_tenure_months: Annotated[int, Field(ge=1, le=60)]
    growing_min_exposure_growth: Annotated[float, Field(gt=0.0)]
    declining_max_exposure_growth: Annotated[float, Field(lt=0.0, gt=-1.0)]
    inactive_days: Annotated[int, Field(ge=30)]


Op = Literal["eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "is_true", "is_false"]


class Condition(_Strict):
    """One test on a column of the client frame, or on the products the client holds."""

    column: str | None = None
    op: Op | None = None
    value: Any = None
    holds_any: tuple[str, ...] | None = None
    holds_none: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [self.column is not None, self.holds_any is not None, self.holds_none is not None]
        if sum(kinds) != 1:
            raise ValueError("a condition has exactly one of column (with op), holds_any, holds_none")
        if self.column is not None and self.op is None:
            raise ValueError(f"condition on {self.column}: op is required")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"condition on {self.column}: {self.op} needs a list value")
        if self.op in ("eq", "ne", "gt", "ge", "lt", "le") and self.value is None:
            raise ValueError(f"condition on {self.column}: {self.op} needs a value")
        return self


class OfferRule(_Strict):
    """A next-best-offer rule: the offer when every condition holds; rules are tried in file order."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    offer: str
    when: tuple[Condition, ...]
    reason: Label


class NextBestOffer(_Strict):
    """Offers are product codes of ref_products or ``limit_increase`` (on a credit product already held).
    Never a product the client holds; never an offer its risk tier forbids (``@credit`` stands for every
    credit product, ``@all`` for everything) or to a client whose strategy takes no offers."""

    forbidden_by_risk_tier: dict[str, tuple[str, ...]]
    no_offer_strategies: tuple[str, ...]
    rules: tuple[OfferRule, ...]

    @model_validator(mode="after")
    def _known(self) -> NextBestOffer:
        unknown = sorted(set(self.forbidden_by_risk_tier) - set(RISK_TIERS))
        if unknown:
            raise ValueError(f"forbidden_by_risk_tier: unknown risk tier(s) {unknown}")
        unknown = sorted(set(self.no_offer_strategies) - set(STRATEGIES))
        if unknown:
            raise ValueError(f"no_offer_strategies: unknown strategy(ies) {unknown}")
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rules: ids must be unique")
        return self


class SegmentParams(_Strict):
    version: Annotated[str, Field(min_length=1)]
    approval: Approval
    value_tier: ValueTier
    risk_tier: RiskTier
    strategy_matrix: dict[str, dict[str, str]]
    policies: dict[str, Policy]
    lifecycle: Lifecycle
    labels: dict[str, dict[str, Label]]
    next_best_offer: NextBestOffer
    clusters: ClusterParams
    warnings: WarningParams
    stressed_scenario: Literal["adverse", "severe"] = "severe"

    @model_validator(mode="after")
    def _complete(self) -> SegmentParams:
        for value in VALUE_TIERS:
            row = self.strategy_matrix.get(value)
            if row is None or sorted(row) != sorted(RISK_TIERS):
                raise ValueError(f"strategy_matrix.{value}: needs exactly the risk tiers {list(RISK_TIERS)}")
            bad = sorted(set(row.values()) - set(STRATEGIES))
            if bad:
                raise ValueError(f"strategy_matrix.{value}: unknown strategy(ies) {bad}")
        if sorted(self.strategy_matrix) != sorted(VALUE_TIERS):
            raise ValueError(f"strategy_matrix: needs exactly the value tiers {list(VALUE_TIERS)}")
        if sorted(self.policies) != sorted(STRATEGIES):
            raise ValueError(f"policies: needs exactly the strategies {list(STRATEGIES)}")
        for name, allowed in (
            ("value_tier", VALUE_TIERS), ("risk_tier", RISK_TIERS), ("lifecycle_stage", LIFECYCLE_STAGES),
            ("usage_pattern", USAGE_PATTERNS),
        ):  # fmt: skip
            have = self.labels.get(name, {})
            if sorted(have) != sorted(allowed):
                raise ValueError(f"labels.{name}: needs exactly {list(allowed)}")
        return self


def load_segment_params(path: Path, *, mode: str = "demo") -> SegmentParams:
    """Read and validate the rules file; in production mode the version must be approved."""
    return load_versioned(path, SegmentParams, what="segmentation rules", mode=mode)
