"""Contractual run-off of existing facilities: the share of today's drawn balance outstanding in each
future period, by amortisation profile.

Period k = 1..K runs from k−1 to k periods from now; the balance "during" period k is the one outstanding
at its start (after k−1 scheduled repayments), which is what interest accrues on. ``remaining`` is the
number of scheduled periods left to maturity (n); nothing is outstanding from period n + 1 on.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

PROFILES = ("bullet", "interest_only", "equal_principal", "equal_installment", "revolving")


def runoff(profile: ArrayLike, remaining: ArrayLike, periodic_rate: ArrayLike, periods: int) -> np.ndarray:
    """Outstanding share of the current balance in each of ``periods`` periods, shape [facilities, K].

    * bullet, interest_only, revolving: the whole balance until maturity (a revolving line is assumed to
      stay drawn as it is today until the facility ends);
    * equal_principal: (n − k + 1) / n;
    * equal_installment (annuity at the periodic client rate i): ((1+i)^n − (1+i)^(k−1)) / ((1+i)^n − 1),
      (n − k + 1) / n when i = 0.
    """
    profile = np.asarray(profile, dtype=object)
    unknown = sorted(set(profile.tolist()) - set(PROFILES))
    if unknown:
        raise ValueError(f"unknown repayment profile(s) {unknown}; known: {list(PROFILES)}")
    n = np.asarray(remaining, dtype=float)[:, None]
    if np.any(n < 0) or not np.all(np.isfinite(n)):
        raise ValueError("remaining periods must be finite and non-negative")
    i = np.broadcast_to(np.asarray(periodic_rate, dtype=float), n.shape[:1])[:, None]
    k = np.arange(1, periods + 1, dtype=float)[None, :]
    share = (k <= n).astype(float)  # bullet, interest_only, revolving: the whole balance while alive
    # each profile's formula on its own rows only: the powers of the annuity are the costly part
    annuity = (profile == "equal_installment") & (i[:, 0] > 0)
    linear = np.flatnonzero((profile == "equal_principal") | ((profile == "equal_installment") & ~annuity))
    if linear.size:
        nl = n[linear]
        share[linear] = np.where(k <= nl, (nl - k + 1) / np.where(nl > 0, nl, 1.0), 0.0)
    rows = np.flatnonzero(annuity)
    if rows.size:
        na, ia = n[rows], i[rows]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            growth_n = np.power(1.0 + ia, na)
            share[rows] = np.where(k <= na, (growth_n - np.power(1.0 + ia, k - 1)) / (growth_n - 1.0), 0.0)
    return share
