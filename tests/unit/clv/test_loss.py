"""LGD from collateral coverage with floors by type: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.loss import collateralised_lgd, expected_loss
from python_tasks.clv.params import load_params
from python_tasks.settings import CLV_PARAMS_FILE

FLOORS = {"deposit_pledge": 0.0, "real_estate": 0.15, "equipment": 0.30}


def lgd(ead, **collateral):  # noqa: ANN001, ANN003, ANN201 - scalar convenience for the cases below
    return float(collateralised_lgd(ead, collateral, FLOORS, 0.45))


def test_hand_computed_cases():
    assert lgd(100.0) == pytest.approx(0.45)  # unsecured
    assert lgd(100.0, real_estate=60.0) == pytest.approx((60 * 0.15 + 40 * 0.45) / 100)  # 0.27
    # best security first: the deposit covers 30 at 0 %, real estate the other 70 at 15 %
    assert lgd(100.0, real_estate=100.0, deposit_pledge=30.0) == pytest.approx(70 * 0.15 / 100)  # 0.105
    assert lgd(100.0, real_estate=500.0) == pytest.approx(0.15)  # over-collateralised: the type's floor
    assert lgd(100.0, equipment=50.0, real_estate=20.0) == pytest.approx((20 * 0.15 + 50 * 0.30 + 30 * 0.45) / 100)
    assert lgd(0.0, real_estate=10.0) == pytest.approx(0.45)  # no exposure: finite, unsecured


def test_vectorised_over_exposures():
    out = collateralised_lgd(np.array([100.0, 200.0, 0.0]), {"real_estate": np.array([60.0, 0.0, 5.0])}, FLOORS, 0.45)
    assert np.allclose(out, [0.27, 0.45, 0.45])


def test_more_collateral_never_raises_lgd():
    values = np.linspace(0, 300, 61)
    out = collateralised_lgd(np.full_like(values, 100.0), {"equipment": values}, FLOORS, 0.45)
    assert np.all(np.diff(out) <= 1e-12) and out[-1] == pytest.approx(0.30)


def test_bad_inputs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="EAD must be finite and non-negative"):
        collateralised_lgd([-1.0], {}, FLOORS, 0.45)
    with pytest.raises(ValueError, match=r"no LGD floor for collateral type\(s\) \['gold'\]"):
        collateralised_lgd([1.0], {"gold": [1.0]}, FLOORS, 0.45)
    with pytest.raises(ValueError, match="type real_estate must be finite"):
        collateralised_lgd([1.0], {"real_estate": [np.nan]}, FLOORS, 0.45)


def test_the_project_floors_apply():
    params = load_params(CLV_PARAMS_FILE)
    floors = {k: v for k, v in params.lgd_floors.items() if k != "unsecured"}
    out = collateralised_lgd([100.0], {"real_estate": [100.0]}, floors, params.lgd_floors["unsecured"])
    assert out[0] == pytest.approx(params.lgd_floors["real_estate"])


def test_expected_loss_is_the_product():
    assert expected_loss(0.02, 0.45, 1_000_000.0) == pytest.approx(9_000.0)
