"""Mini-batch k-means fit time against scikit-learn's, same data, centres, seed and steps.

Both start from the same explicit centres with the same integer ``random_state``, so they
draw the same batches; early stopping is off (``max_no_improvement=None``, ``tol=0``), so
both take exactly ``max_iter * n_samples // batch_size`` steps, then label all the rows.
scikit-learn runs its steps with OpenMP threads; ours runs the steps on one thread (a
batch is too small to split) and the final labelling on a thread per core.
"""

from __future__ import annotations

import numpy as np

from mlnotebook.bench._base import BenchCase, benchmark


def _case(dtype, quick: bool) -> BenchCase:
    from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans

    from mlnotebook.cluster import MiniBatchKMeans
    from mlnotebook.cluster._kmeans import _n_threads

    n, d, k, passes = (3000, 8, 4, 1) if quick else (200_000, 32, 32, 2)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (k, d))
    X = (centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))).astype(dtype)
    init = X[rng.choice(n, k, replace=False)]
    kwargs = {"init": init, "max_iter": passes, "batch_size": 1024, "tol": 0.0,
              "max_no_improvement": None, "random_state": 0}
    ours = MiniBatchKMeans(k, **kwargs)
    ref = SkMiniBatchKMeans(k, **kwargs)
    return BenchCase(lambda: ours.fit(X), lambda: ref.fit(X), max_repeats=7,
                     info={"shape": [n, d], "n_clusters": k, "batch_size": 1024,
                           "steps": passes * n // 1024, "dtype": np.dtype(dtype).name,
                           "threads": _n_threads()})


@benchmark(topic="cluster", concept="k-means-variants",
           reference="sklearn.cluster.MiniBatchKMeans.fit")
def minibatch_fit_float64(device: str = "cpu", quick: bool = False) -> BenchCase:
    """MiniBatchKMeans.fit, 200,000 x 32 float64, 32 clusters, 390 steps of 1024 rows."""
    return _case(np.float64, quick)


@benchmark(topic="cluster", concept="k-means-variants",
           reference="sklearn.cluster.MiniBatchKMeans.fit")
def minibatch_fit_float32(device: str = "cpu", quick: bool = False) -> BenchCase:
    """MiniBatchKMeans.fit, 200,000 x 32 float32, 32 clusters, 390 steps of 1024 rows."""
    return _case(np.float32, quick)
