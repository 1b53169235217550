"""Collateral items securing facilities: type by product, value 0.5-2x the limit, yearly revaluations.

An item appears when its facility starts (appraised a few weeks before), is revalued about once a year
if it is property, land, equipment or shares, and is released when the facility is repaid. Descriptions
are Chinese (the source is delivered in GBK).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from python_tasks.sample_data import names
from python_tasks.sample_data.arrow_build import bools as ab_bools
from python_tasks.sample_data.arrow_build import concat_strings, number_strings, pick, take
from python_tasks.sample_data.facilities import CL, FA, IP, PF, TF, WC, Facilities
from python_tasks.sample_data.lookups import Latest, group_offsets
from python_tasks.sample_data.population import Clients, Context
from python_tasks.sample_data.timeline import NEVER

TYPES = ("real_estate", "land_use_right", "equipment", "receivables", "deposit_pledge", "ip_rights", "guarantee", "equity_pledge")
RE, LAND, EQUIP, RECV, DEPO, IPR, GUAR, EQTY = range(8)
_SECURED = np.array([1.0, 0.5, 0.9, 0.6, 1.0, 0.3])  # by product
_TYPE_WEIGHTS = np.zeros((6, 8))
_TYPE_WEIGHTS[PF, [LAND, EQTY, RE, GUAR]] = [0.4, 0.3, 0.2, 0.1]
_TYPE_WEIGHTS[WC, [RE, RECV, GUAR, DEPO]] = [0.4, 0.25, 0.25, 0.1]
_TYPE_WEIGHTS[FA, [RE, EQUIP, LAND]] = [0.35, 0.4, 0.25]
_TYPE_WEIGHTS[TF, [DEPO, RECV, GUAR]] = [0.5, 0.4, 0.1]
_TYPE_WEIGHTS[IP, [IPR, GUAR]] = [0.85, 0.15]
_TYPE_WEIGHTS[CL, [GUAR, RE, DEPO]] = [0.5, 0.4, 0.1]
_DRIFT = np.array([-0.02, -0.01, -0.12, 0.0, 0.0, 0.0, 0.0, 0.0])
_VOL = np.array([0.06, 0.06, 0.03, 0.0, 0.0, 0.0, 0.0, 0.15])
_REVALUED = np.array([True, True, True, False, False, False, False, True])


@dataclass
class Collateral:
    n: int
    fac: np.ndarray
    client: np.ndarray
    ctype: np.ndarray
    description: pa.Array
    release_day: np.ndarray
    created_day: np.ndarray
    event_item: np.ndarray  # appraisals: initial + revaluations
    event_day: np.ndarray
    event_value: np.ndarray  # cents
    latest: Latest

    def state(self, item: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(appraised value in cents, appraisal day, released?) of items on days."""
        ev = self.latest.at(item, day)
        return self.event_value[ev], self.event_day[ev], self.release_day[item] <= day


