"""Freshness rules: deadlines in the bank's time zone, the rules file covering every source, each ledger
status of a delivery, and the age of external data at its bound."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from python_tasks.orchestration.sources import external_sources, internal_sources
from python_tasks.quality.freshness import (
    FRESHNESS_FILE,
    DeliveryState,
    ExternalState,
    deadline,
    deadline_passed,
    default_rules,
    delivery_outcomes,
    external_outcomes,
    load_rules,
)

D = date(2026, 11, 20)


@pytest.fixture
def rules():
    return default_rules()


def _write(tmp_path: Path, edit) -> Path:  # noqa: ANN001 - a function editing the parsed YAML
    spec = yaml.safe_load(FRESHNESS_FILE.read_text(encoding="utf-8"))
    edit(spec)
    path = tmp_path / "freshness.yml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_the_rules_file_covers_every_source_of_the_contracts(rules):
    assert set(rules.deliveries.sources) == set(internal_sources())
    assert set(rules.external) == set(external_sources())


def test_the_deadline_is_local_time_the_day_after(rules):
    due = deadline(rules, "clients", D)
    assert due.isoformat() == "2026-11-21T05:30:00+08:00"
    assert due.astimezone(UTC) == datetime(2026, 11, 20, 21, 30, tzinfo=UTC)
    assert not deadline_passed(rules, "clients", D, datetime(2026, 11, 20, 21, 29, 59, tzinfo=UTC))
    assert deadline_passed(rules, "clients", D, datetime(2026, 11, 20, 21, 30, tzinfo=UTC))


def test_a_source_may_have_its_own_deadline(tmp_path):
    def edit(spec):
        spec["deliveries"]["sources"]["fee_income"]["due"] = {"days_after": 2, "time": "12:00"}

    rules = load_rules(_write(tmp_path, edit))
    assert deadline(rules, "fee_income", D).isoformat() == "2026-11-22T12:00:00+08:00"
    assert deadline(rules, "clients", D).isoformat() == "2026-11-21T05:30:00+08:00"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["deliveries"]["sources"].pop("ratings"), "no policy for ['ratings']"),
        (lambda s: s["external"].update(fx_rates=s["external"]["macro_indicators"]), "unknown ['fx_rates']"),
        (lambda s: s["deliveries"]["sources"]["clients"].update(policy="panic"), "deliveries.sources.clients.policy"),
        (lambda s: s["deliveries"]["due"].update(time="25:00"), "deliveries.due.time"),
        (lambda s: s.update(timezone="Mars/Olympus"), "timezone"),
        (lambda s: s["external"]["macro_indicators"].update(max_data_age_days=0), "max_data_age_days"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_entry(tmp_path, edit, message):
    with pytest.raises(ValueError, match="freshness.yml") as info:
        load_rules(_write(tmp_path, edit), internal=internal_sources(), external=external_sources())
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("status", "success", "problem"),
    [
        ("loaded", True, None),
        ("unchanged", True, None),
        ("missing", False, "no delivery of clients for 2026-11-20 by the deadline 2026-11-21 05:30 CST"),
        ("duplicate", False, "repeats an earlier delivery"),
        (None, False, "was attempted by this run"),
    ],
)
def test_each_ledger_status_of_a_delivery(rules, status, success, problem):
    states = {"clients": DeliveryState("clients", status, files=1)}
    outcome = next(o for o in delivery_outcomes(rules, states, D) if o.expectation.kwargs["source"] == "clients")
    assert outcome.success is success and outcome.expectation.severity == "error"
    assert (outcome.exception is None) if problem is None else (problem in outcome.exception)


def test_policy_sets_the_severity(rules):
    outcomes = {o.expectation.kwargs["source"]: o for o in delivery_outcomes(rules, {}, D)}
    assert len(outcomes) == len(rules.deliveries.sources)
    assert outcomes["crm_interactions"].expectation.severity == "warn"
    assert outcomes["facilities"].expectation.severity == "error"
    assert not any(o.success for o in outcomes.values())


def test_external_age_at_its_bound(rules):
    limit = rules.external["macro_indicators"].max_delivery_age_days
    data_limit = rules.external["macro_indicators"].max_data_age_days

    def outcomes(delivery_age: int, data_age: int):
        state = ExternalState("macro_indicators", D - timedelta(days=delivery_age), D - timedelta(days=data_age))
        found = [o for o in external_outcomes(rules, {"macro_indicators": state}, D)
                 if o.expectation.kwargs["source"] == "macro_indicators"]  # fmt: skip
        return [o.success for o in found], found

    assert outcomes(limit, data_limit)[0] == [True, True]
    assert outcomes(limit + 1, data_limit)[0] == [False, True]
    flags, found = outcomes(limit, data_limit + 1)
    assert flags == [True, False]
    assert f"is {data_limit + 1} days old at 2026-11-20, more than {data_limit} (monthly)" in found[1].exception
    assert found[1].expectation.column == "indicator_month"


def test_external_data_never_delivered_fails(rules):
    found = external_outcomes(rules, {}, D)
    assert len(found) == 2 * len(rules.external) and not any(o.success for o in found)
    assert "no delivery known on or before 2026-11-20" in found[0].exception
