"""Reconciliation of control totals from each delivered file to the published BI tables.

Gates check that each stage's rows look right; this checks that nothing was lost or invented between
stages: for business date D, the rows, distinct clients and money sums of every source file as delivered
are followed through the load (loaded + quarantined), the raw partition, the staging views, the marts
(the state on D), the valuation and the published serving file and Parquet exports. Every legitimate
difference is an *exclusion* with a count and a reason (quarantined rows by rule, a duplicate file not
loaded again, facilities off book without a balance, clients without a facility), so each total balances:
``actual = upstream − excluded``, exactly (money stays DECIMAL; published DOUBLEs are rounded back to the
scale of the DECIMAL they came from before summing, which restores the value exactly).

The comparison (:func:`balance`) is pure; :func:`run_reconciliation` measures the totals, records every
check in ``audit.reconciliation`` and raises :class:`GateFailed` when one does not balance.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from python_tasks.quality.results import GateFailed

if TYPE_CHECKING:
    import duckdb

    from python_tasks.contracts.model import Contract

log = logging.getLogger(__name__)

Value = int | Decimal

#: status of a check: the totals agree, they do not, or the stage could not be compared (with the reason)
BALANCED, UNBALANCED, SKIPPED = "balanced", "unbalanced", "skipped"

#: the gate's name in ``audit.dq_results`` and the expectation type of each control total there
GATE = "reconciliation"
EXPECTATION_TYPE = "expect_control_total_to_balance"

#: the stages in the order data flows through them
STAGES = (
    "landing", "load_ledger", "quarantine", "raw", "staging", "raw_state", "marts.fct_facility_daily",
    "marts.fct_client_profile", "valuation.client_values", "serving.bi.clv_history",
    "serving.bi.current_client_value", "parquet.clv_history", "parquet.current_client_value",
)  # fmt: skip

RECONCILIATION_DDL = """
CREATE TABLE IF NOT EXISTS audit.reconciliation (
    run_id VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    source VARCHAR NOT NULL,
    measure VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    upstream_stage VARCHAR NOT NULL,
    upstream DECIMAL(38,6),
    excluded DECIMAL(38,6),
    expected DECIMAL(38,6),
    actual DECIMAL(38,6),
    difference DECIMAL(38,6),
    explanation VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    checked_at TIMESTAMP WITH TIME ZONE NOT NULL
)
"""


# --- pure comparison -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exclusion:
    """What an upstream total legitimately holds and the stage does not: per measure, with why."""

    label: str
    totals: Mapping[str, Value]
    detail: str = ""


@dataclass(frozen=True)
class Check:
    """One control total of one source at one stage against the stage it came from."""

    source: str
    measure: str
    stage: str
    upstream_stage: str
    upstream: Value | None
    excluded: Value
    actual: Value | None
    explanation: str
    skipped: bool = False

    @property
    def expected(self) -> Value | None:
        return None if self.upstream is None else self.upstream - self.excluded

    @property
    def difference(self) -> Value | None:
        if self.expected is None or self.actual is None:
            return None
        return self.actual - self.expected

    @property
    def status(self) -> str:
        if self.skipped:
            return SKIPPED
        return BALANCED if self.difference == 0 else UNBALANCED

    @property
    def line(self) -> str:
        return f"{self.source}.{self.measure} at {self.stage}: {self.explanation}"


def fmt(value: Value | None) -> str:
    """A total as people read it: thousands separated, money with its cents, no float noise."""
    if value is None:
        return "none"
    if isinstance(value, int):
        return f"{value:,}"
    if value == value.to_integral_value():
        return f"{int(value):,}"
    text = f"{value:,f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.split(".")[1]))


def balance(
    source: str,
    stage: str,
    upstream_stage: str,
    upstream: Mapping[str, Value | None],
    actual: Mapping[str, Value | None],
    exclusions: Sequence[Exclusion] = (),
    measures: Iterable[str] | None = None,
) -> list[Check]:
    """One check per measure: does ``stage`` hold ``upstream − exclusions``, exactly?

    A measure missing on either side is unbalanced (a stage that lost a total entirely is a finding, not
    a pass); the explanation spells the sum out so a reader sees which exclusion accounts for what.
    """
    checks = []
    for measure in measures if measures is not None else upstream:
        up, got = upstream.get(measure), actual.get(measure)
        parts = [(e, e.totals.get(measure, 0) or 0) for e in exclusions]
        excluded = sum((v for _, v in parts), start=0)
        text = f"{upstream_stage} {fmt(up)}"
        for e, v in parts:
            if v:  # a negative exclusion is an addition the stage makes by rule
                text += f" {'−' if v > 0 else '+'} {e.label} {fmt(abs(v))}" + (f" ({e.detail})" if e.detail else "")
        expected = None if up is None else up - excluded
        if parts and any(v for _, v in parts):
            text += f" = {fmt(expected)}"
        if got is None or expected is None:
            text += f"; {stage} has no {measure}" if got is None else "; nothing upstream to compare with"
        elif got == expected:
            text += f"; {stage} {fmt(got)}"
        else:
            text += f"; {stage} holds {fmt(got)}, off by {fmt(got - expected)}"
        checks.append(Check(source, measure, stage, upstream_stage, up, excluded, got, text))
    return checks


def skipped(source: str, stage: str, upstream_stage: str, reason: str, measure: str = "rows") -> Check:
    """A stage that cannot be compared for D, with the reason (no delivery, not published)."""
    return Check(source, measure, stage, upstream_stage, None, 0, None, reason, skipped=True)


def unbalanced(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.status == UNBALANCED]


def by_rule_detail(counts: Mapping[str, int]) -> str:
    """``type:amount_cny 2, not_null:fee_id 1``: the quarantine's rules, most rows first."""
    return ", ".join(f"{rule} {n:,}" for rule, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# --- measuring: which columns, which SQL ------------------------------------------------------------------


def amount_columns(contract: Contract) -> list[str]:
    """The contract's money amounts: DECIMAL columns in CNY (``_cny``), summed at every stage."""
    return [c.name for c in contract.columns if c.type.startswith("DECIMAL") and c.name.endswith("_cny")]


def client_column(contract: Contract) -> str | None:
    return "client_id" if "client_id" in contract.column_names else None


def totals_select(contract: Contract, column: Callable[[str, str], str], *, clients: bool = True) -> str:
    """``count(*) AS rows, count(DISTINCT client) AS clients, sum(<amount>) AS <amount> …`` where
    ``column(name, type)`` gives the SQL of one typed column in the relation measured."""
    parts = ['count(*) AS "rows"']
    client = client_column(contract)
    if clients and client:
        parts.append(f'count(DISTINCT {column(client, "VARCHAR")}) AS "clients"')
    for name in amount_columns(contract):
        parts.append(f'sum({column(name, contract.column(name).type)}) AS "{name}"')
    return ", ".join(parts)


def _typed(name: str, type_: str) -> str:
    return f'"{name}"'


def _from_json(name: str, type_: str) -> str:
    text = f"nullif(trim(raw_record ->> '{name}'), '')"
    return text if type_ == "VARCHAR" else f"TRY_CAST({text} AS {type_})"


def _from_text(name: str, type_: str) -> str:
    text = f"nullif(trim(\"_raw_{name}\"), '')"
    return text if type_ == "VARCHAR" else f"TRY_CAST({text} AS {type_})"


def _row(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> dict[str, Value]:
    """The totals of one query's single row; a sum over no values is 0 (no amount), not missing."""
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    values = cur.fetchone()
    return {n: _exact(v) or 0 for n, v in zip(names, values or [None] * len(names), strict=True)}


def _exact(value: object) -> Value | None:
    if value is None or isinstance(value, int | Decimal):
        return value
    if isinstance(value, float):  # only counts arrive as floats (never money: see the casts)
        if value != int(value):
            raise TypeError(f"a control total came back as a fraction {value!r}: sum a DECIMAL, not a DOUBLE")
        return int(value)
    raise TypeError(f"unexpected control total {value!r}")


# --- measuring: stage by stage ----------------------------------------------------------------------------


@dataclass
class _Ledger:
    run_id: str | None = None
    files: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)  # name → in, loaded, quar., status


def _ledger(con: duckdb.DuckDBPyConnection, source: str, day: date) -> _Ledger:
    """The files of the load that made partition D as it is: the latest ledger run of (source, D)."""
    rows = con.execute(
        """
        WITH last AS (
            SELECT arg_max(run_id, finished_at) AS run_id FROM audit.load_ledger
            WHERE source = $s AND as_of_date = $d
        )
        SELECT l.run_id, l.file_name, l.rows_in, l.rows_loaded, l.rows_quarantined, l.status
        FROM audit.load_ledger AS l JOIN last USING (run_id)
        WHERE l.source = $s AND l.as_of_date = $d
        ORDER BY l.file_name
        """,
        {"s": source, "d": day},
    ).fetchall()
    ledger = _Ledger(rows[0][0] if rows else None)
    for _, name, rows_in, loaded, quarantined, status in rows:
        ledger.files[name or ""] = (rows_in, loaded, quarantined, status)
    return ledger


def _landed_files(landing_dir: Path, contract: Contract, day: date) -> list[Path]:
    folder = landing_dir / contract.name / day.isoformat()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == f".{contract.file_extension}")


