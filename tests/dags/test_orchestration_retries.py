"""A broken delivery fails at once; a late one, or any other error, is retried."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.airflow


@pytest.fixture
def policy():
    from python_tasks.orchestration.retries import DeliveryRetryPolicy

    return DeliveryRetryPolicy()


@pytest.mark.parametrize("rule", ["file:unreadable", "file:schema", "file:path", "file:encoding"])
def test_a_broken_delivery_fails_without_retries(policy, rule):
    from airflow.sdk import RetryAction

    from python_tasks.ingest.readers import DeliveryError

    decision = policy.evaluate(DeliveryError("inbox/clients/2026-11-20/clients.csv", "bad", rule=rule), 1, 3)
    assert decision.action == RetryAction.FAIL
    assert rule in decision.reason


@pytest.mark.parametrize("rule", ["file:missing", "file:unreachable"])
def test_a_late_delivery_is_retried(policy, rule):
    from airflow.sdk import RetryAction

    from python_tasks.ingest.readers import DeliveryError

    decision = policy.evaluate(DeliveryError("inbox/clients/2026-11-20", "no delivery", rule=rule), 1, 3)
    assert decision.action == RetryAction.DEFAULT


@pytest.mark.parametrize("refusal", ["OutOfOrder", "LateCorrection", "RestatementUnfinished"])
def test_a_refused_run_fails_without_retries(policy, refusal):
    """Waiting does not run the missing dates or the restatement: the alert goes out at once."""
    from airflow.sdk import RetryAction

    from python_tasks.orchestration import restatement

    decision = policy.evaluate(getattr(restatement, refusal)("refused: ..."), 1, 3)
    assert decision.action == RetryAction.FAIL


def test_other_errors_are_retried(policy):
    from airflow.sdk import RetryAction

    assert policy.evaluate(OSError("database is locked"), 1, 3).action == RetryAction.DEFAULT


def test_serialises(policy):
    from python_tasks.orchestration.retries import DeliveryRetryPolicy

    data = policy.serialize()
    assert data["__type"] == "DeliveryRetryPolicy"
    assert isinstance(DeliveryRetryPolicy.deserialize(data), DeliveryRetryPolicy)
