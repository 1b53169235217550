"""When a failed ingest task is worth retrying.

Imports ``airflow.sdk``; only DAG files import this module. The policy is evaluated in the task process
after a failure (Airflow 3.3 ``retry_policy``), so it sees the real exception.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import RetryDecision, RetryPolicy

#: Delivery problems that time can fix: the file has not arrived yet, the API is down for a while.
RETRYABLE_DELIVERY_RULES = frozenset({"file:missing", "file:unreachable"})
#: ``restatement.RunRefused``: a date out of order, a corrected past delivery, an unfinished restatement;
#: waiting does not fix them, running the named command does
REFUSED_RUNS = frozenset({"OutOfOrder", "LateCorrection", "RestatementUnfinished"})


class DeliveryRetryPolicy(RetryPolicy):
    """Fail at once on a delivery that is wrong; retry everything else as the task's ``retries`` say.

    A file that is unreadable, has the wrong schema or sits outside the inbox fails the same way on every
    try, so retrying only delays the alert by the retry delays. Such errors are the ingest step's
    ``DeliveryError`` (matched by name and its ``rule`` attribute, so that the DAG files need not import
    the loader and its heavy dependencies at parse time). A missing delivery or an unreachable API, and
    any other exception (a locked warehouse, a full disk), is retried. A failed quality gate
    (``GateFailed``) or dbt build (``DbtBuildFailed``: a failed test or model) fails at once too, and so does
    a refused run (a date out of order, a corrected past delivery: ``REFUSED_RUNS``).
    """

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        rule = getattr(exception, "rule", None)
        if type(exception).__name__ in ("GateFailed", "DbtBuildFailed"):
            return RetryDecision.fail(reason="a data-quality check or a model failed; the same data fails again")
        if type(exception).__name__ in REFUSED_RUNS:
            return RetryDecision.fail(reason="the run of this date is refused until an operator acts (see the error)")
        if type(exception).__name__ == "DeliveryError" and rule not in RETRYABLE_DELIVERY_RULES:
            return RetryDecision.fail(reason=f"delivery error [rule {rule}] is not fixed by retrying")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": type(self).__name__, "retryable_delivery_rules": sorted(RETRYABLE_DELIVERY_RULES)}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DeliveryRetryPolicy:
        return cls()
