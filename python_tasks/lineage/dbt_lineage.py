"""Model- and column-level lineage of the dbt project, from dbt's artefacts and the warehouse catalogue.

Model level: each node's ``depends_on`` in ``manifest.json`` (sources, seeds, models, snapshots).
Column level: each model's *compiled* SQL (``compiled_code`` in the manifest of the build) analysed with
DuckDB's parser (:mod:`python_tasks.lineage.sql_lineage`), stars expanded from the warehouse's own
catalogue. dbt-core records no column lineage of its own, and sqlglot is not installed here; see
docs/lineage.md for what this does and does not see.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from python_tasks.lineage.sql_lineage import (
    DEFAULT_AGGREGATES,
    Lineage,
    Source,
    SqlLineageError,
    analyse,
)
from python_tasks.settings import get_settings

#: node types that write a relation (tests do not)
WRITING_TYPES = ("model", "seed", "snapshot")
#: per-column roles the trace follows upstream: what a value is computed from, and the conditions and
#: window orders that pick it; dataset-wide joins and filters are recorded in the events, not followed
FOLLOWED = frozenset({
    ("DIRECT", "IDENTITY"), ("DIRECT", "TRANSFORMATION"), ("DIRECT", "AGGREGATION"),
    ("INDIRECT", "CONDITIONAL"), ("INDIRECT", "WINDOW"),
})  # fmt: skip


def target_dir(home: Path | None = None) -> Path:
    """Where the dbt job writes its target (python_tasks/transform/dbt_job.py)."""
    return (home or get_settings().home) / "dbt" / "target"


def load_artifact(name: str, home: Path | None = None) -> dict | None:
    path = target_dir(home) / name
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def run_results_belong_to(run_results: dict | None, run_id: str, as_of_date: str) -> bool:
    """Whether ``run_results.json`` is that of the build of this run and date (dbt's ``--vars``)."""
    if not run_results:
        return False
    variables = ((run_results.get("args") or {}).get("vars")) or {}
    if isinstance(variables, str):
        try:
            variables = json.loads(variables)
        except ValueError:
            return False
    return variables.get("run_id") == run_id and variables.get("as_of_date") == as_of_date


@dataclass(frozen=True)
class DbtNode:
    unique_id: str
    resource_type: str
    name: str
    schema: str
    table: str
    materialized: str
    depends_on: tuple[str, ...]
    compiled_code: str | None
    description: str = ""


@dataclass
class NodeLineage:
    node: DbtNode
    #: (schema, table) of every relation the node reads, from the manifest
    inputs: list[tuple[str, str]]
    #: output column → base columns (schema, table, column) with their roles
    columns: dict[str, Lineage] = field(default_factory=dict)
    indirect: Lineage = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()
    #: how the column lineage was obtained: "duckdb-parser", "seed file" or why there is none
    method: str = "duckdb-parser"


def nodes(manifest: dict) -> dict[str, DbtNode]:
    """The manifest's writing nodes and its sources, by unique id."""
    out = {}
    for uid, n in manifest.get("nodes", {}).items():
        if n.get("resource_type") not in WRITING_TYPES:
            continue
        out[uid] = DbtNode(
            unique_id=uid, resource_type=n["resource_type"], name=n["name"], schema=n["schema"],
            table=n.get("alias") or n["name"], materialized=(n.get("config") or {}).get("materialized", ""),
            depends_on=tuple((n.get("depends_on") or {}).get("nodes") or []), compiled_code=n.get("compiled_code"),
            description=(n.get("description") or "").strip(),
        )  # fmt: skip
    for uid, s in manifest.get("sources", {}).items():
        out[uid] = DbtNode(
            unique_id=uid, resource_type="source", name=s["name"], schema=s["schema"],
            table=s.get("identifier") or s["name"], materialized="table", depends_on=(), compiled_code=None,
            description=(s.get("description") or "").strip(),
        )  # fmt: skip
    return out


def tests_by_node(manifest: dict) -> dict[str, list[str]]:
    """Test unique ids per tested node (a relationship test counts for both ends)."""
    out: dict[str, list[str]] = {}
    for uid, n in manifest.get("nodes", {}).items():
        if n.get("resource_type") != "test":
            continue
        for parent in (n.get("depends_on") or {}).get("nodes") or []:
            out.setdefault(parent, []).append(uid)
    return out


def node_lineage(
    manifest: dict,
    catalog: Mapping[tuple[str, str], Iterable[str]],
    parse: Callable[[str], str],
    aggregates: frozenset[str] = DEFAULT_AGGREGATES,
    only: Iterable[str] | None = None,
) -> dict[str, NodeLineage]:
    """Lineage of every writing node (or those in ``only``): inputs from the manifest, columns from the
    compiled SQL. Output columns are the relation's columns in the warehouse, matched by position (a
    snapshot's ``dbt_`` columns come after the select and have no inputs)."""
    all_nodes = nodes(manifest)
    wanted = set(only) if only is not None else None
    out: dict[str, NodeLineage] = {}
    for uid, node in all_nodes.items():
        if node.resource_type == "source" or (wanted is not None and uid not in wanted):
            continue
        inputs = [(all_nodes[d].schema, all_nodes[d].table) for d in node.depends_on if d in all_nodes]
        result = NodeLineage(node, inputs)
        table_columns = [c.lower() for c in catalog.get((node.schema, node.table), [])]
        if node.resource_type == "seed":
            result.method = "seed file (no upstream columns)"
            result.columns = {c: {} for c in table_columns}
        elif not node.compiled_code:
            result.method = "no compiled SQL in the manifest"
            result.columns = {c: {} for c in table_columns}
        else:
            try:
                statement = analyse(node.compiled_code, catalog, parse, aggregates)
            except SqlLineageError as exc:
                result.method = f"not parsed: {exc}"
                result.columns = {c: {} for c in table_columns}
            else:
                derived = list(statement.columns.items())
                if table_columns and len(table_columns) >= len(derived):
                    names = table_columns
                    result.columns = {names[i]: (derived[i][1] if i < len(derived) else {}) for i in range(len(names))}
                else:
                    result.columns = dict(derived)
                result.indirect = statement.indirect
                result.unresolved = statement.unresolved
        out[uid] = result
    return out


def by_relation(lineage: Mapping[str, NodeLineage]) -> dict[tuple[str, str], NodeLineage]:
    return {(n.node.schema, n.node.table): n for n in lineage.values()}


def upstream(
    lineage: Mapping[str, NodeLineage], seeds: Iterable[Source], follow: frozenset = FOLLOWED
) -> dict[tuple[str, str], set[str]]:
    """Every relation column that ``seeds`` (schema, table, column) are computed from, through the models,
    down to the sources and seeds; the seeds themselves included."""
    relations = by_relation(lineage)
    seen: dict[tuple[str, str], set[str]] = {}
    stack = list(seeds)
    while stack:
        schema, table, column = stack.pop()
        columns = seen.setdefault((schema, table), set())
        if column in columns:
            continue
        columns.add(column)
        node = relations.get((schema, table))
        if node is None:
            continue
        for source, tags in node.columns.get(column, {}).items():
            if tags & follow:
                stack.append(source)
    return seen