@contextmanager
def _delivery_view(
    con: duckdb.DuckDBPyConnection, contract: Contract, files: list[Path], work_dir: Path
) -> Iterator[str]:
    """The landed files as one temp view of delivered text, read as the loader reads them (streamed, not
    copied: a large delivery is scanned once per query); working copies of GBK files removed afterwards."""
    from python_tasks.ingest.readers import stage_file

    staged = []
    try:
        for i, path in enumerate(files):
            staged.append(stage_file(con, contract, path, f"_recon_file_{i}", work_dir))
        view = "_recon_delivered"
        union = " UNION ALL ".join(f'SELECT * FROM "{s.view}"' for s in staged)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {union}")
        yield view
    finally:
        for s in staged:
            s.cleanup()


def reconcile_source(
    con: duckdb.DuckDBPyConnection, contract: Contract, day: date, landing_dir: Path, work_dir: Path
) -> list[Check]:
    """Delivered → load ledger, quarantine, raw partition → staging view, for one source on D."""
    source = contract.name
    ledger = _ledger(con, source, day)
    files = _landed_files(landing_dir, contract, day)
    if not files and not ledger.files:
        return [skipped(source, "landing", "landing", f"no delivery of {source} for {day}")]
    loaded_statuses = {s for *_, s in ledger.files.values()}
    if not files or loaded_statuses <= {"missing", "rejected"}:
        why = f"ledger statuses {sorted(loaded_statuses)}" if ledger.files else "nothing in the load ledger"
        return [skipped(source, "landing", "landing",
                        f"{len(files)} landed file(s) of {source} for {day}, {why}: no partition to reconcile")]  # fmt: skip
    with _delivery_view(con, contract, files, work_dir) as table:
        measures = ["rows", *(["clients"] if client_column(contract) else []), *amount_columns(contract)]
        delivered = _row(con, f"SELECT {totals_select(contract, _from_text)} FROM {table}")
        duplicate_files = [name for name, (*_, status) in ledger.files.items() if status == "duplicate"]
        raw_table = f'raw."{source}"'
        partition = {"d": day}
        raw = _row(con, f"SELECT {totals_select(contract, _typed)} FROM {raw_table} WHERE _as_of_date = $d", partition)
        quarantine_where = "FROM audit.quarantine WHERE source = $s AND as_of_date = $d"
        q_params = {"s": source, "d": day}
        quarantined = _row(con, f"SELECT {totals_select(contract, _from_json)} {quarantine_where}", q_params)
        rules = dict(con.execute(f"SELECT rule, count(*) {quarantine_where} GROUP BY rule", q_params).fetchall())
        client = client_column(contract)
        exclusions = []
        if client:  # a client is excluded when none of its delivered rows was loaded
            (quarantined["clients"],) = con.execute(
                f"SELECT count(DISTINCT {_from_json(client, 'VARCHAR')}) {quarantine_where} "
                f"AND {_from_json(client, 'VARCHAR')} NOT IN "
                f'(SELECT "{client}" FROM {raw_table} WHERE _as_of_date = $d AND "{client}" IS NOT NULL)',
                q_params,
            ).fetchone()
        exclusions.append(Exclusion("quarantined", quarantined, by_rule_detail(rules)))
        if duplicate_files:
            names = ", ".join(duplicate_files)
            dup = _row(con, f"SELECT {totals_select(contract, _from_text)} FROM {table} WHERE _source_file IN "
                            f"(SELECT unnest($f))", {"f": duplicate_files})  # fmt: skip
            if client:
                (dup["clients"],) = con.execute(
                    f"SELECT count(DISTINCT {_from_text(client, 'VARCHAR')}) FROM {table} "
                    f"WHERE _source_file IN (SELECT unnest($f)) AND {_from_text(client, 'VARCHAR')} NOT IN "
                    f'(SELECT "{client}" FROM {raw_table} WHERE _as_of_date = $d AND "{client}" IS NOT NULL)',
                    {"f": duplicate_files, "d": day},
                ).fetchone()
            exclusions.append(Exclusion("duplicate file(s) not loaded again", dup, names))
        checks: list[Check] = []
        ledger_in = sum(v[0] for v in ledger.files.values())
        ledger_loaded = sum(v[1] for v in ledger.files.values())
        ledger_quarantined = sum(v[2] for v in ledger.files.values())
        dup_rows = [e for e in exclusions if e.label.startswith("duplicate")]
        checks += balance(source, "load_ledger", "landing", {"rows": delivered["rows"]}, {"rows": ledger_in},
                          dup_rows)  # fmt: skip
        checks += balance(
            source, "quarantine", "load_ledger", {"rows": ledger_quarantined}, {"rows": quarantined["rows"]}
        )
        checks += balance(source, "raw", "load_ledger", {"rows": ledger_loaded}, {"rows": raw["rows"]})
        checks += balance(source, "raw", "landing", delivered, raw, exclusions, measures)
        staging = _row(
            con,
            f'SELECT {totals_select(contract, _typed)} FROM staging."stg_{source}" WHERE as_of_date = $d',
            partition,
        )
        checks += balance(source, "staging", "raw", raw, staging, measures=measures)
        return checks


