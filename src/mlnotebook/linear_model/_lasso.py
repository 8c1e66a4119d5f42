"""The lasso by cyclic coordinate descent with soft thresholding and a duality-gap stop."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.linalg.blas import daxpy, ddot
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning

from mlnotebook.linear_model._base import (
    centre_and_weight,
    check_alpha,
    check_bool,
    check_sample_weight,
    linear_predict,
    set_fitted,
    validate_X_y,
)

_GAP_EVERY = 10  # sweeps between duality-gap checks at the latest


def soft_threshold(z, threshold: float):
    """``sign(z) * max(|z| - threshold, 0)``, elementwise: the proximal map of ``threshold |.|``."""
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


def duality_gap(X: np.ndarray, y: np.ndarray, w: np.ndarray, R: np.ndarray, a: float,
                positive: bool = False) -> tuple[float, np.ndarray]:
    r"""Duality gap of ``P(w) = 1/2 ||y - X w||^2 + a ||w||_1`` at ``w``, and ``X^T R``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y, R : ndarray of shape (n_samples,)
        Targets and the residual ``y - X w``.
    w : ndarray of shape (n_features,)
    a : float
        The L1 strength in this (unnormalised) scaling, ``a > 0``.
    positive : bool
        Whether ``w >= 0`` is imposed.

    Returns
    -------
    gap : float
        ``P(w) - D(v) >= P(w) - P(w*) >= 0``.
    XtR : ndarray of shape (n_features,)

    Notes
    -----
    The dual is ``D(v) = -1/2 ||v||^2 + y . v`` over ``||X^T v||_inf <= a`` (for
    ``positive``: ``max_j X_j . v <= a``). At the optimum ``v* = y - X w*``, so the
    residual scaled back into the feasible set, ``v = R * min(1, a / ||X^T R||_inf)``, is a
    dual point that becomes optimal as ``w`` does; the gap certifies how far ``P(w)`` can
    be from the minimum.
    """
    XtR = X.T @ R                                                     # (p,)
    dual_norm = XtR.max() if positive else np.abs(XtR).max()
    scale = a / dual_norm if dual_norm > a else 1.0
    R_norm2, Ry = float(R @ R), float(R @ y)
    primal = 0.5 * R_norm2 + a * float(np.abs(w).sum())
    dual = -0.5 * scale**2 * R_norm2 + scale * Ry
    return primal - dual, XtR


def _grow_working_set(working: np.ndarray, XtR: np.ndarray, a: float, positive: bool,
                      norms: np.ndarray) -> np.ndarray:
    """The working set plus the features that most violate optimality, at most doubling it.

    A zero ``w_j`` is optimal for the current residual iff ``|X_j . R| <= a`` (for
    ``positive``: ``X_j . R <= a``); a feature outside the set is zero, and if it satisfies
    this it would stay zero if visited. Of those that violate it, the worst are added, as
    many as the set already holds (at least 10). The set only grows, so it cannot cycle,
    and it grows towards the support instead of starting with every feature whose
    correlation with ``y`` beats ``a``.

    ``working`` is a boolean mask of shape (n_features,); a new mask is returned.
    """
    score = XtR if positive else np.abs(XtR)
    violators = np.flatnonzero((score > a) & ~working & (norms > 0))
    room = max(10, int(working.sum()))
    if violators.size > room:
        violators = violators[np.argpartition(-score[violators], room - 1)[:room]]
    grown = working.copy()
    grown[violators] = True
    return grown


def lasso_coordinate_descent(X: np.ndarray, y: np.ndarray, a: float, w: np.ndarray, *,
                             max_iter: int, tol: float, positive: bool = False
                             ) -> tuple[np.ndarray, float, int]:
    r"""Minimise ``1/2 ||y - X w||^2 + a ||w||_1`` by cyclic coordinate descent.

    .. code-block:: text

        R = y - X w;  norms_j = ||X_j||^2                  (precomputed once)
        W = working set (see below)
        for sweep = 1 .. max_iter:
            for j in W, in increasing order:
                z = X_j . R + norms_j * w_j                # X_j . (residual without j)
                w_j_new = sign(z) * max(|z| - a, 0) / norms_j      (positive: z <= a -> 0)
                R -= (w_j_new - w_j) * X_j                 # keep the residual current
            if max_j |change_j| <= tol * max_j |w_j|       # scikit-learn's cheap test,
                    or sweep is a multiple of 10:          # or now and then anyway:
                if duality gap <= tol * ||y||^2: stop      # the real certificate
                W = W + the worst violators of |X_j . R| <= a

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Read by columns: pass it Fortran-ordered to avoid a copy.
    y : ndarray of shape (n_samples,)
    a : float
        L1 strength in this unnormalised scaling (scikit-learn's ``alpha * n_samples``).
    w : ndarray of shape (n_features,)
        Starting point (zeros, or a warm start). Not modified.
    max_iter : int
        Most sweeps.
    tol : float
        Relative tolerance, as scikit-learn's ``tol``.
    positive : bool
        Constrain ``w >= 0``.

    Returns
    -------
    w : ndarray of shape (n_features,)
    gap : float
        Duality gap at the returned ``w`` (unnormalised scaling).
    n_iter : int
        Sweeps done.

    Notes
    -----
    Minimising over one ``w_j`` with the others fixed is a one-dimensional lasso whose
    solution is the soft-thresholded least-squares coefficient; each such step lowers the
    objective, and the cyclic sweep converges to a minimiser (Friedman et al., 2010).

    A sweep visits only a *working set* ``W``: it starts as the non-zero coefficients of
    ``w`` plus the features whose zero most violates the optimality condition
    ``|X_j . R| <= a``, and at every gap check gains the worst violators again, at most
    doubling (see :func:`_grow_working_set`). Features outside ``W`` are zero and stay
    zero, which is the right value for all but a few of them in a sparse solution; the gap
    check recomputes ``X^T R`` over every feature, and the stop is the duality gap of the
    whole problem, so the answer is certified whatever was skipped. scikit-learn instead
    sweeps every feature that gap-safe screening cannot rule out. So the iterates and
    ``n_iter`` differ from scikit-learn's; the solution, unique for data in general
    position, does not.

    Cost: the sweep is a Python loop over the coordinates of ``W``; each step is one BLAS
    dot product of length ``n_samples`` and, when ``w_j`` moved, one in-place ``axpy``.
    A gap check is one ``X^T R`` product.
    """
    n_samples, n_features = X.shape
    X = np.asfortranarray(X)
    y = np.ascontiguousarray(y, dtype=np.float64)
    cols = [X[:, j] for j in range(n_features)]                       # contiguous views
    norms = np.einsum("ij,ij->j", X, X)                               # ||X_j||^2
    norm_list = norms.tolist()
    w = np.array(w, dtype=np.float64)
    w[norms == 0] = 0.0
    R = y - X @ w if np.any(w) else y.copy()
    tol_gap = tol * float(y @ y)
    gap, XtR = duality_gap(X, y, w, R, a, positive)
    if gap <= tol_gap:
        return w, gap, 0
    mask = _grow_working_set(w != 0, XtR, a, positive, norms)
    working = np.flatnonzero(mask).tolist()
    coef = w.tolist()
    n_iter = 0
    dot, axpy = ddot, daxpy                                           # local names: hot loop
    for n_iter in range(1, max_iter + 1):
        # Plain comparisons instead of max()/abs() calls: this loop is the fit's cost.
        w_max = d_w_max = 0.0
        for j in working:
            w_j = coef[j]
            norm_j = norm_list[j]
            z = dot(cols[j], R) + norm_j * w_j
            if z > a:
                new = (z - a) / norm_j
            elif z < -a and not positive:
                new = (z + a) / norm_j
            else:
                new = 0.0
            if new != w_j:
                axpy(cols[j], R, n_samples, w_j - new)                # R += (w_j - new) X_j
                coef[j] = new
                change = new - w_j if new > w_j else w_j - new
                if change > d_w_max:
                    d_w_max = change
            if new > w_max:
                w_max = new
            elif -new > w_max:
                w_max = -new
        # Check the gap when the sweep changed little (scikit-learn's test), and every
        # _GAP_EVERY sweeps anyway, since at a tol near rounding error that test may never pass.
        if (w_max == 0.0 or d_w_max <= tol * w_max or n_iter % _GAP_EVERY == 0
                or n_iter == max_iter):
            w = np.array(coef)
            gap, XtR = duality_gap(X, y, w, R, a, positive)
            if gap <= tol_gap:
                return w, gap, n_iter
            mask = _grow_working_set(mask, XtR, a, positive, norms)
            working = np.flatnonzero(mask).tolist()
    warnings.warn(f"Lasso did not converge in max_iter={max_iter} sweeps: duality gap "
                  f"{gap:.3e} > tolerance {tol_gap:.3e}. Increase max_iter or tol, or scale "
                  f"the features.", ConvergenceWarning, stacklevel=3)
    return np.array(coef), gap, n_iter


def _check_iter_tol(max_iter, tol) -> None:
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral):
        raise TypeError(f"max_iter must be an int, got {max_iter!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol must be a real number, got {tol!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")


class Lasso(MultiOutputMixin, RegressorMixin, BaseEstimator):
    r"""Linear regression with an L1 penalty (the lasso), scikit-learn's objective.

    Minimises, over ``w`` (and the unpenalised intercept ``b``),

    .. code-block:: text

        1 / (2 n) * sum_i s_i (y_i - x_i . w - b)^2  +  alpha * ||w||_1

    with ``n`` the number of samples and sample weights ``s_i`` rescaled to sum to ``n``
    (all 1 by default), exactly as :class:`sklearn.linear_model.Lasso`. Solved by cyclic
    coordinate descent (:func:`lasso_coordinate_descent`) on the centred data with
    ``a = alpha * n``; each column of a 2-D ``y`` is fitted separately.

    Parameters
    ----------
    alpha : float, default=1.0
        Penalty strength ``> 0``. Above ``alpha_max = max_j |X_j . (y - mean y)| / n`` (centred
        ``X``) every coefficient is zero.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept (centre ``X`` and ``y`` first).
    max_iter : int, default=1000
        Most coordinate-descent sweeps per target.
    tol : float, default=1e-4
        Stop when the duality gap is at most ``tol * ||y_centred||^2`` (scikit-learn's rule;
        checked after a sweep whose largest change is at most ``tol`` times the largest
        coefficient, and at least every 10 sweeps).
    warm_start : bool, default=False
        Start from the previous ``coef_`` instead of zeros.
    positive : bool, default=False
        Constrain the coefficients to be ``>= 0``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        1-D when ``y`` is 1-D or has one column (as scikit-learn).
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int or list of int
        Sweeps per target. A sweep here visits a working set, not every feature, so the
        count differs from scikit-learn's for the same fit.
    dual_gap_ : float or ndarray of shape (n_targets,)
        Final duality gaps divided by ``n`` (the scale of the objective above).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` had string column names

    Notes
    -----
    Scalings: the ``1 / (2n)`` puts ``alpha`` on the scale of a mean squared error, so it
    does not grow with the data set; the objective ``1/2 ||y - X w||^2 + lambda ||w||_1``
    (the weight-decay entry's) has ``lambda = n * alpha``, and for orthonormal columns
    its solution is the soft-thresholded least-squares coefficient
    ``sign(b_j) max(|b_j| - lambda, 0)``. Computation is in float64. ``alpha = 0`` is
    refused: that is least squares, use :class:`Ridge` with ``alpha=0``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> y = np.array([2.0, -2.0, 0.2, -0.2])   # least squares: w = (2, 0.2)
    >>> model = Lasso(alpha=0.1).fit(X, y)      # soft threshold by n * alpha / ||X_j||^2 = 0.2
    >>> model.coef_
    array([1.8, 0. ])
    """

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True,
                 max_iter: int = 1000, tol: float = 1e-4, warm_start: bool = False,
                 positive: bool = False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit by coordinate descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : float or array-like of shape (n_samples,), optional
            Non-negative weights; rescaled internally to sum to ``n_samples``.

        Returns
        -------
        self
        """
        alpha = check_alpha(self.alpha, positive=True)
        for name in ("fit_intercept", "warm_start", "positive"):
            check_bool(name, getattr(self, name))
        _check_iter_tol(self.max_iter, self.tol)
        X, y = validate_X_y(self, X, y)
        n_samples, n_features = X.shape
        sw = check_sample_weight(sample_weight, n_samples)
        if sw is not None:
            sw = sw * (n_samples / sw.sum())
        Y = y.reshape(n_samples, -1)                                  # (n, k)
        Xc, Yc, X_offset, y_offset = centre_and_weight(X, Y, sw, self.fit_intercept,
                                                       order="F")
        start = np.zeros((Y.shape[1], n_features))
        if self.warm_start and hasattr(self, "coef_"):
            start = np.reshape(self.coef_, (-1, n_features)).copy()
            if start.shape[0] != Y.shape[1]:
                raise ValueError(f"warm_start: the previous fit had {start.shape[0]} targets, "
                                 f"this y has {Y.shape[1]}")
        coef, gaps, n_iter = np.empty_like(start), np.empty(Y.shape[1]), []
        for k in range(Y.shape[1]):
            coef[k], gap, iters = lasso_coordinate_descent(
                Xc, Yc[:, k], alpha * n_samples, start[k], max_iter=self.max_iter,
                tol=self.tol, positive=self.positive)
            gaps[k] = gap / n_samples
            n_iter.append(iters)
        one = Y.shape[1] == 1
        set_fitted(self, coef, X_offset, y_offset, y.ndim)
        self.n_iter_ = n_iter[0] if one else n_iter
        self.dual_gap_ = float(gaps[0]) if one else gaps
        return self

    def predict(self, X) -> np.ndarray:
        """``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        return linear_predict(self, X)


def lasso_path(X, y, *, eps: float = 1e-3, alphas=100, max_iter: int = 1000,
               tol: float = 1e-4, positive: bool = False):
    r"""Lasso solutions along a decreasing grid of ``alpha``, each warm-started from the last.

    The objective is :class:`Lasso`'s, ``1/(2n) ||y - X w||^2 + alpha ||w||_1``, **without an
    intercept**: centre ``X`` and ``y`` first if you want one (as
    :func:`sklearn.linear_model.lasso_path`).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    eps : float, default=1e-3
        With an integer ``alphas``, the grid runs from ``alpha_max`` down to
        ``eps * alpha_max``.
    alphas : int or array-like, default=100
        Number of grid points (log-spaced, starting at ``alpha_max = ||X^T y||_inf / n``, the
        smallest alpha with every coefficient zero), or the alphas themselves (sorted into
        decreasing order).
    max_iter, tol, positive
        As for :class:`Lasso`, per alpha.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        Decreasing.
    coefs : ndarray of shape (n_features, n_alphas)
    dual_gaps : ndarray of shape (n_alphas,)
        Final duality gaps, divided by ``n``.
    """
    X = np.asfortranarray(np.asarray(X, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite (no NaN or inf)")
    _check_iter_tol(max_iter, tol)
    n_samples = X.shape[0]
    if isinstance(alphas, numbers.Integral) and not isinstance(alphas, bool):
        if alphas < 1:
            raise ValueError(f"alphas must be >= 1 when an int, got {alphas}")
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        Xty = X.T @ y
        alpha_max = (max(Xty.max(), 0.0) if positive else np.abs(Xty).max()) / n_samples
        if alpha_max <= np.finfo(np.float64).resolution:   # X^T y = 0: zero everywhere
            grid = np.full(alphas, np.finfo(np.float64).resolution)
        else:
            grid = np.geomspace(alpha_max, alpha_max * eps, num=alphas)
    else:
        grid = np.sort(np.asarray(alphas, dtype=np.float64).ravel())[::-1]
        for value in grid:
            check_alpha(float(value), positive=True)
    coefs = np.zeros((X.shape[1], grid.size))
    gaps = np.zeros(grid.size)
    w = np.zeros(X.shape[1])
    for i, alpha in enumerate(grid):
        w, gap, _ = lasso_coordinate_descent(X, y, alpha * n_samples, w, max_iter=max_iter,
                                             tol=tol, positive=positive)
        coefs[:, i], gaps[i] = w, gap / n_samples
    return grid, coefs, gaps
