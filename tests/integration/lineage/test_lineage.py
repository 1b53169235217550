"""Lineage and audit of one daily run on a generated warehouse (200 clients, one business date): the run
audit row and its idempotence, OpenLineage events that validate and cover every task, dbt node, input file
and written table, column lineage of a known column, the evidence bundle with its checksums and retention,
and the trace of a known client back to the files (value = warehouse, sha256 = load ledger)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from generated import generated_home

from python_tasks.cli import main
from python_tasks.clv.job import run_clv
from python_tasks.ingest.job import ingest_source
from python_tasks.lineage import naming
from python_tasks.lineage.dbt_lineage import load_artifact, node_lineage, upstream
from python_tasks.lineage.emit import emit_run_lineage
from python_tasks.lineage.evidence import MANIFEST_NAME, build_evidence_bundle, prune_evidence, verify_bundle
from python_tasks.lineage.job import close_run
from python_tasks.lineage.python_stages import dag_task_ids
from python_tasks.lineage.recorded import warehouse_catalog
from python_tasks.lineage.run_audit import record_run_audit, sha256_file
from python_tasks.lineage.trace import TraceError, trace
from python_tasks.lineage.validate import errors, read_events, validate_events
from python_tasks.orchestration.sources import internal_sources
from python_tasks.quality.freshness_gate import run_freshness_gate
from python_tasks.quality.raw_gate import run_raw_gate
from python_tasks.quality.reconciliation import run_reconciliation
from python_tasks.quality.stage_gates import run_drift_gate, run_stage_gate
from python_tasks.segments.job import run_segments
from python_tasks.settings import PROJECT_ROOT, get_settings
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)
RUN = "scheduled__2026-11-20T22:00:00+00:00"  # an Airflow run id: ':' and '+' must not break any path


def _published() -> dict[str, str]:
    try:
        from python_tasks.serving.bi_schema import PUBLISHED_TABLES
    except ImportError:
        return {}
    return dict(PUBLISHED_TABLES)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    """The daily run RUN of D0, every task in DAG order, then closed (audit, lineage, evidence)."""
    root = tmp_path_factory.mktemp("lineage")
    with generated_home(root, clients=200, first=D0, days=0):
        for source in internal_sources():
            ingest_source(source, D0, RUN, force=True)
        run_freshness_gate(D0, RUN)
        run_raw_gate(D0, RUN)
        run_dbt_build(D0, RUN)
        run_stage_gate("profile", D0, RUN)
        run_clv(D0, RUN)
        run_stage_gate("clv", D0, RUN)
        run_segments(D0, RUN)
        run_stage_gate("segments", D0, RUN)
        run_drift_gate(D0, RUN)
        run_reconciliation(D0, RUN, published=False)
        summary = close_run(D0, RUN, "success")
        yield {"root": root, "summary": summary}


@pytest.fixture(scope="module")
def events(home) -> list[dict]:
    return read_events(Path(home["summary"]["lineage_file"]))


def _query(sql: str, **params: object) -> list[tuple]:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def _outputs(events: list[dict]) -> set[tuple[str, str]]:
    return {(o["namespace"], o["name"]) for e in events for o in e.get("outputs") or []}


def _wh(relation: str) -> tuple[str, str]:
    schema, table = relation.split(".", 1)
    return naming.warehouse_namespace(), naming.table_dataset_name(schema, table)


# ------------------------------------------------------------------------------------------ events
def test_every_event_validates_against_the_openlineage_schemas(home, events):
    assert home["summary"]["lineage_file"] == str(naming.lineage_file(D0, RUN))
    assert len(events) == home["summary"]["lineage_events"] and validate_events(events) == len(events)
    runs = {}
    for e in events:
        runs.setdefault(e["run"]["runId"], []).append(e["eventType"])
    assert all(sorted(types) in (["COMPLETE", "START"], ["FAIL", "START"]) for types in runs.values())
    assert all(e["eventType"] != "FAIL" for e in events)


def test_a_broken_event_or_an_unknown_facet_is_refused(events):
    event = json.loads(json.dumps(next(e for e in events if e["eventType"] == "COMPLETE" and e.get("outputs"))))
    event["run"]["runId"] = "not-a-uuid"
    event["outputs"][0]["facets"]["mystery"] = {"_producer": "urn:x", "_schemaURL": "https://example.com/x.json"}
    problems = errors(event)
    assert any("runId" in p and "uuid" in p for p in problems)
    assert any("mystery" in p and "not in" in p for p in problems)


def test_every_task_and_every_dbt_node_is_the_job_of_some_event(events):
    jobs = {e["job"]["name"] for e in events}
    tasks = dag_task_ids(with_publish=bool(_published()))
    assert {naming.task_job_name(t) for t in tasks} <= jobs, sorted({naming.task_job_name(t) for t in tasks} - jobs)
    nodes = _query("SELECT unique_id FROM audit.dbt_results WHERE run_id = $r AND resource_type IN "
                   "('model', 'seed', 'snapshot')", r=RUN)  # fmt: skip
    assert len(nodes) > 30
    assert {naming.dbt_job_name(uid) for (uid,) in nodes} <= jobs
    children = [e for e in events if e["job"]["name"] != naming.DAG_ID and e["eventType"] == "COMPLETE"]
    assert all(e["run"]["facets"]["parent"]["root"]["job"]["name"] == naming.DAG_ID for e in children)


def test_every_input_file_of_the_run_is_an_input_with_its_checksum(events):
    ledger = _query("SELECT landed_path, sha256, rows_loaded FROM audit.load_ledger WHERE run_id = $r "
                    "AND landed_path IS NOT NULL", r=RUN)  # fmt: skip
    assert len(ledger) >= len(internal_sources())
    inputs = {
        (i["namespace"], i["name"]): i for e in events if e["eventType"] == "COMPLETE" for i in e.get("inputs") or []
    }
    for path, sha, rows in ledger:
        found = inputs[(naming.file_namespace(), path)]
        delivery = found["inputFacets"]["clv_delivery"]
        assert (delivery["sha256"], delivery["rowsLoaded"]) == (sha, rows)
        assert sha256_file(Path(path)) == sha


def test_every_table_written_by_the_run_is_an_output(events):
    outputs = _outputs(events)
    manifest = load_artifact("manifest.json")
    built = _query("SELECT unique_id FROM audit.dbt_results WHERE run_id = $r AND resource_type IN "
                   "('model', 'seed', 'snapshot')", r=RUN)  # fmt: skip
    relations = [f"{n['schema']}.{n.get('alias') or n['name']}" for (uid,) in built for n in [manifest["nodes"][uid]]]
    raw = [f"raw.{s}" for (s,) in _query("SELECT DISTINCT source FROM audit.load_ledger WHERE run_id = $r", r=RUN)]
    stages = [f"{s}.{t}" for s, t in _query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('valuation', 'segments')")]  # fmt: skip
    assert {s.split(".")[0] for s in relations} >= {"staging", "intermediate", "marts", "reference", "snapshots"}
    missing = [r for r in raw + relations + stages if _wh(r) not in outputs]
    assert not missing, missing
    published = _published()
    names = {name for _, name in outputs}
    assert all(any(n.endswith(f".{table}") for n in names) for table in published), sorted(published)


def test_gates_carry_their_checks_as_data_quality_assertions(events):
    profile = next(e for e in events if e["job"]["name"] == "clv_daily.profile_gate" and e["eventType"] == "COMPLETE")
    assertions = [
        a
        for i in profile["inputs"]
        for a in (i.get("inputFacets") or {}).get("dataQualityAssertions", {}).get("assertions", [])
    ]
    ((recorded,),) = _query("SELECT count(*) FROM audit.dq_results WHERE run_id = $r AND gate = 'profile'", r=RUN)
    assert len(assertions) == recorded and all(a["success"] for a in assertions if a["severity"] == "error")
    assert profile["inputs"][0]["name"].endswith("marts.fct_client_profile")


def test_column_lineage_of_the_exposure_traces_to_the_facility_columns(events):
    mart = next(e for e in events if e["job"]["name"] == "dbt.model.clv_warehouse.fct_client_profile"
                and e["eventType"] == "COMPLETE")  # fmt: skip
    fields = mart["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert [(f["name"].split(".", 1)[1], f["field"]) for f in fields["ead_cny"]["inputFields"]] == [
        ("intermediate.int_exposures_aggregated_to_clients", "ead_cny")
    ]
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        catalog, _ = warehouse_catalog(con)
        parse = lambda sql: con.execute("SELECT json_serialize_sql($s)", {"s": sql}).fetchone()[0]  # noqa: E731
        lineage = node_lineage(load_artifact("manifest.json"), catalog, parse)
    reached = upstream(lineage, [("marts", "fct_client_profile", "ead_cny")])
    assert {"drawn_balance_cny", "limit_cny"} <= reached[("raw", "facilities")]
    assert "ccf" in reached[("reference", "ref_products")]
    assert all(not n.unresolved for n in lineage.values()), {
        k: n.unresolved for k, n in lineage.items() if n.unresolved
    }


def test_a_rerun_replaces_the_event_file(home, events):
    again = emit_run_lineage(D0, RUN)
    rerun = read_events(Path(again["path"]))
    assert len(rerun) == len(events)
    assert [e["run"]["runId"] for e in rerun] == [e["run"]["runId"] for e in events]
    assert list(naming.lineage_dir(D0).glob("*.ndjson")) == [Path(again["path"])]


# --------------------------------------------------------------------------------------- run audit
def _audit_rows() -> list[dict]:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        cursor = con.execute("SELECT * FROM audit.run_audit WHERE run_id = $r", {"r": RUN})
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_run_audit_row_says_what_the_run_was_made_of(home):
    (row,) = _audit_rows()
    assert (row["status"], row["as_of_date"], row["code_version_source"]) == ("success", D0, "git")
    assert len(row["code_version"]) == 40
    params = json.loads(row["parameter_files"])
    assert params["config/clv_params.yml"] == sha256_file(PROJECT_ROOT / "config" / "clv_params.yml")
    assert {"config/segment_rules.yml", "expectations/raw.yml", "expectations/drift.yml"} <= set(params)
    ((clv_version, clv_sha),) = _query(
        "SELECT params_version, params_sha256 FROM valuation.runs WHERE run_id = $r", r=RUN
    )
    assert (row["clv_params_version"], row["clv_params_sha256"]) == (clv_version, clv_sha)
    files = json.loads(row["input_files"])
    ledger = _query("SELECT file_name, sha256 FROM audit.load_ledger WHERE run_id = $r", r=RUN)
    assert sorted((f["file_name"], f["sha256"]) for f in files) == sorted(ledger)
    assert {f["source"] for f in json.loads(row["external_inputs"])} == {"macro_indicators", "industry_indicators"}
    stages = json.loads(row["stage_rows"])
    (clients,) = _query("SELECT count(*) FROM marts.fct_client_profile WHERE as_of_date = $d", d=D0)[0]
    assert stages["dbt"]["model.clv_warehouse.fct_client_profile"]["rows_for_date"] == clients
    assert stages["clv"]["tables"]["valuation.client_values"] == 3 * clients
    assert stages["segments"]["tables"]["segments.client_segments"] == clients
    assert all(s["rows_in"] == s["rows_loaded"] + s["rows_quarantined"] for s in stages["ingest"].values())
    gates = json.loads(row["gates"])
    # drift: nothing to compare on day one
    assert set(gates) == {"freshness", "raw", "profile", "clv", "segments", "reconciliation"}
    assert all(g["failed_errors"] == 0 and g["checks"] > 0 for g in gates.values())
    assert row["started_at"] <= row["finished_at"]


def test_recording_again_replaces_the_row(home):
    first = _audit_rows()[0]
    record_run_audit(D0, RUN, "failed")
    (failed,) = _audit_rows()
    assert failed["status"] == "failed" and failed["recorded_at"] > first["recorded_at"]
    record_run_audit(D0, RUN, "success")
    (again,) = _audit_rows()
    assert again["status"] == "success"
    assert {k: again[k] for k in ("input_files", "parameter_files", "gates")} == {
        k: first[k] for k in ("input_files", "parameter_files", "gates")
    }


# -------------------------------------------------------------------------------------------- evidence
def test_the_evidence_bundle_is_complete_and_its_checksums_hold(home, tmp_path):
    folder = Path(home["summary"]["evidence"])
    assert folder == naming.evidence_dir(D0, RUN) and ":" not in folder.name
    for name in ("bundle.json", "audit/run_audit.json", "audit/dbt_results.json", "ingest/load_ledger.json",
                 "quality/dq_results.json", "dbt/manifest.json", "dbt/run_results.json",
                 f"lineage/{naming.lineage_file(D0, RUN).name}", "parameters/config/clv_params.yml",
                 "parameters/config/segment_rules.yml", "parameters/expectations/profile.yml", MANIFEST_NAME):  # fmt: skip
        assert (folder / name).is_file(), name
    assert (folder / "quality" / "data_docs" / "index.html").is_file()
    assert verify_bundle(folder) == []
    index = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
    assert index["status"] == "success" and index["notes"] == []
    audit = json.loads((folder / "audit" / "run_audit.json").read_text(encoding="utf-8"))
    assert audit["run_id"] == RUN
    assert len(json.loads((folder / "quality" / "dq_results.json").read_text(encoding="utf-8"))) == _query(
        "SELECT count(*) FROM audit.dq_results WHERE run_id = $r", r=RUN)[0][0]  # fmt: skip
    copy = tmp_path / "bundle"
    shutil.copytree(folder, copy)
    (copy / "parameters" / "config" / "clv_params.yml").write_text("discount_rate: 0.99\n", encoding="utf-8")
    (copy / "extra.txt").write_text("x", encoding="utf-8")
    assert verify_bundle(copy) == [
        "parameters/config/clv_params.yml: checksum differs",
        "extra.txt: not in the manifest",
    ]


def test_a_bundle_builder_killed_midway_leaves_nothing_after_the_next_build(home):
    """A builder killed mid-bundle (under another run id: the next run never builds its bundle) leaves its
    work folder, named with its process id; the next build removes it, as it keeps its own until the rename."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = naming.evidence_dir(D0, "killed-run")
    stale = target.with_name(f".{target.name}.{dead.pid}.partial")
    (stale / "audit").mkdir(parents=True)
    summary = build_evidence_bundle(D0, RUN)
    assert not stale.exists() and verify_bundle(Path(summary["path"])) == []
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]


