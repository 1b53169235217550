"""Point-in-time lookups over event arrays, vectorised with one sort and ``searchsorted``.

The master sources (clients, facilities, collateral, holdings) are delivered as their state on a day;
these lookups answer "the balance of facility f on day d" or "the latest statement of client c on day d"
for millions of (entity, day) pairs at once.
"""

from __future__ import annotations

import numpy as np

_KEY = np.int64(1 << 21)  # > every day number the generator uses (NEVER = 10**6)


def _keys(entity: np.ndarray, day: np.ndarray) -> np.ndarray:
    return np.asarray(entity, dtype=np.int64) * _KEY + np.asarray(day, dtype=np.int64)


class RunningSum:
    """Sum of ``delta`` over the events of an entity up to and including a day."""

    def __init__(self, entity: np.ndarray, day: np.ndarray, delta: np.ndarray) -> None:
        keys = _keys(entity, day)
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._cum = np.concatenate([[0], np.cumsum(np.asarray(delta, dtype=np.int64)[order])])

    def at(self, entity: np.ndarray, day: np.ndarray) -> np.ndarray:
        hi = np.searchsorted(self._keys, _keys(entity, day), side="right")
        lo = np.searchsorted(self._keys, _keys(entity, 0), side="left")
        return self._cum[hi] - self._cum[lo]


class Latest:
    """Index of the latest event of an entity on or before a day (-1 if none)."""

    def __init__(self, entity: np.ndarray, day: np.ndarray) -> None:
        keys = _keys(entity, day)
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]

    def at(self, entity: np.ndarray, day: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self._keys, _keys(entity, day), side="right") - 1
        ok = (pos >= 0) & (self._keys[np.maximum(pos, 0)] // _KEY == np.asarray(entity, dtype=np.int64))
        return np.where(ok, self._order[np.maximum(pos, 0)], -1)


def change_pairs(
    entity: np.ndarray, day: np.ndarray, first_day: int, last_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (entity, day) pairs with first_day < day <= last_day, ordered by entity then day."""
    entity = np.asarray(entity, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    keep = (day > first_day) & (day <= last_day)
    keys = np.unique(_keys(entity[keep], day[keep]))
    return keys // _KEY, keys % _KEY


def group_offsets(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows repeated ``counts`` times: (owner index per row, position of the row within its owner)."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]
