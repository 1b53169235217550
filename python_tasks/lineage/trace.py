"""Answer "where did this number come from?" for one output column, client and business date, in one step.

``trace("clv_cny", "C000000123", date(2026, 11, 21))`` returns the chain back to the delivered files:

1. the value in the warehouse and the run that wrote it (with its audit row, when recorded);
2. the Python steps that computed it: function, parameter file, version and sha256, the run, and for the
   CLV the engine's recorded inputs for this client (python_tasks/lineage/python_stages.py declares which
   input columns each output column comes from);
3. the dbt models it came through with the relevant columns, from the column lineage of the compiled SQL
   (python_tasks/lineage/dbt_lineage.py), with the dbt tests of those models in the build;
4. the raw tables and the delivered files whose rows for this client (or, for market data, the partition
   in force at D) fed them: file, business date, sha256, rows, the run that loaded it (audit.load_ledger),
   and the reference seeds with the sha256 of their file;
5. the quality checks passed on the way for D: gate, suite, run, checks, passed, failed.

Read-only on the warehouse. ``python -m python_tasks trace --column … --client … --date …`` prints it
(``--json`` for the structure).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

from python_tasks.io import warehouse
from python_tasks.lineage.dbt_lineage import load_artifact, node_lineage, nodes, tests_by_node, upstream
from python_tasks.lineage.python_stages import (
    CLIENT_SEGMENTS,
    CLIENT_VALUES,
    ENGINE_CLIENTS,
    ENGINE_FACILITIES,
    PROFILE,
    STAGE_OF_TABLE,
    computed_by,
)
from python_tasks.lineage.recorded import aggregate_functions, jsonable, sql_parser, warehouse_catalog
from python_tasks.lineage.run_audit import read_run_audit, sha256_file
from python_tasks.settings import SEEDS_DIR, get_settings

#: the tables a trace may start from, in the order a bare column name is looked up
TRACE_TABLES = (CLIENT_VALUES, CLIENT_SEGMENTS, PROFILE)
_METADATA = frozenset({"as_of_date", "_run_id", "_computed_at", "params_version", "scenario"})
#: the stage runs table of each Python stage (params version and hash, run id, times)
_RUNS = {"clv": "valuation.runs", "segments": "segments.runs"}
_LAYERS = ("bi", "segments", "valuation", "marts", "snapshots", "intermediate", "staging", "reference", "raw")


class TraceError(ValueError):
    """The question cannot be answered as asked; the message says why and what would work."""


def _rows(con, sql: str, **params: object) -> list[dict]:  # noqa: ANN001
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def _split(relation: str) -> tuple[str, str]:
    schema, table = relation.split(".", 1)
    return schema, table


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _find_table(catalog: dict, column: str, table: str | None) -> str:
    candidates = [table] if table else list(TRACE_TABLES)
    if table and table not in TRACE_TABLES:
        raise TraceError(f"--table must be one of {', '.join(TRACE_TABLES)}, not {table!r}")
    for relation in candidates:
        if column in catalog.get(_split(relation), []):
            return relation
    examples = "clv_cny, pv_expected_loss_cny, pit_pd (CLV); value_tier, risk_tier, strategy (segments); ead_cny, ttc_pd (profile)"
    where = table or ", ".join(TRACE_TABLES)
    raise TraceError(f"unknown column {column!r}: not a column of {where}. Traceable columns are those of these "
                     f"tables, e.g. {examples}")  # fmt: skip


def _value(con, relation: str, column: str, client_id: str, day: date, scenario: str) -> dict:  # noqa: ANN001
    """The column's value for the client (and scenario) on D, and the run that wrote it."""
    schema, table = _split(relation)
    has_scenario = relation == CLIENT_VALUES
    where = "as_of_date = $d AND client_id = $c" + (" AND scenario = $s" if has_scenario else "")
    params: dict = {"d": day, "c": client_id, **({"s": scenario} if has_scenario else {})}
    rows = _rows(con, f"SELECT {_quote(column)} AS value, _run_id FROM {schema}.{table} WHERE {where}", **params)
    if rows:
        return rows[0]
    dates = [r["as_of_date"] for r in _rows(
        con, f"SELECT DISTINCT as_of_date FROM {schema}.{table} WHERE client_id = $c ORDER BY 1", c=client_id)]  # fmt: skip
    if not dates:
        raise TraceError(f"unknown client {client_id!r}: no row in {relation} for any business date")
    if has_scenario and day in dates:
        known = [r["scenario"] for r in _rows(con, f"SELECT DISTINCT scenario FROM {schema}.{table} "
                                                   "WHERE as_of_date = $d ORDER BY 1", d=day)]  # fmt: skip
        raise TraceError(f"unknown scenario {scenario!r} for {day}: the scenarios valued are {', '.join(known)}")
    shown = ", ".join(d.isoformat() for d in dates[-5:])
    raise TraceError(f"client {client_id!r} has no row in {relation} for {day}; it has rows for {shown}")