def test_retention_deletes_bundles_older_than_the_setting_by_business_date(home, monkeypatch):
    root = naming.evidence_root()
    old, kept = D0 - timedelta(days=401), D0 - timedelta(days=400)
    for day in (old, kept):
        (root / day.isoformat() / "some_run").mkdir(parents=True)
    (root / "notes").mkdir(exist_ok=True)
    assert prune_evidence(D0) == [old.isoformat()]
    assert (root / kept.isoformat()).is_dir() and (root / "notes").is_dir() and (root / D0.isoformat()).is_dir()
    monkeypatch.setenv("CLV_EVIDENCE_RETENTION_DAYS", "30")
    summary = build_evidence_bundle(D0, RUN)
    assert summary["deleted"] == [kept.isoformat()] and verify_bundle(Path(summary["path"])) == []


# ----------------------------------------------------------------------------------------------- trace
@pytest.fixture(scope="module")
def client(home) -> str:
    """A client with credit on book: the one with the largest EAD."""
    return _query("SELECT client_id FROM marts.fct_client_profile WHERE as_of_date = $d ORDER BY ead_cny DESC LIMIT 1",
                  d=D0)[0][0]  # fmt: skip


def test_trace_of_the_clv_goes_back_to_the_files(home, client):
    result = trace("clv_cny", client, D0)
    ((value,),) = _query("SELECT clv_cny FROM valuation.client_values WHERE as_of_date = $d AND client_id = $c "
                         "AND scenario = 'baseline'", d=D0, c=client)  # fmt: skip
    assert result["value"] == value
    assert result["run"]["run_id"] == RUN and result["run"]["audit"]["status"] == "success"
    engine = next(s for s in result["python_steps"] if s["function"] == "python_tasks.clv.engine.value_portfolio")
    ((version, sha),) = _query("SELECT params_version, params_sha256 FROM valuation.runs WHERE as_of_date = $d", d=D0)
    assert (engine["params_version"], engine["params_sha256"], engine["run_id"]) == (version, sha, RUN)
    assert result["engine_inputs"]["client"]["client_id"] == client and result["engine_inputs"]["facilities"]
    models = {m["relation"]: m for m in result["models"]}
    assert {"marts.fct_client_profile", "marts.fct_facility_daily", "staging.stg_facilities"} <= set(models)
    assert "ead_cny" not in models["marts.fct_client_profile"]["columns"]  # the engine reads facilities, not EAD
    assert {"drawn_balance_cny", "undrawn_cny"} <= set(models["marts.fct_facility_daily"]["columns"])
    assert models["marts.fct_client_profile"]["tests"]["passed"] > 0
    raw = {r["table"]: r for r in result["raw"]}
    assert {"raw.facilities", "raw.clients", "raw.macro_indicators"} <= set(raw)
    for r in result["raw"]:
        for f in r["files"]:
            ledger = _query("SELECT sha256, rows_loaded FROM audit.load_ledger WHERE source = $s AND as_of_date = $a "
                            "AND file_name = $f AND run_id = $r", s=r["table"][4:], a=date.fromisoformat(f["delivered_for"]),
                            f=f["file_name"], r=f["loaded_by_run"])  # fmt: skip
            assert ledger and (f["sha256"], f["rows_loaded"]) == ledger[0]
    facilities_rows = _query("SELECT count(*) FROM raw.facilities WHERE client_id = $c", c=client)[0][0]
    assert sum(f["client_rows"] for f in raw["raw.facilities"]["files"]) == facilities_rows
    gates = {(q["gate"], q["suite"]) for q in result["quality"] if q["failed_errors"] == 0 and q["checks"]}
    assert {("raw", "raw.facilities"), ("profile", "profile.fct_client_profile"), ("clv", "clv.client_values")} <= gates


