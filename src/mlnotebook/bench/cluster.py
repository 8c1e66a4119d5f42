"""k-means fit time against scikit-learn's lloyd, same data, centres and iteration count.

Both run exactly ``max_iter`` Lloyd iterations (tol=0) from the same explicit initial
centres (n_init=1), on all the CPU's cores: scikit-learn through OpenMP, ours through a
thread per core over blocks of rows with BLAS held to one thread, as scikit-learn holds it.
"""

from __future__ import annotations

import numpy as np

from mlnotebook.bench._base import BenchCase, benchmark


def _case(dtype, quick: bool) -> BenchCase:
    from sklearn.cluster import KMeans as SkKMeans

    from mlnotebook.cluster import KMeans
    from mlnotebook.cluster._kmeans import _n_threads

    n, d, k, iters = (2000, 8, 4, 5) if quick else (200_000, 32, 32, 20)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (k, d))
    X = (centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))).astype(dtype)
    init = X[rng.choice(n, k, replace=False)]
    ours = KMeans(k, init=init, n_init=1, max_iter=iters, tol=0)
    ref = SkKMeans(k, init=init, n_init=1, max_iter=iters, tol=0, algorithm="lloyd")
    return BenchCase(lambda: ours.fit(X), lambda: ref.fit(X), max_repeats=7,
                     info={"shape": [n, d], "n_clusters": k, "iterations": iters,
                           "dtype": np.dtype(dtype).name, "threads": _n_threads()})


@benchmark(topic="cluster", concept="k-means", reference="sklearn.cluster.KMeans(lloyd).fit")
def kmeans_fit_float64(device: str = "cpu", quick: bool = False) -> BenchCase:
    """KMeans.fit, 200,000 x 32 float64, 32 clusters, 20 iterations."""
    return _case(np.float64, quick)


@benchmark(topic="cluster", concept="k-means", reference="sklearn.cluster.KMeans(lloyd).fit")
def kmeans_fit_float32(device: str = "cpu", quick: bool = False) -> BenchCase:
    """KMeans.fit, 200,000 x 32 float32, 32 clusters, 20 iterations."""
    return _case(np.float32, quick)
