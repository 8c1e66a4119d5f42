"""Ridge and lasso fits against scikit-learn's, on regression problems of a realistic size.

Both sides are NumPy/BLAS code on the CPU whatever the ``device`` (the estimators have no
GPU path), fed the same float64 arrays. The lasso problem has correlated features
(correlation 0.5^|i - j| between features i and j) and a sparse truth, and both solvers use
their defaults (tol=1e-4), so the ratio includes how many sweeps each needs.
"""

from __future__ import annotations

import numpy as np

from mlnotebook.bench._base import BenchCase, benchmark


def sparse_regression(n_samples: int, n_features: int, n_informative: int, seed: int = 0):
    """Correlated Gaussian features (Toeplitz 0.5^|i-j|), a sparse truth, unit noise: (X, y)."""
    rng = np.random.default_rng(seed)
    lags = np.abs(np.subtract.outer(np.arange(n_features), np.arange(n_features)))
    root = np.linalg.cholesky(0.5 ** lags)                           # (p, p)
    X = rng.standard_normal((n_samples, n_features)) @ root.T + 1.0
    w = np.zeros(n_features)
    w[rng.choice(n_features, n_informative, replace=False)] = rng.normal(0, 2, n_informative)
    return X, X @ w + rng.standard_normal(n_samples) + 3.0


def _alpha_max(X: np.ndarray, y: np.ndarray) -> float:
    """The smallest lasso alpha (with intercept) at which every coefficient is zero."""
    return float(np.abs((X - X.mean(axis=0)).T @ (y - y.mean())).max() / len(y))


@benchmark(topic="regularisation", concept="weight-decay",
           reference="sklearn.linear_model.Ridge.fit")
def ridge_fit(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Ridge(alpha=1).fit on 2000 x 200 (Cholesky of the 200 x 200 primal system)."""
    from sklearn.linear_model import Ridge as SkRidge

    from mlnotebook.linear_model import Ridge

    n, p = (100, 10) if quick else (2000, 200)
    X, y = sparse_regression(n, p, max(1, p // 10))
    ours, ref = Ridge(alpha=1.0), SkRidge(alpha=1.0)
    return BenchCase(ours=lambda: ours.fit(X, y), reference=lambda: ref.fit(X, y),
                     info={"shape": [n, p], "alpha": 1.0, "computed on": "cpu"})


def _lasso_case(n: int, p: int, informative: int, fraction: float) -> BenchCase:
    from sklearn.linear_model import Lasso as SkLasso

    from mlnotebook.linear_model import Lasso

    X, y = sparse_regression(n, p, informative)
    alpha = fraction * _alpha_max(X, y)
    ours, ref = Lasso(alpha=alpha), SkLasso(alpha=alpha)
    ours.fit(X, y)
    ref.fit(X, y)
    return BenchCase(
        ours=lambda: ours.fit(X, y), reference=lambda: ref.fit(X, y),
        info={"shape": [n, p], "alpha / alpha_max": fraction,
              "nonzero (ours, sklearn)": [int(np.sum(ours.coef_ != 0)),
                                          int(np.sum(ref.coef_ != 0))],
              "sweeps (ours, sklearn)": [int(ours.n_iter_), int(ref.n_iter_)],
              "max |coef diff|": float(np.abs(ours.coef_ - ref.coef_).max()),
              "computed on": "cpu"})


@benchmark(topic="regularisation", concept="weight-decay",
           reference="sklearn.linear_model.Lasso.fit")
def lasso_fit(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Lasso(alpha=0.05 alpha_max).fit on 2000 x 200 with 20 informative features."""
    n, p = (100, 10) if quick else (2000, 200)
    return _lasso_case(n, p, max(1, p // 10), 0.05)


@benchmark(topic="regularisation", concept="weight-decay",
           reference="sklearn.linear_model.Lasso.fit")
def lasso_fit_wide(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Lasso(alpha=0.05 alpha_max).fit on 200 x 1000: few samples, so per-step overhead shows."""
    n, p = (20, 50) if quick else (200, 1000)
    return _lasso_case(n, p, max(1, p // 50), 0.05)
