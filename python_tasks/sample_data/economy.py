"""The macro and industry paths behind the sample data, and the vendor's publications of them.

One "true" path per seed, on a fixed calendar (2000-2069) so that any first date sees the same economy:
a mild business cycle drives GDP, PMI, prices, money growth and the loan prime rates, and through the
sections' sensitivities their output growth, margins and NPL ratios. Client defaults and late payments
are driven by the same path (see :mod:`population`), so external data and credit losses move together.

A publication for month P holds the actuals up to P and forecasts after it: 36 months per macro
scenario (baseline mean-reverting; adverse and severe with a recession bump) and 12 quarters per
industry section (baseline only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_tasks.sample_data.reference import Reference
from python_tasks.sample_data.timeline import from_day, month_start

MONTH0 = (2000 - 1970) * 12
"""Epoch month of the first month of the path (2000-01)."""
N_MONTHS = 70 * 12

SCENARIOS = ("baseline", "adverse", "severe")
MACRO_FIELDS = ("gdp_growth_pct", "cpi_yoy_pct", "ppi_yoy_pct", "pmi", "lpr_1y_pct", "lpr_5y_pct", "m2_growth_pct")
_LONG_RUN = {"gdp_growth_pct": 5.0, "cpi_yoy_pct": 1.4, "ppi_yoy_pct": -0.5, "pmi": 50.0, "m2_growth_pct": 9.8}
_SHOCK = {  # adverse, severe peak deviation from baseline
    "gdp_growth_pct": (-1.5, -3.5),
    "cpi_yoy_pct": (-0.8, -1.6),
    "ppi_yoy_pct": (-3.0, -6.0),
    "pmi": (-2.0, -4.0),
    "m2_growth_pct": (1.0, 2.0),
    "lpr_1y_pct": (-0.10, -0.25),
    "lpr_5y_pct": (-0.15, -0.30),
}
_BOUNDS = {
    "gdp_growth_pct": (-20.0, 30.0),
    "cpi_yoy_pct": (-10.0, 30.0),
    "ppi_yoy_pct": (-30.0, 40.0),
    "pmi": (30.0, 70.0),
    "lpr_1y_pct": (0.0, 15.0),
    "lpr_5y_pct": (0.0, 15.0),
    "m2_growth_pct": (-10.0, 40.0),
}
FORECAST_MONTHS = 36
FORECAST_QUARTERS = 12


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    shocks = rng.normal(0.0, sd, n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + shocks[i]
        out[i] = acc
    return out


def _round_step(values: np.ndarray, step: float) -> np.ndarray:
    return np.round(np.round(values / step) * step, 2)


@dataclass(frozen=True)
class Economy:
    ref: Reference
    cycle: np.ndarray  # per month, about -1..1
    macro: dict[str, np.ndarray]  # per month
    ind_growth: np.ndarray  # [section, quarter]
    ind_margin: np.ndarray
    ind_npl: np.ndarray
    level: np.ndarray  # [section, year since 2000]: log output level relative to trend

    # --- lookups used by the client simulation --------------------------------------------------------

    def month_idx(self, epoch_months: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(epoch_months) - MONTH0, 0, N_MONTHS - 1)

    def value(self, field: str, epoch_months: np.ndarray) -> np.ndarray:
        return self.macro[field][self.month_idx(epoch_months)]

    def industry_stress(self, section_idx: np.ndarray, epoch_months: np.ndarray) -> np.ndarray:
        """Relative deviation of the section's NPL ratio from its norm (0.2 = 20 % above normal)."""
        q = self.month_idx(epoch_months) // 3
        return self.ind_npl[section_idx, q] / self.ref.econ_npl[section_idx] - 1.0

    def industry_level(self, section_idx: np.ndarray, years: np.ndarray) -> np.ndarray:
        """Log output level of a section in a calendar year, relative to its trend (for revenue paths)."""
        y = np.clip(np.asarray(years) - 2000, 0, N_MONTHS // 12 - 1)
        return self.level[section_idx, y]

    # --- publications ---------------------------------------------------------------------------------

    def macro_records(self, publication_month: int, first_month: int) -> list[dict]:
        """Actuals from ``first_month`` through ``publication_month`` and 36 forecast months per scenario."""
        records: list[dict] = []
        for m in range(first_month, publication_month + 1):
            i = m - MONTH0
            values = {f: float(self.macro[f][i]) for f in MACRO_FIELDS}
            for scenario in SCENARIOS:
                records.append(_macro_record(m, scenario, False, values))
        last = {f: float(self.macro[f][publication_month - MONTH0]) for f in MACRO_FIELDS}
        h = np.arange(1, FORECAST_MONTHS + 1)
        bump = np.minimum(h / 6.0, 1.0) * np.exp(-np.maximum(h - 9, 0) / 12.0)
        for s_idx, scenario in enumerate(SCENARIOS):
            paths: dict[str, np.ndarray] = {}
            for f in MACRO_FIELDS:
                if f in _LONG_RUN:
                    base = _LONG_RUN[f] + (last[f] - _LONG_RUN[f]) * 0.92**h
                else:  # policy rates: flat in the baseline
                    base = np.full(FORECAST_MONTHS, last[f])
                shock = 0.0 if s_idx == 0 else _SHOCK[f][s_idx - 1]
                path = base + shock * bump
                if f.startswith("lpr"):
                    path = _round_step(path, 0.05)
                else:
                    path = np.round(path, 1)
                lo, hi = _BOUNDS[f]
                paths[f] = np.clip(path, lo, hi)
            for k in range(FORECAST_MONTHS):
                values = {f: float(paths[f][k]) for f in MACRO_FIELDS}
                records.append(_macro_record(publication_month + 1 + k, scenario, True, values))
        return records

    def industry_records(self, publication_month: int, first_month: int) -> list[dict]:
        """Quarters from the one holding ``first_month`` through the last completed one, plus 12 forecasts."""
        first_q = (first_month - MONTH0) // 3
        last_q = (publication_month - MONTH0) // 3 - 1  # the quarter before the publication's quarter
        records: list[dict] = []
        for q in range(first_q, last_q + 1):
            for s, letter in enumerate(self.ref.sections):
                records.append(
                    _industry_record(q, letter, self.ind_growth[s, q], self.ind_margin[s, q], self.ind_npl[s, q])
                )
        for h in range(1, FORECAST_QUARTERS + 1):
            w = 0.8**h
            for s, letter in enumerate(self.ref.sections):
                g = self.ref.econ_growth[s] + (self.ind_growth[s, last_q] - self.ref.econ_growth[s]) * w
                m = self.ref.econ_margin[s] + (self.ind_margin[s, last_q] - self.ref.econ_margin[s]) * w
                n = self.ref.econ_npl[s] + (self.ind_npl[s, last_q] - self.ref.econ_npl[s]) * w
                records.append(_industry_record(last_q + h, letter, g, m, n))
        return records


def _macro_record(month: int, scenario: str, is_forecast: bool, values: dict[str, float]) -> dict:
    return {
        "indicator_month": from_day(int(month_start(month))).isoformat(),
        "scenario": scenario,
        "is_forecast": is_forecast,
        **{f: round(values[f], 2) for f in MACRO_FIELDS},
    }


def _industry_record(quarter: int, section: str, growth: float, margin: float, npl: float) -> dict:
    quarter_end = int(month_start(MONTH0 + quarter * 3 + 3)) - 1
    return {
        "quarter_end_date": from_day(quarter_end).isoformat(),
        "section_code": section,
        "output_growth_pct": round(float(np.clip(growth, -60, 100)), 2),
        "profit_margin_pct": round(float(np.clip(margin, -100, 100)), 2),
        "npl_ratio_pct": round(float(np.clip(npl, 0.05, 100)), 2),
    }


def build_economy(seed: int, ref: Reference) -> Economy:
    """The seed's economy: deterministic, independent of the generation window."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7_777_777, 1]))
    t = np.arange(N_MONTHS)
    phase = rng.uniform(0, 96)
    cycle = 0.75 * np.sin(2 * np.pi * (t - phase) / 96.0) + _ar1(rng, N_MONTHS, 0.85, 0.12)

    def lag(x: np.ndarray, k: int) -> np.ndarray:
        return np.concatenate([np.full(k, x[0]), x[:-k]])

    smooth = np.empty(N_MONTHS)
    acc = cycle[0]
    for i in range(N_MONTHS):
        acc = 0.8 * acc + 0.2 * cycle[i]
        smooth[i] = acc
    macro: dict[str, np.ndarray] = {
        "gdp_growth_pct": np.round(np.clip(5.0 + 0.9 * cycle + rng.normal(0, 0.1, N_MONTHS), 3.5, 6.8), 1),
        "cpi_yoy_pct": np.round(np.clip(1.4 + 0.9 * lag(cycle, 6) + rng.normal(0, 0.25, N_MONTHS), -0.8, 3.2), 1),
        "ppi_yoy_pct": np.round(np.clip(-0.5 + 3.5 * lag(cycle, 3) + rng.normal(0, 0.6, N_MONTHS), -6, 8), 1),
        "pmi": np.round(np.clip(50.0 + 1.1 * cycle + rng.normal(0, 0.35, N_MONTHS), 47.5, 52.5), 1),
        "m2_growth_pct": np.round(np.clip(9.8 - 1.2 * cycle + rng.normal(0, 0.3, N_MONTHS), 7.5, 12.5), 1),
    }
    # Loan prime rates move in 5 bp steps, at most one step a month, towards a cycle-driven target.
    lpr1 = np.empty(N_MONTHS)
    level = 3.45
    for i in range(N_MONTHS):
        target = float(np.clip(3.40 + 0.35 * smooth[i], 3.0, 3.85))
        if target - level >= 0.05:
            level += 0.05
        elif level - target >= 0.05:
            level -= 0.05
        lpr1[i] = level
    lpr1 = _round_step(lpr1, 0.05)
    lpr5 = _round_step(np.clip(lpr1 + 0.6 + 0.2 * smooth, 3.5, 4.65), 0.05)
    macro["lpr_1y_pct"] = lpr1
    macro["lpr_5y_pct"] = np.maximum(lpr5, np.round(lpr1 + 0.3, 2))

    n_q = N_MONTHS // 3
    cycle_q = cycle[: n_q * 3].reshape(n_q, 3).mean(axis=1)
    gdp_q = macro["gdp_growth_pct"][: n_q * 3].reshape(n_q, 3).mean(axis=1)
    n_s = len(ref.sections)
    sens = ref.econ_sensitivity[:, None]
    growth = ref.econ_growth[:, None] + 1.8 * sens * (gdp_q[None, :] - 5.0)
    growth = growth + np.stack([_ar1(rng, n_q, 0.6, 1.0) for _ in range(n_s)])
    margin = ref.econ_margin[:, None] + 0.8 * sens * cycle_q[None, :] + rng.normal(0, 0.3, (n_s, n_q))
    npl_noise = np.stack([_ar1(rng, n_q, 0.8, 0.05) for _ in range(n_s)])
    npl = ref.econ_npl[:, None] * np.exp(-0.25 * sens * cycle_q[None, :] + npl_noise)
    n_years = N_MONTHS // 12
    dev = (growth - ref.econ_growth[:, None]) / 100.0
    level = np.cumsum(dev[:, : n_years * 4].reshape(n_s, n_years, 4).mean(axis=2), axis=1) * 0.6
    return Economy(
        ref=ref,
        level=level,
        cycle=cycle,
        macro=macro,
        ind_growth=np.round(growth, 2),
        ind_margin=np.round(margin, 2),
        ind_npl=np.round(np.maximum(npl, 0.05), 2),
    )
