"""Behavioural clusters: k chosen on well-separated blobs, order independence, stable ids across runs,
fingerprint stickiness, growing k, input errors, descriptions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score

from python_tasks.segments.clusters import (
    ClusterParams,
    PreviousClusters,
    assign_clusters,
    describe_centroids,
    fingerprint_clients,
    humanise_feature,
    silhouette_scores,
)

FEATURES = ("drawn_balance_cny", "utilisation_pct", "tenure_months")
PARAMS = ClusterParams(
    features=FEATURES, log_features=("drawn_balance_cny",), k_min=3, k_max=6, fit_sample=5_000, score_sample=600
)
# Blob centres in "z" units: z0 is log1p(balance) − 13, z1 = (utilisation − 0.5) / 0.1, z2 = (tenure − 60) / 15.
FOUR = np.array([[3.0, -2.5, 0.0], [-3.0, 2.5, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, -2.5]])


def make_clients(centres, sizes, seed, *, first=0, std=0.3) -> tuple[pd.DataFrame, pd.Series]:
    """Blobs in money-like units; returns the features (index client_id) and each client's blob."""
    z, blob = make_blobs(n_samples=list(sizes), centers=np.asarray(centres), cluster_std=std, random_state=seed)
    ids = pd.Index([f"C{i:05d}" for i in range(first, first + len(z))], name="client_id")
    frame = pd.DataFrame(
        {
            "drawn_balance_cny": np.expm1(z[:, 0] + 13.0),  # around 440 000 CNY, spread over orders of magnitude
            "utilisation_pct": 0.5 + 0.1 * z[:, 1],
            "tenure_months": 60.0 + 15.0 * z[:, 2],
        },
        index=ids,
    )
    return frame, pd.Series(blob, index=ids, name="blob")


def majority(labels: pd.Series, blob: pd.Series) -> dict[int, int]:
    """blob -> its most frequent cluster id."""
    both = pd.DataFrame({"label": labels, "blob": blob.reindex(labels.index)})
    return {int(b): int(group["label"].mode().iloc[0]) for b, group in both.groupby("blob")}


def test_four_separated_blobs_give_four_clusters():
    frame, blob = make_clients(FOUR, (300, 250, 200, 150), seed=1)
    result = assign_clusters(frame, PARAMS)

    assert result.selection["k"].tolist() == [3, 4, 5, 6]
    assert result.selection["is_chosen"].sum() == 1
    assert result.selection.loc[result.selection["is_chosen"], "k"].item() == 4
    assert result.selection["silhouette"].notna().all() and result.selection["inertia"].is_monotonic_decreasing
    # each blob is one cluster, and without a previous run the ids go by descending size
    assert pd.crosstab(blob, result.labels).gt(0).sum(axis=1).eq(1).all()
    assert majority(result.labels, blob) == {0: 1, 1: 2, 2: 3, 3: 4}
    centroids = result.centroids
    assert centroids.columns.tolist() == ["cluster_id", "clients", "share", *FEATURES, "description"]
    assert centroids["clients"].tolist() == [300, 250, 200, 150] and centroids["share"].sum() == pytest.approx(1.0)
    # means in original units: blob 0's balance is about expm1(16) CNY, its utilisation about 0.25
    first = centroids.iloc[0]
    assert 0.5 * np.expm1(16.0) < first["drawn_balance_cny"] < 2.0 * np.expm1(16.0)
    assert first["utilisation_pct"] == pytest.approx(0.25, abs=0.02)
    assert result.kept_by_fingerprint == 0 and sorted(result.matched.values()) == [1, 2, 3, 4]


def test_row_order_does_not_matter():
    frame, _ = make_clients(FOUR, (300, 250, 200, 150), seed=1)
    params = PARAMS.model_copy(update={"fit_sample": 500, "score_sample": 300})  # samples smaller than the data
    first = assign_clusters(frame, params)
    shuffled = frame.sample(frac=1.0, random_state=5)
    second = assign_clusters(shuffled, params)

    assert second.labels.index.equals(shuffled.index)  # returned in the input's order
    pd.testing.assert_series_equal(second.labels.reindex(frame.index), first.labels)
    pd.testing.assert_series_equal(second.fingerprints.reindex(frame.index), first.fingerprints)
    pd.testing.assert_frame_equal(second.centroids, first.centroids, check_exact=True)
    pd.testing.assert_frame_equal(second.selection, first.selection, check_exact=True)
    assert second.matched == first.matched


