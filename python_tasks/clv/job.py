"""The CLV run for one business date D: read the client profile, calibrate, value, explain, write.

Thin on purpose: the logic is in the pure modules of this package. The job reads the profile marts of D,
fits retention and the scorecard on the calibration marts, values every client under every scenario,
attributes the change since the previous run, backtests earlier runs, and replaces D's rows of every
``clv`` table in one transaction (a rerun of D gives the same rows; a failure leaves the previous ones).
It runs in the warehouse pool: it is the only writer while it runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from python_tasks.clv import outputs
from python_tasks.clv.backtest import backtest
from python_tasks.clv.calibration import fit_retention, fit_unrated_pd
from python_tasks.clv.change import attribute_change
from python_tasks.clv.engine import value_portfolio
from python_tasks.clv.inputs import client_inputs, facility_inputs, prospect_facilities, require_macro
from python_tasks.clv.params import ClvParams, load_params
from python_tasks.clv.scorecard import FEATURES
from python_tasks.io.warehouse import connect, replace_partition
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)


class ClvRunError(RuntimeError):
    """The CLV run cannot proceed; the message says what is missing and what to do."""


def _read(con, sql: str, **params: object) -> pd.DataFrame:  # noqa: ANN001 - a DuckDB connection
    return con.execute(sql, params).df()


def _fits_frame(retention, scorecard) -> pd.DataFrame:  # noqa: ANN001
    rows = [
        {"model": "retention_sbg", "segment": f.segment, "source": f.source, "observations": f.clients,
         "events": f.churned, "alpha": f.alpha, "beta": f.beta, "log_likelihood": f.log_likelihood,
         "note": f"{f.cohorts} yearly cohorts pooled" if f.cohorts else "too few clients or no churn: fit on all clients"}
        for f in retention
    ]  # fmt: skip
    card = scorecard.scorecard
    rows.append({
        "model": "pd_scorecard", "segment": "(all)", "source": "fitted" if card else "fallback",
        "observations": scorecard.observations, "events": scorecard.defaults,
        "holdout_auc": card.holdout_auc if card else None, "holdout_gini": card.holdout_gini if card else None,
        "fallback_pd": None if card else scorecard.fallback_pd,
        "coefficients": json.dumps(
            {"intercept": card.intercept, **dict(zip(card.features, card.coefficients.tolist(), strict=True))}
        ) if card else None,
        "note": scorecard.note,
    })  # fmt: skip
    return pd.DataFrame(rows)


def _previous_params(stored: dict, current: ClvParams) -> ClvParams:
    """The previous run's parameters in today's schema: settings the schema gained since take today's
    values (so they attribute nothing), settings it dropped are ignored."""
    fields = set(ClvParams.model_fields)
    merged = {**current.model_dump(mode="json"), **{k: v for k, v in stored.items() if k in fields}}
    added = sorted(fields - set(stored))
    if added:
        log.warning("previous run's parameters lack %s: today's values used for the attribution", added)
    return ClvParams.model_validate(merged)


def _previous_run(con, day: date, current: ClvParams) -> tuple[date, pd.DataFrame, pd.DataFrame, ClvParams] | None:  # noqa: ANN001
    row = con.execute(
        "SELECT as_of_date, params_json FROM valuation.runs WHERE as_of_date < $d ORDER BY as_of_date DESC LIMIT 1",
        {"d": day},
    ).fetchone()
    if row is None:
        return None
    previous, params_json = row
    clients = _read(
        con,
        "SELECT * EXCLUDE (as_of_date, _run_id) FROM valuation.engine_inputs_clients WHERE as_of_date = $d "
        "ORDER BY client_id",
        d=previous,
    )
    facilities = _read(
        con,
        "SELECT * EXCLUDE (as_of_date, _run_id) FROM valuation.engine_inputs_facilities WHERE as_of_date = $d "
        "ORDER BY facility_id",
        d=previous,
    )
    return previous, clients, facilities, _previous_params(json.loads(params_json), current)


def _realised(con, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:  # noqa: ANN001
    """Earlier baseline projections (within a year) and what was realised since each."""
    projections = _read(
        con,
        """
        SELECT v.as_of_date AS projection_date, v.client_id, v.segment, v.interest_income_12m_cny, v.fee_12m_cny, v.pit_pd
        FROM valuation.client_values AS v
        JOIN valuation.engine_inputs_clients AS i USING (as_of_date, client_id)
        WHERE v.scenario = 'baseline' AND v.as_of_date < $d AND v.as_of_date >= $d - INTERVAL 365 DAY
          AND NOT i.is_prospect AND NOT i.is_defaulted
        """,
        d=day,
    )
    realised = _read(
        con,
        """
        WITH runs AS (SELECT DISTINCT as_of_date AS projection_date FROM valuation.runs
                      WHERE as_of_date < $d AND as_of_date >= $d - INTERVAL 365 DAY),
        interest AS (
            SELECT runs.projection_date, r.client_id, sum(r.paid_interest_cny)::DOUBLE AS interest_cny
            FROM staging.stg_repayments AS r JOIN runs ON r.paid_date > runs.projection_date
            WHERE r.paid_date <= $d AND r.as_of_date <= $d GROUP BY ALL),
        fees AS (
            SELECT runs.projection_date, f.client_id, sum(f.amount_cny)::DOUBLE AS fee_cny
            FROM staging.stg_fee_income AS f JOIN runs ON f.fee_date > runs.projection_date
            WHERE f.fee_date <= $d AND f.as_of_date <= $d GROUP BY ALL),
        defaults AS (
            SELECT runs.projection_date, d.client_id, true AS defaulted
            FROM intermediate.int_defaults_dated_per_client AS d JOIN runs ON d.default_date > runs.projection_date
            WHERE d.default_date <= $d)
        SELECT * FROM interest FULL JOIN fees USING (projection_date, client_id)
        FULL JOIN defaults USING (projection_date, client_id)
        """,
        d=day,
    )
    return projections, realised


def _replace(con, table: str, day: date, frame: pd.DataFrame) -> int:  # noqa: ANN001
    return replace_partition(con, f"valuation.{table}", outputs.columns(table), day, frame)


@dataclass(frozen=True)
class PreviousRun:
    """The previous run's stored engine inputs and parameters, for the attribution of the change."""

    as_of_date: date
    clients: pd.DataFrame
    facilities: pd.DataFrame
    params: ClvParams


