"""KMedoids against the ``kmedoids`` package's PAM, FuzzyCMeans against scikit-fuzzy's cmeans.

KMedoids: both run BUILD + SWAP on the same (symmetrised) dissimilarity matrix. A case
returns ``(medoid indices that differ) + (labels that differ) + |n_iter difference| +
|relative loss difference|``, so any difference in the discrete results alone fails.

FuzzyCMeans: both start from the same membership matrix. A case returns the largest of
``max |centre diff| / max |x|``, ``max |membership diff|`` and the relative difference of the
objective histories, plus ``|n_iter difference|``.
"""

from __future__ import annotations

import numpy as np

from mlnotebook.verify._base import check


def _medoid_data(seed: int = 0) -> dict[str, tuple[np.ndarray, str]]:
    """Blobs, blobs with far outliers, duplicated points (exact ties), and an L1 metric."""
    from sklearn.datasets import make_blobs

    rng = np.random.default_rng(seed)
    blobs, _ = make_blobs(n_samples=500, centers=5, n_features=3, random_state=seed)
    return {
        "blobs": (blobs, "euclidean"),
        "outliers": (np.vstack([blobs, rng.uniform(-80, 80, (25, 3))]), "euclidean"),
        "duplicates": (rng.permutation(np.repeat(rng.normal(size=(40, 2)), 8, axis=0)),
                       "euclidean"),
        "manhattan": (blobs, "manhattan"),
        "integer grid, L1": (rng.integers(0, 6, (300, 2)).astype(float), "manhattan"),
    }


def _medoid_discrepancy(X: np.ndarray, metric: str, n_clusters: int) -> float:
    import kmedoids
    from sklearn.metrics import pairwise_distances

    from mlnotebook.cluster import KMedoids

    D = pairwise_distances(X, metric=metric)
    D = (D + D.T) / 2                          # the matrix KMedoids works on
    ref = kmedoids.pam(D, n_clusters, max_iter=300, init="build")
    ours = KMedoids(n_clusters, metric=metric).fit(X)
    return (float(np.sum(ours.medoid_indices_ != ref.medoids))
            + float(np.sum(ours.labels_ != ref.labels)) + abs(ours.n_iter_ - ref.n_iter)
            + abs(ours.inertia_ - ref.loss) / ref.loss)


@check(topic="cluster", concept="k-means-variants", reference="kmedoids.pam(init='build')",
       tolerance=1e-12)
def kmedoids_matches_pam():
    """PAM BUILD + SWAP: same medoids (in order), labels, n_iter; loss to 1e-12."""
    return {f"{name}, k={k}": _medoid_discrepancy(X, metric, k)
            for name, (X, metric) in _medoid_data().items() for k in (2, 5, 8)}


@check(topic="cluster", concept="k-means-variants", reference="kmedoids.pam(init=medoids)",
       tolerance=1e-12)
def kmedoids_swap_from_given_medoids():
    """SWAP alone from random initial medoids (init array / init='random', same seed)."""
    import kmedoids
    from sklearn.metrics import pairwise_distances

    from mlnotebook.cluster import KMedoids

    rows = {}
    for name, (X, metric) in _medoid_data().items():
        D = pairwise_distances(X, metric=metric)
        D = (D + D.T) / 2
        for seed in (0, 1):
            ref = kmedoids.pam(D, 6, max_iter=300, init="random", random_state=seed)
            ours = KMedoids(6, metric="precomputed", init="random", random_state=seed).fit(D)
            rows[f"{name}, seed {seed}"] = (
                float(np.sum(ours.medoid_indices_ != ref.medoids))
                + float(np.sum(ours.labels_ != ref.labels)) + abs(ours.n_iter_ - ref.n_iter)
                + abs(ours.inertia_ - ref.loss) / ref.loss)
    return rows


def _fuzzy_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Blobs, iris, and three distinct points repeated (centres land on data points)."""
    from sklearn.datasets import load_iris, make_blobs

    blobs, _ = make_blobs(n_samples=800, centers=4, n_features=3, cluster_std=1.5,
                          random_state=seed)
    return {"blobs": blobs, "iris": load_iris().data,
            "on-centre duplicates": np.repeat([[0.0, 0.0], [1.0, 1.0], [5.0, 0.0]], 6, axis=0)}


@check(topic="cluster", concept="k-means-variants", reference="skfuzzy.cluster.cmeans",
       tolerance=1e-10)
def fuzzy_matches_skfuzzy_cmeans():
    """Same init memberships: centres, memberships, J_m history (relative 1e-10), n_iter."""
    import skfuzzy

    from mlnotebook.cluster import FuzzyCMeans

    rows = {}
    rng = np.random.default_rng(0)
    for name, X in _fuzzy_data().items():
        for m in (1.5, 2.0, 3.0):
            u0 = rng.uniform(size=(len(X), 3))                         # (n, c)
            cntr, u, _, _, jm, p, fpc = skfuzzy.cluster.cmeans(X.T, 3, m, 1e-5, 300,
                                                                init=u0.T.copy())
            ours = FuzzyCMeans(3, m=m, init=u0).fit(X)
            if ours.n_iter_ != p:
                rows[f"{name}, m={m}"] = float(abs(ours.n_iter_ - p))
                continue
            rows[f"{name}, m={m}"] = max(
                float(np.abs(ours.cluster_centers_ - cntr).max() / np.abs(X).max()),
                float(np.abs(ours.membership_ - u.T).max()),
                float(np.abs(ours.objective_history_ - jm).max() / jm.max()),
                abs(ours.fpc_ - fpc))
    return rows
