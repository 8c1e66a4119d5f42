"""MiniBatchKMeans and BisectingKMeans against scikit-learn, plus properties and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import cluster as skc
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from mlnotebook.cluster import BisectingKMeans, KMeans, MiniBatchKMeans
from mlnotebook.cluster._minibatch import _batch_sampler, _EarlyStopping

# float32 batch sums are added in another order than scikit-learn's per-sample loop
RTOL = {np.float64: 1e-9, np.float32: 1e-5}


def _blobs(n=4000, seed=0):
    return make_blobs(n_samples=n, centers=8, n_features=6, random_state=seed)[0]


def _assert_same(ours, ref, X, dtype):
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=RTOL[dtype])
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=0,
                               atol=RTOL[dtype] * np.abs(X).max())
    assert ours.cluster_centers_.dtype == dtype


# --------------------------------------------------------------------------- mini-batch

# (label, constructor arguments besides n_clusters/random_state, weighted)
MINIBATCH_SPECS = [
    ("init array", {"init": "array"}, False),
    ("init array weighted", {"init": "array"}, True),
    ("k-means++", {}, False),
    ("k-means++ weighted", {}, True),
    ("random n_init=3", {"init": "random"}, False),
    ("random n_init=2 weighted", {"init": "random", "n_init": 2}, True),
    ("tol", {"tol": 1e-3}, False),
    ("small batch heavy reassignment", {"batch_size": 64, "reassignment_ratio": 0.3}, False),
    ("no reassignment", {"reassignment_ratio": 0.0}, False),
    ("no early stopping", {"max_no_improvement": None, "max_iter": 3}, False),
    ("init_size", {"init_size": 500, "batch_size": 256}, True),
    ("batch larger than n", {"batch_size": 10_000}, False),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label, kwargs, weighted", MINIBATCH_SPECS,
                         ids=[s[0] for s in MINIBATCH_SPECS])
def test_minibatch_matches_sklearn(label, kwargs, weighted, dtype):
    X = _blobs().astype(dtype)
    rng = np.random.default_rng(1)
    kwargs = dict(kwargs)
    if kwargs.get("init") == "array":
        kwargs["init"] = X[rng.choice(len(X), 10, replace=False)]
    sw = rng.uniform(0.2, 3.0, len(X)) if weighted else None
    ours = MiniBatchKMeans(10, random_state=7, **kwargs).fit(X, sample_weight=sw)
    ref = skc.MiniBatchKMeans(10, random_state=7, **kwargs).fit(X, sample_weight=sw)
    assert ours.n_steps_ == ref.n_steps_
    assert ours.n_iter_ == ref.n_iter_
    _assert_same(ours, ref, X, dtype)


def test_reassignment_really_happens_and_matches():
    # 20 centres on 3 blobs with a tiny batch: many centres starve and get re-seeded
    X = make_blobs(n_samples=3000, centers=3, n_features=2, random_state=1)[0]
    kw = {"batch_size": 32, "max_no_improvement": None, "max_iter": 1}
    with_r = MiniBatchKMeans(20, reassignment_ratio=0.5, random_state=0, **kw).fit(X)
    without = MiniBatchKMeans(20, reassignment_ratio=0.0, random_state=0, **kw).fit(X)
    assert not np.allclose(with_r.cluster_centers_, without.cluster_centers_)
    ref = skc.MiniBatchKMeans(20, reassignment_ratio=0.5, random_state=0, **kw).fit(X)
    _assert_same(with_r, ref, X, np.float64)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_partial_fit_matches_sklearn(init):
    X = _blobs()
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    ours = MiniBatchKMeans(10, init=init, batch_size=150, random_state=3)
    ref = skc.MiniBatchKMeans(10, init=init, batch_size=150, random_state=3)
    for lo in range(0, len(X), 200):
        ours.partial_fit(X[lo:lo + 200], sample_weight=sw[lo:lo + 200])
        ref.partial_fit(X[lo:lo + 200], sample_weight=sw[lo:lo + 200])
    assert ours.n_steps_ == ref.n_steps_ == len(X) // 200
    _assert_same(ours, ref, X, np.float64)
    # partial_fit after fit continues from the fitted centres and counts
    ours = MiniBatchKMeans(10, random_state=3).fit(X).partial_fit(X[:300])
    ref = skc.MiniBatchKMeans(10, random_state=3).fit(X).partial_fit(X[:300])
    _assert_same(ours, ref, X, np.float64)


def test_batch_sampler_draws_what_random_state_choice_draws():
    sw = np.random.default_rng(0).uniform(0.1, 3.0, 5000)
    for weights in (sw, np.ones(5000), sw.astype(np.float32)):
        draw = _batch_sampler(weights)
        ours, ref = np.random.RandomState(4), np.random.RandomState(4)
        for _ in range(10):
            np.testing.assert_array_equal(
                draw(ours, 300), ref.choice(5000, 300, p=weights / weights.sum()))


def test_early_stopping_rule_by_hand():
    stop = _EarlyStopping(n_samples=99, batch_size=10, tol=0.0, max_no_improvement=2)
    assert not stop.converged(0, 1e9, 0.0)          # first step ignored
    assert not stop.converged(1, 50.0, 0.0)         # ewa = 5
    assert stop.ewa_inertia == 5.0
    assert not stop.converged(2, 70.0, 0.0)         # alpha = 0.2: ewa = 5.4, no gain (1)
    assert stop.ewa_inertia == pytest.approx(5.4)
    assert stop.converged(3, 60.0, 0.0)             # ewa = 5.52, no gain (2): stop
    assert _EarlyStopping(99, 10, 0.5, None).converged(0, 1.0, 0.0) is False
    with_tol = _EarlyStopping(99, 10, 0.5, None)
    with_tol.converged(0, 1.0, 0.0)
    assert with_tol.converged(1, 1.0, 0.4)          # centre change <= tol


def test_minibatch_is_running_mean_of_assigned_points():
    # one centre, batches of the whole data: the centre is the mean of all points seen
    X = np.array([[0.0], [2.0], [4.0], [10.0]])
    mbk = MiniBatchKMeans(1, init=np.array([[100.0]]), batch_size=4, random_state=0)
    mbk.partial_fit(X[:2])
    np.testing.assert_allclose(mbk.cluster_centers_, [[1.0]])  # initial centre has weight 0
    mbk.partial_fit(X[2:])
    np.testing.assert_allclose(mbk.cluster_centers_, [[4.0]])
    mbk.partial_fit(X[:1], sample_weight=[4.0])
    np.testing.assert_allclose(mbk.cluster_centers_, [[2.0]])  # (4 * 4 + 0 * 4) / 8


def test_minibatch_inertia_close_to_full_kmeans():
    X = make_blobs(n_samples=20_000, centers=12, n_features=5, random_state=4)[0]
    full = KMeans(12, random_state=0).fit(X)
    # observed: within 0.13 % of the full-batch inertia after 12-57 steps of 1024 rows
    for seed in range(3):
        mbk = MiniBatchKMeans(12, random_state=seed, n_init=3).fit(X)
        assert full.inertia_ * (1 - 1e-9) <= mbk.inertia_ <= 1.01 * full.inertia_
        assert adjusted_rand_score(full.labels_, mbk.labels_) > 0.99


def test_minibatch_queries_match_sklearn_and_api():
    X = _blobs()
    ours = MiniBatchKMeans(10, random_state=0).fit(X)
    ref = skc.MiniBatchKMeans(10, random_state=0).fit(X)
    Xt = X[:300] + 0.2
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))
    np.testing.assert_allclose(ours.transform(Xt), ref.transform(Xt), rtol=1e-9)
    assert ours.score(Xt) == pytest.approx(ref.score(Xt), rel=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ours.labels_)
    np.testing.assert_array_equal(
        MiniBatchKMeans(10, random_state=0).fit_predict(X), ours.labels_)
    assert MiniBatchKMeans(10, random_state=0).fit_transform(X).shape == (len(X), 10)
    assert ours.n_features_in_ == X.shape[1]
    assert list(ours.get_feature_names_out())[:2] == ["minibatchkmeans0", "minibatchkmeans1"]
    assert ours.get_params()["batch_size"] == 1024
    with pytest.raises(NotFittedError):
        MiniBatchKMeans(3).predict(X)


# --------------------------------------------------------------------------- bisecting

BISECTING_SPECS = [
    (init, strategy, n_init, weighted)
    for init in ("random", "k-means++")
    for strategy in ("biggest_inertia", "largest_cluster")
    for n_init, weighted in ((1, False), (3, True))
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("init, strategy, n_init, weighted", BISECTING_SPECS)
def test_bisecting_matches_sklearn(init, strategy, n_init, weighted, dtype):
    X = _blobs().astype(dtype)
    sw = np.random.default_rng(1).uniform(0.2, 3.0, len(X)) if weighted else None
    kw = {"init": init, "bisecting_strategy": strategy, "n_init": n_init, "random_state": 2}
    ours = BisectingKMeans(7, **kw).fit(X, sample_weight=sw)
    ref = skc.BisectingKMeans(7, **kw).fit(X, sample_weight=sw)
    _assert_same(ours, ref, X, dtype)
    Xt = X[:500] + np.random.default_rng(3).normal(0, 1.0, (500, X.shape[1])).astype(dtype)
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))


@pytest.mark.parametrize("tol, max_iter", [(0.0, 1), (0.0, 300), (10.0, 300)])
def test_bisecting_inner_stopping_matches(tol, max_iter):
    X = _blobs(seed=5)
    ours = BisectingKMeans(6, tol=tol, max_iter=max_iter, random_state=1).fit(X)
    ref = skc.BisectingKMeans(6, tol=tol, max_iter=max_iter, random_state=1).fit(X)
    _assert_same(ours, ref, X, np.float64)


def test_bisecting_one_cluster_and_hierarchy():
    X = _blobs()
    one = BisectingKMeans(1).fit(X)
    np.testing.assert_allclose(one.cluster_centers_[0], X.mean(axis=0), atol=1e-12)
    assert one.inertia_ == pytest.approx(((X - X.mean(axis=0)) ** 2).sum(), rel=1e-12)
    # each split refines the previous partition: every leaf of the 5-cluster fit lies
    # inside one cluster of the 4-cluster fit (same seed, same first three splits)
    four = BisectingKMeans(4, random_state=0).fit(X).labels_
    five = BisectingKMeans(5, random_state=0).fit(X).labels_
    for leaf in np.unique(five):
        assert np.unique(four[five == leaf]).size == 1


def test_bisecting_hand_computed_toy():
    # sklearn's doc example: three groups, the first split separates the top group
    X = np.array([[1, 1], [10, 1], [3, 1], [10, 0], [2, 1], [10, 2],
                  [10, 8], [10, 9], [10, 10]], dtype=float)
    bkm = BisectingKMeans(3, random_state=0).fit(X)
    np.testing.assert_allclose(bkm.cluster_centers_, [[2, 1], [10, 9], [10, 1]])
    assert bkm.inertia_ == pytest.approx(2 + 2 + 2)
    np.testing.assert_array_equal(bkm.predict([[0, 0], [12, 3]]), [0, 2])


def test_bisecting_queries_and_api():
    X = _blobs()
    ours = BisectingKMeans(6, random_state=0).fit(X)
    ref = skc.BisectingKMeans(6, random_state=0).fit(X)
    Xt = X[:300] + 0.5
    np.testing.assert_allclose(ours.transform(Xt), ref.transform(Xt), rtol=1e-9)
    assert ours.score(Xt) == pytest.approx(ref.score(Xt), rel=1e-9)
    np.testing.assert_array_equal(BisectingKMeans(6, random_state=0).fit_predict(X),
                                  ours.labels_)
    assert BisectingKMeans(6, random_state=0).fit_transform(X).shape == (len(X), 6)
    assert ours.n_features_in_ == X.shape[1]
    with pytest.raises(NotFittedError):
        BisectingKMeans(3).predict(X)


def test_bisecting_partition_close_to_kmeans_on_separated_blobs():
    X, y = make_blobs(n_samples=3000, centers=5, n_features=4, cluster_std=0.5,
                      random_state=8)
    bkm = BisectingKMeans(5, random_state=0).fit(X)
    assert adjusted_rand_score(y, bkm.labels_) > 0.99


# --------------------------------------------------------------------------- shared

ESTIMATORS = [MiniBatchKMeans, BisectingKMeans]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("X, kwargs, match", [
    (np.array([[0.0, np.nan], [1.0, 1.0]]), {"n_clusters": 1}, "NaN"),
    (np.array([[0.0, np.inf], [1.0, 1.0]]), {"n_clusters": 1}, "infinity"),
    (np.ones((3, 2)), {"n_clusters": 4}, "n_samples=3 should be >= n_clusters=4"),
    (np.ones((3, 2)), {"n_clusters": 0}, "n_clusters"),
    (np.array([["a", "b"], ["c", "d"]]), {"n_clusters": 1}, "X must contain numbers"),
    (np.ones((3, 2)), {"n_clusters": 1, "init": "fancy"}, "init"),
])
def test_bad_input_raises_value_error(Estimator, X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Estimator(**kwargs).fit(X)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_clusters": 2, "init": np.ones((3, 2))}, "init has shape"),
    ({"n_clusters": 2, "init": np.ones((2, 5))}, "init has shape"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"reassignment_ratio": -0.1}, "reassignment_ratio"),
    ({"max_no_improvement": -1}, "max_no_improvement"),
])
def test_minibatch_bad_arguments(kwargs, match):
    X = np.random.default_rng(0).normal(size=(20, 2))
    kwargs = {"n_clusters": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        MiniBatchKMeans(**kwargs).fit(X)
    with pytest.raises(ValueError, match="sample_weight"):
        MiniBatchKMeans(2).fit(X, sample_weight=-np.ones(20))


def test_bisecting_bad_arguments():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="bisecting_strategy"):
        BisectingKMeans(2, bisecting_strategy="smallest").fit(X)
    with pytest.raises(ValueError, match="init"):
        BisectingKMeans(2, init=np.ones((2, 2))).fit(X)
    with pytest.raises(ValueError, match="X has 5 features"):
        BisectingKMeans(2, random_state=0).fit(X).predict(np.ones((3, 5)))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_duplicates_and_constant_feature_work(Estimator):
    rng = np.random.default_rng(0)
    dup = np.repeat(rng.normal(size=(30, 3)), 20, axis=0)
    const = np.column_stack([_blobs()[:, :3], np.full(4000, -2.0)])
    for X in (dup, const):
        est = Estimator(5, random_state=0).fit(X)
        assert np.isfinite(est.cluster_centers_).all()
        assert np.unique(est.labels_).size == 5