@dataclass(frozen=True)
class EngineInputs:
    """Everything the per-client valuation of D needs: the engine's inputs, the fits they came from and the
    previous run. The unsharded run passes it on in memory; the sharded run (sharded.py) splits it by client
    into files that the shards read."""

    clients: pd.DataFrame
    facilities: pd.DataFrame
    fits: pd.DataFrame
    scorecard_note: str
    previous: PreviousRun | None


def day_of(as_of_date: date | str) -> date:
    return as_of_date if isinstance(as_of_date, date) else date.fromisoformat(as_of_date)


def current_params() -> ClvParams:
    settings = get_settings()
    return load_params(settings.clv_params_path, mode=settings.mode)


def gather_inputs(con, day: date, params: ClvParams) -> EngineInputs:  # noqa: ANN001
    """Read D's profile and the calibration marts, fit retention and the scorecard, build the engine's inputs."""
    for statement in outputs.ddl():
        con.execute(statement)
    # every read in a fixed order: DuckDB returns rows in any order, and the scorecard's train/holdout split
    # (and the last bits of every sum) follow the row order, so an unordered read made reruns differ
    profile = _read(con, "SELECT * FROM marts.fct_client_profile WHERE as_of_date = $d ORDER BY client_id", d=day)
    if profile.empty:
        raise ClvRunError(f"no client profile for {day}: build it first (dbt_build, or `clv build-profile --date {day}`)")
    require_macro(profile, day)
    on_book = _read(con, "SELECT * FROM marts.fct_facility_daily WHERE as_of_date = $d AND is_on_book "
                         "ORDER BY facility_id", d=day)  # fmt: skip
    products = _read(con, "SELECT * FROM reference.ref_products ORDER BY product_code")
    spells = _read(con, "SELECT * FROM marts.fct_relationship_spells ORDER BY ALL")
    observations = _read(
        con, f"SELECT {', '.join(FEATURES)}, observation_date, default_date FROM marts.fct_scorecard_observations "
        "ORDER BY client_id, statement_id, observation_date",
    )  # fmt: skip
    log.info("CLV %s: %d clients, %d facilities on book, %d relationships, %d statements for calibration",
             day, len(profile), len(on_book), len(spells), len(observations))  # fmt: skip

    r = params.retention
    retention = fit_retention(spells, day, r.segment_column, r.min_clients_per_segment, r.cohort_years)
    rated_mean = float(profile["ttc_pd"].where(profile["ttc_pd"] < 1).mean())
    scorecard = fit_unrated_pd(observations, day, params.scorecard.outcome_window_months, params.scorecard.seed, rated_mean)
    log.info("CLV %s: retention fitted for %d segments; %s", day, len(retention) - 1, scorecard.note)

    clients = client_inputs(profile, retention, scorecard, r.segment_column)
    facilities = facility_inputs(on_book, products)
    facilities = pd.concat([facilities, prospect_facilities(clients, facilities, products)], ignore_index=True)
    previous = _previous_run(con, day, params)
    return EngineInputs(
        clients=clients,
        facilities=facilities,
        fits=_fits_frame(retention, scorecard),
        scorecard_note=scorecard.note,
        previous=PreviousRun(*previous) if previous is not None else None,
    )


