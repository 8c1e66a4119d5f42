"""KernelKMeans against Lloyd k-means on explicit feature maps, properties, bad input, and the
kernel-kmeans-circles experiment."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import cluster as skc
from sklearn.datasets import make_blobs, make_circles, make_moons
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics.pairwise import pairwise_kernels

from experiment_runs import compute_again, run_quick
from mlnotebook.cluster import KernelKMeans, KMeans
from mlnotebook.experiments import kernel_kmeans_circles as kkc

RTOL = 1e-9


def _centroids(Z, labels, k, w):
    """Weighted centroids of a partition of the rows of Z, shape (k, n_features)."""
    onehot = np.zeros((len(Z), k))
    onehot[np.arange(len(Z)), labels] = w
    return (onehot.T @ Z) / onehot.sum(axis=0)[:, None]


def _eigen_features(K):
    """Rows phi_i with phi @ phi.T == K (K positive semi-definite)."""
    lam, V = np.linalg.eigh(K)
    return V * np.sqrt(np.maximum(lam, 0.0))


def _objective(Z, labels, w):
    """sum_i w_i ||z_i - mean of its cluster||^2, from the features themselves."""
    k = labels.max() + 1
    return float(w @ ((Z - _centroids(Z, labels, k, w)[labels]) ** 2).sum(axis=1))


def _linear_data(seed=0):
    rng = np.random.default_rng(seed)
    blobs, _ = make_blobs(n_samples=800, centers=5, n_features=4, random_state=seed)
    return {"blobs": blobs,
            "duplicates": np.repeat(rng.normal(size=(30, 3)), 20, axis=0),
            "constant": np.column_stack([blobs[:, :3], np.full(len(blobs), 7.0)])}


def _nonlinear_data(seed=0):
    return {"circles": make_circles(240, noise=0.05, factor=0.5, random_state=seed)[0],
            "moons": make_moons(240, noise=0.08, random_state=seed)[0]}


KERNELS = {"rbf": {"kernel": "rbf", "gamma": 2.0},
           "poly": {"kernel": "poly", "gamma": 0.5, "degree": 3, "coef0": 1.0}}


# --------------------------------------------------------------------------- toy answer


def test_hand_computed_toy():
    # linear kernel from {0}, {1,2,3}: centroids (0, 0) and (6.67, 0.67) -> {0,1}, {2,3}
    X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    km = KernelKMeans(2, kernel="linear", init=np.array([0, 1, 1, 1])).fit(X)
    np.testing.assert_array_equal(km.labels_, [0, 0, 1, 1])
    assert km.inertia_ == pytest.approx(1.0, rel=1e-12)       # four points 0.5 from centres
    assert km.n_iter_ == 2                                     # second pass changes nothing
    np.testing.assert_array_equal(km.predict(np.array([[9.0, 0.5], [1.0, 0.0]])), [1, 0])


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["blobs", "duplicates", "constant"])
def test_linear_kernel_equals_lloyd_from_partition_centroids(name, weighted):
    X = _linear_data()[name]
    k = 6
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(X)) if weighted else np.ones(len(X))
    labels0 = np.random.RandomState(3).randint(k, size=len(X))
    init = _centroids(X, labels0, k, w)
    ours = KernelKMeans(k, kernel="linear", init=labels0, tol=1e-4 / X.shape[1]).fit(
        X, sample_weight=w)
    for ref in (skc.KMeans(k, init=init, n_init=1, algorithm="lloyd").fit(X, sample_weight=w),
                KMeans(k, init=init, n_init=1).fit(X, sample_weight=w)):
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
        assert ours.inertia_ == pytest.approx(ref.inertia_, rel=RTOL)
        assert ours.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("name", ["circles", "moons"])
def test_kernel_equals_lloyd_on_eigen_feature_map(name, kernel, weighted):
    X = _nonlinear_data()[name]
    kwargs = KERNELS[kernel]
    params = {key: v for key, v in kwargs.items() if key != "kernel"}
    Z = _eigen_features(pairwise_kernels(X, metric=kwargs["kernel"], **params))
    w = np.random.default_rng(2).uniform(0.2, 3.0, len(X)) if weighted else np.ones(len(X))
    labels0 = np.random.RandomState(0).randint(3, size=len(X))
    ours = KernelKMeans(3, init=labels0, tol=0.0, **kwargs).fit(X, sample_weight=w)
    ref = skc.KMeans(3, init=_centroids(Z, labels0, 3, w), n_init=1, tol=0.0,
                     algorithm="lloyd").fit(Z, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=RTOL)
    assert ours.inertia_ == pytest.approx(_objective(Z, ours.labels_, w), rel=RTOL)
    assert ours.n_iter_ == ref.n_iter_


def test_tslearn_is_not_kernel_kmeans():
    """Why tslearn's KernelKMeans is not the equality reference.

    tslearn 0.10 assigns by ``2 - 2 mean_{j in c} K_ij`` and leaves out ``||mu_c||^2``. Its
    partition is then not a fixed point of kernel k-means: on these moons our run started
    from it moves points and lowers the kernel k-means objective (computed from an explicit
    feature map); and with a polynomial kernel its ``inertia_`` is
    negative, which no sum of squared distances can be.
    """
    # tslearn (and numba under it) is not a test dependency: this runs where it is installed
    TsKernelKMeans = pytest.importorskip("tslearn.clustering").KernelKMeans

    X = _nonlinear_data()["moons"]
    Z = _eigen_features(pairwise_kernels(X, metric="rbf", gamma=2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = TsKernelKMeans(2, kernel="rbf", kernel_params={"gamma": 2.0},
                            random_state=0).fit(X[:, :, None])
        ts_poly = TsKernelKMeans(2, kernel="poly", kernel_params={
            "gamma": 0.5, "degree": 3, "coef0": 1.0}, random_state=0).fit(X[:, :, None])
    ones = np.ones(len(X))
    ours = KernelKMeans(2, kernel="rbf", gamma=2.0, init=ts.labels_).fit(X)
    assert ours.inertia_ < _objective(Z, ts.labels_, ones) - 1e-6
    assert (ours.labels_ != ts.labels_).sum() > 0
    assert ts_poly.inertia_ < 0


# --------------------------------------------------------------------------- properties


def test_precomputed_and_callable_equal_the_named_kernel():
    X = _nonlinear_data()["moons"][:60]
    labels0 = np.random.RandomState(0).randint(2, size=len(X))
    named = KernelKMeans(2, kernel="rbf", gamma=3.0, init=labels0).fit(X)
    K = pairwise_kernels(X, metric="rbf", gamma=3.0)
    pre = KernelKMeans(2, kernel="precomputed", init=labels0).fit(K)

    def rbf(x, y, gamma):
        return np.exp(-gamma * np.sum((x - y) ** 2))

    call = KernelKMeans(2, kernel=rbf, kernel_params={"gamma": 3.0}, init=labels0).fit(X)
    X_new = np.random.default_rng(0).normal(size=(25, 2))
    for other, new in ((pre, pairwise_kernels(X_new, X, metric="rbf", gamma=3.0)),
                       (call, X_new)):
        np.testing.assert_array_equal(other.labels_, named.labels_)
        assert other.inertia_ == pytest.approx(named.inertia_, rel=1e-10)
        assert other.n_iter_ == named.n_iter_
        np.testing.assert_array_equal(other.predict(new), named.predict(X_new))


def test_default_gamma_is_one_over_n_features():
    X = make_blobs(200, centers=3, n_features=4, random_state=0)[0]
    default = KernelKMeans(3, random_state=0).fit(X)
    explicit = KernelKMeans(3, gamma=0.25, random_state=0).fit(X)
    np.testing.assert_array_equal(default.labels_, explicit.labels_)
    assert default.inertia_ == explicit.inertia_


def test_random_init_draws_tslearn_labels_and_n_init_keeps_the_best():
    X = _nonlinear_data()["moons"]
    rs = np.random.RandomState(7)
    draws = [rs.randint(4, size=len(X)) for _ in range(5)]
    one = KernelKMeans(4, gamma=2.0, random_state=7).fit(X)
    first = KernelKMeans(4, gamma=2.0, init=draws[0]).fit(X)
    np.testing.assert_array_equal(one.labels_, first.labels_)
    runs = [KernelKMeans(4, gamma=2.0, init=d).fit(X).inertia_ for d in draws]
    best = KernelKMeans(4, gamma=2.0, n_init=5, random_state=7).fit(X)
    assert best.inertia_ == pytest.approx(min(runs), rel=1e-12)
    assert len(set(np.round(runs, 6))) > 1            # the runs really differ


@pytest.mark.parametrize("kernel", ["rbf", "poly", "linear"])
def test_predict_on_training_data_gives_labels(kernel):
    X = _nonlinear_data()["circles"]
    km = KernelKMeans(3, kernel=kernel, gamma=1.5, random_state=0, n_init=2)
    labels = km.fit_predict(X)
    np.testing.assert_array_equal(labels, km.labels_)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    assert km.X_fit_.shape == X.shape


def test_empty_initial_cluster_is_filled_not_nan():
    X = make_blobs(300, centers=4, n_features=2, random_state=1)[0]
    labels0 = np.random.RandomState(0).randint(3, size=len(X))     # cluster 3 starts empty
    km = KernelKMeans(4, gamma=0.5, init=labels0).fit(X)
    assert np.unique(km.labels_).size == 4
    assert np.isfinite(km.inertia_)


def test_more_clusters_than_distinct_points_warns_and_stays_finite():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 0.0]]), 10, axis=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        km = KernelKMeans(5, gamma=1.0, random_state=0).fit(X)
    assert np.isfinite(km.inertia_) and km.inertia_ == pytest.approx(0.0, abs=1e-9)
    assert np.all(km.predict(X) == km.labels_)


def test_duplicates_and_constant_feature_work():
    X = np.column_stack([np.repeat(np.arange(6.0), 10), np.full(60, 2.0)])
    km = KernelKMeans(3, gamma=1.0, n_init=5, random_state=0).fit(X)
    assert np.isfinite(km.inertia_)
    # duplicates share a label
    assert all(np.unique(km.labels_[X[:, 0] == v]).size == 1 for v in range(6))


# --------------------------------------------------------------------------- bad input


X_OK = make_blobs(30, centers=2, n_features=2, random_state=0)[0]


@pytest.mark.parametrize("X, kwargs, match", [
    (np.where(np.arange(60).reshape(30, 2) == 5, np.nan, X_OK), {}, "NaN"),
    (np.where(np.arange(60).reshape(30, 2) == 5, np.inf, X_OK), {}, "infinity"),
    (X_OK, {"n_clusters": 31}, "n_clusters=31"),
    (X_OK, {"n_clusters": 0}, "n_clusters"),
    (X_OK, {"n_clusters": 2, "init": np.zeros(29, int)}, "init has shape"),
    (X_OK, {"n_clusters": 2, "init": np.full(30, 2)}, "init labels must be in"),
    (X_OK, {"n_clusters": 2, "init": np.full(30, 0.5)}, "integer labels"),
    (np.array([["a", "b"], ["c", "d"]]), {"n_clusters": 1}, "numbers"),
    (X_OK, {"kernel": "gaussian"}, "kernel"),
    (X_OK, {"gamma": 0.0}, "gamma"),
    (X_OK, {"degree": -1}, "degree"),
    (X_OK, {"kernel_params": {"degree": 2}}, r"\['degree'\] are not parameters of kernel"),
    (X_OK, {"kernel": "precomputed"}, "square kernel matrix"),
    (X_OK @ X_OK.T + np.triu(np.ones((30, 30))), {"kernel": "precomputed"}, "symmetric"),
    (X_OK @ X_OK.T, {"kernel": "precomputed", "kernel_params": {"gamma": 1}},
     "kernel_params must be empty"),
    (X_OK, {"kernel": "poly", "gamma": 1e3, "degree": 200}, "non-finite"),
])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_bad_input_raises_value_error(X, kwargs, match):
    kwargs = {"n_clusters": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        KernelKMeans(**kwargs).fit(X)


def test_not_fitted_and_wrong_width():
    with pytest.raises(NotFittedError):
        KernelKMeans(2).predict(X_OK)
    km = KernelKMeans(2, random_state=0).fit(X_OK)
    with pytest.raises(ValueError, match="features"):
        km.predict(np.zeros((3, 5)))
    pre = KernelKMeans(2, kernel="precomputed", random_state=0).fit(X_OK @ X_OK.T)
    with pytest.raises(ValueError, match="features"):
        pre.predict(np.zeros((3, 29)))


def test_explicit_init_with_n_init_warns():
    with pytest.warns(RuntimeWarning, match="only one init"):
        KernelKMeans(2, init=np.arange(30) % 2, n_init=3).fit(X_OK)


# --------------------------------------------------------------------------- experiment


@pytest.fixture(scope="module")
def circles(tmp_path_factory):
    return run_quick(tmp_path_factory, "kernel-kmeans-circles")


def test_kernel_kmeans_beats_kmeans_on_both_datasets(circles):
    m = circles["metrics"]
    assert m["ari_kmeans[circles]"] < 0.1                 # a straight cut through both rings
    for name in kkc.DATASETS:
        assert m[f"ari_kernel_best[{name}]"] > m[f"ari_kmeans[{name}]"] + 0.1, name


def test_rings_are_a_fixed_point_for_every_gamma(circles):
    d = circles["data"]["datasets"]["circles"]
    assert d["ari_from_truth"] == [1.0] * len(circles["params"]["gammas"])
    # no random start does better on its own objective than it would need to find the rings
    # at small gamma: there the objective prefers a different partition
    assert d["inertia"][0] < d["inertia_from_truth"][0]


def test_sweep_table_and_figures(circles):
    table = circles["tables"]["sweep"]
    gammas = circles["params"]["gammas"]
    assert len(table["rows"]) == len(kkc.DATASETS) * len(gammas)
    assert [row[1] for row in table["rows"][:len(gammas)]] == gammas
    assert set(circles["figures"]) == {"partitions", "ari_vs_gamma"}
    for name in kkc.DATASETS:
        d = circles["data"]["datasets"][name]
        n = circles["params"]["grid_points"]
        assert np.asarray(d["kernel_grid"]).shape == (n, n)
        assert all(-0.5 <= a <= 1.0 for a in d["ari"])


def test_experiment_same_seed_same_numbers(circles):
    again = compute_again("kernel-kmeans-circles", circles)
    for name in kkc.DATASETS:
        assert again.data["datasets"][name]["inertia"] == \
            circles["data"]["datasets"][name]["inertia"]
    assert again.metrics == pytest.approx(circles["metrics"])
