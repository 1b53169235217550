"""The CLV run on a generated warehouse: one row per client per scenario, components that add up, a rerun
that replaces D only, attribution that sums to the change, recorded fits and backtest, clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from generated import generated_home

from python_tasks.clv.job import ClvRunError, run_clv
from python_tasks.clv.outputs import ATTRIBUTION_FACTORS
from python_tasks.settings import get_settings
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)
DAYS = [D0, D0 + timedelta(days=1)]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """S-scale data (400 clients) for two business dates, with the month's external data, profiled."""
    root = tmp_path_factory.mktemp("clv")
    with generated_home(root, clients=400, first=D0, days=1):
        for day in DAYS:
            run_dbt_build(day, f"daily-{day}")
            run_clv(day, f"clv-{day}")
        yield root


def _query(sql: str, *params: object) -> list[tuple]:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_every_client_is_valued_once_per_scenario(home):
    for day in DAYS:
        clients = _query("SELECT count(*) FROM marts.fct_client_profile WHERE as_of_date = ?", day)[0][0]
        per_scenario = _query(
            "SELECT scenario, count(*), count(DISTINCT client_id) FROM valuation.client_values "
            "WHERE as_of_date = ? GROUP BY 1 ORDER BY 1",
            day,
        )
        assert per_scenario == [(s, clients, clients) for s in ("adverse", "baseline", "severe")]


def test_components_add_up_and_values_are_finite_and_in_range(home):
    bad = _query(
        """
        SELECT count(*) FILTER (WHERE abs(clv_cny - (pv_nii_cny + pv_fee_cny - pv_cost_cny - pv_expected_loss_cny
                                       - pv_capital_charge_cny - acquisition_cost_cny)) > 1e-6 * (1 + abs(clv_cny))),
               count(*) FILTER (WHERE NOT isfinite(clv_cny) OR NOT isfinite(eva_cny)),
               count(*) FILTER (WHERE ttc_pd <= 0 OR ttc_pd > 1 OR pit_pd < 0 OR pit_pd > 1 OR lgd < 0 OR lgd > 1),
               count(*) FILTER (WHERE pd_source = 'default' AND (pit_pd <> 1 OR expected_lifetime_years <> 0)),
               count(*) FILTER (WHERE acquisition_cost_cny > 0 AND client_id NOT IN (
                   SELECT client_id FROM valuation.engine_inputs_clients WHERE is_prospect))
        FROM valuation.client_values
        """
    )[0]
    assert bad == (0, 0, 0, 0, 0)


def test_stress_lowers_the_portfolio_value(home):
    totals = dict(
        _query("SELECT scenario, sum(clv_cny) FROM valuation.client_values WHERE as_of_date = ? GROUP BY 1", DAYS[-1])
    )
    assert totals["baseline"] > totals["adverse"] > totals["severe"]


def test_every_fit_is_recorded_with_the_run(home):
    fits = _query(
        "SELECT model, segment, source, observations FROM valuation.model_fits WHERE as_of_date = ? ORDER BY 1, 2",
        DAYS[-1],
    )
    models = {m for m, *_ in fits}
    assert models == {"pd_scorecard", "retention_sbg"}
    assert ("retention_sbg", "(all)", "all clients") in {(m, s, src) for m, s, src, _ in fits}
    runs = _query("SELECT as_of_date, run_id, params_version, clients FROM valuation.runs ORDER BY 1")
    assert [(r[0], r[1]) for r in runs] == [(d, f"clv-{d}") for d in DAYS]


def test_attribution_parts_sum_to_the_change_since_the_previous_run(home):
    parts = " + ".join(f"{f}_cny" for f in (*ATTRIBUTION_FACTORS, "new_client", "lost_client"))
    rows = _query(
        f"SELECT count(*), max(abs(delta_clv_cny - ({parts}))), min(previous_as_of_date), max(previous_as_of_date), "
        "any_value(method) FROM valuation.attribution WHERE as_of_date = ?",
        DAYS[-1],
    )[0]
    clients = _query("SELECT count(*) FROM valuation.engine_inputs_clients WHERE as_of_date IN (?, ?)", *DAYS)[0][0]
    assert rows[0] >= clients / 2 and rows[1] < 1e-3
    assert rows[2] == rows[3] == DAYS[0] and rows[4] == "sequential"
    # the first run has nothing to compare with
    assert _query("SELECT count(*) FROM valuation.attribution WHERE as_of_date = ?", DAYS[0])[0][0] == 0


def test_the_backtest_compares_the_previous_projection_with_what_happened(home):
    rows = _query(
        "SELECT projection_date, segment, clients, window_days FROM valuation.backtest WHERE as_of_date = ?", DAYS[-1]
    )
    assert {r[0] for r in rows} == {DAYS[0]} and {r[3] for r in rows} == {1}
    total = {r[1]: r[2] for r in rows}
    assert total["(all)"] == sum(n for s, n in total.items() if s != "(all)") > 0


def test_a_rerun_replaces_d_only_with_identical_values(home):
    def fingerprint(day: date) -> tuple:
        return _query(
            "SELECT count(*), sum(hash(columns(* EXCLUDE (_run_id, _computed_at)))) FROM valuation.client_values "
            "WHERE as_of_date = ?",
            day,
        )[0]

    before = {d: fingerprint(d) for d in DAYS}
    run_clv(DAYS[-1], "clv-rerun")
    assert {d: fingerprint(d) for d in DAYS} == before
    assert _query("SELECT DISTINCT _run_id FROM valuation.client_values WHERE as_of_date = ?", DAYS[-1]) == [
        ("clv-rerun",)
    ]