def test_trace_of_segment_and_profile_columns(home, client):
    strategy = trace("strategy", client, D0)
    assert strategy["question"]["table"] == "segments.client_segments"
    assert strategy["value"] == _query("SELECT strategy FROM segments.client_segments WHERE as_of_date = $d "
                                       "AND client_id = $c", d=D0, c=client)[0][0]  # fmt: skip
    functions = {s["function"] for s in strategy["python_steps"]}
    assert {"python_tasks.segments.tiers.strategies", "python_tasks.segments.tiers.value_tiers",
            "python_tasks.segments.tiers.risk_tiers", "python_tasks.clv.engine.value_portfolio"} <= functions  # fmt: skip
    assert any(q["gate"] == "segments" for q in strategy["quality"])
    ead = trace("ead_cny", client, D0, table="marts.fct_client_profile")
    assert ead["python_steps"] == []
    raw = {r["table"]: set(r["columns"]) for r in ead["raw"]}
    assert {"drawn_balance_cny", "limit_cny"} <= raw["raw.facilities"]


def test_the_trace_command_prints_the_chain_and_explains_bad_questions(home, client, capsys):
    assert main(["trace", "--column", "clv_cny", "--client", client, "--date", D0.isoformat(), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["value"] == trace("clv_cny", client, D0)["value"]
    assert main(["trace", "--column", "value_tier", "--client", client, "--date", D0.isoformat()]) == 0
    text = capsys.readouterr().out
    assert (
        "python_tasks.segments.tiers.value_tiers" in text
        and "raw.facilities" in text
        and "profile.fct_client_profile" in text
    )
    assert main(["trace", "--column", "no_such_column", "--client", client, "--date", D0.isoformat()]) == 2
    assert "unknown column 'no_such_column'" in capsys.readouterr().err
    assert main(["trace", "--column", "clv_cny", "--client", "C999999999", "--date", D0.isoformat()]) == 2
    assert "unknown client 'C999999999'" in capsys.readouterr().err
    with pytest.raises(TraceError, match="unknown scenario 'worst'"):
        trace("clv_cny", client, D0, scenario="worst")


# ---------------------------------------------------------------------------------------- failed run
def test_a_failed_run_is_audited_and_its_events_end_in_fail(home):
    failed = "manual__failed"
    for source in internal_sources():
        ingest_source(source, D0, failed)
    summary = close_run(D0, failed, "failed")
    events = read_events(Path(summary["lineage_file"]))
    assert validate_events(events) == len(events)
    root = [e for e in events if e["job"]["name"] == naming.DAG_ID and e["eventType"] != "START"]
    assert [e["eventType"] for e in root] == ["FAIL"]
    jobs = {e["job"]["name"] for e in events}
    assert "clv_daily.summarise" not in jobs and "clv_daily.publish" not in jobs and "clv_daily.audit" not in jobs
    assert "clv_daily.audit_on_failure" in jobs
    assert {naming.task_job_name(f"ingest.{s}") for s in internal_sources()} <= jobs
    (status,) = _query("SELECT status FROM audit.run_audit WHERE run_id = $r", r=failed)[0]
    assert status == "failed" and verify_bundle(Path(summary["evidence"])) == []


# ---------------------------------------------------------------------------------------- HTTP backend
@pytest.fixture
def backend():
    """A stand-in for Marquez's lineage endpoint on a free loopback port, recording what it receives."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"), "event": json.loads(body)})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_events_go_to_the_http_backend_when_configured(home, events, backend, monkeypatch):
    url, received = backend
    monkeypatch.setenv("CLV_OPENLINEAGE_URL", url)
    monkeypatch.setenv("CLV_OPENLINEAGE_API_KEY", "secret-token")
    summary = emit_run_lineage(D0, RUN)
    assert summary["http"] == f"sent {len(events)} of {len(events)}"
    assert len(received) == len(events) and {r["path"] for r in received} == {"/api/v1/lineage"}
    assert {r["auth"] for r in received} == {"Bearer secret-token"}
    assert [r["event"]["run"]["runId"] for r in received] == [e["run"]["runId"] for e in events]


def test_a_backend_that_is_down_keeps_the_file_and_fails_only_when_required(home, events, monkeypatch):
    import socket

    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CLV_OPENLINEAGE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CLV_OPENLINEAGE_RETRIES", "0")
    summary = emit_run_lineage(D0, RUN)
    assert summary["http"].startswith(f"sent 0 of {len(events)}; stopped: ")
    assert len(read_events(Path(summary["path"]))) == len(events)
    monkeypatch.setenv("CLV_OPENLINEAGE_REQUIRED", "1")
    from python_tasks.lineage.emit import LineageBackendError

    with pytest.raises(LineageBackendError, match="refused the events"):
        emit_run_lineage(D0, RUN)


# --------------------------------------------------------------------------- declared Python lineage
def test_the_declared_python_lineage_matches_the_code_and_the_warehouse(home):
    import importlib
    import inspect
    import re

    from python_tasks.lineage.python_stages import computed_columns, python_tasks

    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        catalog, _ = warehouse_catalog(con)
    for table, columns in computed_columns().items():
        assert set(columns) - {"*"} <= set(catalog[tuple(table.split("."))]), table
        for spec in columns.values():
            module, function = spec.function.rsplit(".", 1)
            assert callable(getattr(importlib.import_module(module), function)), spec.function
            for source, names in spec.inputs.items():
                assert set(names) - {"*"} <= set(catalog[tuple(source.split("."))]), (table, source, names)
    named = re.compile(r"\b(marts|staging|intermediate|reference|valuation|segments)\.([a-z_]+)\b")
    # the CLV's and the segments' three tasks (python_tasks/*/sharded.py) run the reads and writes of their job module
    stages: dict[str, tuple[list[str], set[str]]] = {}
    for task in python_tasks().values():
        stage = task.task_id.split(".")[0]
        modules, declared = stages.setdefault(stage, ([], set()))
        modules.append(task.function.rsplit(".", 1)[0])
        declared |= set(task.inputs) | set(task.outputs)
    stages["clv"][0].append("python_tasks.clv.job")
    stages["segments"][0].append("python_tasks.segments.job")
    for stage, (modules, declared) in stages.items():
        source = "".join(inspect.getsource(importlib.import_module(m)) for m in dict.fromkeys(modules))
        source = source.replace("{outputs.SCHEMA}", "segments")
        read = {f"{s}.{t}" for s, t in named.findall(source)} - {"segments.py", "valuation.py"}
        undeclared = {t for t in read if tuple(t.split(".")) in catalog} - declared
        assert not undeclared, (stage, undeclared)


def test_a_successful_run_keeps_its_dbt_docs_site(home):
    """One self-contained page per run (opens from a file, no server), with this project's models in it."""
    site = Path(home["summary"]["dbt_docs"])
    assert site.exists() and site.name == "index.html" and site.parents[1].name == D0.isoformat()
    text = site.read_text(encoding="utf-8")
    assert "fct_client_profile" in text and "int_exposures_aggregated_to_clients" in text
    assert site.stat().st_size > 100_000
