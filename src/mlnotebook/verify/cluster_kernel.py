"""Kernel k-means against scikit-learn's Lloyd k-means on an explicit feature map.

Kernel k-means from an initial partition is Lloyd's k-means on ``phi(X)`` started from the
centroids of that partition. Two feature maps make this a check with no approximation:

* the linear kernel, where ``phi(x) = x``;
* any kernel on a finite set: ``K = V diag(lam) V^T`` gives ``phi(x_i) = (V sqrt(lam))_i``,
  rows of an (n, n) matrix with ``phi phi^T = K`` (to rounding; rbf and polynomial kernel
  matrices are positive semi-definite).

Each case returns ``|relative inertia difference| + (number of differing labels) +
|n_iter difference|``, so any label or iteration-count difference alone exceeds the
tolerance. Initial labels are ``RandomState(seed).randint(k, size=n)``, the draw of
``KernelKMeans(init="random")`` (and of tslearn's ``KernelKMeans``).

tslearn's ``KernelKMeans`` (0.10) is not used as the reference: its distance
``2 - 2 sum_{j in c} w_j K_ij / s_c`` leaves out the centroid's squared norm
``sum_{j, l in c} w_j w_l K_jl / s_c^2``, which differs between clusters, so it does not
minimise the kernel k-means objective (see tests/test_kernel_kmeans.py).
"""

from __future__ import annotations

import numpy as np

from mlnotebook.verify._base import check


def _weighted_centroids(Z: np.ndarray, labels: np.ndarray, k: int, w: np.ndarray):
    """Rows ``sum_{i in c} w_i z_i / sum_{i in c} w_i``, shape (k, n_features)."""
    onehot = np.zeros((len(Z), k))
    onehot[np.arange(len(Z)), labels] = w
    return (onehot.T @ Z) / onehot.sum(axis=0)[:, None]


def _discrepancy(ours, ref) -> float:
    inertia = abs(ours.inertia_ - ref.inertia_) / ref.inertia_
    return (float(inertia) + int((ours.labels_ != ref.labels_).sum())
            + abs(ours.n_iter_ - ref.n_iter_))


def _against_lloyd(X, Z, k, weighted, seed, kernel_kwargs, sk_tol) -> float:
    """Ours with the kernel on X vs sklearn's lloyd on features Z (phi(X)), same start."""
    from sklearn.cluster import KMeans as SkKMeans

    from mlnotebook.cluster import KernelKMeans

    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 3.0, len(X)) if weighted else np.ones(len(X))
    labels0 = np.random.RandomState(seed).randint(k, size=len(X))
    # sklearn's tol is relative to mean_f Var(Z_f); ours to sum_f Var(Z_f)
    ours = KernelKMeans(k, init=labels0, tol=sk_tol / Z.shape[1], **kernel_kwargs).fit(
        X, sample_weight=w)
    ref = SkKMeans(k, init=_weighted_centroids(Z, labels0, k, w), n_init=1, tol=sk_tol,
                   algorithm="lloyd").fit(Z, sample_weight=w)
    return _discrepancy(ours, ref)


def _eigen_features(K: np.ndarray) -> np.ndarray:
    """``phi`` of shape (n, n) with ``phi @ phi.T == K`` (negative rounding eigenvalues -> 0)."""
    lam, V = np.linalg.eigh(K)
    return V * np.sqrt(np.maximum(lam, 0.0))


def _linear_data(seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.datasets import make_blobs

    rng = np.random.default_rng(seed)
    blobs, _ = make_blobs(n_samples=1500, centers=6, n_features=5, random_state=seed)
    shear = np.eye(5)
    shear[0, 1], shear[1, 0] = -0.6, -0.4
    return {
        "blobs": blobs,
        "anisotropic": blobs @ shear,
        "duplicates": np.repeat(rng.normal(size=(50, 3)), 20, axis=0),
        "constant": np.column_stack([blobs[:, :4], np.full(len(blobs), -3.0)]),
    }


def _nonlinear_data(seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.datasets import make_blobs, make_circles, make_moons
    from sklearn.preprocessing import StandardScaler

    blobs, _ = make_blobs(n_samples=400, centers=4, n_features=3, random_state=seed)
    return {
        "circles": make_circles(400, noise=0.05, factor=0.5, random_state=seed)[0],
        "moons": make_moons(400, noise=0.08, random_state=seed)[0],
        "blobs": StandardScaler().fit_transform(blobs),
    }


KERNEL_CASES = {
    "rbf gamma=0.5": {"kernel": "rbf", "gamma": 0.5},
    "rbf gamma=5": {"kernel": "rbf", "gamma": 5.0},
    "poly degree=2": {"kernel": "poly", "gamma": 0.5, "degree": 2, "coef0": 1.0},
    "poly degree=3": {"kernel": "poly", "gamma": 0.7, "degree": 3, "coef0": 1.0},
}


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.KMeans(lloyd), linear kernel", tolerance=1e-9)
def kernel_kmeans_linear_matches_kmeans():
    """Linear kernel = Lloyd on X from the initial partition's centroids (k=8, default tol)."""
    return {f"{name}, {'weighted' if weighted else 'unweighted'}": _against_lloyd(
        X, X, 8, weighted, seed=0, kernel_kwargs={"kernel": "linear"}, sk_tol=1e-4)
        for name, X in _linear_data().items() for weighted in (False, True)}


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.KMeans(lloyd) on phi = V sqrt(lam) of K", tolerance=1e-9)
def kernel_kmeans_rbf_poly_match_feature_map():
    """rbf and polynomial kernels = Lloyd on the eigen feature map (k=3, tol=0, seed 1)."""
    from sklearn.metrics.pairwise import pairwise_kernels

    rows = {}
    for data_name, X in _nonlinear_data().items():
        for case, kwargs in KERNEL_CASES.items():
            params = {key: value for key, value in kwargs.items() if key != "kernel"}
            Z = _eigen_features(pairwise_kernels(X, metric=kwargs["kernel"], **params))
            for weighted in (False, True):
                rows[f"{data_name}, {case}, {'weighted' if weighted else 'unweighted'}"] = (
                    _against_lloyd(X, Z, 3, weighted, seed=1, kernel_kwargs=kwargs, sk_tol=0.0))
    return rows
