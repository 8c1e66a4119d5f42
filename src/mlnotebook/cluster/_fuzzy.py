"""Fuzzy c-means (Bezdek): soft memberships and centres updated in turn.

Each point ``i`` has a membership ``u_ij`` in every cluster ``j`` (non-negative, summing to
one over ``j``), and the objective is ``J_m = sum_ij u_ij^m ||x_i - c_j||^2`` with a fuzzifier
``m > 1``. Minimising over the centres with the memberships fixed gives weighted means;
minimising over the memberships with the centres fixed gives inverse-distance ratios. The
step functions follow ``skfuzzy.cluster.cmeans`` convention for convention (the eps floors,
which objective value is recorded, the stopping rule), so that from the same initial
memberships both produce the same centres, memberships, objective history and iteration
count.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from mlnotebook.cluster._kmeans import _check_numeric

EPS = np.finfo(np.float64).eps
"""Floor for memberships and distances (float64 machine epsilon, as scikit-fuzzy)."""


def _distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Euclidean distances floored at EPS, shape (n_samples, n_clusters).

    Computed from differences (``cdist``), not by the norm expansion, so that a point on a
    centre gets a tiny, accurate distance rather than rounding noise.
    """
    return np.fmax(cdist(X, centers, metric="euclidean"), EPS)


def _memberships(dist: np.ndarray, m: float) -> np.ndarray:
    """``u_ij = d_ij^(-2/(m-1)) / sum_l d_il^(-2/(m-1))``, shape (n_samples, n_clusters).

    Computed from ratios so that nothing overflows: ``r_ij = max(d_ij / max_l d_il, eps)``,
    then ``(r_ij / min_l r_il)^(-2/(m-1))`` lies in ``[small, 1]`` and is normalised. A point
    on a centre (distance floored at eps) gets membership ~1 there, never NaN.
    """
    ratio = dist / dist.max(axis=1, keepdims=True)
    np.fmax(ratio, EPS, out=ratio)
    ratio /= ratio.min(axis=1, keepdims=True)
    power = ratio ** (-2.0 / (m - 1.0))
    return power / power.sum(axis=1, keepdims=True)


def _cmeans_step(X: np.ndarray, u: np.ndarray, m: float):
    """One alternation from memberships ``u`` (n_samples, n_clusters).

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        ``sum_i w_ij x_i / sum_i w_ij`` with ``w = max(u / rowsum(u), eps)^m``.
    u_new : ndarray of shape (n_samples, n_clusters)
        Memberships for these centres.
    objective : float
        ``J_m = sum_ij w_ij ||x_i - c_j||^2``: the *incoming* memberships against the new
        centres (distances floored at eps), the value scikit-fuzzy records.
    """
    u = u / u.sum(axis=1, keepdims=True)
    weights = np.fmax(u, EPS) ** m                                    # (n, k)
    centers = (weights.T @ X) / weights.sum(axis=0)[:, None]          # (k, d)
    dist = _distances(X, centers)                                     # (n, k)
    objective = float((weights * dist**2).sum())
    return centers, _memberships(dist, m), objective


def _fuzzy_partition_coefficient(u: np.ndarray) -> float:
    """``sum_ij u_ij^2 / n_samples``: 1 for a hard partition, 1/n_clusters for uniform."""
    return float((u * u).sum() / u.shape[0])


