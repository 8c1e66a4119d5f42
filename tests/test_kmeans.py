"""KMeans and kmeans_plusplus against scikit-learn, plus properties and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import cluster as skc
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError

from mlnotebook.cluster import KMeans, _kmeans, kmeans_plusplus
from mlnotebook.cluster._kmeans import _add_rows_by_label, _blocks, _is_same_clustering

# float64 results agree to rounding; float32 sums are accumulated in a different order
# than scikit-learn's per-thread loops, so centres agree to float32 rounding only
RTOL = {np.float64: 1e-9, np.float32: 1e-5}


def _datasets(seed=0):
    rng = np.random.default_rng(seed)
    blobs, _ = make_blobs(n_samples=3000, centers=5, n_features=4, random_state=seed)
    aniso = blobs @ np.array([[0.6, -0.6, 0, 0], [-0.4, 0.8, 0, 0], [0, 0, 1, 0],
                              [0, 0, 0, 2.0]])
    dup = np.repeat(rng.normal(size=(40, 3)), 25, axis=0)
    const = np.column_stack([blobs[:, :3], np.full(len(blobs), 7.0)])
    return {"blobs": blobs, "anisotropic": aniso, "duplicates": dup, "constant": const}


def _pair(X, k, dtype, seed=0, sample_weight=None, **kw):
    X = X.astype(dtype)
    rng = np.random.default_rng(seed)
    init = X[rng.choice(len(X), k, replace=False)]
    ours = KMeans(k, init=init, n_init=1, **kw).fit(X, sample_weight=sample_weight)
    ref = skc.KMeans(k, init=init, n_init=1, algorithm="lloyd", **kw).fit(
        X, sample_weight=sample_weight)
    return ours, ref


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["blobs", "anisotropic", "duplicates", "constant"])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_sklearn_from_same_init(name, dtype, weighted):
    X = _datasets()[name]
    sw = np.random.default_rng(1).uniform(0.2, 3.0, len(X)) if weighted else None
    ours, ref = _pair(X, 6, dtype, sample_weight=sw)
    assert ours.cluster_centers_.dtype == dtype
    if dtype == np.float32 and name == "anisotropic":
        # overlapping clusters: a float32 near-tie early on sends the runs to slightly
        # different optima, and scikit-learn's own float32 labels here change with its
        # OpenMP thread count (5 of 3000 between 1 and 2 threads), so no exact reference
        assert (ours.labels_ == ref.labels_).mean() >= 0.99
        np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-3)
        return
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=RTOL[dtype])
    scale = np.abs(X).max()
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=0,
                               atol=RTOL[dtype] * scale)


@pytest.mark.parametrize("tol", [0.0, 1e-4, 1e-1])
def test_convergence_rule_and_iteration_count_match(tol):
    X = _datasets()["anisotropic"]
    for max_iter in (1, 3, 300):
        ours, ref = _pair(X, 8, np.float64, seed=3, tol=tol, max_iter=max_iter)
        assert ours.n_iter_ == ref.n_iter_
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
        np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-9)


def test_empty_cluster_is_relocated_like_sklearn():
    X, _ = make_blobs(n_samples=500, centers=3, random_state=2)
    init = np.vstack([X[:3], [[1e3, 1e3], [-1e3, 1e3]]])             # two far, empty centres
    ours = KMeans(5, init=init, n_init=1).fit(X)
    ref = skc.KMeans(5, init=init, n_init=1, algorithm="lloyd").fit(X)
    assert np.isfinite(ours.cluster_centers_).all()
    assert np.unique(ours.labels_).size == 5
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, atol=1e-9)


def test_more_clusters_than_distinct_points_warns_and_stays_finite():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5, axis=0)
    with pytest.warns(Warning, match="distinct clusters"):
        km = KMeans(4, random_state=0).fit(X)
    assert np.isfinite(km.cluster_centers_).all()
    assert km.inertia_ == pytest.approx(0.0)


def test_kmeans_plusplus_properties_and_sklearn_draws():
    X = _datasets()["blobs"]
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    for seed in range(5):
        centers, idx = kmeans_plusplus(X, 7, random_state=seed, sample_weight=sw)
        np.testing.assert_array_equal(centers, X[idx])
        assert np.unique(idx).size == 7
        again, idx2 = kmeans_plusplus(X, 7, random_state=seed, sample_weight=sw)
        np.testing.assert_array_equal(idx, idx2)
        _, ref_idx = skc.kmeans_plusplus(X, 7, random_state=seed, sample_weight=sw)
        np.testing.assert_array_equal(idx, ref_idx)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_seeded_fit_equals_sklearn_with_same_seed(init):
    X = _datasets()["blobs"]
    ours = KMeans(5, init=init, n_init=3, random_state=4).fit(X)
    ref = skc.KMeans(5, init=init, n_init=3, random_state=4, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-9)


def test_predict_transform_score_and_api():
    X = _datasets()["blobs"]
    km = KMeans(5, random_state=0).fit(X)
    ref = skc.KMeans(5, init=km.cluster_centers_, n_init=1).fit(X)
    Xt = X[:50] + 0.1
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    np.testing.assert_allclose(km.transform(Xt), ref.transform(Xt), rtol=1e-9)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-12)
    assert km.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(KMeans(5, random_state=0).fit_predict(X), km.labels_)
    assert KMeans(5, random_state=0).fit_transform(X).shape == (len(X), 5)
    assert list(km.get_feature_names_out()) == [f"kmeans{i}" for i in range(5)]
    with pytest.raises(NotFittedError):
        KMeans(3).predict(X)


def test_hand_computed_toy():
    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0], [10.0, 4.0]])
    km = KMeans(2, init=np.array([[0.0, 0.0], [10.0, 0.0]])).fit(X)
    np.testing.assert_allclose(km.cluster_centers_, [[0, 1], [10, 2]])
    assert km.inertia_ == pytest.approx(2 * 1 + (4 + 0 + 4))
    np.testing.assert_array_equal(km.labels_, [0, 0, 1, 1, 1])


def test_threads_get_nearly_equal_blocks_of_at_least_a_chunk():
    assert _blocks(12, 3, 4) == [(0, 4), (4, 8), (8, 12)]
    assert _blocks(10, 3, 4) == [(0, 5), (5, 10)]          # no block shorter than a chunk
    assert _blocks(5, 8, 4) == [(0, 5)]
    assert _blocks(3, 2, 1024) == [(0, 3)]
    assert _blocks(10_001, 2, 1024) == [(0, 5000), (5000, 10_001)]
    assert _is_same_clustering(np.array([0, 0, 1, 2]), np.array([2, 2, 0, 1]))
    assert not _is_same_clustering(np.array([0, 0, 1, 2]), np.array([2, 1, 0, 1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_per_cluster_sums_fast_path_equals_the_sparse_product(dtype, monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 7)).astype(dtype)
    labels = rng.integers(0, 6, size=500).astype(np.intp)
    w = rng.uniform(0.5, 2.0, size=500).astype(dtype)
    expected = np.zeros((6, 7), dtype=dtype)
    np.add.at(expected, labels, X * w[:, None])
    fast = np.zeros((6, 7), dtype=dtype)
    _add_rows_by_label(fast, X, labels, w)
    onto_ones = np.ones((6, 7), dtype=dtype)
    _add_rows_by_label(onto_ones, X, labels, w)
    monkeypatch.setattr(_kmeans, "_csc_matvecs", None)
    public = np.zeros((6, 7), dtype=dtype)
    _add_rows_by_label(public, X, labels, w)
    np.testing.assert_array_equal(fast, public)   # same rows added in the same order
    np.testing.assert_allclose(fast, expected, rtol=RTOL[dtype], atol=RTOL[dtype])
    np.testing.assert_allclose(onto_ones, expected + 1, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("X, kwargs, match", [
    (np.array([[0.0, np.nan], [1.0, 1.0]]), {"n_clusters": 1}, "NaN"),
    (np.array([[0.0, np.inf], [1.0, 1.0]]), {"n_clusters": 1}, "infinity"),
    (np.ones((3, 2)), {"n_clusters": 4}, "n_samples=3 should be >= n_clusters=4"),
    (np.ones((3, 2)), {"n_clusters": 0}, "n_clusters"),
    (np.ones((3, 2)), {"n_clusters": 2, "init": np.ones((3, 2))}, "init has shape"),
    (np.ones((3, 2)), {"n_clusters": 2, "init": np.ones((2, 5))}, "init has shape"),
    (np.array([["a", "b"], ["c", "d"]]), {"n_clusters": 1}, "X must contain numbers"),
])
def test_bad_input_raises_value_error(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        KMeans(**kwargs).fit(X)


def test_bad_kmeans_plusplus_arguments():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_plusplus(X, 5)
    with pytest.raises(ValueError, match="n_local_trials"):
        kmeans_plusplus(X, 2, n_local_trials=0)
    with pytest.raises(ValueError, match="sample_weight"):
        KMeans(2).fit(X, sample_weight=-np.ones(4))