def reconcile_marts(con: duckdb.DuckDBPyConnection, day: date, client_sources: Sequence[str]) -> list[Check]:
    """Raw state on D (the latest delivery of each key) → the marts of D; the profile → the valuation."""
    d = {"d": day}
    checks: list[Check] = []
    # facilities: every facility's latest delivery on or before D; the fact keeps those on book or with a balance
    state = """
        WITH latest AS (
            SELECT facility_id, arg_max(client_id, _as_of_date) AS client_id,
                   arg_max(limit_cny, _as_of_date) AS limit_cny,
                   arg_max(drawn_balance_cny, _as_of_date) AS drawn_balance_cny,
                   arg_max(facility_status, _as_of_date) AS facility_status
            FROM raw.facilities WHERE _as_of_date <= $d GROUP BY facility_id
        ), flagged AS (
            SELECT *, facility_status IN ('active', 'defaulted') OR drawn_balance_cny > 0 AS is_kept FROM latest
        )
    """
    sums = 'count(*) AS "rows", count(DISTINCT client_id) AS clients, sum(limit_cny) AS limit_cny, ' \
           "sum(drawn_balance_cny) AS drawn_balance_cny"  # fmt: skip
    raw_state = _row(con, f"{state} SELECT {sums} FROM flagged", d)
    dropped = _row(con, f"{state} SELECT {sums} FROM flagged WHERE NOT is_kept", d)
    (dropped["clients"],) = con.execute(
        f"{state} SELECT count(DISTINCT client_id) FROM flagged WHERE NOT is_kept "
        "AND client_id NOT IN (SELECT client_id FROM flagged WHERE is_kept)", d
    ).fetchone()  # fmt: skip
    fact = _row(con, f"SELECT {sums} FROM marts.fct_facility_daily WHERE as_of_date = $d", d)
    checks += balance("facilities", "marts.fct_facility_daily", "raw_state", raw_state, fact,
                      [Exclusion("closed or written off without balance", dropped)])  # fmt: skip
    # the profile sums the facilities on book
    on_book = "sum(limit_cny) AS limit_cny, sum(drawn_balance_cny) AS drawn_balance_cny, sum(ead_cny) AS ead_cny"
    fact_totals = _row(con, f"SELECT {on_book} FROM marts.fct_facility_daily WHERE as_of_date = $d", d)
    off_book = _row(con, f"SELECT {on_book} FROM marts.fct_facility_daily WHERE as_of_date = $d AND NOT is_on_book", d)
    profile = _row(con, f"SELECT {on_book} FROM marts.fct_client_profile WHERE as_of_date = $d", d)
    checks += balance("facilities", "marts.fct_client_profile", "marts.fct_facility_daily", fact_totals, profile,
                      [Exclusion("off book with a balance (written off)", off_book)])  # fmt: skip
    # clients: every client delivered up to D is in D's profile, once
    known = _row(con, "SELECT count(DISTINCT client_id) AS clients FROM raw.clients WHERE _as_of_date <= $d", d)
    in_profile = _row(
        con, 'SELECT count(*) AS "rows", count(DISTINCT client_id) AS clients FROM marts.fct_client_profile '
             "WHERE as_of_date = $d", d,
    )  # fmt: skip
    checks += balance("clients", "marts.fct_client_profile", "raw_state", {"clients": known["clients"],
                      "rows": known["clients"]}, in_profile)  # fmt: skip
    # clients delivered on D by any source are in D's profile (a foreign key the loader checked)
    for source in client_sources:
        delivered = _row(con, f'SELECT count(DISTINCT client_id) AS clients FROM raw."{source}" WHERE _as_of_date = $d',
                         d)  # fmt: skip
        found = _row(
            con, f'SELECT count(DISTINCT client_id) AS clients FROM raw."{source}" WHERE _as_of_date = $d '
                 "AND client_id IN (SELECT client_id FROM marts.fct_client_profile WHERE as_of_date = $d)", d,
        )  # fmt: skip
        checks += balance(source, "marts.fct_client_profile", "raw", delivered, found)
    # clients without a facility in the fact: prospects and clients whose facilities have all closed
    without = con.execute(
        "SELECT client_status, count(*) FROM marts.fct_client_profile WHERE as_of_date = $d AND client_id NOT IN "
        "(SELECT client_id FROM marts.fct_facility_daily WHERE as_of_date = $d) GROUP BY ALL ORDER BY 1", d
    ).fetchall()  # fmt: skip
    fact_clients = _row(con, "SELECT count(DISTINCT client_id) AS clients FROM marts.fct_facility_daily "
                             "WHERE as_of_date = $d", d)  # fmt: skip
    checks += balance(
        "clients", "marts.fct_facility_daily", "marts.fct_client_profile", {"clients": in_profile["clients"]},
        fact_clients, [Exclusion("clients without a facility", {"clients": sum(n for _, n in without)},
                                 ", ".join(f"{s} {n:,}" for s, n in without))],
    )  # fmt: skip
    return checks