def _stage_run(con, stage: str, day: date) -> dict | None:  # noqa: ANN001
    schema, table = _split(_RUNS[stage])
    if not warehouse.table_exists(con, schema, table):
        return None
    found = _rows(con, f"SELECT run_id, params_version, params_sha256, started_at, finished_at FROM {schema}.{table} "
                       "WHERE as_of_date = $d", d=day)  # fmt: skip
    return found[0] if found else None


def _python_steps(con, catalog: dict, relation: str, column: str, client_id: str, day: date, scenario: str):  # noqa: ANN001, ANN202
    """The Python steps from ``relation.column`` back to the dbt relations, and the dbt columns reached."""
    settings = get_settings()
    params_files = {"clv": settings.clv_params_path, "segments": settings.segment_rules_path}
    steps: dict[tuple[str, str], dict] = {}
    dbt_columns: set[tuple[str, str, str]] = set()
    seen: set[tuple[str, str]] = set()
    stack = [(relation, column)]
    while stack:
        table, col = stack.pop()
        if (table, col) in seen:
            continue
        seen.add((table, col))
        if table not in STAGE_OF_TABLE:
            dbt_columns.add((*_split(table), col))
            continue
        spec = computed_by(table, col)
        if spec is None:
            continue
        stage = STAGE_OF_TABLE[table]
        step = steps.setdefault((table, spec.function), {
            "stage": stage, "table": table, "function": spec.function, "columns": [], "inputs": defaultdict(set),
            "note": spec.note,
        })  # fmt: skip
        if col not in step["columns"]:
            step["columns"].append(col)
        for source, names in spec.inputs.items():
            expanded = (
                [c for c in catalog.get(_split(source), []) if c not in _METADATA] if "*" in names else list(names)
            )
            step["inputs"][source].update(expanded)
            for name in expanded:
                stack.append((source, name))
    runs = {stage: _stage_run(con, stage, day) for stage in _RUNS}
    out = []
    for step in steps.values():
        run = runs.get(step["stage"]) or {}
        path = params_files[step["stage"]]
        entry = {
            "stage": step["stage"], "table": step["table"], "columns": step["columns"], "function": step["function"],
            "inputs": {k: sorted(v) for k, v in sorted(step["inputs"].items())}, "note": step["note"] or None,
            "run_id": run.get("run_id"), "params_file": _display(path), "params_version": run.get("params_version"),
            "params_sha256": run.get("params_sha256"), "params_file_sha256_now": sha256_file(path) if path.exists() else None,
        }  # fmt: skip
        out.append(entry)
    order = {CLIENT_SEGMENTS: 0, CLIENT_VALUES: 1, ENGINE_CLIENTS: 2, ENGINE_FACILITIES: 3}
    out.sort(key=lambda s: (order.get(s["table"], 9), s["function"]))
    engine = (
        _engine_inputs(con, client_id, day)
        if any(s["table"] in (ENGINE_CLIENTS, ENGINE_FACILITIES) for s in out)
        else None
    )
    return out, dbt_columns, engine


def _engine_inputs(con, client_id: str, day: date) -> dict:  # noqa: ANN001
    """What the CLV engine valued for this client on D (valuation.engine_inputs_*)."""
    client = _rows(con, "SELECT * EXCLUDE (as_of_date, _run_id) FROM valuation.engine_inputs_clients "
                        "WHERE as_of_date = $d AND client_id = $c", d=day, c=client_id)  # fmt: skip
    facilities = _rows(con, "SELECT * EXCLUDE (as_of_date, _run_id) FROM valuation.engine_inputs_facilities "
                            "WHERE as_of_date = $d AND client_id = $c ORDER BY facility_id", d=day, c=client_id)  # fmt: skip
    return {"client": jsonable(client[0]) if client else None, "facilities": jsonable(facilities)}


def _display(path: Path) -> str:
    from python_tasks.lineage.run_audit import _display as display

    return display(path)


