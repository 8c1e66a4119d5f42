"""What Ridge and Lasso share: argument checks, centring with sample weights, predict."""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6 has it as a method
    def validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


def check_alpha(alpha, *, positive: bool = False) -> float:
    """``alpha`` as a float; TypeError unless a real number, ValueError if < 0 (or == 0)."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha < 0 or (positive and alpha == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"alpha must be a finite number {bound}, got {alpha}")
    return alpha


def check_bool(name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """None, or a finite, non-negative float64 array of shape (n_samples,) with a positive sum.

    A number means the same weight for every sample.
    """
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},) to match X, "
                         f"got {sw.shape}")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    if not sw.sum() > 0:
        raise ValueError("sample_weight must not be all zero (its sum must be > 0)")
    return sw


def validate_X_y(estimator, X, y):
    """Validated float64 ``X`` (n, p) and ``y`` (n,) or (n, k), consistent lengths, finite."""
    X, y = validate_data(estimator, X, y, y_numeric=True, multi_output=True,
                         dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError("y has no columns (shape (n_samples, 0))")
    return X, y


def centre_and_weight(X: np.ndarray, y: np.ndarray, sw: np.ndarray | None,
                      fit_intercept: bool, order: str = "C"):
    """The centred, weighted problem a linear model without intercept then solves.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_targets)
    sw : ndarray of shape (n_samples,) or None
    fit_intercept : bool
    order : {"C", "F"}
        Memory layout of the returned ``X`` ("F" keeps columns contiguous, for coordinate
        descent); written in one pass either way.

    Returns
    -------
    X, y : ndarrays
        ``X - X_offset`` and ``y - y_offset`` (offsets zero without an intercept), rows then
        multiplied by ``sqrt(sw)``, so that ``||y - X w||^2`` is the weighted sum of squares.
        New arrays; the inputs are not modified.
    X_offset : ndarray of shape (n_features,)
    y_offset : ndarray of shape (n_targets,)
        Weighted means of the columns (zeros without an intercept). With centred data the
        intercept that minimises the weighted squared error for given ``w`` is
        ``y_offset - X_offset @ w``, and the penalty does not involve it.
    """
    if fit_intercept:
        X_offset = np.average(X, axis=0, weights=sw)
        y_offset = np.average(y, axis=0, weights=sw)
    else:
        X_offset, y_offset = np.zeros(X.shape[1]), np.zeros(y.shape[1])
    X = np.subtract(X, X_offset, out=np.empty(X.shape, order=order))
    y = y - y_offset
    if sw is not None:
        root = np.sqrt(sw)[:, None]                                   # (n, 1)
        X *= root
        y *= root
    return X, y, X_offset, y_offset


def set_fitted(estimator, coef: np.ndarray, X_offset, y_offset, y_ndim: int) -> None:
    """``coef_`` and ``intercept_`` from ``coef`` (k, p), in scikit-learn's shapes.

    ``coef_`` is 1-D whenever there is one target (``y`` 1-D or one column);
    ``intercept_`` is a float for 1-D ``y``, shape (k,) for 2-D ``y``, and ``0.0`` without
    an intercept.
    """
    estimator.coef_ = coef[0] if coef.shape[0] == 1 else coef
    if not estimator.fit_intercept:
        estimator.intercept_ = 0.0
        return
    intercept = y_offset - coef @ X_offset                            # (k,)
    estimator.intercept_ = float(intercept[0]) if y_ndim == 1 else intercept


def linear_predict(estimator, X) -> np.ndarray:
    """``X @ coef_.T + intercept_``: shape (n_samples,) or (n_samples, n_targets)."""
    check_is_fitted(estimator)
    X = validate_data(estimator, X, reset=False, dtype=np.float64)
    return X @ estimator.coef_.T + estimator.intercept_