def _value_totals(scale: int) -> str:
    """Totals of a CLV-valued table; DOUBLE money rounded to ``scale`` decimals and summed as DECIMAL."""
    money = f"DECIMAL(38,{scale})"
    return (
        "count(*) FILTER (WHERE scenario = 'baseline') AS \"rows\", count(DISTINCT client_id) AS clients, "
        f"sum(CAST(round(ead_cny, {scale}) AS {money})) FILTER (WHERE scenario = 'baseline') AS ead_cny, "
        f"sum(CAST(round(clv_cny, 6) AS DECIMAL(38,6))) FILTER (WHERE scenario = 'baseline') AS clv_cny, "
        "count(*) AS scenario_rows"
    )


def _current_totals(scale: int) -> str:
    return (
        'count(*) AS "rows", count(DISTINCT client_id) AS clients, '
        "sum(CAST(round(drawn_balance_cny, 2) AS DECIMAL(38,2))) AS drawn_balance_cny, "
        f"sum(CAST(round(ead_cny, {scale}) AS DECIMAL(38,{scale}))) AS ead_cny, "
        "sum(CAST(round(clv_base_cny, 6) AS DECIMAL(38,6))) AS clv_cny"
    )


def ead_scale(con: duckdb.DuckDBPyConnection) -> int:
    """Decimal places of the profile's EAD: the scale a DOUBLE copy of it is rounded back to."""
    (type_,) = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'marts' "
        "AND table_name = 'fct_client_profile' AND column_name = 'ead_cny'"
    ).fetchone()
    return int(type_.split(",")[1].rstrip(")")) if type_.startswith("DECIMAL") else 6