def _models(
    lineage: dict, reached: dict[tuple[str, str], set[str]], manifest: dict, dbt_results: list[dict]
) -> list[dict]:
    by_relation = {(n.node.schema, n.node.table): n for n in lineage.values()}
    all_nodes = nodes(manifest)
    source_ids = {(n.schema, n.table): uid for uid, n in all_nodes.items() if n.resource_type == "source"}
    tests = tests_by_node(manifest)
    status = {r["unique_id"]: r["status"] for r in dbt_results}
    out = []
    for (schema, table), columns in reached.items():
        node = by_relation.get((schema, table))
        uid = node.node.unique_id if node else source_ids.get((schema, table))
        node_tests = [status[t] for t in tests.get(uid or "", []) if t in status]
        out.append({
            "relation": f"{schema}.{table}", "unique_id": uid,
            "resource_type": node.node.resource_type if node else ("source" if uid else "table"),
            "columns": sorted(columns),
            "reads": [f"{s}.{t}" for s, t in node.inputs] if node else [],
            "tests": {"passed": sum(s == "pass" for s in node_tests), "failed": sum(s in ("fail", "error") for s in node_tests),
                      "warned": sum(s == "warn" for s in node_tests)},
        })  # fmt: skip
    out.sort(key=lambda m: (_LAYERS.index(m["relation"].split(".")[0]) if m["relation"].split(".")[0] in _LAYERS else 99,
                            m["relation"]))  # fmt: skip
    return out


def _raw_files(con, catalog: dict, source: str, columns: list[str], client_id: str, day: date) -> dict:  # noqa: ANN001
    """The deliveries of ``raw.<source>`` that hold the client's rows up to D (market data: the partition in
    force at D), with the load ledger's record of each file."""
    cols = catalog.get(("raw", source), [])
    table = f"raw.{_quote(source)}"
    if "client_id" in cols:
        scope, where, params = "the client's rows", "client_id = $c AND _as_of_date <= $d", {"c": client_id, "d": day}
    elif "facility_id" in cols:
        scope = "rows of the client's facilities"
        where = ("facility_id IN (SELECT facility_id FROM raw.facilities WHERE client_id = $c AND _as_of_date <= $d) "
                 "AND _as_of_date <= $d")  # fmt: skip
        params = {"c": client_id, "d": day}
    else:
        scope = "the partition in force at D"
        where = f"_as_of_date = (SELECT max(_as_of_date) FROM {table} WHERE _as_of_date <= $d)"
        params = {"d": day}
    groups = _rows(con, f"SELECT _as_of_date AS delivered_for, _source_file AS file_name, _run_id AS loaded_by_run, "
                        f"count(*) AS client_rows FROM {table} WHERE {where} GROUP BY ALL ORDER BY 1, 2", **params)  # fmt: skip
    files = []
    for g in groups:
        ledger = _rows(
            con,
            "SELECT sha256, size_bytes, rows_in, rows_loaded, rows_quarantined, landed_path, status, finished_at "
            "FROM audit.load_ledger WHERE source = $s AND as_of_date = $a AND file_name = $f AND run_id = $r "
            "ORDER BY (status = 'loaded') DESC, finished_at DESC LIMIT 1",
            s=source, a=g["delivered_for"], f=g["file_name"], r=g["loaded_by_run"],
        )  # fmt: skip
        files.append(jsonable({**g, **(ledger[0] if ledger else {"sha256": None, "status": "not in the load ledger"})}))
    return {"table": f"raw.{source}", "columns": columns, "scope": scope, "files": files}


def _seed(name: str) -> dict:
    path = SEEDS_DIR / f"{name}.csv"
    return {"file": _display(path), "sha256": sha256_file(path) if path.exists() else None}


