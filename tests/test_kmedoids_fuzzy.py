"""KMedoids against kmedoids.pam and FuzzyCMeans against skfuzzy.cmeans, plus bad input."""

from __future__ import annotations

import kmedoids
import numpy as np
import pytest
import skfuzzy
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import pairwise_distances

from mlnotebook.cluster import FuzzyCMeans, KMedoids


def _medoid_data():
    rng = np.random.default_rng(0)
    blobs, _ = make_blobs(n_samples=240, centers=4, n_features=3, random_state=1)
    return {
        "blobs": (blobs, "euclidean"),
        "outliers": (np.vstack([blobs, rng.uniform(-60, 60, (12, 3))]), "euclidean"),
        "duplicates": (rng.permutation(np.repeat(rng.normal(size=(30, 2)), 6, axis=0)),
                       "euclidean"),
        "manhattan": (blobs, "manhattan"),
        "cosine": (blobs + 10.0, "cosine"),
        "integer grid": (rng.integers(0, 5, (150, 2)).astype(float), "manhattan"),
    }


def _sym_distances(X, metric):
    D = pairwise_distances(X, metric=metric)
    return (D + D.T) / 2


def _assert_same_as_pam(ours, ref):
    np.testing.assert_array_equal(ours.medoid_indices_, ref.medoids)
    np.testing.assert_array_equal(ours.labels_, ref.labels)
    assert ours.n_iter_ == ref.n_iter
    np.testing.assert_allclose(ours.inertia_, ref.loss, rtol=1e-12)


# --------------------------------------------------------------------------- KMedoids


@pytest.mark.parametrize("name", list(_medoid_data()))
@pytest.mark.parametrize("k", [1, 3, 7])
def test_kmedoids_matches_pam_build_swap(name, k):
    X, metric = _medoid_data()[name]
    ref = kmedoids.pam(_sym_distances(X, metric), k, max_iter=300, init="build")
    _assert_same_as_pam(KMedoids(k, metric=metric).fit(X), ref)


@pytest.mark.parametrize("name", ["blobs", "duplicates", "integer grid"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmedoids_swap_from_random_or_given_medoids_matches_pam(name, seed):
    X, metric = _medoid_data()[name]
    D = _sym_distances(X, metric)
    ref = kmedoids.pam(D, 5, max_iter=300, init="random", random_state=seed)
    _assert_same_as_pam(KMedoids(5, metric=metric, init="random", random_state=seed).fit(X),
                        ref)
    start = np.random.default_rng(seed).choice(len(X), 4, replace=False)
    ref = kmedoids.pam(D, start.copy(), max_iter=300)
    _assert_same_as_pam(KMedoids(4, metric="precomputed", init=start).fit(D), ref)


@pytest.mark.parametrize("max_iter", [1, 2, 3])
def test_kmedoids_iteration_cap_matches_pam(max_iter):
    X, metric = _medoid_data()["outliers"]
    D = _sym_distances(X, metric)
    start = np.arange(6)                                  # a poor start: needs many swaps
    ref = kmedoids.pam(D, start.copy(), max_iter=max_iter)
    ours = KMedoids(6, metric="precomputed", init=start, max_iter=max_iter).fit(D)
    _assert_same_as_pam(ours, ref)
    assert ours.n_iter_ == max_iter


def test_kmedoids_hand_computed_toy():
    X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [13.0]])
    km = KMedoids(2).fit(X)
    # BUILD: 2 and 10 tie as 1-median (distance sums 31), the lower index wins; then 11
    # gains most (-25 against -24 for 10); SWAP moves medoid 2 to 1 (cost 6 -> 5)
    np.testing.assert_array_equal(km.medoid_indices_, [1, 4])
    np.testing.assert_array_equal(km.labels_, [0, 0, 0, 1, 1, 1])
    assert km.inertia_ == 5.0
    assert km.n_iter_ == 2
    np.testing.assert_array_equal(km.cluster_centers_, [[1.0], [11.0]])
    np.testing.assert_allclose(km.transform([[5.0]]), [[4.0, 6.0]])
    np.testing.assert_array_equal(km.predict([[5.0], [7.0]]), [0, 1])


def test_kmedoids_precomputed_equals_metric_and_predicts_from_distances():
    X, _ = _medoid_data()["blobs"]
    D = _sym_distances(X, "manhattan")
    by_metric = KMedoids(4, metric="manhattan").fit(X)
    by_matrix = KMedoids(4, metric="precomputed").fit(D)
    np.testing.assert_array_equal(by_metric.medoid_indices_, by_matrix.medoid_indices_)
    assert by_matrix.cluster_centers_ is None
    np.testing.assert_array_equal(by_matrix.predict(D), by_matrix.labels_)
    np.testing.assert_array_equal(by_metric.predict(X), by_metric.labels_)
    np.testing.assert_allclose(by_matrix.transform(D), by_metric.transform(X), atol=1e-12)
    np.testing.assert_array_equal(KMedoids(4, metric="manhattan").fit_predict(X),
                                  by_metric.labels_)