def test_a_date_without_a_profile_fails_naming_what_to_do(home):
    with pytest.raises(ClvRunError, match="no client profile for 2026-11-25: build it first"):
        run_clv(date(2026, 11, 25), "clv-missing")
    assert _query("SELECT count(*) FROM valuation.runs WHERE as_of_date = '2026-11-25'")[0][0] == 0


def test_a_bad_parameter_file_stops_the_run_before_anything_is_written(home, tmp_path, monkeypatch):
    bad = tmp_path / "params.yml"
    bad.write_text(
        get_settings().clv_params_path.read_text(encoding="utf-8").replace("discount_rate: 0.08", "discount_rate: -1")
    )
    monkeypatch.setenv("CLV_PARAMS_FILE", str(bad))
    before = _query("SELECT run_id FROM valuation.runs WHERE as_of_date = ?", DAYS[-1])
    with pytest.raises(ValueError, match="discount_rate"):
        run_clv(DAYS[-1], "clv-bad-params")
    assert _query("SELECT run_id FROM valuation.runs WHERE as_of_date = ?", DAYS[-1]) == before


def _label_based_waterfall(old_c, old_f, old_params, new_c, new_f, new_params) -> tuple[list[str], dict]:  # noqa: ANN001
    """The sequential attribution written plainly: each mix of old and new inputs assembled by key labels."""
    import numpy as np

    from python_tasks.clv.attribution import sequential_attribution
    from python_tasks.clv.change import CLIENT_FACTORS, FACILITY_FACTORS
    from python_tasks.clv.engine import value_portfolio

    common = sorted(set(old_c["client_id"]) & set(new_c["client_id"]))
    sides = {"clients": (old_c.set_index("client_id").loc[common], new_c.set_index("client_id").loc[common]),
             "facilities": (old_f[old_f["client_id"].isin(common)].set_index("facility_id"),
                            new_f[new_f["client_id"].isin(common)].set_index("facility_id"))}  # fmt: skip

    def mixed(which: str, groups: dict, chosen: dict):  # noqa: ANN202
        old, new = sides[which]
        base = chosen["exposure"]
        frame = (new if base == "new" else old).copy()
        for factor, cols in groups.items():
            if chosen[factor] != base:
                source = new if chosen[factor] == "new" else old
                both = frame.index.intersection(source.index)
                for col in cols:
                    frame.loc[both, col] = source.loc[both, col]
        return frame.reset_index()

    def clv(chosen: dict) -> np.ndarray:
        params = new_params if chosen["parameters"] == "new" else old_params
        out = value_portfolio(mixed("clients", CLIENT_FACTORS, chosen), mixed("facilities", FACILITY_FACTORS, chosen),
                              params, {"baseline": params.scenarios["baseline"]})  # fmt: skip
        return out.set_index("client_id").loc[common, "clv_cny"].to_numpy()

    old, new = dict.fromkeys(ATTRIBUTION_FACTORS, "old"), dict.fromkeys(ATTRIBUTION_FACTORS, "new")
    return common, sequential_attribution(clv, old, new)  # the waterfall's definition, valuing everyone each step


def test_the_attribution_equals_a_plain_label_based_waterfall(home):
    """attribute_change assembles each mix of the two runs' inputs by position, aligned once (fast at L); the
    same waterfall assembled by key labels gives the same parts for every client."""
    import numpy as np

    from python_tasks.clv.change import attribute_change
    from python_tasks.clv.job import _previous_run, current_params
    from python_tasks.io.warehouse import connect

    params = current_params()
    with connect(read_only=True) as con:
        _, old_c, old_f, old_params = _previous_run(con, DAYS[0] + timedelta(days=1), params)
        _, new_c, new_f, new_params = _previous_run(con, DAYS[1] + timedelta(days=1), params)
    # a run apart: a facility repriced, one gone, a client gone and one new, so every path is taken
    new_f = new_f.copy()
    new_f.loc[new_f.index[0], "interest_rate_pct"] += 0.5
    new_f = new_f.drop(new_f.index[1])
    old_c = old_c.drop(old_c.index[-1])
    new_c = new_c.drop(new_c.index[2])
    new_f = new_f[new_f["client_id"].isin(new_c["client_id"])]
    got = attribute_change(old_c, old_f, old_params, new_c, new_f, new_params, method="sequential")
    common, parts = _label_based_waterfall(old_c, old_f, old_params, new_c, new_f, new_params)
    rows = got.set_index("client_id").loc[common]
    for factor in ATTRIBUTION_FACTORS:
        assert np.allclose(rows[f"{factor}_cny"].to_numpy(), parts[factor], rtol=0, atol=1e-9), factor
    assert sorted(got["client_id"]) == sorted(set(old_c["client_id"]) | set(new_c["client_id"]))
    assert np.abs(got["delta_clv_cny"] - got[[f"{f}_cny" for f in (*ATTRIBUTION_FACTORS, "new_client", "lost_client")]]
                  .sum(axis=1)).max() < 1e-6  # fmt: skip
