"""The OpenLineage events of one run of ``clv_daily``, built after the run from what it recorded.

One START and one terminal event (COMPLETE or FAIL) per job run:

- ``clv_daily`` (the DAG run), parent of every task;
- ``clv_daily.ingest.<source>``: reads the landed files (``file://<host>``, the sha256, size and row
  counts in the ``clv_delivery`` facet), writes ``raw.<source>``;
- the gates (``clv_daily.<gate>_gate``): read the tables their suites query, each with a
  DataQualityAssertions facet holding every check of ``audit.dq_results``;
- ``clv_daily.dbt_build``: reads the raw sources, writes every relation it built; and under it one job
  per dbt node (``dbt.<unique id>``) reading its ``depends_on`` and writing its relation with a
  ColumnLineage facet derived from the compiled SQL;
- ``clv_daily.clv``, ``clv_daily.segments``: the declared inputs, the output tables with the declared
  column lineage of the engine inputs, the values and the segments, and the parameter version and hash;
- ``clv_daily.summarise``, ``clv_daily.publish`` (the BI tables of python_tasks.serving.bi_schema) and
  ``clv_daily.audit`` or ``clv_daily.audit_on_failure`` (the closing task, writing ``audit.run_audit``).

Built with openlineage-python's classes; every facet is one of the specification's or ours
(``contracts/openlineage/custom``), so every event validates against a schema the repository holds.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.base import InputDatasetFacet, JobFacet, OutputDatasetFacet, RunFacet
from openlineage.client.generated.column_lineage_dataset import (
    ColumnLineageDatasetFacet,
    Fields,
    InputField,
    Transformation,
)
from openlineage.client.generated.data_quality_assertions_dataset import Assertion, DataQualityAssertionsDatasetFacet
from openlineage.client.generated.datasource_dataset import DatasourceDatasetFacet
from openlineage.client.generated.parent_run import Job as ParentJob
from openlineage.client.generated.parent_run import ParentRunFacet, Root, RootJob, RootRun
from openlineage.client.generated.parent_run import Run as ParentRun
from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet
from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields
from openlineage.client.serde import Serde

from python_tasks.lineage import naming
from python_tasks.lineage.dbt_lineage import NodeLineage, tests_by_node
from python_tasks.lineage.python_stages import (
    CLIENT_SEGMENTS,
    CLIENT_VALUES,
    DRIFT_INPUTS,
    PROFILE,
    REPORT_INPUTS,
    ComputedColumn,
    computed_columns,
    python_tasks,
)
from python_tasks.lineage.recorded import GATE_TASKS, RunRecord, jsonable
from python_tasks.lineage.sql_lineage import Lineage

log = logging.getLogger(__name__)

CUSTOM_SCHEMAS = "urn:clv-warehouse:openlineage:facets:1-0-0"
#: columns that carry pipeline metadata, not data: no column lineage is declared for them
METADATA_COLUMNS = frozenset({"as_of_date", "_run_id", "_computed_at", "params_version", "_loaded_at"})


def _custom(name: str) -> str:
    return f"{CUSTOM_SCHEMAS}:{name}.json#/$defs/{name}"


@attr.define
class ClvRunFacet(RunFacet):
    """``clv_run``: the Airflow run and business date, the code version, the stage's parameters."""

    businessDate: str  # noqa: N815
    airflowRunId: str  # noqa: N815
    codeVersion: str  # noqa: N815
    dagId: str = naming.DAG_ID  # noqa: N815
    codeVersionSource: str | None = None  # noqa: N815
    status: str | None = None
    paramsVersion: str | None = None  # noqa: N815
    paramsSha256: str | None = None  # noqa: N815
    paramsFile: str | None = None  # noqa: N815
    message: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return _custom("ClvRunFacet")


@attr.define
class ClvJobFacet(JobFacet):
    """``clv_job``: the function that does the job."""

    function: str
    kind: str
    sourcePath: str | None = None  # noqa: N815
    description: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return _custom("ClvJobFacet")


