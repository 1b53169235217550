"""Attribution of a change in CLV to its drivers, with parts that sum exactly to the total.

Given the inputs of two runs grouped into factors (exposure, margin, PD, LGD, retention, macro,
parameters, …) and the valuation function, the Shapley decomposition gives each factor its average
marginal effect over every order in which the factors could be switched from old to new. The parts sum to
CLV(new) − CLV(old) exactly (up to floating-point rounding), an interaction is shared equally between the
factors involved, and the result does not depend on an arbitrary order. Cost: 2^F valuations for F
factors, each vectorised over all clients (F = 7 → 128).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import combinations
from math import factorial

import numpy as np

Inputs = Mapping[str, object]


def shapley_attribution(
    value: Callable[[dict[str, object]], np.ndarray],
    old: Inputs,
    new: Inputs,
) -> dict[str, np.ndarray]:
    """Per factor, its share of value(new) − value(old) per client. ``old`` and ``new`` map each factor to
    that factor's inputs (any object ``value`` understands); both must name the same factors."""
    if set(old) != set(new):
        raise ValueError(f"old and new name different factors: {sorted(set(old) ^ set(new))}")
    factors = sorted(old)
    f = len(factors)
    if f == 0:
        raise ValueError("no factors to attribute to")
    if f > 12:
        raise ValueError(f"{f} factors need 2^{f} valuations: group them into at most 12")
    cache: dict[frozenset[str], np.ndarray] = {}

    def at(switched: frozenset[str]) -> np.ndarray:
        if switched not in cache:
            cache[switched] = np.asarray(value({k: (new[k] if k in switched else old[k]) for k in factors}), float)
        return cache[switched]

    parts = {}
    for factor in factors:
        others = [x for x in factors if x != factor]
        total = 0.0
        for size in range(f):
            weight = factorial(size) * factorial(f - size - 1) / factorial(f)
            for subset in combinations(others, size):
                before = frozenset(subset)
                total = total + weight * (at(before | {factor}) - at(before))
        parts[factor] = np.asarray(total, dtype=float)
    return parts


def sequential_attribution(
    value: Callable[[dict[str, object]], np.ndarray],
    old: Inputs,
    new: Inputs,
) -> dict[str, np.ndarray]:
    """Per factor, value after switching it (and every factor before it, in ``old``'s order) to new minus
    value before: a waterfall whose parts sum to value(new) − value(old). The definition, valuing every
    client at every step; ``change.attribute_change`` computes the same waterfall revaluing only the clients
    whose factor changed, and is tested against this."""
    if list(old) != list(new):
        raise ValueError(f"old and new must name the same factors in the same order: {list(old)} vs {list(new)}")
    if not old:
        raise ValueError("no factors to attribute to")
    current = dict(old)
    previous = np.asarray(value(current), dtype=float)
    parts = {}
    for factor in old:
        current[factor] = new[factor]
        after = np.asarray(value(current), dtype=float)
        parts[factor] = after - previous
        previous = after
    return parts