def simulate_collateral(ctx: Context, chunk: int, clients: Clients, fac: Facilities) -> Collateral:
    rng = ctx.rng(chunk, 5)
    tl = ctx.timeline
    secured = rng.random(fac.n) < _SECURED[fac.product]
    n_items = np.where(secured, 1 + (rng.random(fac.n) < 0.3), 0)
    f, j = group_offsets(n_items)
    n = len(f)
    weights = _TYPE_WEIGHTS[fac.product[f]]
    cum = np.cumsum(weights, axis=1)
    ctype = (rng.random(n)[:, None] * cum[:, -1:] >= cum).sum(axis=1)
    ctype = np.where((fac.product[f] == IP) & (j == 0), IPR, ctype)
    coverage = rng.uniform(0.5, 2.0, fac.n)
    split = rng.uniform(0.3, 0.7, fac.n)
    share = np.where(n_items[f] == 1, 1.0, np.where(j == 0, split[f], 1 - split[f]))
    value0 = np.round(fac.limit[f] * coverage[f] * share / 100_000) * 100_000
    day0 = fac.start[f] - rng.integers(0, 46, n)
    release = np.where(fac.close_day[f] < NEVER, fac.close_day[f], NEVER)

    # yearly revaluations while the item secures a live facility (drawn to the horizon, then cut at the
    # release, so that the draws do not depend on the generation window)
    n_reval = np.where(_REVALUED[ctype], np.maximum((tl.horizon - day0 - 15) // 365, 0), 0)
    item, k = group_offsets(n_reval)
    k = k + 1
    r_day = day0[item] + 365 * k + rng.integers(-15, 16, len(item))
    growth = np.log1p(np.clip(_DRIFT[ctype[item]] + _VOL[ctype[item]] * rng.normal(0, 1, len(item)), -0.5, 0.5))
    cum_growth = np.cumsum(growth)
    group_start = np.cumsum(n_reval) - n_reval
    before = np.concatenate([[0.0], cum_growth])[group_start[item]]
    r_value = np.round(value0[item] * np.exp(cum_growth - before) / 100) * 100

    live = r_day < release[item]
    ev_item = np.concatenate([np.arange(n), item[live]])
    ev_day = np.concatenate([day0, r_day[live]]).astype(np.int64)
    ev_value = np.concatenate([value0, r_value[live]]).astype(np.int64)
    return Collateral(
        n=n,
        fac=f,
        client=fac.client[f],
        ctype=ctype,
        description=_descriptions(rng, ctx, clients, fac.client[f], ctype, value0),
        release_day=release.astype(np.int64),
        created_day=fac.start[f].astype(np.int64),
        event_item=ev_item,
        event_day=ev_day,
        event_value=ev_value,
        latest=Latest(ev_item, ev_day),
    )


def _descriptions(
    rng: np.random.Generator, ctx: Context, clients: Clients, client: np.ndarray, ctype: np.ndarray, value_cents: np.ndarray
) -> pa.Array:
    """Chinese free text per item, built per collateral type for the items of that type only."""
    ref = ctx.ref
    pieces: list[pa.Array] = []
    positions: list[np.ndarray] = []
    for t in range(len(TYPES)):
        idx = np.flatnonzero(ctype == t)
        n = len(idx)
        if n == 0:
            continue
        city = pick(ref.region_short_name, clients.region[client[idx]])

        def other(n: int = n) -> pa.Array:
            return names.company_names(
                rng, ref, rng.choice(len(ref.region_codes), n, p=ref.region_weight),
                rng.choice(len(ref.industry_codes), n, p=ref.industry_weight), np.full(n, 1),
            )

        def choose(words: tuple[str, ...], n: int = n) -> pa.Array:
            return pick(words, rng.integers(0, len(words), n))

        if t in (RE, LAND):
            price = rng.uniform(8_000, 40_000, n) if t == RE else rng.uniform(800, 6_000, n)
            area = number_strings(np.maximum(np.round(value_cents[idx] / 100 / price), 50))
        count = number_strings(rng.integers(2, 40, n))
        if t == RE:
            text = concat_strings(city, choose(names.DISTRICTS), choose(names.ROADS), number_strings(rng.integers(1, 999, n)),
                                  "号", choose(names.BUILDINGS), "，建筑面积", area, "平方米")
        elif t == LAND:
            text = concat_strings(city, choose(names.DISTRICTS), "工业用地使用权，面积", area, "平方米")
        elif t == EQUIP:
            text = concat_strings(choose(names.EQUIPMENT), count, "台（套）")
        elif t == RECV:
            text = concat_strings("对", other(), "的应收账款")
        elif t == DEPO:
            text = concat_strings("保证金存单质押，存单号", number_strings(rng.integers(10**11, 10**12, n)))
        elif t == IPR:
            text = concat_strings(choose(("发明专利", "实用新型专利", "注册商标专用权")), count, "项质押")
        elif t == GUAR:
            text = concat_strings(other(), "提供连带责任保证")
        else:
            text = concat_strings("持有的", other(), number_strings(rng.integers(10, 100, n)), "%股权质押")
        pieces.append(text)
        positions.append(idx)
    if not pieces:
        return pa.array([], pa.string())
    combined = pa.concat_arrays(pieces)
    inverse = np.empty(len(client), dtype=np.int64)
    inverse[np.concatenate(positions)] = np.arange(len(client))
    out = take(combined, inverse)
    missing = ab_bools(rng.random(len(client)) < 0.03)
    return pc.if_else(missing, pa.scalar(None, pa.string()), out)
