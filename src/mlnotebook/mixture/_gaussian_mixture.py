"""Gaussian mixtures by EM, in log space, with Cholesky factors of the precision matrices.

The maths is a handful of pure functions; :class:`GaussianMixture` only wires them into the
EM template of :class:`mlnotebook.mixture._base.BaseMixture`.

Shapes by ``covariance_type`` (``K`` components, ``d`` features), as scikit-learn stores them:

============  ==========================  ==================================================
type          covariances / precisions    precisions_cholesky_
============  ==========================  ==================================================
full          (K, d, d)                   (K, d, d), upper triangular ``U_k``
tied          (d, d), shared              (d, d)
diag          (K, d), one variance/axis   (K, d), ``1 / sqrt(variance)``
spherical     (K,), one variance          (K,), ``1 / sqrt(variance)``
============  ==========================  ==================================================

``U_k`` is the factor with ``precision_k = U_k U_k^T``, i.e. ``U_k = L_k^{-T}`` where
``covariance_k = L_k L_k^T`` (lower Cholesky). With it the Mahalanobis distance is a plain
squared norm, ``(x - mu)^T precision (x - mu) = ||(x - mu) U||^2``, and
``log det precision = 2 sum_j log U_jj``: no inverse and no determinant is ever formed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from scipy import linalg
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, check_random_state

from mlnotebook.mixture._base import BaseMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_CHUNK_ELEMENTS = 1 << 15  # rows per chunk x (K * d) intermediates: a few hundred KB, in cache


def chunk_rows(n_components: int, n_features: int) -> int:
    """Rows per chunk so the ``(rows, K * d)`` E-step intermediate stays in cache."""
    return max(128, _CHUNK_ELEMENTS // (n_components * n_features))


# -- precisions and their Cholesky factors -----------------------------------------------------
_COLLAPSED = ("the covariance of component(s) {} is not positive definite: a component "
              "collapsed onto too few points. Use fewer components, a larger reg_covar, or "
              "scaled data.")


def precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Cholesky factors of the precisions from the covariances (shapes in the module doc).

    For full/tied, ``U = L^{-T}`` with ``covariance = L L^T``, a triangular solve; for
    diag/spherical, ``1 / sqrt(variance)``. ValueError if a covariance is not positive definite.
    """
    if covariance_type in ("diag", "spherical"):
        bad = np.flatnonzero((covariances <= 0).reshape(len(covariances), -1).any(axis=1))
        if bad.size:
            raise ValueError(_COLLAPSED.format(bad.tolist()))
        return 1.0 / np.sqrt(covariances)
    stack = covariances[None] if covariance_type == "tied" else covariances  # (K', d, d)
    eye = np.eye(stack.shape[-1])
    factors = np.empty_like(stack)
    for k, cov in enumerate(stack):  # K small matrices; the loop is over components
        try:
            lower = linalg.cholesky(cov, lower=True, check_finite=False)
        except linalg.LinAlgError:
            raise ValueError(_COLLAPSED.format([k])) from None
        factors[k] = linalg.solve_triangular(lower, eye, lower=True, check_finite=False).T
    return factors[0] if covariance_type == "tied" else factors


def precision_cholesky_from_precisions(precisions: np.ndarray, covariance_type: str
                                       ) -> np.ndarray:
    """Upper-triangular ``U`` with ``precision = U U^T``, straight from the precisions.

    Reversing rows and columns (``J P J`` with the exchange matrix ``J``) turns the upper
    factor into the lower Cholesky factor: ``J P J = L L^T`` gives ``U = J L J``.
    """
    if covariance_type in ("diag", "spherical"):
        return np.sqrt(precisions)
    stack = precisions[None] if covariance_type == "tied" else precisions
    flipped = stack[:, ::-1, ::-1]
    factors = np.linalg.cholesky(flipped)[:, ::-1, ::-1]
    return np.ascontiguousarray(factors[0] if covariance_type == "tied" else factors)


