"""Loss given default from collateral coverage, with a floor per collateral type.

The collateral of an exposure covers its EAD best security first (the type with the lowest LGD floor
first); each covered part takes its type's floor, the uncovered remainder the unsecured LGD:

    LGD = (Σ_type covered_type · floor_type + uncovered · LGD_unsecured) / EAD

This is the shape of the foundation-IRB treatment of eligible collateral (Basel II paras. 289-295), with
the floors as parameters (config/clv_params.yml). Vectorised over exposures: one array per collateral type.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike


def collateralised_lgd(
    ead: ArrayLike,
    collateral: Mapping[str, ArrayLike],
    floors: Mapping[str, float],
    unsecured_lgd: float,
) -> np.ndarray:
    """LGD per exposure. ``collateral`` maps a collateral type to each exposure's collateral value of that
    type; an exposure without EAD gets the unsecured LGD (finite, and irrelevant to its expected loss)."""
    ead = np.asarray(ead, dtype=float)
    if np.any(~np.isfinite(ead)) or np.any(ead < 0):
        raise ValueError("EAD must be finite and non-negative")
    unknown = sorted(set(collateral) - set(floors))
    if unknown:
        raise ValueError(f"no LGD floor for collateral type(s) {unknown}")
    remaining = ead.copy()
    secured_loss = np.zeros_like(ead)
    for kind in sorted(collateral, key=lambda k: (floors[k], k)):
        value = np.broadcast_to(np.asarray(collateral[kind], dtype=float), ead.shape)
        if np.any(~np.isfinite(value)) or np.any(value < 0):
            raise ValueError(f"collateral values of type {kind} must be finite and non-negative")
        covered = np.minimum(value, remaining)
        secured_loss += covered * floors[kind]
        remaining -= covered
    loss = secured_loss + remaining * unsecured_lgd
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ead > 0, loss / np.where(ead > 0, ead, 1.0), unsecured_lgd)


def expected_loss(pd: ArrayLike, lgd: ArrayLike, ead: ArrayLike) -> np.ndarray:
    """EL = PD · LGD · EAD."""
    return np.asarray(pd, dtype=float) * np.asarray(lgd, dtype=float) * np.asarray(ead, dtype=float)