def test_ids_follow_the_blobs_from_one_run_to_the_next():
    frame, blob = make_clients(FOUR, (300, 250, 200, 150), seed=1)
    first = assign_clusters(frame, PARAMS)

    # next run: every client's features move a little, blob 0 loses 200 clients and blob 3 gains 200, so the
    # size order (the rule without a previous run) is reversed; a different seed permutes k-means's labels
    rng = np.random.default_rng(3)
    moved = frame * np.exp(rng.normal(0.0, 0.02, size=frame.shape))
    newcomers, new_blob = make_clients(FOUR[[3]], (200,), seed=4, first=10_000)
    gone = blob.index[blob.eq(0)][:200]
    later = pd.concat([moved.drop(gone), newcomers])
    later_blob = pd.concat([blob.drop(gone), new_blob.replace(0, 3)])
    params = PARAMS.model_copy(update={"seed": 11})
    second = assign_clusters(later, params, first.to_previous())

    assert majority(second.labels, later_blob) == majority(first.labels, blob) == {0: 1, 1: 2, 2: 3, 3: 4}
    # the matching did the work: alone, the new run would number the blobs otherwise ...
    fresh = assign_clusters(later, params)
    assert majority(fresh.labels, later_blob) != majority(first.labels, blob)
    # ... and k-means's raw numbering differs from the run before
    assert second.matched != first.matched
    assert second.kept_by_fingerprint == 0  # every returning client moved


def test_an_unchanged_client_on_the_boundary_keeps_its_cluster():
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    params = PARAMS.model_copy(update={"k_min": 3, "k_max": 3})
    frame, blob = make_clients(centres, (200, 200, 200), seed=2)
    # between blob 0 (z0 = 0) and blob 1 (z0 = 4), nearer blob 0 by 0.2
    boundary = pd.DataFrame(
        {"drawn_balance_cny": [np.expm1(1.8 + 13.0)], "utilisation_pct": [0.5], "tenure_months": [60.0]},
        index=pd.Index(["B0001"], name="client_id"),
    )
    first = assign_clusters(pd.concat([frame, boundary]), params)
    cluster_of = majority(first.labels, blob)
    assert first.labels["B0001"] == cluster_of[0]

    # blob 0 moves away (its clients' features change); the boundary client's do not: it is now nearer blob 1
    moved, _ = make_clients(centres - [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], (200, 200, 200), seed=2)
    moved.loc[blob.index[blob.ne(0)]] = frame.loc[blob.index[blob.ne(0)]]
    later = pd.concat([moved, boundary])
    second = assign_clusters(later, params, first.to_previous())
    assert majority(second.labels, blob) == cluster_of
    assert second.labels["B0001"] == cluster_of[0]
    assert second.kept_by_fingerprint >= 1

    # had its features changed (another fingerprint), the new centroids would have taken it to blob 1
    previous = first.to_previous()
    altered = previous.fingerprints.copy()
    altered["B0001"] = "changed"
    counterfactual = assign_clusters(
        later, params, PreviousClusters(previous.centroids, previous.labels, fingerprints=altered)
    )
    assert counterfactual.labels["B0001"] == cluster_of[1]
    assert counterfactual.kept_by_fingerprint == second.kept_by_fingerprint - 1


def test_a_new_cluster_takes_the_next_free_id():
    three, blob3 = make_clients(FOUR[:3], (300, 250, 200), seed=1)
    first = assign_clusters(three, PARAMS)
    assert len(first.centroids) == 3

    newcomers, new_blob = make_clients(FOUR[[3]], (150,), seed=6, first=10_000)
    four = pd.concat([three, newcomers])
    four_blob = pd.concat([blob3, new_blob.replace(0, 3)])
    second = assign_clusters(four, PARAMS, first.to_previous())
    assert len(second.centroids) == 4
    assert majority(second.labels, four_blob) == {**majority(first.labels, blob3), 3: 4}
    assert second.kept_by_fingerprint == 0  # nobody was moved by the stickiness: the old clusters did not move

    # with ids 10, 20, 30 the newcomer is 31
    previous = first.to_previous()
    renumbered = PreviousClusters(
        centroids=previous.centroids.assign(cluster_id=previous.centroids["cluster_id"] * 10),
        labels=previous.labels * 10,
        fingerprints=previous.fingerprints,
    )
    third = assign_clusters(four, PARAMS, renumbered)
    assert majority(third.labels, four_blob) == {b: 10 * c for b, c in majority(first.labels, blob3).items()} | {3: 31}


def test_input_errors_name_the_problem():
    frame, _ = make_clients(FOUR, (30, 30, 30, 30), seed=1)
    with pytest.raises(ValueError, match="tenure_months"):
        assign_clusters(frame.drop(columns="tenure_months"), PARAMS)
    with pytest.raises(ValueError, match="fewer than k_min"):
        assign_clusters(frame.head(2), PARAMS)
    with pytest.raises(ValueError, match="not numeric"):
        assign_clusters(frame.assign(tenure_months="long"), PARAMS)


@pytest.mark.parametrize(
    "bad",
    [
        {"features": ()},
        {"k_min": 1},
        {"k_min": 5, "k_max": 4},
        {"log_features": ("turnover_cny",)},
        {"features": ("a", "a")},
        {"score_sample": 6},
        {"unknown": 1},
    ],
)
def test_params_are_validated(bad):
    base = {"features": FEATURES, "k_max": 6}
    with pytest.raises(ValidationError):
        ClusterParams(**(base | bad))