@attr.define
class ClvDeliveryInputDatasetFacet(InputDatasetFacet):
    """``clv_delivery``: a delivered file as the load ledger recorded it."""

    source: str
    businessDate: str  # noqa: N815
    sha256: str
    status: str
    fileName: str | None = None  # noqa: N815
    sizeBytes: int | None = None  # noqa: N815
    rowsIn: int | None = None  # noqa: N815
    rowsLoaded: int | None = None  # noqa: N815
    rowsQuarantined: int | None = None  # noqa: N815
    loadedByRun: str | None = None  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return _custom("ClvDeliveryInputDatasetFacet")


@attr.define
class ClvRowCountsOutputDatasetFacet(OutputDatasetFacet):
    """``clv_rowCounts``: rows of D in the written table, rows the job reported writing."""

    businessDate: str  # noqa: N815
    rowsForBusinessDate: int | None = None  # noqa: N815
    rowsWritten: int | None = None  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return _custom("ClvRowCountsOutputDatasetFacet")


@attr.define
class ClvDbtTestsRunFacet(RunFacet):
    """``clv_dbtTests``: the dbt tests of a node in the same build."""

    passed: int
    failed: int
    warned: int = 0
    tests: list[dict] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return _custom("ClvDbtTestsRunFacet")


@dataclass(frozen=True)
class PublishedTable:
    """A BI table of the serving database: its name (``bi.<table>``), description and building query."""

    name: str
    description: str
    query: str = ""
    columns: list[str] = field(default_factory=list)


@dataclass
class JobRun:
    """One job run to describe: its name, times, state, datasets and facets."""

    name: str
    started: datetime
    ended: datetime
    state: RunState
    inputs: list[InputDataset] = field(default_factory=list)
    outputs: list[OutputDataset] = field(default_factory=list)
    run_facets: dict = field(default_factory=dict)
    job_facets: dict = field(default_factory=dict)
    parent: str | None = None


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


