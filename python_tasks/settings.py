"""Where things live, read from the environment.

Standard library only: DAG files import this at parse time, so it must stay cheap.
Every path can be overridden by an environment variable so that tests, the demo and production each point
the same code at their own folders.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
DBT_SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "_raw__sources.yml"
CLV_PARAMS_FILE = PROJECT_ROOT / "config" / "clv_params.yml"
SEGMENT_RULES_FILE = PROJECT_ROOT / "config" / "segment_rules.yml"

#: Airflow pool that serialises every task writing the DuckDB warehouse (DuckDB allows one writer).
WAREHOUSE_POOL = "duckdb_warehouse"
#: Celery queues (production topology): the single writer of the warehouse, and the scalable per-client work
WAREHOUSE_QUEUE = "warehouse"
COMPUTE_QUEUE = "compute"


@dataclass(frozen=True)
class Settings:
    """Folders and endpoints of one deployment."""

    home: Path
    inbox_dir: Path
    landing_dir: Path
    warehouse_path: Path
    external_api_url: str | None
    #: "demo" (the default) or "production": production refuses unapproved model parameters
    mode: str = "demo"
    clv_params_path: Path = CLV_PARAMS_FILE
    segment_rules_path: Path = SEGMENT_RULES_FILE
    #: client shards of the per-client stages (CLV, segments): one mapped task each on the ``compute`` queue
    shards: int = 2

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def shards_dir(self) -> Path:
        """Snapshots of the sharded stages: inputs split by client shard and each shard's results."""
        return self.home / "shards"

    @property
    def data_docs_dir(self) -> Path:
        """GX Data Docs of the quality gates, one folder per run and business date."""
        return self.home / "quality" / "data_docs"


def get_settings() -> Settings:
    """Read the settings from the environment now (not at import), so tests can point them elsewhere."""
    home = Path(os.environ.get("CLV_HOME", PROJECT_ROOT / "var")).resolve()
    return Settings(
        home=home,
        inbox_dir=Path(os.environ.get("CLV_INBOX_DIR", home / "inbox")).resolve(),
        landing_dir=Path(os.environ.get("CLV_LANDING_DIR", home / "landing")).resolve(),
        warehouse_path=Path(os.environ.get("CLV_WAREHOUSE_PATH", home / "warehouse" / "clv.duckdb")).resolve(),
        external_api_url=os.environ.get("CLV_EXTERNAL_API_URL") or None,
        mode=os.environ.get("CLV_MODE", "demo"),
        clv_params_path=Path(os.environ.get("CLV_PARAMS_FILE", CLV_PARAMS_FILE)).resolve(),
        segment_rules_path=Path(os.environ.get("CLV_SEGMENT_RULES_FILE", SEGMENT_RULES_FILE)).resolve(),
        shards=_positive_int("CLV_SHARDS", 2),
    )


def _positive_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {text!r}")
    return value


_UNSAFE_IN_PATH = re.compile(r"[^A-Za-z0-9._-]")
_MAX_PATH_COMPONENT = 80


def path_component(text: str) -> str:
    """``text`` (a run id) as one file or folder name: characters other than letters, digits, ``.``, ``_``
    and ``-`` become ``_``; a name that had to change gets a short hash of the original, so that two run ids
    never share a folder (``scheduled__2026-11-20T00:00:00+00:00`` →
    ``scheduled__2026-11-20T00_00_00_00_00-<hash>``). The Data Docs, reports, lineage files, evidence
    bundles and dbt docs of a run all use it."""
    safe = _UNSAFE_IN_PATH.sub("_", text).strip(".")
    if safe and safe == text and len(safe) <= _MAX_PATH_COMPONENT:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{safe[:_MAX_PATH_COMPONENT]}-{digest}" if safe else digest