def precisions_from_cholesky(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    """``U U^T`` (full, tied) or ``U ** 2`` (diag, spherical)."""
    if covariance_type == "full":
        return prec_chol @ prec_chol.transpose(0, 2, 1)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def log_det_cholesky(prec_chol: np.ndarray, covariance_type: str, n_features: int
                     ) -> np.ndarray | float:
    """``log det U = (1/2) log det precision`` per component (a scalar for tied)."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return float(np.log(np.diag(prec_chol)).sum())
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


# -- the E step ----------------------------------------------------------------------------
def mahalanobis_sq(X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray,
                   covariance_type: str) -> np.ndarray:
    """``(x_i - mu_k)^T precision_k (x_i - mu_k)`` for all pairs, shape (n_samples, K).

    Full: one matrix product for all components, ``X @ [U_1 ... U_K]`` of shape
    ``(n, K * d)``, minus ``mu_k U_k``, squared and summed per block of ``d`` columns.
    Diag and spherical expand the square into matrix products; tied projects once.
    """
    n, d = X.shape
    K = means.shape[0]
    if covariance_type == "full":
        stacked = prec_chol.transpose(1, 0, 2).reshape(d, K * d)    # [U_1 | ... | U_K]
        shift = np.einsum("kd,kde->ke", means, prec_chol).reshape(K * d)
        Y = (X @ stacked - shift).reshape(n, K, d)                  # (n, K, d)
        return np.einsum("nkd,nkd->nk", Y, Y)
    if covariance_type == "tied":
        Y = X @ prec_chol                                           # (n, d)
        diff = Y[:, None, :] - (means @ prec_chol)[None]            # (n, K, d)
        return np.einsum("nkd,nkd->nk", diff, diff)
    if covariance_type == "diag":
        prec = prec_chol**2                                         # (K, d)
        return ((X * X) @ prec.T - 2.0 * (X @ (means * prec).T)
                + (means**2 * prec).sum(axis=1))
    prec = prec_chol**2                                             # (K,)
    sq_norms = np.einsum("nd,nd->n", X, X)
    return (sq_norms[:, None] - 2.0 * (X @ means.T) + (means**2).sum(axis=1)) * prec


def log_gaussian_prob(X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray,
                      covariance_type: str) -> np.ndarray:
    """``log N(x_i | mu_k, Sigma_k)``, shape (n_samples, K).

    ``-(d/2) log(2 pi) - (1/2) Mahalanobis^2 + log det U_k``.
    """
    d = X.shape[1]
    log_det = log_det_cholesky(prec_chol, covariance_type, d)
    maha = mahalanobis_sq(X, means, prec_chol, covariance_type)
    return -0.5 * (d * math.log(2.0 * math.pi) + maha) + log_det


def normalise_log(weighted_log_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log-sum-exp and the normalised rows (responsibilities, not their logs).

    ``log sum_k exp(a_k) = m + log sum_k exp(a_k - m)`` with ``m = max_k a_k``, so nothing
    overflows and at least one term is exactly 1.

    Returns
    -------
    log_norm : ndarray of shape (n,)
    resp : ndarray of shape (n, K), rows summing to 1
    """
    top = weighted_log_prob.max(axis=1, keepdims=True)
    resp = np.exp(weighted_log_prob - top)
    total = resp.sum(axis=1, keepdims=True)
    resp /= total
    return (top + np.log(total))[:, 0], resp


# -- the M step ----------------------------------------------------------------------------
@dataclass
class SufficientStatistics:
    """Responsibility-weighted sums over the data, from which the M step is closed-form.

    ``x`` is measured from ``offset`` (the data mean) to keep the second moments small.
    ``sum_xx`` is ``sum_i r_ik x_i x_i^T`` (full, as packed upper triangles (K, d(d+1)/2)),
    ``sum_i x_i x_i^T`` (tied, (d, d)) or ``sum_i r_ik x_i^2`` (diag, spherical, (K, d)).
    """

    offset: np.ndarray          # (d,)
    nk: np.ndarray              # (K,)
    sum_x: np.ndarray           # (K, d)
    sum_xx: np.ndarray

    @classmethod
    def zeros(cls, offset: np.ndarray, n_components: int, covariance_type: str):
        d = offset.shape[0]
        second = {"full": (n_components, d * (d + 1) // 2), "tied": (d, d)}.get(
            covariance_type, (n_components, d))
        return cls(offset, np.zeros(n_components), np.zeros((n_components, d)),
                   np.zeros(second))

    def add(self, Xc: np.ndarray, resp: np.ndarray, covariance_type: str) -> None:
        """Accumulate the sums of a chunk of centred rows ``Xc`` (c, d), ``resp`` (c, K)."""
        self.nk += resp.sum(axis=0)
        self.sum_x += resp.T @ Xc
        if covariance_type == "full":
            rows, cols = _triu_indices(Xc.shape[1])
            self.sum_xx += resp.T @ (Xc[:, rows] * Xc[:, cols])     # (K, d(d+1)/2)
        elif covariance_type == "tied":
            self.sum_xx += Xc.T @ Xc
        else:
            self.sum_xx += resp.T @ (Xc * Xc)


@functools.cache
def _triu_indices(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the upper triangle of a d x d matrix, row by row."""
    return np.triu_indices(d)


def _unpack_symmetric(packed: np.ndarray, d: int) -> np.ndarray:
    """(K, d(d+1)/2) upper triangles to (K, d, d) symmetric matrices."""
    rows, cols = _triu_indices(d)
    full = np.empty((packed.shape[0], d, d))
    full[:, rows, cols] = packed
    full[:, cols, rows] = packed
    return full


def gaussian_parameters(stats: SufficientStatistics, reg_covar: float, covariance_type: str
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The M step: ``(nk, means, covariances)`` maximising the expected log-likelihood.

    ``nk = sum_i r_ik + 10 eps`` (the epsilon keeps an empty component's mean finite, as in
    scikit-learn), ``mu_k = sum_i r_ik x_i / nk`` and
    ``Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / nk + reg_covar I`` (biased, the
    maximum-likelihood estimate), expanded as
    ``(sum_i r_ik x_i x_i^T - (2 nk - sum_i r_ik) mu_k mu_k^T) / nk``. Tied pools the
    scatter over components and divides by ``sum_k nk``; spherical averages the diagonal.
    """
    nk = stats.nk + 10 * np.finfo(np.float64).eps
    means = stats.sum_x / nk[:, None]                               # centred, (K, d)
    d = means.shape[1]
    excess = (2.0 * nk - stats.nk) / nk                             # 1 up to rounding
    if covariance_type == "full":
        cov = (_unpack_symmetric(stats.sum_xx, d) / nk[:, None, None]
               - excess[:, None, None] * means[:, :, None] * means[:, None, :])
        cov[:, np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied":
        cov = (stats.sum_xx - (nk[:, None] * means).T @ means) / nk.sum()
        cov[np.arange(d), np.arange(d)] += reg_covar
    else:
        cov = stats.sum_xx / nk[:, None] - excess[:, None] * means**2 + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    return nk, means + stats.offset, cov


def n_parameters(n_components: int, n_features: int, covariance_type: str) -> int:
    """Free parameters: ``K - 1`` weights, ``K d`` means, and the covariances."""
    d = n_features
    cov = {"full": n_components * d * (d + 1) // 2, "tied": d * (d + 1) // 2,
           "diag": n_components * d, "spherical": n_components}[covariance_type]
    return n_components - 1 + n_components * d + cov


# -- checks of user-given starting values ----------------------------------------------------
def _check_init(value, name: str, shape: tuple) -> np.ndarray:
    array = check_array(value, dtype=np.float64, ensure_2d=False, allow_nd=True,
                        input_name=name)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return array


def check_weights(weights, n_components: int) -> np.ndarray:
    weights = _check_init(weights, "weights_init", (n_components,))
    if np.any(weights < 0) or np.any(weights > 1):
        raise ValueError(f"weights_init must lie in [0, 1], got min {weights.min():.5g}, "
                         f"max {weights.max():.5g}")
    if abs(weights.sum() - 1.0) > 1e-8:
        raise ValueError(f"weights_init must sum to 1, got {weights.sum():.10g}")
    return weights


def check_precisions(precisions, covariance_type: str, n_components: int, n_features: int
                     ) -> np.ndarray:
    shape = {"full": (n_components, n_features, n_features),
             "tied": (n_features, n_features), "diag": (n_components, n_features),
             "spherical": (n_components,)}[covariance_type]
    precisions = _check_init(precisions, "precisions_init", shape)
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0):
            raise ValueError(f"precisions_init must be positive for covariance_type="
                             f"{covariance_type!r}")
        return precisions
    stack = precisions[None] if covariance_type == "tied" else precisions
    symmetric = np.allclose(stack, stack.transpose(0, 2, 1))
    if not symmetric or np.any(np.linalg.eigvalsh(stack) <= 0):
        raise ValueError(f"precisions_init must be symmetric positive definite for "
                         f"covariance_type={covariance_type!r}")
    return precisions


class GaussianMixture(BaseMixture):
    r"""Gaussian mixture fitted by EM, scikit-learn's estimator with the same numbers.

    The density is :math:`p(x) = \sum_k \pi_k \mathcal N(x \mid \mu_k, \Sigma_k)`. Each EM
    iteration:

    .. code-block:: text

        E step: log r_ik = log pi_k + log N(x_i | mu_k, Sigma_k) - log p(x_i)   (log-sum-exp)
                lower_bound = mean_i log p(x_i)                  (before the M step)
        M step: nk = sum_i r_ik,  pi_k = nk / sum nk,  mu_k = sum_i r_ik x_i / nk,
                Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / nk + reg_covar I

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Shapes in the module docstring.
    tol : float, default=1e-3
        Stop when the mean log-likelihood per sample changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, so none can collapse to singular.
    max_iter : int, default=100
        EM iterations per start; 0 leaves the initial parameters.
    n_init : int, default=1
        Starts; the one with the highest final lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the starting responsibilities are made (see
        :func:`mlnotebook.mixture._base.initial_responsibilities`); "kmeans" runs
        :class:`sklearn.cluster.KMeans`.
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
    precisions_init : array-like, optional
        Inverse covariances, shaped by ``covariance_type``. Values given here replace the
        ones computed from the starting responsibilities; with all three given none are.
    random_state : int, RandomState or None
    warm_start : bool, default=False
        Refitting a fitted model starts from its parameters (and ignores ``n_init``).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes by ``covariance_type``; ``precisions_ = U U^T`` with ``U`` the (upper)
        ``precisions_cholesky_``.
    converged_ : bool
    n_iter_ : int
        EM iterations of the kept start.
    lower_bound_ : float
        Mean log-likelihood per sample at the last E step of the kept start (computed before
        that step's M step, as scikit-learn does); ``-inf`` when ``max_iter=0``.
    lower_bounds_ : list of float
        Every iteration's lower bound for the kept start; never decreases (up to rounding).
    n_features_in_ : int

    Notes
    -----
    Computation is in float64 whatever the input dtype. One pass over the data per
    iteration, in chunks of rows that fit in cache, does the E step and accumulates the
    M step's sufficient statistics (``sum r``, ``sum r x``, ``sum r x x^T``); the data are
    centred on their mean first, so the second moments stay small. The full E step is one
    matrix product for all components. When ``precisions_init`` is given, ``covariances_``
    starts as its inverse (scikit-learn keeps the covariances estimated from the starting
    responsibilities there until the first M step).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
    >>> gm = GaussianMixture(2, random_state=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]))
    array([-3.,  3.])
    """

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
    }

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
                 n_init: int = 1, init_params: str = "kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None,
                 warm_start: bool = False):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start

    # -- the template's hooks ----------------------------------------------------------------
    def _check_initial_parameters(self, X: np.ndarray) -> None:
        K, d = self.n_components, X.shape[1]
        self._weights_init = None if self.weights_init is None else check_weights(
            self.weights_init, K)
        self._means_init = None if self.means_init is None else _check_init(
            self.means_init, "means_init", (K, d))
        self._precisions_init = None if self.precisions_init is None else check_precisions(
            self.precisions_init, self.covariance_type, K, d)

    def _needs_responsibilities(self) -> bool:
        return (self._weights_init is None or self._means_init is None
                or self._precisions_init is None)

    def _initialize(self, X: np.ndarray, resp: np.ndarray | None) -> None:
        if resp is not None:
            nk, means, covariances = gaussian_parameters(
                self._statistics(X, resp), self.reg_covar, self.covariance_type)
        self.weights_ = (nk / X.shape[0] if self._weights_init is None
                         else self._weights_init.copy())
        self.means_ = means if self._means_init is None else self._means_init.copy()
        if self._precisions_init is None:
            self.covariances_ = covariances
            self.precisions_cholesky_ = precision_cholesky(covariances, self.covariance_type)
        else:
            precisions = self._precisions_init
            self.covariances_ = (1.0 / precisions if self.covariance_type in
                                 ("diag", "spherical") else np.linalg.inv(precisions))
            self.precisions_cholesky_ = precision_cholesky_from_precisions(
                precisions, self.covariance_type)

    def _statistics(self, X: np.ndarray, resp: np.ndarray) -> SufficientStatistics:
        stats = SufficientStatistics.zeros(X.mean(axis=0), self.n_components,
                                           self.covariance_type)
        step = chunk_rows(self.n_components, X.shape[1])
        for start in range(0, X.shape[0], step):
            rows = slice(start, start + step)
            stats.add(X[rows] - stats.offset, resp[rows], self.covariance_type)
        return stats

    def _e_step(self, X: np.ndarray) -> tuple[float, SufficientStatistics]:
        """One pass over ``X`` in chunks: responsibilities and their sums, never all of them.

        Working on centred rows changes no log-density: the means are shifted alike.
        """
        stats = SufficientStatistics.zeros(X.mean(axis=0), self.n_components,
                                           self.covariance_type)
        means = self.means_ - stats.offset
        log_weights = self._log_weights()
        step = chunk_rows(self.n_components, X.shape[1])
        total = 0.0
        for start in range(0, X.shape[0], step):
            Xc = X[start:start + step] - stats.offset                  # (c, d)
            weighted = log_gaussian_prob(Xc, means, self.precisions_cholesky_,
                                         self.covariance_type) + log_weights
            log_norm, resp = normalise_log(weighted)
            total += log_norm.sum()
            stats.add(Xc, resp, self.covariance_type)
        return total / X.shape[0], stats

    def _m_step(self, stats: SufficientStatistics) -> None:
        nk, self.means_, self.covariances_ = gaussian_parameters(
            stats, self.reg_covar, self.covariance_type)
        self.weights_ = nk / nk.sum()
        self.precisions_cholesky_ = precision_cholesky(self.covariances_,
                                                       self.covariance_type)

    def _log_weights(self) -> np.ndarray:
        with np.errstate(divide="ignore"):  # a zero weight is a component that never wins
            return np.log(self.weights_)

    def _estimate_weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], self.n_components))
        log_weights = self._log_weights()
        step = chunk_rows(self.n_components, X.shape[1])
        for start in range(0, X.shape[0], step):
            rows = slice(start, start + step)
            out[rows] = log_gaussian_prob(X[rows], self.means_, self.precisions_cholesky_,
                                          self.covariance_type) + log_weights
        return out

    def _get_parameters(self) -> tuple:
        return self.weights_, self.means_, self.covariances_, self.precisions_cholesky_

    def _set_parameters(self, params: tuple) -> None:
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self.precisions_ = precisions_from_cholesky(self.precisions_cholesky_,
                                                    self.covariance_type)

    # -- model selection and sampling --------------------------------------------------------
    def _n_parameters(self) -> int:
        return n_parameters(self.n_components, self.means_.shape[1], self.covariance_type)

    def bic(self, X) -> float:
        """Bayesian information criterion ``-2 log L + p log n``; lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        n = len(X)
        return -2.0 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X) -> float:
        """Akaike information criterion ``-2 log L + 2 p``; lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        return -2.0 * self.score(X) * len(X) + 2 * self._n_parameters()

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw from the fitted mixture, grouped by component.

        Component counts are multinomial with ``weights_``; within component ``k``,
        ``x = mu_k + L_k z`` with ``z`` standard normal and ``L_k`` the lower Cholesky factor
        of ``covariances_[k]``. Draws come from ``random_state``.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each draw (sorted).
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        rng = check_random_state(self.random_state)
        K, d = self.means_.shape
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        if self.covariance_type == "full":
            scales = np.linalg.cholesky(self.covariances_)                    # (K, d, d)
        elif self.covariance_type == "tied":
            scales = np.broadcast_to(np.linalg.cholesky(self.covariances_), (K, d, d))
        else:
            sd = np.sqrt(self.covariances_).reshape(K, -1)
            scales = sd[:, :, None] * np.eye(d)                                # (K, d, d)
        draws = [self.means_[k] + rng.standard_normal((count, d)) @ scales[k].T
                 for k, count in enumerate(counts)]
        return np.concatenate(draws), np.repeat(np.arange(K), counts)
