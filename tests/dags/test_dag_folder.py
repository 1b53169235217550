"""The DAG folder parses without errors, cheaply, with one file per DAG named as its dag_id."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import DAGS_FOLDER, PROJECT_ROOT

EXPECTED_DAGS = {"clv_daily", "clv_external_monthly", "clv_restatement"}

#: What must not be imported while the DAG processor parses the folder (task bodies import them).
HEAVY_MODULES = [
    "pandas", "duckdb", "pyarrow", "great_expectations", "dbt", "sklearn", "scipy", "cosmos",
    "python_tasks.contracts", "python_tasks.ingest", "python_tasks.io",
]  # fmt: skip

pytestmark = pytest.mark.airflow


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED_DAGS


def test_one_file_per_dag_named_as_the_dag_id(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert os.path.basename(dag.fileloc) == f"{dag_id}.py"
    assert {p.stem for p in DAGS_FOLDER.glob("*.py")} == EXPECTED_DAGS


def test_dag_files_pass_the_processors_safe_mode_heuristic():
    for path in DAGS_FOLDER.glob("*.py"):
        text = path.read_text(encoding="utf-8").lower()
        assert "airflow" in text and "dag" in text, path


def test_parsing_the_folder_imports_nothing_heavy(tmp_path):
    """A fresh interpreter parses the folder; heavy modules it imports beyond Airflow's own are reported.

    Airflow itself may import some of them (plugins such as cosmos); parsing an empty folder first
    separates those from what the DAG files pull in.
    """
    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"DagBag(dag_folder={str(tmp_path)!r})\n"
        "before = set(sys.modules)\n"
        f"bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "new = set(sys.modules) - before\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "found = [m for m in new if any(m == h or m.startswith(h + '.') for h in heavy)]\n"
        "print(json.dumps(sorted(found)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
