"""Build expectation suites (GX's own ``type``/``kwargs`` shape) from the contracts and business rules.

Pure and free of GX imports, so the suites can be rendered, diffed and tested cheaply. Each expectation
derived from a contract carries the name of the loader rule it mirrors (``rule``), which is how the drift
test proves the SQL rules and the GX suite say the same thing. Rules that need the whole warehouse
(foreign keys, keys already delivered, dates of a referenced row, multi-column SQL rules) are enforced by
the loader only: a GX expectation sees one partition, not the rest of the warehouse; they are listed by
:func:`loader_only_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from python_tasks.codes import region
from python_tasks.codes.industry import sections
from python_tasks.contracts.model import Contract
from python_tasks.settings import PROJECT_ROOT

Severity = Literal["error", "warn"]
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


@dataclass(frozen=True)
class Expectation:
    type: str
    kwargs: dict[str, Any]
    severity: Severity = "error"
    rule: str | None = None  # the loader rule this mirrors, for contract-derived expectations
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column") or self.kwargs.get("column_A")


def _as_datetime(value: date | str) -> datetime:
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return datetime(day.year, day.month, day.day)


def contract_expectations(contract: Contract, as_of_date: date) -> list[Expectation]:
    """The raw suite of one source for business date D, every item traceable to the contract."""
    out = [
        Expectation(
            "expect_table_columns_to_match_ordered_list",
            {"column_list": contract.column_names},
            rule="file:header",
        )
    ]
    for col in contract.columns:
        name = col.name
        if not col.nullable:
            out.append(Expectation("expect_column_values_to_not_be_null", {"column": name}, rule=f"not_null:{name}"))
        if col.allowed_values is not None:
            out.append(
                Expectation(
                    "expect_column_values_to_be_in_set",
                    {"column": name, "value_set": list(col.allowed_values)},
                    rule=f"allowed_values:{name}",
                )
            )
        if col.min is not None or col.max is not None:
            is_date = col.type == "DATE"
            kwargs: dict[str, Any] = {"column": name}
            if col.min is not None:
                kwargs["min_value"] = _as_datetime(col.min) if is_date else float(col.min)
            if col.max is not None:
                kwargs["max_value"] = _as_datetime(col.max) if is_date else float(col.max)
            out.append(Expectation("expect_column_values_to_be_between", kwargs, rule=f"range:{name}"))
        if col.pattern is not None:
            out.append(
                Expectation(
                    "expect_column_values_to_match_regex",
                    {"column": name, "regex": col.pattern},
                    rule=f"pattern:{name}",
                )
            )
        if col.format == "uscc":
            out.append(Expectation("expect_column_values_to_be_valid_uscc", {"column": name}, rule=f"format:{name}"))
        elif col.format == "industry_code":
            out.append(
                Expectation("expect_column_values_to_be_valid_industry_code", {"column": name}, rule=f"format:{name}")
            )
        elif col.format == "industry_section":
            out.append(
                Expectation(
                    "expect_column_values_to_be_in_set",
                    {"column": name, "value_set": sorted(sections())},
                    rule=f"format:{name}",
                )
            )
        elif col.format == "region_code":
            out.append(
                Expectation(
                    "expect_column_values_to_be_in_set",
                    {"column": name, "value_set": sorted(region.regions())},
                    rule=f"format:{name}",
                )
            )
        if col.not_after_business_date:
            out.append(
                Expectation(
                    "expect_column_values_to_be_between",
                    {"column": name, "max_value": _as_datetime(as_of_date)},
                    rule=f"not_after_business_date:{name}",
                )
            )
        if col.not_before is not None and "." not in col.not_before:
            out.append(
                Expectation(
                    "expect_column_pair_values_a_to_be_greater_than_b",
                    {
                        "column_A": name,
                        "column_B": col.not_before,
                        "or_equal": True,
                        "ignore_row_if": "either_value_is_missing",
                    },
                    rule=f"not_before:{name}",
                )
            )
    keys = contract.primary_key
    key_rule = f"unique:{'+'.join(keys)}"
    if len(keys) == 1:
        out.append(Expectation("expect_column_values_to_be_unique", {"column": keys[0]}, rule=key_rule))
    else:
        out.append(Expectation("expect_compound_columns_to_be_unique", {"column_list": list(keys)}, rule=key_rule))
    return out


def loader_only_rules(contract: Contract) -> list[str]:
    """Loader rules GX cannot check on one partition's DataFrame (documented, and asserted by the drift test)."""
    names = [f"type:{c.name}" for c in contract.columns]
    if contract.kind == "event":
        names.append(f"unique_across_deliveries:{'+'.join(contract.primary_key)}")
    names += [f"foreign_key:{fk.columns[0]}" for fk in contract.foreign_keys]
    names += [f"not_before:{c.name}" for c in contract.columns if c.not_before and "." in c.not_before]
    names += [f"row_rule:{r.name}" for r in contract.row_rules]
    return names


def business_expectations(suite: str, path: Path | None = None) -> list[Expectation]:
    """Business rules for one suite from ``expectations/<gate>.yml`` (GX's type/kwargs shape + severity)."""
    path = path or EXPECTATIONS_DIR / "raw.yml"
    with path.open(encoding="utf-8") as fh:
        spec = yaml.safe_load(fh) or {}
    default = spec.get("default_severity", "error")
    items = (spec.get("suites") or {}).get(suite, []) or []
    return [
        Expectation(item["type"], dict(item["kwargs"]), item.get("severity", default), meta=item.get("meta", {}))
        for item in items
    ]


def raw_suite(contract: Contract, as_of_date: date) -> list[Expectation]:
    return contract_expectations(contract, as_of_date) + business_expectations(f"raw.{contract.name}")