def test_kmedoids_swap_improves_on_build_and_resists_outliers():
    X, _ = _medoid_data()["outliers"]
    D = _sym_distances(X, "euclidean")
    build = kmedoids.pam_build(D, 4)
    km = KMedoids(4).fit(X)
    assert km.inertia_ <= build.loss
    np.testing.assert_allclose(km.inertia_, D[np.arange(len(X)),
                                              km.medoid_indices_[km.labels_]].sum())
    assert np.all(km.medoid_indices_ < 240)               # no outlier becomes a medoid


def test_kmedoids_more_clusters_than_distinct_points_warns():
    X = np.repeat([[0.0, 0.0], [3.0, 4.0]], 5, axis=0)
    with pytest.warns(ConvergenceWarning, match="medoids coincide"):
        km = KMedoids(3).fit(X)
    assert np.unique(km.medoid_indices_).size == 3
    assert km.inertia_ == 0.0


@pytest.mark.parametrize(
    ("kwargs", "X", "match"),
    [
        ({}, [[0.0, np.nan], [1.0, 1.0]], "NaN"),
        ({}, [[0.0, np.inf], [1.0, 1.0]], "infinity"),
        ({"n_clusters": 5}, np.eye(3), "n_clusters=5 must be <= n_samples=3"),
        ({"n_clusters": 0}, np.eye(3), "n_clusters"),
        ({"n_clusters": 2, "init": [0]}, np.eye(3), "init must hold n_clusters=2"),
        ({"n_clusters": 2, "init": [0, 0]}, np.eye(3), "distinct"),
        ({"n_clusters": 2, "init": [0, 7]}, np.eye(3), r"\[0, n_samples=3\)"),
        ({"n_clusters": 2, "init": [0.5, 1.0]}, np.eye(3), "integer"),
        ({}, np.array([["a", "b"], ["c", "d"]], dtype=object), "X must contain numbers"),
        ({"metric": "nope"}, np.eye(3), "metric"),
        ({"method": "alternate"}, np.eye(3), "method"),
        ({"n_clusters": 1, "metric": "precomputed"}, np.ones((2, 3)), "square"),
        ({"n_clusters": 1, "metric": "precomputed"}, -np.ones((2, 2)), "non-negative"),
        ({"n_clusters": 1, "metric": "precomputed"}, np.ones((2, 2)), "zero diagonal"),
        ({"n_clusters": 1, "metric": "precomputed"}, [[0.0, 1.0], [2.0, 0.0]], "symmetric"),
    ],
)
def test_kmedoids_bad_input(kwargs, X, match):
    with pytest.raises(ValueError, match=match):
        KMedoids(**{"n_clusters": 2, **kwargs}).fit(X)


def test_kmedoids_not_fitted():
    with pytest.raises(NotFittedError):
        KMedoids(2).predict(np.eye(3))


# --------------------------------------------------------------------------- FuzzyCMeans


def _fuzzy_data():
    blobs, _ = make_blobs(n_samples=300, centers=3, n_features=2, cluster_std=2.0,
                          random_state=0)
    return {"blobs": blobs, "iris": load_iris().data,
            "on-centre duplicates": np.repeat([[0.0, 0.0], [1.0, 1.0], [5.0, 0.0]], 5,
                                              axis=0)}


def _skfuzzy(X, k, m, u0, tol=1e-5, max_iter=300):
    cntr, u, _, _, jm, p, fpc = skfuzzy.cluster.cmeans(X.T, k, m, tol, max_iter,
                                                        init=u0.T.copy())
    return cntr, u.T, jm, p, fpc


@pytest.mark.parametrize("name", list(_fuzzy_data()))
@pytest.mark.parametrize("m", [1.3, 2.0, 3.5])
@pytest.mark.parametrize("k", [2, 3])
def test_fuzzy_matches_skfuzzy_from_same_memberships(name, m, k):
    X = _fuzzy_data()[name]
    u0 = np.random.default_rng(k).uniform(size=(len(X), k))
    cntr, u, jm, p, fpc = _skfuzzy(X, k, m, u0)
    ours = FuzzyCMeans(k, m=m, init=u0).fit(X)
    assert ours.n_iter_ == p
    np.testing.assert_allclose(ours.cluster_centers_, cntr, rtol=0,
                               atol=1e-10 * np.abs(X).max())
    np.testing.assert_allclose(ours.membership_, u, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.objective_history_, jm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.fpc_, fpc, rtol=1e-12)
    assert np.isfinite(ours.membership_).all()
    np.testing.assert_allclose(ours.membership_.sum(axis=1), 1.0)
    np.testing.assert_array_equal(ours.labels_, np.argmax(u, axis=1))


