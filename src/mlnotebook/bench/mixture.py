"""GaussianMixture fit against scikit-learn's, same start, a fixed number of EM iterations.

Both sides are NumPy/BLAS code on the CPU whatever the ``device`` and run with the BLAS
threads the process has. ``tol=0`` makes every fit run exactly ``max_iter`` iterations, and
the explicit ``weights_init``/``means_init``/``precisions_init`` mean no k-means runs, so
the ratio compares EM iterations alone.
"""

from __future__ import annotations

import warnings

from mlnotebook.bench._base import BenchCase, benchmark


def _quietly(fn):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0 never "converges"; that is the point
            return fn()
    return run


@benchmark(topic="cluster", concept="gaussian-mixtures",
           reference="sklearn.mixture.GaussianMixture(full).fit")
def gmm_fit_full(device: str = "cpu", quick: bool = False) -> BenchCase:
    """20 EM iterations, full covariances, 100,000 x 8 data, 8 components."""
    from sklearn.datasets import make_blobs
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from mlnotebook.mixture import GaussianMixture
    from mlnotebook.verify.mixture import starting_values

    n, d, k, iters = (2000, 4, 3, 5) if quick else (100_000, 8, 8, 20)
    X, _ = make_blobs(n, d, centers=k, cluster_std=2.0, random_state=0)
    kwargs = dict(n_components=k, covariance_type="full", tol=0.0, max_iter=iters,
                  **starting_values(X, k, "full"))
    ours, ref = GaussianMixture(**kwargs), SkGaussianMixture(**kwargs)
    return BenchCase(
        ours=_quietly(lambda: ours.fit(X)), reference=_quietly(lambda: ref.fit(X)),
        max_repeats=None if quick else 7,
        info={"shape": [n, d], "components": k, "iterations": iters,
              "computed on": "cpu"})