def value_inputs(
    clients: pd.DataFrame,
    facilities: pd.DataFrame,
    previous: PreviousRun | None,
    params: ClvParams,
    *,
    clients_per_chunk: int = 10_000,
    progress=None,  # noqa: ANN001 - optional callable(done_clients, total_clients)
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-client work: every client valued under every scenario, and its change since the previous run
    split by factor. Each client's rows depend on that client's inputs only, so any split of the clients
    gives the same rows (sharded.py relies on it)."""
    values = value_portfolio(clients, facilities, params, clients_per_chunk=clients_per_chunk, progress=progress)
    values = values.merge(clients[["client_id", "pd_source", "segment"]], on="client_id", validate="many_to_one")
    if previous is not None:
        change = attribute_change(previous.clients, previous.facilities, previous.params, clients, facilities, params)
        change["previous_as_of_date"] = previous.as_of_date
    else:
        change = pd.DataFrame(columns=outputs.columns("attribution"))
    return values, change


def store_results(
    con,  # noqa: ANN001 - a DuckDB connection
    day: date,
    run_id: str,
    params: ClvParams,
    inputs: EngineInputs,
    values: pd.DataFrame,
    change: pd.DataFrame,
    started_at: datetime,
) -> dict:
    """Backtest earlier runs and replace D's rows of every ``valuation`` table in one transaction; the summary."""
    for statement in outputs.ddl():
        con.execute(statement)
    values = values.assign(as_of_date=day, params_version=params.version, _run_id=run_id, _computed_at=started_at)
    change = change.assign(as_of_date=day, _run_id=run_id)
    projections, realised = _realised(con, day)
    tested = backtest(projections, realised, day)
    tested["as_of_date"], tested["_run_id"] = day, run_id
    clients, facilities = inputs.clients, inputs.facilities
    inputs_c = clients.assign(as_of_date=day, _run_id=run_id)
    inputs_f = facilities.assign(as_of_date=day, _run_id=run_id)
    fits = inputs.fits.assign(as_of_date=day, params_version=params.version, _run_id=run_id)
    params_json = params.model_dump_json()
    con.execute("BEGIN TRANSACTION")
    try:
        written = sum(
            _replace(con, table, day, frame)
            for table, frame in (
                ("client_values", values), ("engine_inputs_clients", inputs_c), ("engine_inputs_facilities", inputs_f),
                ("model_fits", fits), ("attribution", change), ("backtest", tested),
            )
        )  # fmt: skip
        seconds = (datetime.now(UTC) - started_at).total_seconds()
        run = pd.DataFrame([{
            "as_of_date": day, "run_id": run_id, "params_version": params.version,
            "params_sha256": hashlib.sha256(params_json.encode()).hexdigest(), "params_json": params_json,
            "clients": len(clients), "facilities": len(facilities), "rows_written": written, "seconds": seconds,
            "started_at": started_at, "finished_at": datetime.now(UTC),
        }])  # fmt: skip
        _replace(con, "runs", day, run)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    baseline = values[values["scenario"] == "baseline"]
    summary = {
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "params_version": params.version,
        "clients": len(clients),
        "facilities": len(facilities),
        "rows": len(values),
        "total_clv_cny": {
            s: round(float(v), 2) for s, v in values.groupby("scenario", sort=False)["clv_cny"].sum().items()
        },
        "pd_sources": {k: int(v) for k, v in baseline["pd_source"].value_counts().items()},
        "scorecard": inputs.scorecard_note,
        "previous_run": inputs.previous.as_of_date.isoformat() if inputs.previous else None,
        "attributed_clients": len(change),
        "backtest_rows": len(tested),
        "seconds": round((datetime.now(UTC) - started_at).total_seconds(), 2),
    }
    log.info("CLV %s done: %s", day, json.dumps(summary, ensure_ascii=False))
    return summary


def run_clv(as_of_date: date | str, run_id: str, *, clients_per_chunk: int = 10_000) -> dict:
    """Value every client of D's profile under every scenario and replace D's rows of the ``valuation`` tables
    (in one process; the DAG runs the same steps split into shards: python_tasks/clv/sharded.py)."""
    day = day_of(as_of_date)
    params = current_params()
    started_at = datetime.now(UTC)
    with connect() as con:
        inputs = gather_inputs(con, day, params)

        def progress(done: int, total: int) -> None:
            log.info("CLV %s: valued %d / %d clients", day, done, total)

        values, change = value_inputs(
            inputs.clients, inputs.facilities, inputs.previous, params,
            clients_per_chunk=clients_per_chunk, progress=progress,
        )  # fmt: skip
        return store_results(con, day, run_id, params, inputs, values, change, started_at)
