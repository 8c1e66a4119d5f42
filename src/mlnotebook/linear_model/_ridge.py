"""Ridge regression in closed form: Cholesky of the primal or the dual normal equations."""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin

from mlnotebook.linear_model._base import (
    centre_and_weight,
    check_alpha,
    check_bool,
    check_sample_weight,
    linear_predict,
    set_fitted,
    validate_X_y,
)


def ridge_solve(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, str]:
    r"""The minimiser of ``||y - X w||^2 + alpha ||w||^2`` for every column of ``y``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_targets)
    alpha : float
        ``>= 0``.

    Returns
    -------
    coef : ndarray of shape (n_targets, n_features)
    solver : {"cholesky", "cholesky_dual", "lstsq"}
        Which route was taken (see Notes).

    Notes
    -----
    Setting the gradient to zero gives the primal normal equations
    ``(X^T X + alpha I) w = X^T y``, a ``p x p`` system. The identity
    ``(X^T X + alpha I)^{-1} X^T = X^T (X X^T + alpha I)^{-1}`` gives the dual form
    ``w = X^T c`` with ``(X X^T + alpha I) c = y``, an ``n x n`` system. Both matrices are
    symmetric positive definite for ``alpha > 0``, so a Cholesky factorisation solves them;
    the smaller one is chosen: primal when ``n_features <= n_samples`` ("cholesky"), dual
    otherwise ("cholesky_dual"), which is also scikit-learn's choice. Forming the Gram
    matrix squares the condition number, which is harmless for ``alpha`` not tiny against
    the spectrum of ``X``. With ``alpha == 0`` or a matrix that is not numerically positive
    definite, the minimum-norm least-squares solution from an SVD is returned ("lstsq").
    """
    n_samples, n_features = X.shape
    if alpha > 0:
        try:
            if n_features <= n_samples:
                A = X.T @ X                                           # (p, p)
                A.flat[:: n_features + 1] += alpha
                factor = linalg.cho_factor(A, lower=True, overwrite_a=True,
                                           check_finite=False)
                return linalg.cho_solve(factor, X.T @ y, check_finite=False).T, "cholesky"
            K = X @ X.T                                               # (n, n)
            K.flat[:: n_samples + 1] += alpha
            factor = linalg.cho_factor(K, lower=True, overwrite_a=True, check_finite=False)
            dual = linalg.cho_solve(factor, y, check_finite=False)    # (n, k)
            return (X.T @ dual).T, "cholesky_dual"
        except linalg.LinAlgError:
            pass
    u, s, vt = linalg.svd(X, full_matrices=False, check_finite=False)
    keep = s > s[0] * max(X.shape) * np.finfo(np.float64).eps if s.size else s > 0
    d = np.zeros_like(s)
    d[keep] = s[keep] / (s[keep] ** 2 + alpha)                        # filter factors
    return (vt.T @ (d[:, None] * (u.T @ y))).T, "lstsq"


class Ridge(MultiOutputMixin, RegressorMixin, BaseEstimator):
    r"""Linear least squares with an L2 penalty, scikit-learn's objective, in closed form.

    Minimises, over ``w`` (and the intercept ``b``, which is not penalised),

    .. code-block:: text

        sum_i s_i (y_i - x_i . w - b)^2  +  alpha * ||w||_2^2

    with sample weights ``s_i`` (all 1 by default): no ``1 / n`` in front of the squared
    error and no ``1/2``, exactly as :class:`sklearn.linear_model.Ridge`. With ``k`` targets
    each column of ``y`` is its own independent problem.

    Parameters
    ----------
    alpha : float, default=1.0
        Penalty strength ``>= 0``. ``alpha = 0`` is ordinary least squares (minimum-norm
        solution when it is not unique).
    fit_intercept : bool, default=True
        Fit an unpenalised intercept by centring ``X`` and ``y`` (weighted means) first.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        The weights; 1-D when there is one target (``y`` 1-D or one column).
    intercept_ : float or ndarray of shape (n_targets,)
        ``0.0`` when ``fit_intercept=False``.
    solver_ : {"cholesky", "cholesky_dual", "lstsq"}
        The route :func:`ridge_solve` took: primal when ``n_features <= n_samples``, dual
        (``n x n`` kernel system) otherwise, SVD for ``alpha = 0``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` had string column names

    Notes
    -----
    The penalty scaling differs between texts. Versus the mean squared error with a
    ``lambda / 2`` penalty, ``1/(2n) sum_i (y_i - x_i w - b)^2 + (lambda / 2) ||w||^2``
    (the scaling of :func:`mlnotebook.nn.l2_penalty` next to a halved MSE), multiplying by
    ``2n`` shows ``alpha = n * lambda``. Sample weights enter as ``sqrt(s_i)`` times each
    centred row, so weights ``c * s`` give the solution of weights ``s`` with
    ``alpha / c``; unlike :class:`Lasso` they are not rescaled to sum to ``n``. Computation
    is in float64 whatever the input dtype. Only one ``alpha`` for all targets.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> y = np.array([1.0, 3.0, 5.0])          # y = 1 + 2 x
    >>> model = Ridge(alpha=2.0).fit(X, y)     # w = sum xc yc / (sum xc^2 + alpha) = 4 / 4
    >>> float(model.coef_[0]), float(model.intercept_)
    (1.0, 2.0)
    """

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Solve the penalised least-squares problem.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : float or array-like of shape (n_samples,), optional
            Non-negative weights of the squared errors.

        Returns
        -------
        self
        """
        alpha = check_alpha(self.alpha)
        check_bool("fit_intercept", self.fit_intercept)
        X, y = validate_X_y(self, X, y)
        sw = check_sample_weight(sample_weight, X.shape[0])
        Xc, yc, X_offset, y_offset = centre_and_weight(X, y.reshape(len(y), -1), sw,
                                                       self.fit_intercept)
        coef, self.solver_ = ridge_solve(Xc, yc, alpha)
        set_fitted(self, coef, X_offset, y_offset, y.ndim)
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