class EventBuilder:
    """Builds the events of one run from its :class:`RunRecord` and the dbt lineage."""

    def __init__(
        self,
        record: RunRecord,
        *,
        status: str,
        dbt_lineage: dict[str, NodeLineage],
        manifest: dict | None,
        run_results: dict | None,
        code_version: tuple[str, str, bool | None],
        warehouse_path: Path,
        recorded_at: datetime,
        published: list[PublishedTable] | None = None,
        serving_namespace: str | None = None,
        parse=None,  # noqa: ANN001 - DuckDB's parser, for the BI tables' queries
        aggregates: frozenset[str] | None = None,
    ) -> None:
        self.record = record
        self.status = status
        self.lineage = dbt_lineage
        self.manifest = manifest or {}
        self.run_results = run_results
        self.code_version = code_version
        self.warehouse_path = warehouse_path
        self.recorded_at = recorded_at
        self.published = published or []
        self.serving_namespace = serving_namespace
        self.parse = parse
        self.aggregates = aggregates
        self.namespace = naming.job_namespace()
        self.wh_namespace = naming.warehouse_namespace(warehouse_path)
        self.producer = f"urn:clv-warehouse:python_tasks.lineage:{code_version[0]}"
        self.day = record.as_of_date.isoformat()
        self.root_name = naming.DAG_ID
        self.root_id = self._run_id(self.root_name)
        self.job_runs: list[JobRun] = []

    # ------------------------------------------------------------------------------------ helpers
    def _run_id(self, job: str) -> str:
        return naming.run_uuid(job, self.record.run_id, self.record.as_of_date)

    def _dataset_name(self, relation: str) -> str:
        schema, table = relation.split(".", 1)
        return naming.table_dataset_name(schema, table, self.warehouse_path)

    def _datasource(self) -> DatasourceDatasetFacet:
        return DatasourceDatasetFacet(name=self.wh_namespace, uri=self.wh_namespace, producer=self.producer)

    def _schema(self, relation: str) -> SchemaDatasetFacet | None:
        schema, table = relation.split(".", 1)
        types = self.record.column_types.get((schema, table))
        if not types:
            return None
        return SchemaDatasetFacet(
            fields=[SchemaDatasetFacetFields(name=c, type=t) for c, t in types.items()], producer=self.producer
        )

    def table_input(self, relation: str, assertions: list[Assertion] | None = None) -> InputDataset:
        input_facets = (
            {"dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=assertions, producer=self.producer)}
            if assertions
            else {}
        )
        return InputDataset(
            namespace=self.wh_namespace, name=self._dataset_name(relation),
            facets={"dataSource": self._datasource()}, inputFacets=input_facets,
        )  # fmt: skip

    def table_output(
        self, relation: str, column_lineage: ColumnLineageDatasetFacet | None = None, rows_written: int | None = None
    ) -> OutputDataset:
        facets: dict = {"dataSource": self._datasource()}
        schema = self._schema(relation)
        if schema is not None:
            facets["schema"] = schema
        if column_lineage is not None and column_lineage.fields:
            facets["columnLineage"] = column_lineage
        counts = ClvRowCountsOutputDatasetFacet(
            businessDate=self.day, rowsForBusinessDate=self.record.table_rows.get(relation), rowsWritten=rows_written,
            producer=self.producer,
        )  # fmt: skip
        return OutputDataset(
            namespace=self.wh_namespace, name=self._dataset_name(relation), facets=facets,
            outputFacets={"clv_rowCounts": counts},
        )  # fmt: skip

    def _input_field(self, source: tuple[str, str, str], tags: Iterable[tuple[str, str]]) -> InputField:
        schema, table, column = source
        return InputField(
            namespace=self.wh_namespace, name=naming.table_dataset_name(schema, table, self.warehouse_path),
            field=column, transformations=[Transformation(type=t, subtype=s) for t, s in sorted(tags)],
        )  # fmt: skip

    def column_lineage(self, columns: dict[str, Lineage], indirect: Lineage | None = None) -> ColumnLineageDatasetFacet:
        fields = {
            name: Fields(inputFields=[self._input_field(s, tags) for s, tags in sorted(lineage.items())])
            for name, lineage in columns.items()
            if lineage
        }
        dataset = [self._input_field(s, tags) for s, tags in sorted((indirect or {}).items())]
        return ColumnLineageDatasetFacet(fields=fields, dataset=dataset, producer=self.producer)

    def _run_facet(
        self, *, params: dict | None = None, params_file: str | None = None, message: str | None = None
    ) -> ClvRunFacet:
        params = params or {}
        return ClvRunFacet(
            businessDate=self.day, airflowRunId=self.record.run_id, codeVersion=self.code_version[0],
            codeVersionSource=self.code_version[1], status=self.status, paramsVersion=params.get("params_version"),
            paramsSha256=params.get("params_sha256"), paramsFile=params_file, message=message, producer=self.producer,
        )  # fmt: skip

    def _engine(self, name: str, engine_version: str) -> ProcessingEngineRunFacet:
        return ProcessingEngineRunFacet(
            version=engine_version, name=name, openlineageAdapterVersion=_version("openlineage-python"),
            producer=self.producer,
        )  # fmt: skip

    def _code(self, function: str, kind: str = "airflow_task", description: str | None = None) -> ClvJobFacet:
        module = function.rsplit(".", 1)[0] if kind != "dbt_node" else None
        source = f"{module.replace('.', '/')}.py" if module and module.startswith("python_tasks") else None
        return ClvJobFacet(function=function, kind=kind, sourcePath=source, description=description,
                           producer=self.producer)  # fmt: skip

    def add(self, job: JobRun) -> None:
        self.job_runs.append(job)

    def _task(
        self, task_id: str, started: datetime | None, ended: datetime | None, failed: bool, **kwargs: object
    ) -> JobRun:
        started = started or ended or self.recorded_at
        ended = ended or started
        return JobRun(naming.task_job_name(task_id), started, max(started, ended),
                      RunState.FAIL if failed else RunState.COMPLETE, parent=self.root_name, **kwargs)  # type: ignore[arg-type]  # fmt: skip

    # ---------------------------------------------------------------------------------------- tasks
    def ingest(self) -> None:
        by_source: dict[str, list[dict]] = {}
        for r in self.record.ledger:
            by_source.setdefault(r["source"], []).append(r)
        host_ns = naming.file_namespace()
        for source, rows in by_source.items():
            inputs = []
            for r in rows:
                if not r.get("landed_path") or not r.get("sha256"):
                    continue
                delivery = ClvDeliveryInputDatasetFacet(
                    source=source, businessDate=r["as_of_date"].isoformat(), sha256=r["sha256"], status=r["status"],
                    fileName=r["file_name"], sizeBytes=r["size_bytes"], rowsIn=r["rows_in"], rowsLoaded=r["rows_loaded"],
                    rowsQuarantined=r["rows_quarantined"], loadedByRun=r["run_id"], producer=self.producer,
                )  # fmt: skip
                inputs.append(InputDataset(
                    namespace=host_ns, name=r["landed_path"],
                    facets={"dataSource": DatasourceDatasetFacet(name=host_ns, uri=host_ns, producer=self.producer)},
                    inputFacets={"clv_delivery": delivery},
                ))  # fmt: skip
            written = [r for r in rows if r["status"] in ("loaded", "unchanged")]
            outputs = (
                [self.table_output(f"raw.{source}", rows_written=sum(int(r["rows_loaded"]) for r in written))]
                if written
                else []
            )
            failed = any(r["status"] == "rejected" for r in rows)
            message = "; ".join(f"{r['file_name']}: {r['message']}" for r in rows if r["status"] == "rejected") or None
            self.add(self._task(
                f"ingest.{source}", min(r["started_at"] for r in rows), max(r["finished_at"] for r in rows), failed,
                inputs=inputs, outputs=outputs, run_facets={"clv_run": self._run_facet(message=message)},
                job_facets={"clv_job": self._code("python_tasks.ingest.job.ingest_source")},
            ))  # fmt: skip

    def gates(self, suite_tables: dict[str, list[str]]) -> None:
        outcomes = self.record.gates()
        for gate, outcome in outcomes.items():
            rows = [r for r in self.record.dq_results if r["gate"] == gate]
            by_table: dict[str, list[Assertion]] = {}
            for r in rows:
                tables = suite_tables.get(r["suite"]) or []
                primary = (
                    _drift_table(r["column_name"]) if gate == "drift" else (tables[0] if tables else "audit.dq_results")
                )
                by_table.setdefault(primary, []).append(_assertion(r))
                for other in tables[1:]:
                    by_table.setdefault(other, [])
            inputs = [self.table_input(t, a or None) for t, a in by_table.items()]
            function = {"raw": "python_tasks.quality.raw_gate.run_raw_gate",
                        "freshness": "python_tasks.quality.freshness_gate.run_freshness_gate",
                        "drift": "python_tasks.quality.stage_gates.run_drift_gate",
                        "reconciliation": "python_tasks.quality.reconciliation.run_reconciliation"}.get(
                gate, "python_tasks.quality.stage_gates.run_stage_gate")  # fmt: skip
            message = f"{outcome.failed_errors} error-level check(s) failed" if outcome.failed_errors else None
            self.add(self._task(
                GATE_TASKS[gate], outcome.first_at, outcome.last_at, bool(outcome.failed_errors), inputs=inputs,
                run_facets={"clv_run": self._run_facet(message=message)},
                job_facets={"clv_job": self._code(function, description=f"{gate} gate: {outcome.checks} checks")},
            ))  # fmt: skip

    def dbt(self) -> None:
        results = self.record.dbt_nodes()
        if not results:
            return
        started = min(r["started_at"] for r in results)
        finished = max(r["finished_at"] for r in results)
        built = [r for r in results if r["resource_type"] in ("model", "seed", "snapshot")]
        failed = self.record.dbt_failed()
        dbt_version = (self.manifest.get("metadata") or {}).get("dbt_version") or _version("dbt-core")
        build_task = naming.task_job_name("dbt_build")
        relations = sorted(
            {f"{n.node.schema}.{n.node.table}" for r in built if (n := self.lineage.get(r["unique_id"]))}
        )
        raw_inputs = sorted({
            f"{s}.{t}" for r in built if r["unique_id"] in self.lineage
            for s, t in self.lineage[r["unique_id"]].inputs if s == "raw"
        })  # fmt: skip
        self.add(self._task(
            "dbt_build", started, finished, bool(failed),
            inputs=[self.table_input(t) for t in raw_inputs],
            outputs=[self.table_output(t) for t in relations],
            run_facets={"clv_run": self._run_facet(message="; ".join(r["unique_id"] for r in failed) or None),
                        "processing_engine": self._engine("dbt-core", dbt_version)},
            job_facets={"clv_job": self._code("python_tasks.transform.dbt_job.run_dbt_build")},
        ))  # fmt: skip
        timing = self._node_timing()
        tests = tests_by_node(self.manifest)
        status_of = {r["unique_id"]: r["status"] for r in results}
        for r in built:
            node = self.lineage.get(r["unique_id"])
            if node is None or r["status"] == "skipped":
                continue
            relation = f"{node.node.schema}.{node.node.table}"
            node_tests = [
                {"uniqueId": t, "status": status_of[t]} for t in tests.get(r["unique_id"], []) if t in status_of
            ]
            run_facets = {
                "processing_engine": self._engine("dbt-core", dbt_version),
                "clv_run": self._run_facet(message=r["message"] if r["status"] in ("error", "fail") else None),
                "clv_dbtTests": ClvDbtTestsRunFacet(
                    passed=sum(t["status"] == "pass" for t in node_tests),
                    failed=sum(t["status"] in ("fail", "error") for t in node_tests),
                    warned=sum(t["status"] == "warn" for t in node_tests), tests=node_tests, producer=self.producer,
                ),
            }  # fmt: skip
            start, end = timing.get(r["unique_id"], (r["started_at"], r["finished_at"]))
            self.add(JobRun(
                naming.dbt_job_name(r["unique_id"]), start, max(start, end),
                RunState.FAIL if r["status"] in ("error", "fail", "runtime error") else RunState.COMPLETE,
                inputs=[self.table_input(f"{s}.{t}") for s, t in node.inputs],
                outputs=[self.table_output(relation, self.column_lineage(node.columns, node.indirect), r["rows_affected"])],
                run_facets=run_facets,
                job_facets={"clv_job": self._code(r["unique_id"], "dbt_node", node.node.description[:500] or None)},
                parent=build_task,
            ))  # fmt: skip

    def _node_timing(self) -> dict[str, tuple[datetime, datetime]]:
        """Per node, when dbt compiled and executed it (run_results.json of this build only)."""
        from python_tasks.lineage.dbt_lineage import run_results_belong_to

        if not run_results_belong_to(self.run_results, self.record.run_id, self.day):
            return {}
        out = {}
        for result in self.run_results.get("results") or []:
            stamps = [datetime.fromisoformat(t[k].replace("Z", "+00:00")) for t in result.get("timing") or []
                      for k in ("started_at", "completed_at") if t.get(k)]  # fmt: skip
            if stamps:
                out[result["unique_id"]] = (min(stamps), max(stamps))
        return out

    def python_stage(self, task_id: str, run: dict | None, alert: dict | None) -> None:
        task = python_tasks()[task_id]
        if run is None and alert is None:
            return
        declared = computed_columns()
        outputs = []
        if run is not None:
            for relation in task.outputs:
                lineage = self._declared_lineage(relation, declared.get(relation))
                outputs.append(self.table_output(relation, lineage))
        params_file = None
        if task.params_setting:
            from python_tasks.lineage.run_audit import _display
            from python_tasks.settings import get_settings

            params_file = _display(getattr(get_settings(), task.params_setting))
        started = run["started_at"] if run else None
        ended = run["finished_at"] if run else None
        self.add(self._task(
            task_id, started, ended, run is None,
            inputs=[self.table_input(t) for t in task.inputs], outputs=outputs,
            run_facets={"clv_run": self._run_facet(params=run, params_file=params_file,
                                                   message=(alert or {}).get("message")),
                        "processing_engine": self._engine("python", sys.version.split()[0])},
            job_facets={"clv_job": self._code(task.function, description=task.description)},
        ))  # fmt: skip

    def _declared_lineage(
        self, relation: str, columns: dict[str, ComputedColumn] | None
    ) -> ColumnLineageDatasetFacet | None:
        if not columns:
            return None
        schema, table = relation.split(".", 1)
        out: dict[str, Lineage] = {}
        for column in self.record.catalog.get((schema, table), []):
            if column in METADATA_COLUMNS:
                continue
            spec = columns.get(column) or columns.get("*")
            if spec is None:
                continue
            lineage: Lineage = {}
            for source, names in spec.inputs.items():
                s_schema, s_table = source.split(".", 1)
                if source == relation:  # a column of the same table (strategy from value_tier): its inputs
                    continue
                expanded = self.record.catalog.get((s_schema, s_table), []) if "*" in names else names
                for name in expanded:
                    if name not in METADATA_COLUMNS:
                        lineage[(s_schema, s_table, name)] = {("DIRECT", "TRANSFORMATION")}
            out[column] = lineage
        return self.column_lineage(out)

    def publish(self, at: datetime) -> None:
        """The BI tables of the serving file, each with its column lineage from its query when it has one
        (the publish job's helper tables, published dates and pseudonyms, are not followed)."""
        from python_tasks.lineage.sql_lineage import DEFAULT_AGGREGATES, SqlLineageError, analyse

        namespace = self.serving_namespace or self.wh_namespace
        database = namespace.rsplit("/", 1)[-1].removesuffix(".duckdb")
        inputs: dict[str, None] = {}
        outputs = []
        for table in self.published:
            facets: dict = {"dataSource": DatasourceDatasetFacet(name=namespace, uri=namespace, producer=self.producer)}
            if table.query and self.parse is not None:
                try:
                    statement = analyse(
                        table.query, self.record.catalog, self.parse, self.aggregates or DEFAULT_AGGREGATES
                    )
                except SqlLineageError as exc:
                    log.warning("%s: query not analysed (%s)", table.name, exc)
                else:
                    for schema, name in sorted(statement.tables):
                        inputs[f"{schema}.{name}"] = None
                    names = table.columns or list(statement.columns)
                    lineage = self.column_lineage({c: statement.columns.get(c, {}) for c in names}, statement.indirect)
                    if lineage.fields:
                        facets["columnLineage"] = lineage
            outputs.append(OutputDataset(namespace=namespace, name=f"{database}.{table.name}", facets=facets))
        self.add(self._task(
            "publish", at, at, False, inputs=[self.table_input(t) for t in inputs], outputs=outputs,
            run_facets={"clv_run": self._run_facet()},
            job_facets={"clv_job": self._code("python_tasks.serving", description="publish the BI tables")},
        ))  # fmt: skip

    def simple_task(self, task_id: str, inputs: list[str], outputs: list[str], function: str, at: datetime,
                    output_namespace: str | None = None) -> None:  # fmt: skip
        outs = []
        for relation in outputs:
            if output_namespace:
                outs.append(OutputDataset(namespace=output_namespace, name=relation))
            else:
                outs.append(self.table_output(relation))
        self.add(self._task(
            task_id, at, at, False, inputs=[self.table_input(t) for t in inputs], outputs=outs,
            run_facets={"clv_run": self._run_facet()}, job_facets={"clv_job": self._code(function)},
        ))  # fmt: skip

    # ------------------------------------------------------------------------------------- assemble
    def build(self, suite_tables: dict[str, list[str]]) -> list[RunEvent]:
        alerts = {a.get("task_id"): a for a in self.record.alerts if a.get("task_id")}
        self.ingest()
        self.gates(suite_tables)
        self.dbt()
        for task_id in ("clv.prepare", "clv.value", "clv.merge"):  # one recorded run of the stage
            self.python_stage(task_id, self.record.clv_run, alerts.get(task_id))
        for task_id in ("segments.prepare", "segments.value", "segments.merge"):
            self.python_stage(task_id, self.record.segments_run, alerts.get(task_id))
        succeeded = self.status == "success"
        last = max((j.ended for j in self.job_runs), default=self.recorded_at)
        if succeeded:
            recorded = self.record.gates()
            for gate, task_id in GATE_TASKS.items():  # a gate that ran and had nothing to check (drift, first run)
                if gate not in recorded:
                    self.add(self._task(task_id, last, last, False, run_facets={
                        "clv_run": self._run_facet(message="no checks recorded for this run and date")}))  # fmt: skip
            from python_tasks.report.job import report_path

            self.simple_task("report", list(REPORT_INPUTS), [str(report_path(self.record.as_of_date, self.record.run_id))],
                             "python_tasks.report.job.build_report", last, output_namespace=naming.file_namespace())  # fmt: skip
            self.simple_task("summarise", ["audit.load_ledger"], [], "python_tasks.ingest.job.summarise_run", last)
            if self.published:
                self.publish(last)
        audit_inputs = ["audit.load_ledger", "audit.dbt_results", "audit.dq_results"]
        # the DAG's closing task: ``audit`` after publish, ``audit_on_failure`` when a task failed for good
        audit_task = "audit" if succeeded else "audit_on_failure"
        self.simple_task(audit_task, audit_inputs, [], "python_tasks.lineage.job.close_run", self.recorded_at)
        self.job_runs[-1].outputs = [OutputDataset(namespace=self.wh_namespace, name=self._dataset_name("audit.run_audit"),
                                                   facets={"dataSource": self._datasource()})]  # fmt: skip
        for task_id, alert in alerts.items():  # a failed task that recorded nothing of its own
            job = naming.task_job_name(task_id)
            if not any(j.name == job for j in self.job_runs):
                self.add(self._task(task_id, None, self.recorded_at, True,
                                    run_facets={"clv_run": self._run_facet(message=alert.get("message"))}))  # fmt: skip
        started = min((j.started for j in self.job_runs), default=self.recorded_at)
        root = JobRun(
            self.root_name, started, max(self.recorded_at, started),
            RunState.COMPLETE if succeeded else RunState.FAIL,
            run_facets={"clv_run": self._run_facet(message=None if succeeded else _failure_text(self.record)),
                        "processing_engine": self._engine("Airflow", _version("apache-airflow"))},
            job_facets={"clv_job": ClvJobFacet(function="dags/clv_daily.py", kind="dag", sourcePath="dags/clv_daily.py",
                                               description="the daily CLV run", producer=self.producer)},
        )  # fmt: skip
        events = self._events(root)
        for job in self.job_runs:
            events += self._events(job)
        return events

    def _parent(self, parent: str) -> ParentRunFacet:
        return ParentRunFacet(
            run=ParentRun(runId=self._run_id(parent)), job=ParentJob(namespace=self.namespace, name=parent),
            root=Root(run=RootRun(runId=self.root_id), job=RootJob(namespace=self.namespace, name=self.root_name)),
            producer=self.producer,
        )  # fmt: skip

    def _events(self, job: JobRun) -> list[RunEvent]:
        run_id = self._run_id(job.name)
        facets = dict(job.run_facets)
        if job.parent:
            facets["parent"] = self._parent(job.parent)
        start_facets = {k: v for k, v in facets.items() if k in ("parent", "processing_engine")}
        ol_job = Job(namespace=self.namespace, name=job.name, facets=job.job_facets)
        start = RunEvent(
            eventType=RunState.START, eventTime=_iso(job.started), run=Run(runId=run_id, facets=start_facets),
            job=ol_job, inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in job.inputs],
            outputs=[OutputDataset(namespace=d.namespace, name=d.name) for d in job.outputs], producer=self.producer,
        )  # fmt: skip
        end = RunEvent(
            eventType=job.state, eventTime=_iso(job.ended), run=Run(runId=run_id, facets=facets), job=ol_job,
            inputs=job.inputs, outputs=job.outputs, producer=self.producer,
        )  # fmt: skip
        return [start, end]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _assertion(row: dict) -> Assertion:
    column = row.get("column_name")
    kwargs = row.get("kwargs")
    if isinstance(kwargs, str):
        import json

        try:
            kwargs = json.loads(kwargs)
        except ValueError:
            kwargs = {"text": kwargs}
    observed = row.get("observed_value")
    try:  # counts and ratios only: an observed value may quote data, and events can leave the bank's network
        observed = None if observed is None else str(float(observed))
    except (TypeError, ValueError):
        observed = None
    return Assertion(
        assertion=row["expectation_type"], success=bool(row["success"]), column=column, severity=row["severity"],
        name=f"{row['suite']}: {row['expectation_type']}({column or ''})",
        actual=observed,
        params=jsonable({**(kwargs or {}), **({"unexpected_count": row["unexpected_count"]}
                                              if row.get("unexpected_count") is not None else {})}),
        description=row.get("contract_rule"),
    )  # fmt: skip


