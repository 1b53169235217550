"""Migration matrices between two runs, and segment summaries for BI.

A migration matrix counts clients (and their exposure) by (label before, label now). Clients that were
not in the earlier run come from ``(new)``, clients no longer present go to ``(gone)``, so each row's
clients add up to the earlier run's count of that label, and each column's to today's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEW, GONE = "(new)", "(gone)"
MIGRATION_COLUMNS = ("dimension", "from_label", "to_label", "clients", "exposure_cny", "exposure_before_cny")


def migration_matrix(before: pd.DataFrame, now: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """``before`` and ``now``: client_id, label, ead_cny. Exposure is today's EAD (the EAD before for
    clients gone), exposure_before the earlier run's (0 for new clients)."""
    for name, frame in (("before", before), ("now", now)):
        missing = [c for c in ("client_id", "label", "ead_cny") if c not in frame.columns]
        if missing:
            raise ValueError(f"migration {dimension}: {name} lacks {missing}")
    rename = {"label": dimension}
    return migration_matrices(before.rename(columns=rename), now.rename(columns=rename), [dimension])


def migration_matrices(before: pd.DataFrame, now: pd.DataFrame, dimensions: list[str]) -> pd.DataFrame:
    """One matrix per dimension from one outer join of the two runs (client_id, ead_cny and a label column
    per dimension in each)."""
    for name, frame in (("before", before), ("now", now)):
        if frame["client_id"].duplicated().any():
            raise ValueError(f"migration: {name} has duplicate client_id")
    joined = before.merge(now, on="client_id", how="outer", suffixes=("_before", "_now"))
    exposure = joined["ead_cny_now"].fillna(joined["ead_cny_before"]).fillna(0.0).to_numpy(dtype=float)
    exposure_before = joined["ead_cny_before"].fillna(0.0).to_numpy(dtype=float)
    parts = []
    for dim in dimensions:
        frame = pd.DataFrame({
            "from_label": joined[f"{dim}_before"].astype(object).where(joined[f"{dim}_before"].notna(), NEW).astype(str),
            "to_label": joined[f"{dim}_now"].astype(object).where(joined[f"{dim}_now"].notna(), GONE).astype(str),
            "exposure_cny": exposure,
            "exposure_before_cny": exposure_before,
        })  # fmt: skip
        out = (
            frame.groupby(["from_label", "to_label"], sort=True)
            .agg(
                clients=("exposure_cny", "size"),
                exposure_cny=("exposure_cny", "sum"),
                exposure_before_cny=("exposure_before_cny", "sum"),
            )
            .reset_index()
        )
        out.insert(0, "dimension", dim)
        out["clients"] = out["clients"].astype(np.int64)
        parts.append(out[list(MIGRATION_COLUMNS)])
    return pd.concat(parts, ignore_index=True)


SUMMARY_COLUMNS = (
    "dimension", "segment", "clients", "ead_cny", "clv_cny", "clv_stressed_cny", "expected_loss_12m_cny",
    "capital_cny", "raroc", "share_of_clients", "share_of_clv",
)  # fmt: skip


def segment_summary(frame: pd.DataFrame, dimensions: list[str]) -> pd.DataFrame:
    """Clients, exposure, CLV (base and stressed), expected loss, capital and RAROC (capital-weighted:
    Σ numerator / Σ capital) per segment of each dimension."""
    need = ["clv_cny", "clv_stressed_cny", "ead_cny", "expected_loss_12m_cny", "capital_cny", "raroc_numerator_cny"]
    missing = [c for c in need + dimensions if c not in frame.columns]
    if missing:
        raise ValueError(f"segment summary: missing column(s) {missing}")
    total_clients, total_clv = len(frame), float(frame["clv_cny"].sum())
    parts = []
    for dim in dimensions:
        g = frame.assign(segment=frame[dim].astype(str)).groupby("segment", sort=True)
        part = g.agg(
            clients=("clv_cny", "size"), ead_cny=("ead_cny", "sum"), clv_cny=("clv_cny", "sum"),
            clv_stressed_cny=("clv_stressed_cny", "sum"), expected_loss_12m_cny=("expected_loss_12m_cny", "sum"),
            capital_cny=("capital_cny", "sum"), numerator=("raroc_numerator_cny", "sum"),
        ).reset_index()  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            part["raroc"] = np.where(part["capital_cny"] > 0, part["numerator"] / part["capital_cny"], np.nan)
        part["share_of_clients"] = part["clients"] / max(total_clients, 1)
        part["share_of_clv"] = part["clv_cny"] / total_clv if total_clv else np.nan
        part.insert(0, "dimension", dim)
        parts.append(part.drop(columns="numerator"))
    out = pd.concat(parts, ignore_index=True)
    out["clients"] = out["clients"].astype(np.int64)
    return out[list(SUMMARY_COLUMNS)]
