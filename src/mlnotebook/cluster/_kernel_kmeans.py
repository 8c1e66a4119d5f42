"""Kernel k-means: Lloyd's algorithm in the feature space of a kernel, by the kernel trick.

A centroid in feature space, ``mu_c = sum_{j in c} w_j phi(x_j) / s_c`` with ``s_c`` the
cluster's weight, is never formed. Its squared distance to ``phi(x_i)`` expands into kernel
values only::

    ||phi(x_i) - mu_c||^2 = K_ii - 2 sum_{j in c} w_j K_ij / s_c
                                 + sum_{j, l in c} w_j w_l K_jl / s_c^2

Written with the weighted one-hot matrix ``W`` (n, k), ``W_ic = w_i [label_i = c]``, the
middle term for every point and cluster is ``K @ W / s`` (one matrix product) and the last is
``diag(W^T K W) / s^2``. Everything else follows scikit-learn's ``lloyd`` iteration
(:mod:`mlnotebook.cluster._kmeans`) step for step, so with the linear kernel both give the
same partition from the same start.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import KERNEL_PARAMS, pairwise_kernels
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from mlnotebook.cluster._kmeans import (
    _check_enough_samples,
    _check_numeric,
    _check_sample_weight,
    _is_same_clustering,
)

KERNELS = ("rbf", "poly", "linear", "precomputed")

# --------------------------------------------------------------------------- pure steps


def _weighted_onehot(labels: np.ndarray, sample_weight: np.ndarray, n_clusters: int):
    """``W`` of shape (n_samples, n_clusters) with ``W[i, labels[i]] = w_i``, zeros elsewhere."""
    W = np.zeros((labels.size, n_clusters))
    W[np.arange(labels.size), labels] = sample_weight
    return W


class _Centroids:
    """The feature-space centroids of one weighted partition, through kernel sums only.

    Attributes
    ----------
    W : ndarray of shape (n_samples, n_clusters)
        Weighted one-hot matrix of the partition.
    KW : ndarray of shape (n_samples, n_clusters)
        ``K @ W``: ``KW[i, c] = sum_{j in c} w_j K_ij``.
    sizes : ndarray of shape (n_clusters,)
        ``s_c = sum_{j in c} w_j``; zero for an empty cluster.
    sq_norms : ndarray of shape (n_clusters,)
        ``||mu_c||^2 = sum_{j, l in c} w_j w_l K_jl / s_c^2``; ``inf`` for an empty cluster,
        so that no point is ever nearest to it.
    """

    def __init__(self, K: np.ndarray, members: np.ndarray, sample_weight: np.ndarray,
                 n_clusters: int):
        self.W = _weighted_onehot(members, sample_weight, n_clusters)
        self.KW = K @ self.W                                          # (n, k)
        self.sizes = self.W.sum(axis=0)                               # (k,)
        full = self.sizes > 0
        self.sq_norms = np.full(n_clusters, np.inf)
        self.sq_norms[full] = (np.einsum("ic,ic->c", self.W[:, full], self.KW[:, full])
                               / self.sizes[full] ** 2)

    def scores(self) -> np.ndarray:
        """``||phi(x_i) - mu_c||^2 - K_ii`` for every point and cluster, shape (n, k)."""
        full = self.sizes > 0
        scores = np.full(self.KW.shape, np.inf)
        scores[:, full] = self.sq_norms[full] - 2 * self.KW[:, full] / self.sizes[full]
        return scores

    def sq_shift(self, previous: _Centroids) -> float:
        """``sum_c ||mu_c - mu_c^previous||^2`` (``inf`` if a cluster emptied or filled)."""
        now, before = self.sizes > 0, previous.sizes > 0
        if not np.array_equal(now, before):
            return np.inf
        # ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, with a.b = W_c^T K W'_c / (s_c s'_c)
        cross = (np.einsum("ic,ic->c", self.W[:, now], previous.KW[:, now])
                 / (self.sizes[now] * previous.sizes[now]))
        shift = self.sq_norms[now] + previous.sq_norms[now] - 2 * cross
        return float(np.maximum(shift, 0.0).sum())


def _relocate_empty_clusters(members: np.ndarray, own_sq_dist: np.ndarray,
                             sample_weight: np.ndarray, n_clusters: int) -> None:
    """Move the points farthest from their centroids into empty clusters (``members`` in place).

    As scikit-learn's lloyd: with ``n_empty`` clusters of zero weight, the ``n_empty`` points
    with the largest ``||phi(x_i) - mu_{label_i}||^2`` (``own_sq_dist``, distances to the
    centroids they were just assigned by) go one each to the empty clusters, in
    ``argpartition``'s order. Nothing moves when every point sits on its centroid.
    """
    weights = np.bincount(members, weights=sample_weight, minlength=n_clusters)
    empty = np.flatnonzero(weights == 0)
    if empty.size == 0:
        return
    far = np.argpartition(own_sq_dist, -empty.size)[:-empty.size - 1:-1]
    if np.max(own_sq_dist) == 0:
        return
    members[far] = empty


def _kernel_lloyd(K: np.ndarray, sample_weight: np.ndarray, labels_init: np.ndarray,
                  n_clusters: int, max_iter: int, tol: float):
    """One run of Lloyd's algorithm in feature space from an initial partition.

    Parameters
    ----------
    K : ndarray of shape (n_samples, n_samples)
        The (centred) kernel matrix, float64.
    sample_weight : ndarray of shape (n_samples,)
    labels_init : ndarray of shape (n_samples,)
        Initial partition; its centroids are the starting centres.
    n_clusters, max_iter : int
    tol : float
        Absolute threshold on ``sum_c ||mu_c^new - mu_c^old||^2``.

    Returns
    -------
    labels : ndarray of shape (n_samples,) (intp)
    inertia : float
    centroids : _Centroids
        Of the final partition (after relocations), the centres ``labels`` refer to.
    n_iter : int
    """
    diag = np.diag(K)
    centroids = _Centroids(K, labels_init, sample_weight, n_clusters)
    labels_old = None
    strict_convergence = False
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
        scores = centroids.scores()                                   # (n, k)
        labels = scores.argmin(axis=1)
        own_sq_dist = np.maximum(diag + scores[np.arange(labels.size), labels], 0.0)
        members = labels.copy()
        _relocate_empty_clusters(members, own_sq_dist, sample_weight, n_clusters)
        new = _Centroids(K, members, sample_weight, n_clusters)
        shift = new.sq_shift(centroids)
        centroids = new
        if labels_old is not None and np.array_equal(labels, labels_old):
            strict_convergence = True
            break
        if shift <= tol:
            break
        labels_old = labels
    scores = centroids.scores()
    if not strict_convergence:
        # one more assignment so that the labels are those of the returned centroids
        labels = scores.argmin(axis=1)
    own_sq_dist = np.maximum(diag + scores[np.arange(labels.size), labels], 0.0)
    inertia = float(own_sq_dist @ sample_weight)
    return labels, inertia, centroids, n_iter


# --------------------------------------------------------------------------- estimator


class KernelKMeans(ClusterMixin, BaseEstimator):
    """Kernel k-means: k-means with squared distances in the feature space of a kernel.

    Algorithm (one run; the best of ``n_init`` runs by inertia is kept)::

        labels <- init (random labels, or the given array)
        repeat up to max_iter times:
            d2[i, c] <- K_ii - 2 sum_{j in c} w_j K_ij / s_c
                             + sum_{j,l in c} w_j w_l K_jl / s_c^2    (all i, c at once)
            label_i  <- argmin_c d2[i, c]
            an empty cluster takes the point farthest from its centroid
            stop if no label changed, or if sum_c ||mu_c^new - mu_c^old||^2 <= tol'

    Parameters
    ----------
    n_clusters : int, default=8
    kernel : {"rbf", "poly", "linear", "precomputed"} or callable, default="rbf"
        Computed by ``sklearn.metrics.pairwise.pairwise_kernels``: "rbf" is
        ``exp(-gamma ||x - y||^2)``, "poly" is ``(gamma x.y + coef0)^degree``, "linear" is
        ``x.y``. With "precomputed", ``X`` in ``fit`` is the kernel matrix (n_samples,
        n_samples) and in ``predict`` the cross kernel (n_new, n_samples_fit). A callable is
        called on pairs of rows, ``kernel(x, y, **kernel_params) -> float``, as
        ``pairwise_kernels`` does (one Python call per pair: slow; prefer "precomputed").
    gamma : float, default=None
        For "rbf" and "poly". None means ``1 / n_features`` (scikit-learn's default).
    degree : float, default=3
        For "poly".
    coef0 : float, default=1
        For "poly".
    kernel_params : dict, default=None
        Further keyword arguments of the kernel; for a named kernel they may only be the
        kernel's own parameters (and override ``gamma``/``degree``/``coef0``).
    max_iter : int, default=100
    tol : float, default=1e-6
        Relative: a run stops when ``sum_c ||mu_c^new - mu_c^old||^2`` is ``<= tol *
        T``, ``T = mean_i K_ii - mean_ij K_ij``, the total (biased, unweighted) variance of
        the data in feature space. With the linear kernel ``T`` is ``n_features`` times
        scikit-learn's scale ``mean_f Var(X[:, f])``, so ``tol = tol_sklearn / n_features``
        stops where scikit-learn's ``KMeans`` does.
    n_init : int, default=1
        Runs from different random initial labels; the one with the lowest inertia is kept.
    init : "random" or array-like of shape (n_samples,), default="random"
        "random": every point gets a label drawn uniformly from ``0..n_clusters-1``, as
        ``random_state.randint(n_clusters, size=n_samples)`` (tslearn's draw). An array: those
        initial labels (then ``n_init`` is 1).
    random_state : int, RandomState instance or None
        The one source of randomness, for the initial labels.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        ``sum_i w_i ||phi(x_i) - mu_{label_i}||^2``, a sum over the training points.
    n_iter_ : int
        Iterations of the kept run.
    X_fit_ : ndarray of shape (n_samples, n_features)
        The training data (the kernel matrix with "precomputed"), kept for ``predict``.
    n_features_in_ : int

    Notes
    -----
    The kernel matrix is computed once, in float64, and centred (``K - r_i - r_j + t``
    with ``r`` its row means and ``t`` its mean: the feature-space analogue of scikit-learn's
    subtracting the mean of ``X``); distances in feature space do not change, rounding in
    the expansion does. Memory and time per iteration are ``O(n^2)`` and ``O(n^2 k)``.

    Empty clusters: as in scikit-learn's k-means, after an assignment each empty cluster
    receives one of the points farthest from their centroids; a cluster that stays empty
    (more clusters than distinct points) has no centroid, is never nearest to any point,
    and the fit warns. Distances are never NaN.

    ``predict`` assigns new points by the cross kernel ``K(X_new, X_fit_)``: the term
    ``K(x, x)`` is the same for every cluster and is left out.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> km = KernelKMeans(2, kernel="linear", init=np.array([0, 1, 1, 1])).fit(X)
    >>> km.labels_, km.inertia_
    (array([0, 0, 1, 1]), 1.0)
    >>> km.predict(np.array([[9.0, 0.5]]))
    array([1])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "kernel": [StrOptions(set(KERNELS)), callable],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "degree": [Interval(Real, 0, None, closed="left")],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "kernel_params": [dict, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"random"}), "array-like"],
        "random_state": ["random_state"],
    }

    def __init__(self, n_clusters=8, *, kernel="rbf", gamma=None, degree=3, coef0=1,
                 kernel_params=None, max_iter=100, tol=1e-6, n_init=1, init="random",
                 random_state=None):
        self.n_clusters = n_clusters
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.random_state = random_state

    # -- the kernel

    def _kernel_kwargs(self) -> dict:
        """Keyword arguments for ``pairwise_kernels``; ValueError for ones the kernel lacks."""
        extra = dict(self.kernel_params or {})
        if callable(self.kernel):
            return extra
        if self.kernel == "precomputed":
            if extra:
                raise ValueError(f"kernel_params must be empty with kernel='precomputed', "
                                 f"got {sorted(extra)}")
            return {}
        accepted = KERNEL_PARAMS[self.kernel]
        unknown = sorted(set(extra) - set(accepted))
        if unknown:
            raise ValueError(f"kernel_params {unknown} are not parameters of kernel "
                             f"{self.kernel!r} (it takes {sorted(accepted) or 'none'})")
        own = {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}
        return {**{name: own[name] for name in accepted}, **extra}

    def _kernel_matrix(self, X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
        if self.kernel == "precomputed":
            K = X
        else:
            K = pairwise_kernels(X, Y, metric=self.kernel, **self._kernel_kwargs())
            K = np.asarray(K, dtype=np.float64)
        if not np.all(np.isfinite(K)):
            raise ValueError(f"the kernel {self.kernel!r} gave non-finite values "
                             "(NaN or inf); check its parameters")
        return K

    # -- validation

    def _check_X(self, X, reset: bool) -> np.ndarray:
        _check_numeric(X)
        X = validate_data(self, X, reset=reset, dtype=np.float64, order="C")
        if reset and self.kernel == "precomputed":
            n = X.shape[0]
            if X.shape != (n, n):
                raise ValueError(f"with kernel='precomputed', X must be a square kernel "
                                 f"matrix, got shape {X.shape}")
            if not np.allclose(X, X.T, rtol=1e-10, atol=1e-12 * np.abs(X).max()):
                raise ValueError("with kernel='precomputed', X must be a symmetric kernel "
                                 "matrix")
        return X

    def _init_labels(self, n_samples: int) -> np.ndarray:
        labels = np.asarray(self.init)
        if labels.shape != (n_samples,):
            raise ValueError(f"init has shape {labels.shape}; an init array holds one label "
                             f"per sample, shape (n_samples,) = ({n_samples},)")
        if labels.dtype.kind not in "iub" and not (
                labels.dtype.kind == "f" and np.all(np.mod(labels, 1) == 0)):
            raise ValueError(f"init must hold integer labels, got dtype {labels.dtype}")
        labels = labels.astype(np.intp)
        if labels.min() < 0 or labels.max() >= self.n_clusters:
            raise ValueError(f"init labels must be in [0, n_clusters-1] = "
                             f"[0, {self.n_clusters - 1}], got values from {labels.min()} to "
                             f"{labels.max()}")
        return labels

    def _resolved_n_init(self) -> int:
        if not isinstance(self.init, str) and self.n_init != 1:
            warnings.warn(f"Explicit initial labels passed: performing only one init in "
                          f"KernelKMeans instead of n_init={self.n_init}.",
                          RuntimeWarning, stacklevel=3)
            return 1
        return self.n_init

    # -- fitting

    def fit(self, X, y=None, sample_weight=None):
        """Run kernel k-means on ``X`` (n_samples, n_features); returns ``self``.

        With ``kernel="precomputed"``, ``X`` is the kernel matrix (n_samples, n_samples).
        ``sample_weight`` (n_samples,) weights each point in the centroids and the inertia.
        """
        self._validate_params()
        self._kernel_kwargs()                                         # ValueError if bad
        X = self._check_X(X, reset=True)
        n_samples = X.shape[0]
        _check_enough_samples(n_samples, self.n_clusters)
        sample_weight = _check_sample_weight(sample_weight, n_samples, np.float64)
        init = None if isinstance(self.init, str) else self._init_labels(n_samples)
        n_init = self._resolved_n_init()
        random_state = check_random_state(self.random_state)

        K = self._kernel_matrix(X)
        row_means = K.mean(axis=1)                                    # (n,)
        K = K - row_means[:, None] - row_means[None, :] + row_means.mean()
        tol = self.tol * float(np.mean(np.diag(K)))                   # total variance of phi

        best = None
        for _ in range(n_init):
            labels_init = (init if init is not None
                           else random_state.randint(self.n_clusters, size=n_samples))
            run = _kernel_lloyd(K, sample_weight, labels_init, self.n_clusters,
                                self.max_iter, tol)
            if best is None or (run[1] < best[1] and not _is_same_clustering(run[0],
                                                                              best[0])):
                best = run
        labels, inertia, centroids, n_iter = best

        n_distinct = np.unique(labels).size
        if n_distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({n_distinct}) found smaller than "
                          f"n_clusters ({self.n_clusters}). Possibly due to duplicate "
                          "points in X.", ConvergenceWarning, stacklevel=2)
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.X_fit_ = X
        # what predict needs: mu_c = sum_j A_jc phi_c(x_j) (phi_c centred), and ||mu_c||^2
        full = centroids.sizes > 0
        self._dual_coef = np.zeros_like(centroids.W)
        self._dual_coef[:, full] = centroids.W[:, full] / centroids.sizes[full]
        self._centroid_sq_norms = centroids.sq_norms
        self._fit_row_means = row_means
        return self

    # -- using a fitted model

    def predict(self, X):
        """Index of the nearest feature-space centroid for each row of ``X``, shape (n,).

        With ``kernel="precomputed"``, ``X`` is the cross kernel (n, n_samples_fit).
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        K = self._kernel_matrix(X, self.X_fit_)                       # (m, n_fit)
        # centring K(x, x_j) subtracts r_j (plus terms constant per row, left out)
        scores = self._centroid_sq_norms - 2 * ((K - self._fit_row_means) @ self._dual_coef)
        return scores.argmin(axis=1)

    def fit_predict(self, X, y=None, sample_weight=None):
        """``fit(X).labels_``, shape (n_samples,)."""
        return self.fit(X, sample_weight=sample_weight).labels_
