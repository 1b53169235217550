"""The CLV projection, against cases computed by hand: a bullet loan, an amortising loan, a credit line
with an undrawn balance, a prospect, a defaulted client; properties; bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln
from scipy.stats import norm

from python_tasks.clv.capital import asset_correlation, capital_requirement
from python_tasks.clv.engine import OUTPUT_COLUMNS, value_portfolio
from python_tasks.clv.params import load_params
from python_tasks.settings import CLV_PARAMS_FILE

ALPHA, BETA = 1.0, 9.0  # sBG: a new client stays a year with probability 0.9


@pytest.fixture
def params():
    base = load_params(CLV_PARAMS_FILE)
    return base.model_copy(
        update={
            "horizon_years": 2,
            "periods_per_year": 1,
            "discount_rate": 0.10,
            "cost_of_equity": 0.12,
            "ftp_spread_bps": 0.0,
            "new_business": base.new_business.model_copy(update={"renew_maturing": False}),
        }
    )


def _client(**overrides) -> dict:
    row = {
        "client_id": "C1", "is_prospect": False, "is_defaulted": False, "ttc_pd": 0.01, "turnover_cny": np.nan,
        "fee_income_12m_cny": 0.0, "revenue_growth_yoy": 0.0, "industry_output_growth_pct": 0.0,
        "gdp_outlook_baseline_pct": 5.0, "gdp_outlook_adverse_pct": 3.5, "gdp_outlook_severe_pct": 2.0,
        "lpr_1y_pct": 3.0, "lpr_5y_pct": 3.0, "asset_class": "normal", "tenure_years": 0.0,
        "sbg_alpha": ALPHA, "sbg_beta": BETA,
    }  # fmt: skip
    row.update(overrides)
    return row


def _facility(**overrides) -> dict:
    row = {
        "client_id": "C1", "drawn_balance_cny": 100.0, "undrawn_cny": 0.0, "ccf": 0.5, "interest_rate_pct": 5.0,
        "repayment_type": "bullet", "remaining_maturity_years": 2.0, "collateral_value_cny": 0.0,
        "main_collateral_type": None, "servicing_cost_bps": 0.0, "monitoring_cost_bps": 0.0,
        "origination_cost_cny": 0.0,
    }  # fmt: skip
    row.update(overrides)
    return row


def _value(params, clients, facilities, scenario="baseline"):
    out = value_portfolio(pd.DataFrame(clients), pd.DataFrame(facilities, columns=list(_facility())), params)
    return out[out["scenario"] == scenario].set_index("client_id")


def _pit(ttc: float, z: float = 0.0) -> float:
    """Vasicek PIT PD; on trend (Z = 0) it is the median-year PD, below the through-the-cycle average."""
    rho = float(asset_correlation(ttc))
    return float(norm.cdf((norm.ppf(ttc) - np.sqrt(rho) * z) / np.sqrt(1 - rho)))


def _survival(ttc: float, tenure: int = 0) -> np.ndarray:
    """Retention × survival from default after 1 and 2 years (PIT PD in year 1, TTC in year 2)."""
    t = np.array([1.0, 2.0])
    retention = np.exp(betaln(ALPHA, BETA + tenure + t) - betaln(ALPHA, BETA + tenure))
    return retention * np.cumprod([1 - _pit(ttc), 1 - ttc])


def _pd_by_year(ttc: float) -> np.ndarray:
    return np.array([_pit(ttc), ttc])


def test_a_bullet_loan_by_hand(params):
    row = _value(params, [_client()], [_facility()]).loc["C1"]
    s, d = _survival(0.01), 1.1 ** -np.array([1.0, 2.0])
    k = capital_requirement(0.01, 0.45, 2.0)
    assert row["pv_nii_cny"] == pytest.approx((s * d * 100 * 0.02).sum(), rel=1e-12)  # 5 % − FTP 3 %
    assert row["pv_expected_loss_cny"] == pytest.approx((s * d * _pd_by_year(0.01) * 0.45 * 100).sum(), rel=1e-9)
    assert row["pv_capital_charge_cny"] == pytest.approx((s * d * 0.12 * k * 100).sum(), rel=1e-9)
    assert row["pv_fee_cny"] == 0 and row["pv_cost_cny"] == 0 and row["acquisition_cost_cny"] == 0
    expected = (s * d * (2.0 - _pd_by_year(0.01) * 45 - 0.12 * k * 100)).sum()
    assert row["clv_cny"] == pytest.approx(expected, rel=1e-9)
    assert row["ead_cny"] == 100 and row["lgd"] == pytest.approx(0.45)
    assert row["expected_lifetime_years"] == pytest.approx(s.sum())
    assert row["raroc"] == pytest.approx(s[0] * (2.0 - _pit(0.01) * 45) / (k * 100), rel=1e-9)


def test_an_amortising_loan_by_hand(params):
    facility = _facility(repayment_type="equal_principal", servicing_cost_bps=50.0, monitoring_cost_bps=20.0)
    row = _value(params, [_client(asset_class="special_mention")], [facility]).loc["C1"]
    s, d = _survival(0.01), 1.1 ** -np.array([1.0, 2.0])
    balance = np.array([100.0, 50.0])
    assert row["pv_nii_cny"] == pytest.approx((s * d * balance * 0.02).sum(), rel=1e-12)
    # servicing 50 bps + monitoring 20 bps × 2 (special mention)
    assert row["pv_cost_cny"] == pytest.approx((s * d * balance * 0.0090).sum(), rel=1e-12)


def test_a_credit_line_converts_its_undrawn_limit(params):
    line = _facility(drawn_balance_cny=60.0, undrawn_cny=40.0, ccf=0.5, repayment_type="revolving",
                     collateral_value_cny=40.0, main_collateral_type="real_estate")  # fmt: skip
    row = _value(params, [_client()], [line]).loc["C1"]
    s, d = _survival(0.01), 1.1 ** -np.array([1.0, 2.0])
    lgd = (40 * 0.15 + 40 * 0.45) / 80  # real estate covers half of the EAD of 60 + 0.5 × 40
    assert row["ead_cny"] == 80 and row["lgd"] == pytest.approx(lgd)
    assert row["pv_nii_cny"] == pytest.approx((s * d * 60 * 0.02).sum(), rel=1e-12)
    assert row["pv_expected_loss_cny"] == pytest.approx((s * d * _pd_by_year(0.01) * lgd * 80).sum(), rel=1e-9)


def test_a_prospect_carries_its_acquisition_cost(params):
    prospect = _client(client_id="P1", is_prospect=True)
    won = _facility(client_id="P1", origination_cost_cny=5.0)
    row = _value(params, [prospect], [won]).loc["P1"]
    assert row["acquisition_cost_cny"] == params.prospects.acquisition_cost_cny + 5.0
    assert row["clv_cny"] == pytest.approx(
        row["pv_nii_cny"] - row["pv_expected_loss_cny"] - row["pv_capital_charge_cny"] - row["acquisition_cost_cny"]
    )


def test_a_defaulted_client_is_worth_the_loss_still_expected(params):
    row = _value(params, [_client(is_defaulted=True, fee_income_12m_cny=12.0)], [_facility()]).loc["C1"]
    assert row["clv_cny"] == pytest.approx(-0.45 * 100)
    assert row["pit_pd"] == 1.0 and row["expected_lifetime_years"] == 0.0 and row["capital_cny"] == 0.0


def test_new_business_keeps_the_exposure_growing_with_the_client(params):
    renewing = params.model_copy(
        update={"new_business": params.new_business.model_copy(update={"renew_maturing": True})}
    )
    short = _facility(remaining_maturity_years=1.0, origination_cost_cny=3.0)
    client = _client(revenue_growth_yoy=0.10)
    grown = _value(renewing, [client], [short]).loc["C1"]
    runoff = _value(params, [client], [short]).loc["C1"]
    g = 0.5 * 0.10  # revenue weight; GDP at its long-run mean, industry flat
    s, d = _survival(0.01), 1.1 ** -np.array([1.0, 2.0])
    assert grown["growth_rate"] == pytest.approx(g)
    # year 1: the loan itself (100) + new business 100·g; year 2: all new, 100·(1+g)²
    balance = np.array([100 * (1 + g), 100 * (1 + g) ** 2])
    assert grown["pv_nii_cny"] == pytest.approx((s * d * balance * 0.02).sum(), rel=1e-9)
    booked = np.array([100 * g, 100 * (1 + g) ** 2 - 100 * g])
    assert grown["pv_cost_cny"] == pytest.approx((s * d * booked / 100 * 3.0).sum(), rel=1e-9)
    assert runoff["pv_nii_cny"] == pytest.approx(s[0] * d[0] * 100 * 0.02)


def test_stress_raises_pd_and_lowers_the_value_of_a_profitable_client(params):
    out = value_portfolio(pd.DataFrame([_client()]), pd.DataFrame([_facility()]), params).set_index("scenario")
    assert list(out.index) == ["baseline", "adverse", "severe"]
    assert out.loc["baseline", "pit_pd"] == pytest.approx(_pit(0.01))  # outlook on trend: Z = 0
    assert out.loc["severe", "pit_pd"] == pytest.approx(_pit(0.01, (2.0 - 5.0) / 1.5))
    assert out.loc["baseline", "pit_pd"] < out.loc["adverse", "pit_pd"] < out.loc["severe", "pit_pd"]
    assert out.loc["baseline", "clv_cny"] > out.loc["adverse", "clv_cny"] > out.loc["severe", "clv_cny"]
    assert out.loc["severe", "systematic_factor"] == pytest.approx((2.0 - 5.0) / 1.5)


def test_clv_falls_as_pd_rises_all_else_equal(params):
    clients = [_client(client_id=f"C{i}", ttc_pd=pd_) for i, pd_ in enumerate([0.001, 0.01, 0.05, 0.2])]
    facilities = [_facility(client_id=f"C{i}") for i in range(4)]
    clv = _value(params, clients, facilities)["clv_cny"].to_numpy()
    assert np.all(np.diff(clv) < 0)


def test_chunking_and_reruns_give_identical_outputs(params):
    rng = np.random.default_rng(7)
    clients = [_client(client_id=f"C{i:03d}", ttc_pd=float(rng.uniform(0.001, 0.1)), tenure_years=float(i % 9),
                       fee_income_12m_cny=float(rng.uniform(0, 5))) for i in range(60)]  # fmt: skip
    facilities = [
        _facility(client_id=f"C{i % 60:03d}", drawn_balance_cny=float(rng.uniform(0, 500)),
                  repayment_type=["bullet", "equal_installment", "revolving"][i % 3],
                  remaining_maturity_years=float(rng.uniform(0.1, 4)))
        for i in range(150)
    ]  # fmt: skip
    frame_c, frame_f = pd.DataFrame(clients), pd.DataFrame(facilities)
    whole = value_portfolio(frame_c, frame_f, params)
    pieces = value_portfolio(frame_c, frame_f.sample(frac=1.0, random_state=1), params, clients_per_chunk=7)
    pd.testing.assert_frame_equal(whole, pieces, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(whole, value_portfolio(frame_c, frame_f, params))
    assert list(whole.columns) == list(OUTPUT_COLUMNS)
    parts = whole["pv_nii_cny"] + whole["pv_fee_cny"] - whole["pv_cost_cny"] - whole["pv_expected_loss_cny"]
    parts -= whole["pv_capital_charge_cny"] + whole["acquisition_cost_cny"]
    np.testing.assert_allclose(whole["clv_cny"], parts, rtol=1e-12)
    assert np.isfinite(whole.drop(columns=["client_id", "scenario", "raroc"]).to_numpy(dtype=float)).all()


@pytest.mark.parametrize(
    ("clients", "facilities", "message"),
    [
        (
            [{k: v for k, v in _client().items() if k != "ttc_pd"}],
            [_facility()],
            r"clients: missing column\(s\) \['ttc_pd'\]",
        ),
        ([_client()], [_facility(drawn_balance_cny=-1.0)], "drawn_balance_cny: must be finite and non-negative"),
        ([_client(ttc_pd=np.nan)], [_facility()], r"ttc_pd: must be in \(0, 1\] \(1 rows, e.g. client_id \['C1'\]\)"),
        ([_client()], [_facility(client_id="C9")], "facility of a client not in the client frame"),
        ([_client()], [_facility(main_collateral_type="gold")], r"no LGD floor for \['gold'\]"),
        ([_client(asset_class="excellent")], [_facility()], r"asset_class: unknown value\(s\) \['excellent'\]"),
        ([_client()], [_facility(repayment_type="balloon")], r"unknown repayment profile\(s\) \['balloon'\]"),
    ],
)
def test_bad_inputs_fail_with_a_clear_error(params, clients, facilities, message):
    with pytest.raises(ValueError, match=message):
        value_portfolio(pd.DataFrame(clients), pd.DataFrame(facilities), params)


def test_a_client_without_facilities_is_worth_its_fees(params):
    row = _value(params, [_client(fee_income_12m_cny=10.0)], []).loc["C1"]
    s, d = _survival(0.01), 1.1 ** -np.array([1.0, 2.0])
    assert row["pv_fee_cny"] == pytest.approx((s * d * 10.0).sum(), rel=1e-12)
    assert row["clv_cny"] == pytest.approx(row["pv_fee_cny"])


def test_monthly_new_business_earns_the_same_margin_per_month_as_the_loan_it_replaces(params):
    monthly = params.model_copy(
        update={"periods_per_year": 12, "new_business": params.new_business.model_copy(update={"renew_maturing": True})}
    )
    half_year = _facility(remaining_maturity_years=0.5)
    row = _value(monthly, [_client()], [half_year]).loc["C1"]
    out = value_portfolio(pd.DataFrame([_client()]), pd.DataFrame([half_year]), monthly)
    assert row["growth_rate"] == 0.0
    # months 1-6 the loan, months 7-12 the new business replacing it: 100 × 2 % / 12 each month
    t = np.arange(1, 13) / 12
    retention = np.exp(betaln(ALPHA, BETA + t) - betaln(ALPHA, BETA))
    survival = retention * (1 - _pit(0.01)) ** t
    assert row["nii_12m_cny"] == pytest.approx((survival * 100 * 0.02 / 12).sum(), rel=1e-9)
    assert row["interest_income_12m_cny"] == pytest.approx((survival * 100 * 0.05 / 12).sum(), rel=1e-9)
    assert len(out) == 3


def test_the_capital_confidence_parameter_is_used(params):
    stricter = params.model_copy(update={"capital": params.capital.model_copy(update={"confidence": 0.9995})})
    base = _value(params, [_client()], [_facility()]).loc["C1"]
    strict = _value(stricter, [_client()], [_facility()]).loc["C1"]
    assert strict["capital_cny"] > base["capital_cny"]
    assert strict["capital_cny"] == pytest.approx(float(capital_requirement(0.01, 0.45, 2.0, confidence=0.9995)) * 100)


def test_fees_run_at_the_last_twelve_months_and_grow_with_the_client(params):
    """Fee_k = fee_12m / m · (1 + g)^(k/m), monthly: month 12 earns 10 000 × 1.05, month 24 10 000 × 1.05²."""
    monthly = params.model_copy(update={"periods_per_year": 12, "discount_rate": 0.0})
    client = _client(fee_income_12m_cny=120_000.0, revenue_growth_yoy=0.10, ttc_pd=1e-9,
                     sbg_alpha=1e-3, sbg_beta=1e6)  # fmt: skip  # a sure client: no default, no churn
    row = _value(monthly, [client], []).loc["C1"]
    g = 0.5 * 0.10
    months = np.arange(1, 25) / 12
    alive = _no_default_monthly(monthly.capital.pd_floor, 24)  # the PD floor still applies
    assert row["growth_rate"] == pytest.approx(g)
    assert row["pv_fee_cny"] == pytest.approx((alive * 10_000 * (1 + g) ** months).sum(), rel=1e-9)
    assert row["fee_12m_cny"] == pytest.approx((alive * 10_000 * (1 + g) ** months)[:12].sum(), rel=1e-9)


def test_a_one_year_bullet_loan_of_a_sure_client_is_the_margin_annuity(params):
    """CNY 1 million for 12 months at 2 % over FTP, discounted monthly at 8 %: the annuity formula."""
    monthly = params.model_copy(update={"periods_per_year": 12, "discount_rate": 0.08, "horizon_years": 1})
    client = _client(ttc_pd=1e-9, sbg_alpha=1e-3, sbg_beta=1e6)
    loan = _facility(drawn_balance_cny=1_000_000.0, remaining_maturity_years=1.0)
    row = _value(monthly, [client], [loan]).loc["C1"]
    i = 1.08 ** (1 / 12) - 1
    annuity = (1 - (1 + i) ** -12) / i
    assert row["pv_nii_cny"] == pytest.approx(1_000_000 * 0.02 / 12 * annuity, rel=2e-4)  # PD floor 3 bp
    alive = _no_default_monthly(monthly.capital.pd_floor, 12)
    assert row["pv_nii_cny"] == pytest.approx((alive * 1_000_000 * 0.02 / 12 / (1 + i) ** np.arange(1, 13)).sum())


def _no_default_monthly(ttc: float, months: int) -> np.ndarray:
    """Survival from default month by month: the PIT PD (on trend) in year 1, TTC after."""
    k = np.arange(1, months + 1)
    return np.where(k <= 12, (1 - _pit(ttc)) ** (k / 12), (1 - _pit(ttc)) * (1 - ttc) ** ((k - 12) / 12))
