"""Counter-based random numbers: a value per key (facility, instalment, day…), not per position in a stream.

Draws whose number depends on the generation window (instalments up to the last delivery date, fee
postings, collection calls) use these, so asking for more delta days adds rows without changing the ones
already there: the same seed gives the same first deliveries whatever ``days`` is. SplitMix64 finalisers
over uint64 keys; vectorised, no state.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


class KeyedRandom:
    """Uniform, normal and integer draws that are pure functions of (seed, chunk, purpose, keys)."""

    def __init__(self, seed: int, chunk: int, purpose: int) -> None:
        base = np.array([seed, chunk, purpose], dtype=np.uint64)
        state = np.uint64(0)
        with np.errstate(over="ignore"):
            for value in base:
                state = _mix(np.asarray(state ^ (value + _GOLDEN)))
        self._state = state

    def _bits(self, keys: tuple[np.ndarray, ...], salt: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            x = np.full(np.broadcast(*keys).shape if keys else (), self._state ^ np.uint64(salt), dtype=np.uint64)
            for key in keys:
                x = _mix(x ^ (np.asarray(key).astype(np.uint64) + _GOLDEN))
            return _mix(x + _GOLDEN)

    def uniform(self, *keys: np.ndarray, salt: int = 0) -> np.ndarray:
        """Uniform on (0, 1)."""
        return ((self._bits(keys, salt) >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53

    def normal(self, *keys: np.ndarray, salt: int = 0) -> np.ndarray:
        u1 = self.uniform(*keys, salt=2 * salt + 101)
        u2 = self.uniform(*keys, salt=2 * salt + 102)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)

    def integers(self, low: int, high: int, *keys: np.ndarray, salt: int = 0) -> np.ndarray:
        """Integers in [low, high)."""
        return low + np.floor(self.uniform(*keys, salt=salt) * (high - low)).astype(np.int64)

    def geometric(self, p: float, *keys: np.ndarray, salt: int = 0) -> np.ndarray:
        """Number of trials to the first success (>= 1)."""
        return np.ceil(np.log(self.uniform(*keys, salt=salt)) / np.log1p(-p)).astype(np.int64)