class FuzzyCMeans(TransformerMixin, ClusterMixin, BaseEstimator):
    """Fuzzy c-means clustering (Bezdek's alternating updates).

    Algorithm::

        u <- max(init, eps)
        repeat up to max_iter times:
            w_ij <- max(u_ij / sum_l u_il, eps)^m
            c_j  <- sum_i w_ij x_i / sum_i w_ij                       (centres)
            J    <- sum_ij w_ij ||x_i - c_j||^2                        (recorded)
            u_ij <- 1 / sum_l (||x_i - c_j|| / ||x_i - c_l||)^(2/(m-1))  (memberships)
            stop if ||u - u_previous||_F < tol

    Parameters
    ----------
    n_clusters : int, default=3
    m : float, default=2.0
        Fuzzifier, ``m > 1``; near 1 the memberships become hard, large ``m`` makes them
        uniform.
    max_iter : int, default=300
    tol : float, default=1e-5
        Stop when the Frobenius norm of the change of the membership matrix is below it.
    init : array-like of shape (n_samples, n_clusters) or None, default=None
        Initial memberships, one row per sample (the transpose of scikit-fuzzy's
        ``(c, N)`` layout); rows are normalised to sum to one. None: uniform random numbers
        drawn by ``RandomState.rand(n_clusters, n_samples)`` and normalised, the same draw
        as ``skfuzzy.cluster.cmeans(..., seed=random_state)``.
    random_state : int, RandomState instance or None
        Only used when ``init`` is None.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    membership_ : ndarray of shape (n_samples, n_clusters)
        Memberships of the training points for ``cluster_centers_``; rows sum to one.
    labels_ : ndarray of shape (n_samples,)
        ``argmax_j membership_[i, j]`` (the first on ties).
    objective_history_ : ndarray of shape (n_iter_,)
        ``J_m`` recorded at each iteration (see Notes).
    n_iter_ : int
    fpc_ : float
        Fuzzy partition coefficient ``sum_ij u_ij^2 / n_samples`` of ``membership_``.
    n_features_in_ : int

    Notes
    -----
    The conventions are scikit-fuzzy's, so that ``skfuzzy.cluster.cmeans(X.T, c, m, tol,
    max_iter, init=init.T)`` gives the same ``cntr``, ``u.T``, ``jm``, ``p`` and ``fpc``:
    memberships are floored at eps (float64) before the power ``m``, distances are floored
    at eps, each recorded objective pairs the memberships entering an iteration with the
    centres computed from them, and the stopping test compares the new memberships with
    the stored previous ones (for the first iteration, the eps-floored ``init``). The
    centres returned are those of the last iteration and ``membership_`` the memberships
    they induce. Everything is computed in float64, with Euclidean distances.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> fcm = FuzzyCMeans(n_clusters=2, random_state=0).fit(X)
    >>> np.round(fcm.cluster_centers_[np.argsort(fcm.cluster_centers_[:, 0])], 2)
    array([[ 0.01,  0.5 ],
           [ 9.99,  0.5 ]])
    >>> fcm.predict(np.array([[1.0, 0.5], [9.0, 0.5]])) == fcm.predict(X[[0, 2]])
    array([ True,  True])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "m": [Interval(Real, 1, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": ["array-like", None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_clusters=3, *, m=2.0, max_iter=300, tol=1e-5, init=None,
                 random_state=None):
        self.n_clusters = n_clusters
        self.m = m
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.random_state = random_state

    def _check_X(self, X, reset: bool) -> np.ndarray:
        _check_numeric(X)
        return validate_data(self, X, reset=reset, dtype=np.float64)

    def _initial_memberships(self, n_samples: int) -> np.ndarray:
        if self.init is None:
            rng = check_random_state(self.random_state)
            u0 = rng.rand(self.n_clusters, n_samples).T                # (n, k)
            return u0 / u0.sum(axis=1, keepdims=True)
        u0 = check_array(self.init, dtype=np.float64, input_name="init")
        if u0.shape != (n_samples, self.n_clusters):
            raise ValueError(f"init has shape {u0.shape}; it must be (n_samples, "
                             f"n_clusters) = ({n_samples}, {self.n_clusters})")
        if np.any(u0 < 0) or np.any(u0.sum(axis=1) <= 0):
            raise ValueError("init memberships must be >= 0 with a positive sum in every row")
        return u0.copy()

    def fit(self, X, y=None):
        """Cluster ``X`` (n_samples, n_features); returns ``self``."""
        self._validate_params()
        X = self._check_X(X, reset=True)
        n_samples = X.shape[0]
        if self.n_clusters > n_samples:
            raise ValueError(f"n_clusters={self.n_clusters} must be <= "
                             f"n_samples={n_samples}")
        u = np.fmax(self._initial_memberships(n_samples), EPS)
        history = []
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (n_iter is kept)
            centers, u_new, objective = _cmeans_step(X, u, self.m)
            history.append(objective)
            change = np.linalg.norm(u_new - u)
            u = u_new
            if change < self.tol:
                break

        self.cluster_centers_ = centers
        self.membership_ = u
        self.labels_ = np.argmax(u, axis=1)
        self.objective_history_ = np.array(history)
        self.n_iter_ = n_iter
        self.fpc_ = _fuzzy_partition_coefficient(u)
        return self

    def transform(self, X):
        """Euclidean distances to every centre, shape (n_samples, n_clusters)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return cdist(X, self.cluster_centers_, metric="euclidean")

    def predict_membership(self, X):
        """Memberships of new points for the fitted centres, shape (n_samples, n_clusters).

        The same formula as in fitting, rows summing to one. It equals the ``u`` (transposed)
        of ``skfuzzy.cluster.cmeans_predict``, whose loop with fixed centres reaches this
        value after one step.
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return _memberships(_distances(X, self.cluster_centers_), self.m)

    def predict(self, X):
        """Cluster of largest membership (the first on ties), shape (n_samples,)."""
        return np.argmax(self.predict_membership(X), axis=1)