def _drift_table(metric: str | None) -> str:
    """The table a drift metric is computed on (python_tasks/quality/drift.py)."""
    metric = metric or ""
    if metric.startswith("share_"):
        return CLIENT_SEGMENTS
    if "clv" in metric or "pd" in metric or metric == "client_values_rows":
        return CLIENT_VALUES
    return PROFILE


def _failure_text(record: RunRecord) -> str | None:
    parts = [f"{a.get('task_id')}: {a.get('message', '')[:300]}" for a in record.alerts]
    parts += [f"{r['unique_id']}: {r['status']}" for r in record.dbt_failed()]
    parts += [
        f"{g} gate: {o.failed_errors} error-level check(s) failed" for g, o in record.gates().items() if o.failed_errors
    ]
    return "; ".join(parts)[:2000] or None


def suite_tables(record: RunRecord, parse) -> dict[str, list[str]]:  # noqa: ANN001 - DuckDB's parser
    """``schema.table`` names each recorded suite reads: raw suites their partition, freshness the ledger,
    the stage gates' suites from their queries, the drift gate its declared tables."""
    from python_tasks.lineage.sql_lineage import SqlLineageError, tables_read

    out: dict[str, list[str]] = {}
    suites = {(r["gate"], r["suite"]) for r in record.dq_results}
    stage_queries: dict[str, str] = {}
    gates = {g for g, _ in suites if g in ("profile", "clv", "segments")}
    if gates:
        from python_tasks.quality.stage_suites import stage_suites

        # The tables a query reads do not depend on the rule literals the segments gate fills in, so neutral
        # ones do (rendering the real ones would load the segmentation and its libraries for nothing).
        neutral = {"forbidden_offers": "('', '')", "no_offer_strategies": "''"}
        for gate in gates:
            try:
                stage_queries.update({s.name: s.query for s in stage_suites(gate, record.as_of_date, **neutral)})
            except Exception as exc:  # noqa: BLE001 - the rules may have changed since; the suite name still says a lot
                log.warning("suites of the %s gate not rendered (%s): their tables come from their names", gate, exc)
    for gate, suite in suites:
        if gate == "raw":
            out[suite] = [suite]  # raw.<source>
        elif gate == "freshness":
            out[suite] = ["audit.load_ledger"]
        elif gate == "drift":
            out[suite] = list(DRIFT_INPUTS)
        elif suite in stage_queries:
            try:
                read = tables_read(stage_queries[suite], parse)
            except SqlLineageError:
                read = []
            tables = [f"{s}.{t}" for s, t in read if s] or [PROFILE]
            named = [t for t in tables if t.split(".", 1)[1] == suite.split(".", 1)[-1]]  # profile.fct_client_profile
            out[suite] = named + [t for t in tables if t not in named]
        else:
            out[suite] = [PROFILE]
    return out


def to_dicts(events: list[RunEvent]) -> list[dict]:
    return [Serde.to_dict(e) for e in events]