@pytest.mark.parametrize(("tol", "max_iter"), [(1e-2, 300), (0.0, 7), (1e-8, 3)])
def test_fuzzy_stopping_rule_and_iteration_cap_match(tol, max_iter):
    X = _fuzzy_data()["iris"]
    u0 = np.random.default_rng(5).uniform(size=(len(X), 3))
    cntr, u, jm, p, _ = _skfuzzy(X, 3, 2.0, u0, tol=tol, max_iter=max_iter)
    ours = FuzzyCMeans(3, tol=tol, max_iter=max_iter, init=u0).fit(X)
    assert ours.n_iter_ == p
    np.testing.assert_allclose(ours.membership_, u, atol=1e-12)


def test_fuzzy_random_init_is_skfuzzys_seeded_draw():
    X = _fuzzy_data()["iris"]
    _, u, _, _, jm, p, _ = skfuzzy.cluster.cmeans(X.T, 3, 2.0, 1e-5, 300, seed=4)
    ours = FuzzyCMeans(3, random_state=4).fit(X)
    assert ours.n_iter_ == p
    np.testing.assert_allclose(ours.membership_, u.T, atol=1e-12)


def test_fuzzy_predict_membership_equals_cmeans_predict():
    X = _fuzzy_data()["blobs"]
    fcm = FuzzyCMeans(3, random_state=0).fit(X)
    new = np.random.default_rng(0).normal(0, 6, (50, 2))
    u, *_ = skfuzzy.cluster.cmeans_predict(new.T, fcm.cluster_centers_, 2.0, 1e-5, 300,
                                           seed=0)
    np.testing.assert_allclose(fcm.predict_membership(new), u.T, atol=1e-12)
    np.testing.assert_array_equal(fcm.predict(new), np.argmax(u, axis=0))
    np.testing.assert_allclose(fcm.predict_membership(X), fcm.membership_, atol=1e-12)


def test_fuzzy_point_on_a_centre_gets_full_membership_without_nan():
    X = _fuzzy_data()["blobs"]
    fcm = FuzzyCMeans(3, random_state=0).fit(X)
    u = fcm.predict_membership(fcm.cluster_centers_)
    assert np.isfinite(u).all()
    np.testing.assert_allclose(u, np.eye(3), atol=1e-12)


def test_fuzzy_objective_does_not_increase_and_m_controls_fuzziness():
    X = _fuzzy_data()["blobs"]
    u0 = np.random.default_rng(1).uniform(size=(len(X), 3))
    hard = FuzzyCMeans(3, m=1.1, init=u0).fit(X)
    soft = FuzzyCMeans(3, m=4.0, init=u0).fit(X)
    for fit in (hard, soft):
        assert np.all(np.diff(fit.objective_history_) <= 1e-9 * fit.objective_history_[0])
        assert len(fit.objective_history_) == fit.n_iter_
    assert hard.fpc_ > 0.95 and 1 / 3 <= soft.fpc_ < 0.6


@pytest.mark.parametrize(
    ("kwargs", "X", "match"),
    [
        ({"m": 1.0}, np.eye(4), "'m' parameter"),
        ({"m": 0.5}, np.eye(4), "'m' parameter"),
        ({}, [[0.0, np.nan], [1.0, 1.0], [2, 2]], "NaN"),
        ({"n_clusters": 5}, np.eye(4), "n_clusters=5 must be <= n_samples=4"),
        ({"n_clusters": 0}, np.eye(4), "n_clusters"),
        ({"n_clusters": 2, "init": np.ones((2, 4))}, np.eye(4), r"must be \(n_samples"),
        ({"n_clusters": 2, "init": -np.ones((4, 2))}, np.eye(4), ">= 0"),
        ({}, np.array([["a", "b"]] * 4, dtype=object), "X must contain numbers"),
    ],
)
def test_fuzzy_bad_input(kwargs, X, match):
    with pytest.raises(ValueError, match=match):
        FuzzyCMeans(**{"n_clusters": 3, **kwargs}).fit(X)


def test_fuzzy_not_fitted():
    with pytest.raises(NotFittedError):
        FuzzyCMeans(2).predict_membership(np.eye(3))
