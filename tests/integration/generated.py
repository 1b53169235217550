"""A generated S-scale warehouse for the stage tests: sample deliveries for a few business dates, the
month's external data, every date ingested; the caller builds the later stages it needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from python_tasks.cli import main
from python_tasks.sample_data.api_server import ingest_generated_external

#: variables that could point a test at another deployment's folders or configuration
_DEPLOYMENT_VARIABLES = (
    "CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL", "CLV_PARAMS_FILE",
    "CLV_SEGMENT_RULES_FILE",
)  # fmt: skip


@contextmanager
def generated_home(
    root: Path, *, clients: int, first: date, days: int, ingest_days: int | None = None
) -> Iterator[list[date]]:
    """CLV_HOME = ``root`` with ``clients`` generated clients delivered for ``first`` and the ``days`` after,
    and ingested for the first ``ingest_days`` of them (default all); yields the business dates. The
    environment is restored on exit."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLV_HOME", str(root))
        for var in _DEPLOYMENT_VARIABLES:
            mp.delenv(var, raising=False)
        args = ["generate", "--scale", "S", "--clients", str(clients), "--first-date", first.isoformat()]
        assert main([*args, "--days", str(days), "--quiet"]) == 0
        ingest_generated_external(root / "inbox", first.replace(day=1), "external")
        dates = [first + timedelta(days=i) for i in range(days + 1)]
        last = dates[-1] if ingest_days is None else dates[ingest_days - 1]
        assert main(["run", "--date", dates[0].isoformat(), "--to", last.isoformat()]) == 0
        yield dates