def reconcile_valuation(con: duckdb.DuckDBPyConnection, day: date) -> tuple[list[Check], dict, dict]:
    """The profile of D → the CLV valuation of D (every client, exposure as in the profile)."""
    d = {"d": day}
    scale = ead_scale(con)
    profile = _row(con, 'SELECT count(*) AS "rows", count(DISTINCT client_id) AS clients, sum(ead_cny) AS ead_cny, '
                        "sum(drawn_balance_cny) AS drawn_balance_cny "
                        "FROM marts.fct_client_profile WHERE as_of_date = $d", d)  # fmt: skip
    values = _row(con, f"SELECT {_value_totals(scale)} FROM valuation.client_values WHERE as_of_date = $d", d)
    # a prospect has no exposure in the profile; the engine values it as if won, with an assumed first facility
    (prospects, assumed) = con.execute(
        f"SELECT count(*), sum(CAST(round(v.ead_cny, {scale}) AS DECIMAL(38,{scale}))) FROM valuation.client_values "
        "AS v JOIN marts.fct_client_profile AS p USING (client_id, as_of_date) "
        "WHERE v.as_of_date = $d AND v.scenario = 'baseline' AND p.client_status = 'prospect'", d,
    ).fetchone()  # fmt: skip
    won = Exclusion("prospects valued as if won", {"ead_cny": -(assumed or 0)},
                    f"{prospects:,} prospects, each with an assumed first facility")  # fmt: skip
    # The engine computes in DOUBLE: above ~10^9 CNY a DOUBLE cannot hold the profile's six decimals (at M, 45
    # EADs of 5-16 bn CNY came back 1e-6 below a half cent). A client's valued EAD counts as the profile's exact
    # EAD when it is within the DOUBLE's precision (1e-12 relative); any larger difference stays in the total.
    (valued,) = con.execute(
        f"SELECT sum(CASE WHEN p.client_status <> 'prospect' AND abs(v.ead_cny - p.ead_cny) <= "
        f"abs(p.ead_cny) * 1e-12 + 1e-6 THEN p.ead_cny ELSE CAST(round(v.ead_cny, {scale}) AS DECIMAL(38,{scale})) END) "
        "FROM valuation.client_values AS v LEFT JOIN marts.fct_client_profile AS p USING (client_id, as_of_date) "
        "WHERE v.as_of_date = $d AND v.scenario = 'baseline'", d,
    ).fetchone()  # fmt: skip
    checks = balance("clients", "valuation.client_values", "marts.fct_client_profile", profile,
                     {**values, "ead_cny": valued}, [won], measures=("rows", "clients", "ead_cny"))  # fmt: skip
    (scenarios,) = con.execute(
        "SELECT count(DISTINCT scenario) FROM valuation.client_values WHERE as_of_date = $d", d
    ).fetchone()
    checks += balance("clients", "valuation.client_values", "marts.fct_client_profile",
                      {"scenario_rows": (profile["rows"] or 0) * scenarios}, values)  # fmt: skip
    return checks, profile, values