def _quality(con, day: date, run_ids: dict[str, str | None], raw_sources: list[str], chain: set[str]) -> list[dict]:  # noqa: ANN001
    """Per gate on the way, per suite: the checks of the run that produced the stage's data (else the latest
    evaluation of that gate for D)."""
    gates = ["freshness", "raw", "profile"]
    if CLIENT_VALUES in chain or ENGINE_CLIENTS in chain:
        gates.append("clv")
    if CLIENT_SEGMENTS in chain:
        gates.append("segments")
    if CLIENT_VALUES in chain or CLIENT_SEGMENTS in chain:
        gates.append("drift")
    preferred = {"freshness": run_ids.get("dbt"), "raw": run_ids.get("dbt"), "profile": run_ids.get("dbt"),
                 "clv": run_ids.get("clv"), "segments": run_ids.get("segments"), "drift": run_ids.get("segments")}  # fmt: skip
    out = []
    for gate in gates:
        runs = [r["run_id"] for r in _rows(
            con, "SELECT run_id, max(evaluated_at) AS last_at FROM audit.dq_results WHERE as_of_date = $d AND gate = $g "
                 "GROUP BY run_id ORDER BY last_at DESC", d=day, g=gate)]  # fmt: skip
        if not runs:
            out.append({"gate": gate, "suite": None, "run_id": None, "checks": 0, "passed": 0, "failed_errors": 0,
                        "failed_warnings": 0, "note": "no results recorded for this date"})  # fmt: skip
            continue
        run = preferred[gate] if preferred[gate] in runs else runs[0]
        for s in _rows(
            con,
            """
            SELECT suite, count(*) AS checks, count(*) FILTER (WHERE success) AS passed,
                   count(*) FILTER (WHERE NOT success AND severity = 'error') AS failed_errors,
                   count(*) FILTER (WHERE NOT success AND severity <> 'error') AS failed_warnings,
                   max(evaluated_at) AS evaluated_at
            FROM audit.dq_results WHERE as_of_date = $d AND gate = $g AND run_id = $r GROUP BY suite ORDER BY suite
            """,
            d=day, g=gate, r=run,
        ):  # fmt: skip
            if gate == "raw" and s["suite"].removeprefix("raw.") not in raw_sources:
                continue
            out.append(jsonable({"gate": gate, "run_id": run, **s,
                                 "note": None if run == preferred[gate] else "latest evaluation for D (another run)"}))  # fmt: skip
    return out


def trace(
    column: str, client_id: str, as_of_date: date | str, scenario: str = "baseline", table: str | None = None
) -> dict:
    """The chain from ``column`` of ``client_id`` on D back to the delivered files (see module docstring)."""
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    column = column.strip().lower()
    settings = get_settings()
    manifest = load_artifact("manifest.json")
    if manifest is None:
        raise TraceError(f"no dbt manifest under {settings.home / 'dbt' / 'target'}: run dbt_build first")
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        catalog, _ = warehouse_catalog(con)
        relation = _find_table(catalog, column, table)
        found = _value(con, relation, column, client_id, day, scenario)
        steps, dbt_seeds, engine = _python_steps(con, catalog, relation, column, client_id, day, scenario)
        lineage = node_lineage(manifest, catalog, sql_parser(con), aggregate_functions(con))
        reached = upstream(lineage, dbt_seeds)
        profile_run = _rows(con, "SELECT _run_id FROM marts.fct_client_profile WHERE as_of_date = $d AND client_id = $c",
                            d=day, c=client_id)  # fmt: skip
        run_ids = {"dbt": profile_run[0]["_run_id"] if profile_run else None,
                   "clv": (_stage_run(con, "clv", day) or {}).get("run_id"),
                   "segments": (_stage_run(con, "segments", day) or {}).get("run_id")}  # fmt: skip
        dbt_results = _rows(con, "SELECT unique_id, status FROM audit.dbt_results WHERE as_of_date = $d AND run_id = $r",
                            d=day, r=run_ids["dbt"])  # fmt: skip
        models = _models(lineage, {k: v for k, v in reached.items() if k[0] != "raw"}, manifest, dbt_results)
        raw = [
            _raw_files(con, catalog, t, sorted(cols), client_id, day)
            for (s, t), cols in sorted(reached.items()) if s == "raw"
        ]  # fmt: skip
        seeds = {m["relation"]: _seed(m["relation"].split(".", 1)[1]) for m in models if m["resource_type"] == "seed"}
        chain = {s["table"] for s in steps} | {relation}
        quality = _quality(con, day, run_ids, [r["table"].removeprefix("raw.") for r in raw], chain)
        audit = read_run_audit(con, day, found["_run_id"])
    for m in models:
        if m["relation"] in seeds:
            m["seed_file"] = seeds[m["relation"]]
    value = found["value"]
    return jsonable({
        "question": {"column": column, "table": relation, "client_id": client_id, "as_of_date": day,
                     "scenario": scenario if relation == CLIENT_VALUES else None},
        "value": value if not hasattr(value, "item") else value.item(),
        "run": {"run_id": found["_run_id"], "stage_runs": run_ids,
                "audit": None if audit is None else {k: audit[k] for k in (
                    "status", "code_version", "code_version_source", "code_dirty", "started_at", "finished_at",
                    "clv_params_version", "clv_params_sha256", "segment_params_version", "segment_params_sha256")}},
        "python_steps": steps,
        "engine_inputs": engine,
        "models": models,
        "raw": raw,
        "quality": quality,
        "column_lineage": "dbt: DuckDB's parse of each model's compiled SQL; Python stages: declared "
                          "(python_tasks/lineage/python_stages.py). See docs/lineage.md for the limits.",
    })  # fmt: skip


