"""k-means against scikit-learn's lloyd from the same explicit initial centres.

Each case fits both on the same data and initial centres (n_init=1, default tol and
max_iter) and returns ``max(relative inertia difference, max |centre difference| / max |x|)
+ (number of differing labels) + |n_iter difference|``: any label or iteration-count
difference alone exceeds the tolerance.
"""

from __future__ import annotations

import numpy as np

from mlnotebook.verify._base import check


def _datasets(seed: int = 0) -> dict[str, np.ndarray]:
    """Blobs, a sheared copy, many duplicated points, and blobs with a constant feature."""
    from sklearn.datasets import make_blobs

    rng = np.random.default_rng(seed)
    blobs, _ = make_blobs(n_samples=4000, centers=6, n_features=5, random_state=seed)
    shear = np.eye(5)
    shear[0, 1], shear[1, 0] = -0.6, -0.4
    return {
        "blobs": blobs,
        "anisotropic": blobs @ shear,
        "duplicates": np.repeat(rng.normal(size=(50, 3)), 40, axis=0),
        "constant": np.column_stack([blobs[:, :4], np.full(len(blobs), -3.0)]),
    }


def _discrepancy(X: np.ndarray, n_clusters: int, weighted: bool, seed: int = 0) -> float:
    from sklearn.cluster import KMeans as SkKMeans

    from mlnotebook.cluster import KMeans

    rng = np.random.default_rng(seed)
    init = X[rng.choice(len(X), n_clusters, replace=False)]
    sw = rng.uniform(0.2, 3.0, len(X)).astype(X.dtype) if weighted else None
    ours = KMeans(n_clusters, init=init, n_init=1).fit(X, sample_weight=sw)
    ref = SkKMeans(n_clusters, init=init, n_init=1, algorithm="lloyd").fit(
        X, sample_weight=sw)
    inertia = abs(ours.inertia_ - ref.inertia_) / ref.inertia_
    centres = np.abs(ours.cluster_centers_ - ref.cluster_centers_).max() / np.abs(X).max()
    return (max(float(inertia), float(centres)) + int((ours.labels_ != ref.labels_).sum())
            + abs(ours.n_iter_ - ref.n_iter_))


def _grid(dtype, names) -> dict[str, float]:
    data = _datasets()
    return {f"{name}, {'weighted' if w else 'unweighted'}": _discrepancy(
        data[name].astype(dtype), 8, w) for name in names for w in (False, True)}


@check(topic="cluster", concept="k-means", reference="sklearn.cluster.KMeans(lloyd)",
       tolerance=1e-9)
def kmeans_matches_sklearn_float64():
    """float64: labels, n_iter_ equal; inertia and centres to relative 1e-9."""
    return _grid(np.float64, ["blobs", "anisotropic", "duplicates", "constant"])


@check(topic="cluster", concept="k-means", reference="sklearn.cluster.KMeans(lloyd)",
       tolerance=1e-5)
def kmeans_matches_sklearn_float32():
    """float32: labels, n_iter_ equal; inertia and centres to relative 1e-5.

    Per-cluster sums of a few thousand float32 numbers are added in a different order than
    scikit-learn's per-thread loops (and our inertia is summed in float64), so agreement is
    to float32 rounding. The sheared data set is left out: its overlapping clusters have
    float32 near-ties whose labels change even between scikit-learn runs with 1 and 2
    OpenMP threads.
    """
    return _grid(np.float32, ["blobs", "duplicates", "constant"])


@check(topic="cluster", concept="k-means", reference="sklearn.cluster.kmeans_plusplus",
       tolerance=0.5)
def kmeans_plusplus_same_draws():
    """Indices chosen by k-means++ for seeds 0-4: number of indices that differ (0 = same)."""
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    from mlnotebook.cluster import kmeans_plusplus

    X = _datasets()["blobs"]
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    return {f"seed {seed}": float((kmeans_plusplus(X, 10, sample_weight=sw,
                                                   random_state=seed)[1]
                                   != sk_kmeans_plusplus(X, 10, sample_weight=sw,
                                                         random_state=seed)[1]).sum())
            for seed in range(5)}
