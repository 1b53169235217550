"""The CLV parameter file: validated on load, errors name the field, production needs an approval."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from python_tasks.clv.params import ParamsError, load_params
from python_tasks.settings import CLV_PARAMS_FILE


def _write(tmp_path: Path, change) -> Path:  # noqa: ANN001 - a function editing the parsed dict
    raw = yaml.safe_load(CLV_PARAMS_FILE.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "params.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_project_parameters_are_valid_and_approved():
    params = load_params(CLV_PARAMS_FILE, mode="production")
    assert params.approval.status == "approved"
    assert params.periods == params.horizon_years * params.periods_per_year
    assert {"baseline", "adverse", "severe"} <= set(params.scenarios)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.update(discount_rate=-0.01), "discount_rate"),
        (lambda r: r.update(periods_per_year=5), "periods_per_year"),
        (lambda r: r["capital"].update(sme_turnover_floor_cny=4e8), "sme_turnover_floor_cny must be below"),
        (lambda r: r["lgd_floors"].update(real_estate=1.5), "lgd_floors.real_estate"),
        (lambda r: r["lgd_floors"].pop("equipment"), "missing ['equipment']"),
        (lambda r: r["lgd_floors"].update(gold=0.1), "unknown ['gold']"),
        (lambda r: r["scenarios"].pop("baseline"), "'baseline' scenario is required"),
        (lambda r: r.update(horizon=3), "horizon: Extra inputs are not permitted"),
        (lambda r: r["approval"].update(approved_by=None), "needs approved_by and approved_at"),
    ],
)
def test_a_bad_value_fails_naming_the_field(tmp_path, change, named):
    with pytest.raises(ParamsError, match="invalid CLV parameters") as info:
        load_params(_write(tmp_path, change))
    assert named in str(info.value)


def test_production_refuses_a_draft_but_the_demo_runs_it(tmp_path):
    path = _write(tmp_path, lambda r: r.update(approval={"status": "draft"}, version="2026.12.0-draft"))
    assert load_params(path, mode="demo").version == "2026.12.0-draft"
    with pytest.raises(ParamsError, match="2026.12.0-draft is draft, not approved"):
        load_params(path, mode="production")


def test_an_unreadable_file_names_the_file(tmp_path):
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(tmp_path / "absent.yml")


def test_lgd_floors_cover_the_collateral_types_of_the_contract():
    from python_tasks.clv.params import COLLATERAL_TYPES
    from python_tasks.contracts import load_contracts

    contract = load_contracts()["collateral"]
    allowed = next(c for c in contract.columns if c.name == "collateral_type").allowed_values
    assert set(COLLATERAL_TYPES) == set(allowed)
