"""Funds-transfer pricing and net interest income.

The FTP rate of a facility is read off a curve by its remaining tenor: the loan prime rates of the date
(1-year and 5-year LPR, from the macro source as known at D) interpolated linearly in tenor, flat beyond
the two points, plus a configured spread (the bank's funding curve sits below the LPR). The engine charges
NII per period = balance × (client rate − FTP rate) / periods per year.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def ftp_rate(tenor_years: ArrayLike, lpr_1y_pct: ArrayLike, lpr_5y_pct: ArrayLike, spread_bps: float) -> np.ndarray:
    """FTP rate in percent for each tenor: LPR interpolated between 1 and 5 years, flat outside, + spread."""
    tenor = np.clip(np.asarray(tenor_years, dtype=float), 1.0, 5.0)
    short, long_ = np.asarray(lpr_1y_pct, dtype=float), np.asarray(lpr_5y_pct, dtype=float)
    return short + (long_ - short) * (tenor - 1.0) / 4.0 + spread_bps / 100.0

