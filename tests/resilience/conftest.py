"""Resilience tests: every test is marked ``resilience``; the long chaos runs are also marked ``slow`` (on
demand: ``make test-resilience``), their S-scale subset runs in CI with the rest of the suite."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/resilience/" in str(item.fspath):
            item.add_marker(pytest.mark.resilience)
