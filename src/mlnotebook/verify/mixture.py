"""Gaussian mixtures and EM against scikit-learn, from the same starting parameters.

With ``weights_init``, ``means_init`` and ``precisions_init`` all given, neither side draws
anything at random, so the EM trajectories must agree to rounding. Differences are
relative: ``max |ours - theirs| / max |theirs|`` per fitted array, the largest of them.
"""

from __future__ import annotations

import warnings

import numpy as np

from mlnotebook.verify._base import check

_TYPES = ("full", "tied", "diag", "spherical")


def _blobs(seed: int = 0) -> np.ndarray:
    """Four overlapping anisotropic clusters of unequal size in 5-D, away from the origin.

    Overlap keeps the responsibilities soft, so EM needs tens of iterations: (1200, 5).
    """
    rng = np.random.default_rng(seed)
    parts = []
    for k, (size, scale) in enumerate([(400, 1.0), (300, 2.0), (300, 0.5), (200, 1.5)]):
        mix = rng.normal(size=(5, 5)) * scale / 2 + np.eye(5) * scale
        parts.append(rng.normal(size=(size, 5)) @ mix + rng.normal(0, 2.5, 5) + 1.5 * k)
    return np.concatenate(parts) + 50.0


def starting_values(X: np.ndarray, n_components: int, covariance_type: str, seed: int = 0):
    """Uniform weights, random data rows as means, the inverse data variance as precisions."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    means = X[rng.choice(len(X), n_components, replace=False)]
    var = X.var(axis=0)
    precisions = {"full": np.broadcast_to(np.diag(1 / var), (n_components, d, d)).copy(),
                  "tied": np.diag(1 / var),
                  "diag": np.tile(1 / var, (n_components, 1)),
                  "spherical": np.full(n_components, 1 / var.mean())}[covariance_type]
    return dict(weights_init=np.full(n_components, 1 / n_components), means_init=means,
                precisions_init=precisions)


def _relative(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


def compare_fits(ours, theirs, X: np.ndarray) -> float:
    """Largest relative difference over the fitted arrays, or inf if iterations differ."""
    if ours.n_iter_ != theirs.n_iter_ or ours.converged_ != theirs.converged_:
        return float("inf")
    return max(_relative(ours.lower_bound_, theirs.lower_bound_),
               *(_relative(getattr(ours, name), getattr(theirs, name))
                 for name in ("weights_", "means_", "covariances_", "precisions_cholesky_")),
               float(np.mean(ours.predict(X) != theirs.predict(X))))


def _fit_both(covariance_type: str, **kwargs):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from mlnotebook.mixture import GaussianMixture

    X = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixed-iteration cases stop before converging
        ours = GaussianMixture(covariance_type=covariance_type, **kwargs).fit(X)
        theirs = SkGaussianMixture(covariance_type=covariance_type, **kwargs).fit(X)
    return compare_fits(ours, theirs, X)


@check(topic="cluster", concept="gaussian-mixtures",
       reference="sklearn.mixture.GaussianMixture", tolerance=1e-6)
def gmm_same_start_matches_sklearn():
    """Lower bound, weights, means, covariances, Cholesky factors and labels, 4 covariance
    types x (run to tol=1e-6 | exactly 30 iterations), from the same explicit start.
    n_iter_ and converged_ must match exactly (otherwise the row reads inf)."""
    X = _blobs()
    rows = {}
    for covariance_type in _TYPES:
        start = starting_values(X, 4, covariance_type)
        for label, stop in (("to tol", dict(tol=1e-6, max_iter=500)),
                            ("30 iterations", dict(tol=0.0, max_iter=30))):
            rows[f"{covariance_type}, {label}"] = _fit_both(
                covariance_type, n_components=4, **start, **stop)
    return rows


@check(topic="cluster", concept="gaussian-mixtures",
       reference="sklearn.mixture.GaussianMixture", tolerance=1e-6)
def gmm_seeded_init_matches_sklearn():
    """The same random_state gives the same fit for every init_params (k-means, k-means++,
    random, random_from_data), 3 restarts each, full and diag covariances."""
    rows = {}
    for covariance_type in ("full", "diag"):
        for init in ("kmeans", "k-means++", "random", "random_from_data"):
            rows[f"{covariance_type}, {init}"] = _fit_both(
                covariance_type, n_components=4, init_params=init, n_init=3,
                random_state=7, tol=1e-6, max_iter=500)
    return rows


@check(topic="cluster", concept="em-algorithm",
       reference="sklearn.mixture.GaussianMixture(spherical, reg_covar=0)", tolerance=1e-9)
def em_gaussian_1d_matches_sklearn():
    """The readable two-Gaussian EM against scikit-learn's 1-D spherical mixture with no
    variance floor: weights, means and standard deviations after 60 iterations."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from mlnotebook.mixture import gaussian_1d_em

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-2.0, 1.0, 300), rng.normal(2.5, 0.6, 200)])
    trace = gaussian_1d_em(x, means_init=(-1.0, 1.0), sigmas_init=(1.5, 1.5), n_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkGaussianMixture(2, covariance_type="spherical", reg_covar=0.0, tol=0.0,
                                max_iter=60, weights_init=[0.5, 0.5],
                                means_init=[[-1.0], [1.0]],
                                precisions_init=[1 / 1.5**2, 1 / 1.5**2]).fit(x[:, None])
    pi, mu1, mu2, sd1, sd2 = trace.params[-1]
    ours = np.array([pi, 1 - pi, mu1, mu2, sd1, sd2])
    theirs = np.concatenate([ref.weights_, ref.means_.ravel(), np.sqrt(ref.covariances_)])
    return float(np.max(np.abs(ours - theirs)))


@check(topic="cluster", concept="em-algorithm",
       reference="Do & Batzoglou (2008), Fig. 1: theta_A = 0.80, theta_B = 0.52",
       tolerance=5e-3)
def em_two_coins_matches_paper():
    """Two coins after 10 EM iterations from (0.6, 0.5), against the paper's two-decimal
    values (so the tolerance is half a unit in the second decimal)."""
    from mlnotebook.mixture import two_coins_em

    theta = two_coins_em(theta_init=(0.6, 0.5), n_iter=10).params[-1]
    return float(np.max(np.abs(theta - np.array([0.80, 0.52]))))