def reconcile_published(
    day: date, profile: Mapping[str, Value | None], values: Mapping[str, Value | None], scale: int,
    serving: Path, parquet_root: Path, con: duckdb.DuckDBPyConnection,
) -> list[Check]:  # fmt: skip
    """The valuation and profile of D → the serving file's BI tables and the Parquet exports."""
    from python_tasks.serving.database import open_serving

    history = f"SELECT {_value_totals(scale)} FROM {{}} WHERE as_of_date = $d"
    current = f"SELECT {_current_totals(scale)} FROM {{}} WHERE valuation_date = $d"
    d = {"d": day}

    def published(stage: str, got: Mapping[str, Value | None]) -> list[Check]:
        if stage.endswith("clv_history"):
            return balance("clients", stage, "valuation.client_values", values, got)
        return [  # current values come from the valuation; the drawn balance from the profile
            *balance("clients", stage, "valuation.client_values", values, got,
                     measures=("rows", "clients", "ead_cny", "clv_cny")),
            *balance("clients", stage, "marts.fct_client_profile", profile, got, measures=("drawn_balance_cny",)),
        ]  # fmt: skip

    checks: list[Check] = []
    if not serving.exists():
        checks.append(skipped("clients", "serving.bi.clv_history", "valuation.client_values",
                              f"no serving file at {serving}: nothing published yet"))  # fmt: skip
    else:
        with open_serving(serving) as sv:
            (rows,) = sv.execute("SELECT count(*) FROM bi.clv_history WHERE as_of_date = $d", d).fetchone()
            if not rows:
                checks.append(skipped("clients", "serving.bi.clv_history", "valuation.client_values",
                                      f"{day} is not published (a gate failed, or publish has not run)"))  # fmt: skip
            else:
                checks += published("serving.bi.clv_history", _row(sv, history.format("bi.clv_history"), d))
            (latest,) = sv.execute("SELECT max(valuation_date) FROM bi.current_client_value").fetchone()
            if latest != day:  # the serving file holds the current snapshot only; Parquet keeps each date's
                checks.append(skipped("clients", "serving.bi.current_client_value", "valuation.client_values",
                                      f"the serving file's current values are of {latest}, not {day}"))  # fmt: skip
            else:
                got = _row(sv, current.format("bi.current_client_value"), d)
                checks += published("serving.bi.current_client_value", got)
    for table, sql in (("clv_history", history), ("current_client_value", current)):
        part = parquet_root / table / f"as_of_date={day.isoformat()}"
        files = sorted(part.glob("*.parquet")) if part.is_dir() else []
        if not files:
            checks.append(skipped("clients", f"parquet.{table}", "valuation.client_values",
                                  f"no Parquet partition {part}"))  # fmt: skip
            continue
        # the partition column lives in the folder name, not in the file
        relation = f"(SELECT *, DATE '{day.isoformat()}' AS as_of_date FROM read_parquet($files))"
        got = _row(con, sql.format(relation), {**d, "files": [str(f) for f in files]})
        checks += published(f"parquet.{table}", got)
    return checks


