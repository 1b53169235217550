"""Run-off profiles and FTP/NII: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.exposure import runoff
from python_tasks.clv.pricing import ftp_rate


def test_bullet_interest_only_and_revolving_stay_until_maturity():
    out = runoff(["bullet", "interest_only", "revolving"], [3, 2, 0], [0.01, 0.01, 0.01], 4)
    assert out.tolist() == [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]]


def test_equal_principal_runs_off_linearly():
    assert np.allclose(runoff(["equal_principal"], [4], [0.005], 6), [[1, 0.75, 0.5, 0.25, 0, 0]])


def test_equal_installment_is_an_annuity():
    # two annual instalments at 10 %: payment 0.576190, balance after the first 1.1 − 0.576190 = 0.523810
    out = runoff(["equal_installment", "equal_installment"], [2, 4], [0.10, 0.0], 5)
    assert np.allclose(out[0], [1.0, 0.5238095, 0.0, 0.0, 0.0])
    assert np.allclose(out[1], [1.0, 0.75, 0.5, 0.25, 0.0])  # a zero rate is linear


def test_bad_profiles_and_tenors_are_refused():
    with pytest.raises(ValueError, match=r"unknown repayment profile\(s\) \['balloon'\]"):
        runoff(["balloon"], [3], [0.0], 3)
    with pytest.raises(ValueError, match="non-negative"):
        runoff(["bullet"], [-1], [0.0], 3)


def test_ftp_curve_interpolates_the_lpr_by_tenor():
    rates = ftp_rate([0.5, 1.0, 3.0, 5.0, 10.0], 3.0, 3.5, -150)
    assert np.allclose(rates, [1.5, 1.5, 1.75, 2.0, 2.0])