def render(result: dict, console) -> None:  # noqa: ANN001 - a rich Console
    """The trace as readable text."""
    from rich.table import Table

    def say(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False, highlight=False)

    q = result["question"]
    scenario = f", scenario {q['scenario']}" if q.get("scenario") else ""
    say(f"{q['table']}.{q['column']} of client {q['client_id']} on {q['as_of_date']}{scenario}", "bold")
    say(f"value: {_fmt(result['value'])}   (written by run {result['run']['run_id']})", "bold")
    audit = result["run"]["audit"]
    if audit:
        dirty = " (working tree differed from it)" if audit.get("code_dirty") else ""
        say(
            f"run audit: {audit['status']}; code {audit['code_version']}{dirty}; {audit['started_at']} → {audit['finished_at']}"
        )
    else:
        say("run audit: not recorded for this run (audit.run_audit)")

    if result["python_steps"]:
        console.rule("1. computed in Python")
        for s in result["python_steps"]:
            columns = ", ".join(s["columns"][:8]) + (" …" if len(s["columns"]) > 8 else "")
            say(f"{s['table']} ({columns})", "bold")
            say(f"  function   {s['function']}")
            params = f"{s['params_file']}"
            if s["params_version"]:
                params += f" version {s['params_version']}, sha256 {s['params_sha256']}"
            say(f"  parameters {params}")
            say(f"  run        {s['stage']} run {s['run_id']}")
            if s.get("note"):
                say(f"  note       {s['note']}")
            for source, cols in s["inputs"].items():
                say(f"  from       {source}: {', '.join(cols)}")
        engine = result.get("engine_inputs")
        if engine and engine.get("client"):
            keys = (
                "ttc_pd",
                "pd_source",
                "asset_class",
                "tenure_years",
                "segment",
                "lpr_1y_pct",
                "sbg_alpha",
                "sbg_beta",
            )
            shown = ", ".join(f"{k}={_fmt(engine['client'][k])}" for k in keys if k in engine["client"])
            say(f"engine inputs of the client: {shown}; {len(engine['facilities'])} facilities valued")

    console.rule("2. dbt models it came through (column lineage)")
    models = Table(show_lines=False)
    models.add_column("relation", no_wrap=True)
    models.add_column("type")
    models.add_column("columns")
    models.add_column("dbt tests passed/failed", justify="right")
    for m in result["models"]:
        models.add_row(m["relation"], m["resource_type"], ", ".join(m["columns"]),
                       f"{m['tests']['passed']}/{m['tests']['failed']}")  # fmt: skip
    console.print(models)
    for m in result["models"]:
        if m.get("seed_file"):
            say(f"reference data {m['relation']}: {m['seed_file']['file']} sha256 {m['seed_file']['sha256']}")

    console.rule("3. raw tables and delivered files")
    for r in result["raw"]:
        say(f"{r['table']} ({', '.join(r['columns'])}): {r['scope']}", "bold")
        files = Table()
        files.add_column("file", no_wrap=True)
        files.add_column("for", no_wrap=True)
        files.add_column("sha256", no_wrap=True)
        for col in ("in", "loaded", "quarantined", "client rows"):
            files.add_column(col, justify="right")
        files.add_column("loaded by run", no_wrap=True)
        for f in r["files"]:
            files.add_row(f["file_name"], str(f["delivered_for"]), str(f["sha256"]), str(f.get("rows_in")),
                          str(f.get("rows_loaded")), str(f.get("rows_quarantined")), str(f["client_rows"]),
                          str(f["loaded_by_run"]))  # fmt: skip
        console.print(files)

    console.rule("4. quality checks passed on the way")
    checks = Table()
    for col in ("gate", "suite", "run", "checks", "passed", "failed errors", "failed warnings"):
        checks.add_column(
            col, justify="right" if col in ("checks", "passed", "failed errors", "failed warnings") else "left"
        )
    for c in result["quality"]:
        checks.add_row(c["gate"], str(c["suite"] or "-"), str(c["run_id"] or "-"), str(c["checks"]), str(c["passed"]),
                       str(c["failed_errors"]), str(c["failed_warnings"]))  # fmt: skip
    console.print(checks)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"
    return str(value)