def test_missing_values_are_imputed():
    frame, blob = make_clients(FOUR, (300, 250, 200, 150), seed=1)
    holes = frame.copy()
    rng = np.random.default_rng(9)
    holes = holes.mask(rng.random(holes.shape) < 0.02)
    holes["utilisation_pct"] = holes["utilisation_pct"].astype("Float64")  # nullable dtype, pd.NA
    result = assign_clusters(holes, PARAMS)
    assert result.labels.notna().all() and result.labels.dtype == np.int64
    assert result.centroids[list(FEATURES)].notna().all().all()
    # a whole column missing counts as 0 everywhere: clustering goes on with the others
    empty = assign_clusters(frame.assign(tenure_months=np.nan), PARAMS)
    assert empty.labels.notna().all() and (empty.centroids["tenure_months"] == 0).all()


def test_descriptions_name_what_sets_a_cluster_apart():
    frame, blob = make_clients(FOUR, (300, 250, 200, 150), seed=1)
    result = assign_clusters(frame, PARAMS)
    words = dict(zip(result.centroids["cluster_id"], result.centroids["description"], strict=True))
    cluster_of = majority(result.labels, blob)
    assert all(words.values())
    assert "high drawn balance" in words[cluster_of[0]] and "low utilisation" in words[cluster_of[0]]
    assert "high utilisation" in words[cluster_of[1]]
    assert "long tenure" in words[cluster_of[2]] and "short tenure" in words[cluster_of[3]]


def test_describe_centroids_ranks_by_standardised_deviation():
    centroids = pd.DataFrame({"drawn_balance_cny": [1e8, 1e5], "utilisation_pct": [0.5, 0.95], "max_dpd_12m": [0, 0]})
    medians = pd.Series({"drawn_balance_cny": 1e5, "utilisation_pct": 0.5, "max_dpd_12m": 0.0})
    scales = pd.Series({"drawn_balance_cny": 2.0, "utilisation_pct": 0.2, "max_dpd_12m": 5.0})
    text = describe_centroids(
        centroids, medians, tuple(medians.index), scales=scales, log_features=("drawn_balance_cny",)
    )
    assert text == ["very high drawn balance", "very high utilisation"]
    assert humanise_feature("max_dpd_12m") == "maximum days past due over 12m"
    assert humanise_feature("fee_income_12m_cny") == "fee income over 12m"


def test_fingerprints_ignore_float_noise_but_not_changes():
    frame = pd.DataFrame(
        {"a": [1234.5678, 1234.5678 * (1 + 1e-13), 1234.568, np.nan, 0.0, -0.0, np.inf], "b": 1.0},
        index=pd.Index([f"C{i}" for i in range(7)], name="client_id"),
    )
    fp = fingerprint_clients(frame, ("a", "b"))
    assert fp.iloc[0] == fp.iloc[1] != fp.iloc[2]
    assert fp.iloc[3] != fp.iloc[4] == fp.iloc[5] != fp.iloc[6]
    assert fingerprint_clients(frame, ("b", "a")).iloc[0] != fp.iloc[0]  # the feature set is part of it
    # pinned: a fingerprint stored by an earlier run must still compare equal after an upgrade; it is
    # blake2b(<4q 1234567800, 3, 1000000000, 0; key = blake2b("a\x1fb", 32 bytes), 16 bytes)
    assert fp.iloc[0] == fingerprint_clients(frame.head(1), ("a", "b")).iloc[0] == "0e88784eae335dafb9b30792bf9b85cb"


def test_silhouette_scores_agree_with_scikit_learn():
    x, truth = make_blobs(n_samples=700, centers=4, n_features=3, random_state=0)
    x[:4] = x[0]  # duplicated points: zero distances
    rng = np.random.default_rng(0)
    labelings = [truth, rng.integers(0, 3, len(x)), np.r_[np.arange(4), np.zeros(len(x) - 4, dtype=int)]]
    ours = silhouette_scores(x, labelings, chunk_rows=256)
    assert ours == pytest.approx([silhouette_score(x, labels) for labels in labelings], abs=1e-12)
    assert np.isnan(silhouette_scores(x, [np.zeros(len(x), dtype=int)])[0])


def test_the_previous_k_is_kept_unless_another_beats_it_by_the_margin():
    """Four blobs, but the previous run had three clusters: with a wide margin the segmentation keeps
    three clusters (started from the previous centroids); with no margin the criterion's four win."""
    frame, _ = make_clients(FOUR, (300, 250, 200, 150), seed=1)
    three = assign_clusters(frame, PARAMS.model_copy(update={"k_min": 3, "k_max": 3}))
    sticky = assign_clusters(frame, PARAMS.model_copy(update={"k_switch_margin": 1.0}), three.to_previous())
    assert len(sticky.centroids) == 3 and sticky.selection.loc[sticky.selection["is_chosen"], "k"].item() == 3
    assert set(sticky.labels.unique()) == set(three.labels.unique())
    assert (sticky.labels == three.labels).mean() > 0.99  # the warm start finds the same three clusters
    free = assign_clusters(frame, PARAMS.model_copy(update={"k_switch_margin": 0.0}), three.to_previous())
    assert len(free.centroids) == 4
