"""KMedoids against kmedoids.pam, FuzzyCMeans against skfuzzy.cmeans, on the same inputs.

KMedoids: both run PAM (BUILD + SWAP to convergence, the same swaps, as the verify rows
show) on one precomputed symmetric distance matrix. FuzzyCMeans: both run exactly
``max_iter`` alternations (tol=0) from the same initial membership matrix.
"""

from __future__ import annotations

import numpy as np

from mlnotebook.bench._base import BenchCase, benchmark


@benchmark(topic="cluster", concept="k-means-variants", reference="kmedoids.pam")
def kmedoids_pam_fit(device: str = "cpu", quick: bool = False) -> BenchCase:
    """KMedoids(metric="precomputed").fit, 2,000 points, 10 medoids, BUILD + SWAP."""
    import kmedoids
    from sklearn.datasets import make_blobs
    from sklearn.metrics import pairwise_distances

    from mlnotebook.cluster import KMedoids

    n, k = (150, 3) if quick else (2000, 10)
    X, _ = make_blobs(n_samples=n, centers=k, n_features=5, random_state=0)
    D = pairwise_distances(X)
    D = (D + D.T) / 2
    ours = KMedoids(k, metric="precomputed")
    n_iter = kmedoids.pam(D, k, max_iter=300).n_iter
    return BenchCase(lambda: ours.fit(D), lambda: kmedoids.pam(D, k, max_iter=300),
                     max_repeats=5,
                     info={"n_samples": n, "n_clusters": k, "swap_iterations": n_iter})


@benchmark(topic="cluster", concept="k-means-variants", reference="skfuzzy.cluster.cmeans")
def fuzzy_cmeans_fit(device: str = "cpu", quick: bool = False) -> BenchCase:
    """FuzzyCMeans.fit, 20,000 x 4, 5 clusters, m=2, 30 iterations from the same memberships."""
    import skfuzzy
    from sklearn.datasets import make_blobs

    from mlnotebook.cluster import FuzzyCMeans

    n, d, k, iters = (300, 2, 3, 5) if quick else (20_000, 4, 5, 30)
    X, _ = make_blobs(n_samples=n, centers=k, n_features=d, random_state=0)
    u0 = np.random.default_rng(0).uniform(size=(n, k))
    ours = FuzzyCMeans(k, m=2.0, tol=0.0, max_iter=iters, init=u0)
    X_t, u0_t = X.T.copy(), u0.T.copy()                               # skfuzzy's (d, n), (c, n)
    return BenchCase(lambda: ours.fit(X),
                     lambda: skfuzzy.cluster.cmeans(X_t, k, 2.0, 0.0, iters, init=u0_t),
                     max_repeats=7,
                     info={"shape": [n, d], "n_clusters": k, "iterations": iters})