# --- the job ------------------------------------------------------------------------------------------------


def measure(
    con: duckdb.DuckDBPyConnection, day: date, *, landing_dir: Path, work_dir: Path, serving: Path | None,
    parquet_root: Path | None, published: bool = True,
) -> list[Check]:  # fmt: skip
    """Every check of D: each source through to staging, the marts, the valuation and (``published``) BI."""
    from python_tasks.contracts import load_contracts, load_order
    from python_tasks.io import warehouse

    contracts = load_contracts()
    checks: list[Check] = []
    for source in load_order(contracts):
        checks += reconcile_source(con, contracts[source], day, landing_dir, work_dir)
    if not warehouse.table_exists(con, "marts", "fct_client_profile"):
        return [*checks, skipped("clients", "marts.fct_client_profile", "raw_state", "no marts built yet")]
    client_sources = [s for s in load_order(contracts) if client_column(contracts[s])]
    checks += reconcile_marts(con, day, client_sources)
    if not warehouse.table_exists(con, "valuation", "client_values"):
        return [*checks, skipped("clients", "valuation.client_values", "marts.fct_client_profile", "no valuation yet")]
    value_checks, profile, values = reconcile_valuation(con, day)
    checks += value_checks
    if published and serving is not None and parquet_root is not None:
        checks += reconcile_published(day, profile, values, ead_scale(con), serving, parquet_root, con)
    return checks


def record(con: duckdb.DuckDBPyConnection, day: date, run_id: str, checks: Sequence[Check]) -> None:
    """Replace this run's checks of D in ``audit.reconciliation`` (a rerun of the step replaces its rows)."""
    checked_at = datetime.now(UTC)
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(RECONCILIATION_DDL)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM audit.reconciliation WHERE run_id = $r AND as_of_date = $d", {"r": run_id, "d": day})
    con.executemany(
        "INSERT INTO audit.reconciliation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(run_id, day, c.source, c.measure, c.stage, c.upstream_stage, c.upstream, c.excluded, c.expected, c.actual,
          c.difference, c.explanation, c.status, checked_at) for c in checks],
    )  # fmt: skip
    con.execute("COMMIT")


