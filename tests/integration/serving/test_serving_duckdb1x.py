"""A DuckDB 1.x client, not the pipeline's DuckDB, reads the serving file: the client BI tools embed.

DuckDB 1.4 is installed once into an isolated environment, ``.tools/duckdb14/`` (kept between runs; uv
from ``.tools/bin/uv``); the test skips, saying why, when it cannot be installed (no package registry).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from serving_support import D0

from python_tasks.serving.bi_schema import bi_tables
from python_tasks.serving.database import serving_paths
from python_tasks.serving.publish import run_publish
from python_tasks.settings import PROJECT_ROOT

CLIENT_ENV = PROJECT_ROOT / ".tools" / "duckdb14"
REQUIREMENT = "duckdb>=1.4,<1.5"


def _client_python() -> Path:
    python = CLIENT_ENV / "bin" / "python"
    probe = [str(python), "-c", "import duckdb, sys; sys.exit(0 if duckdb.__version__.startswith('1.4') else 1)"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    uv = PROJECT_ROOT / ".tools" / "bin" / "uv"
    uv = str(uv) if uv.exists() else shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (.tools/bin/uv): cannot create the DuckDB 1.4 client environment")
    steps = [[uv, "venv", "--quiet", "--python", "3.11", str(CLIENT_ENV)],
             [uv, "pip", "install", "--quiet", "--python", str(python), REQUIREMENT]]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"could not install {REQUIREMENT} into {CLIENT_ENV} (package registry unreachable?): "
                        f"{done.stderr.strip()[-300:]}")  # fmt: skip
    if subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip(f"{CLIENT_ENV} does not provide DuckDB 1.4 after installing {REQUIREMENT}")
    return python


_READ = textwrap.dedent(
    """
    import json, sys
    import duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'bi' ORDER BY 1").fetchall()]
    counts = {t: con.execute(f"SELECT count(*) FROM bi.{t}").fetchone()[0] for t in tables}
    sample = con.execute(
        "SELECT client_id, value_tier, CAST(clv_base_cny AS VARCHAR), CAST(valuation_date AS VARCHAR) "
        "FROM bi.current_client_value ORDER BY client_id LIMIT 3").fetchall()
    stamp = con.execute("SELECT CAST(published_at AS VARCHAR), table_row_counts FROM bi.publications ORDER BY published_at DESC LIMIT 1").fetchone()
    print(json.dumps({"version": duckdb.__version__, "counts": counts, "sample": sample, "stamp": stamp}))
    """
)


@pytest.mark.parametrize("build", ["full", "incremental"])
def test_a_duckdb_1_4_client_reads_the_serving_file(serving_home, build):
    """Built from the warehouse, and built from a copy of the previous file changed by DuckDB 2 (the daily
    case): the copy keeps its storage version, so both stay readable by the 1.x drivers BI tools embed."""
    python = _client_python()
    summary = run_publish(D0, "pub-1x")
    if build == "incremental":
        summary = run_publish(D0, "pub-1x-again")
    assert summary["build"] == build
    done = subprocess.run(
        [str(python), "-c", _READ, str(serving_paths().database)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["version"].startswith("1.4")
    assert result["counts"] == summary["tables"]
    assert set(result["counts"]) == {t.name for t in bi_tables()}
    assert len(result["sample"]) == 3 and all(row[3] == D0.isoformat() for row in result["sample"])
    assert json.loads(result["stamp"][1]) == {k: v for k, v in summary["tables"].items() if k != "publications"}