@contextmanager
def _warehouse(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    from python_tasks.io import warehouse

    with warehouse.connect(path) as con:
        yield con


def gate_outcomes(checks: Iterable[Check]) -> dict[str, list]:
    """The compared checks as gate outcomes (suite per source), for ``audit.dq_results``: so a date whose
    totals do not balance is held back from BI like any failed gate, and shows in the report and Data Docs."""
    from python_tasks.quality.results import Outcome
    from python_tasks.quality.suites import Expectation

    suites: dict[str, list] = {}
    for c in checks:
        if c.status == SKIPPED:
            continue
        kwargs = {"column": c.measure, "stage": c.stage, "upstream_stage": c.upstream_stage}
        observed = {k: None if v is None else str(v) for k, v in (("upstream", c.upstream), ("excluded", c.excluded),
                    ("expected", c.expected), ("actual", c.actual), ("difference", c.difference))}  # fmt: skip
        ok = c.status == BALANCED
        suites.setdefault(f"{GATE}.{c.source}", []).append(Outcome(
            expectation=Expectation(EXPECTATION_TYPE, kwargs, "error", rule=f"{GATE}:{c.stage}",
                                    meta={"why": c.explanation}),
            success=ok, element_count=1, unexpected_count=0 if ok else 1, unexpected_percent=0.0 if ok else 100.0,
            observed_value=json.dumps(observed), unexpected_sample=[], exception=None,
        ))  # fmt: skip
    return suites


def _record_gate(database: Path, day: date, run_id: str, checks: Sequence[Check]) -> None:
    from python_tasks.quality.data_docs import DataDocsTarget, update_data_docs
    from python_tasks.quality.results import record_outcomes

    record_outcomes(database, GATE, day, run_id, gate_outcomes(checks))
    update_data_docs(DataDocsTarget(run_id, day, GATE), database=database)  # the index only


def run_reconciliation(as_of_date: str | date, run_id: str, *, published: bool = True) -> dict:
    """Measure, record and judge D's control totals; GateFailed names every total that does not balance."""
    from python_tasks.serving.database import serving_paths
    from python_tasks.settings import get_settings

    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    paths = serving_paths(settings)
    with _warehouse(settings.warehouse_path) as con:
        checks = measure(
            con, day, landing_dir=settings.landing_dir, work_dir=settings.landing_dir / ".work" / "_reconciliation",
            serving=paths.database, parquet_root=paths.parquet, published=published,
        )  # fmt: skip
        record(con, day, run_id, checks)
    _record_gate(settings.warehouse_path, day, run_id, checks)
    bad = unbalanced(checks)
    summary = {
        "as_of_date": day.isoformat(), "run_id": run_id, "checks": len(checks),
        "balanced": sum(c.status == BALANCED for c in checks), "unbalanced": len(bad),
        "skipped": sum(c.status == SKIPPED for c in checks),
    }  # fmt: skip
    log.info("reconciliation %s: %s", day, summary)
    if bad:
        raise GateFailed(
            f"reconciliation failed for {day} ({len(bad)} control totals do not balance):\n"
            + "\n".join(c.line for c in bad)
        )
    return summary


def recorded_checks(con: duckdb.DuckDBPyConnection, day: date, run_id: str | None = None) -> list[tuple]:
    """The recorded checks of D (of ``run_id``, default the latest run that reconciled D), by source and stage."""
    order = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STAGES))
    return con.execute(
        f"""
        WITH chosen AS (
            SELECT coalesce($r, arg_max(run_id, checked_at)) AS run_id FROM audit.reconciliation WHERE as_of_date = $d
        )
        SELECT source, measure, stage, upstream_stage, expected, actual, difference, status, explanation, excluded
        FROM audit.reconciliation JOIN chosen USING (run_id)
        WHERE as_of_date = $d
        ORDER BY source, CASE stage {order} ELSE 99 END, upstream_stage, measure
        """,
        {"r": run_id, "d": day},
    ).fetchall()
