"""k-means by Lloyd's algorithm, with scikit-learn's greedy k-means++ seeding.

The iteration is a handful of small pure functions: :func:`_lloyd_block` assigns a block of
rows to their nearest centres (BLAS for the cross term, chunk by chunk so the distance block
stays in cache) and sums the rows per cluster; :func:`_relocate_empty_clusters`,
:func:`_average_centers` and the convergence test follow scikit-learn's ``lloyd`` step for
step, so that from the same initial centres both give the same labels, centres, inertia and
iteration count.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

CHUNK_ROWS = 4096
"""Rows per distance block: the (4096, k) distances and the block's rows stay in L2 for small
k and d. Larger than scikit-learn's 256 because each block costs a few Python-level calls
(NumPy's argmin among them) that hold the GIL the pool's threads share."""

try:  # SciPy's compiled kernel behind ``csc_array @ dense``, used by _add_rows_by_label
    from scipy.sparse._sparsetools import csc_matvecs as _csc_matvecs
except ImportError:  # private: fall back to the public sparse product if it moves
    _csc_matvecs = None


# --------------------------------------------------------------------------- helpers


def _n_threads() -> int:
    """The cores this process may run on (its CPU affinity), as OpenMP would use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


MIN_ROWS_PER_THREAD = CHUNK_ROWS
"""Below this many rows per thread, handing blocks to other threads costs more than it saves."""

_controller = None


def _one_blas_thread():
    """Context manager holding BLAS to one thread while our own threads split the rows.

    threadpoolctl's controller is built once: building one scans every loaded library,
    which costs milliseconds per call (more than a whole fit on a small data set).
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def _n_workers(n_samples: int) -> int:
    """Threads worth using for ``n_samples`` rows: all cores for large data, one for small."""
    return max(1, min(_n_threads(), n_samples // MIN_ROWS_PER_THREAD))


def _map_blocks(pool, function, blocks) -> list:
    """``function`` on every block, on the pool's threads (in the caller's for one block)."""
    if len(blocks) == 1:
        return [function(blocks[0])]
    return list(pool.map(function, blocks))


def _blocks(n_samples: int, n_blocks: int, chunk: int) -> list[tuple[int, int]]:
    """Split ``range(n_samples)`` into at most ``n_blocks`` runs of nearly equal length.

    No block is cut shorter than ``chunk`` rows just to make up the number (a thread
    handed a sliver costs more than it saves).
    """
    n_blocks = max(1, min(n_blocks, n_samples // chunk))
    edges = [n_samples * i // n_blocks for i in range(n_blocks + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _check_numeric(X) -> None:
    """An error naming X when it holds strings or other non-numbers.

    ValueError for text that is not a number ("abc"), TypeError for objects that are not
    numbers at all (a dict), as NumPy's own conversion raises them.
    """
    if sp.issparse(X):
        raise TypeError("X must be a dense array; sparse input is not supported")
    arr = np.asarray(X) if not hasattr(X, "dtype") else X
    if getattr(arr, "dtype", None) is not None and arr.dtype.kind in "USVO":
        try:
            np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise type(err)(f"X must contain numbers only; {err}") from err


def _check_enough_samples(n_samples: int, n_clusters: int) -> None:
    """ValueError when there are fewer samples than clusters."""
    if n_samples < n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}")


def _centers_array(init, n_clusters: int, X: np.ndarray) -> np.ndarray | None:
    """A C-ordered copy of an ``init`` array of shape (n_clusters, n_features) in X's dtype;
    None when ``init`` is a method name. ValueError naming ``init`` for a wrong shape."""
    if isinstance(init, str):
        return None
    init = check_array(init, dtype=X.dtype, copy=True, order="C", input_name="init")
    if init.shape != (n_clusters, X.shape[1]):
        raise ValueError(f"init has shape {init.shape}; it must be (n_clusters, "
                         f"n_features) = ({n_clusters}, {X.shape[1]})")
    return init


def _check_sample_weight(sample_weight, n_samples: int, dtype) -> np.ndarray:
    """Finite, non-negative weights of shape (n_samples,) with a positive sum (ones if None)."""
    if sample_weight is None:
        return np.ones(n_samples, dtype=dtype)
    sw = np.asarray(sample_weight, dtype=dtype)
    if sw.ndim == 0:
        sw = np.full(n_samples, sw, dtype=dtype)
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {sw.shape}")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    if not sw.sum() > 0:
        raise ValueError("sample_weight sums to zero; at least one weight must be positive")
    return np.ascontiguousarray(sw)


def _row_sq_norms(X: np.ndarray) -> np.ndarray:
    """``||x_i||^2`` for every row, shape (n_samples,)."""
    return np.einsum("ij,ij->i", X, X)


def _sq_distances(A: np.ndarray, B: np.ndarray, B_sq_norms: np.ndarray) -> np.ndarray:
    """Squared distances (len(A), len(B)) in float64 by the norm expansion, clipped at 0."""
    A = A.astype(np.float64, copy=False)
    B = B.astype(np.float64, copy=False)
    dist = -2.0 * (A @ B.T)
    dist += _row_sq_norms(A)[:, None]
    dist += B_sq_norms.astype(np.float64, copy=False)
    return np.maximum(dist, 0.0, out=dist)


def _is_same_clustering(labels1: np.ndarray, labels2: np.ndarray) -> bool:
    """Whether ``labels2`` is a relabelling of ``labels1`` (each label of 1 maps to one of 2)."""
    pairs = np.unique(np.stack([labels1, labels2]), axis=1)           # (2, n_pairs)
    return pairs.shape[1] == np.unique(labels1).size


# --------------------------------------------------------------------------- k-means++


def kmeans_plusplus(X, n_clusters, *, sample_weight=None, x_squared_norms=None,
                    random_state=None, n_local_trials=None):
    """Greedy k-means++ seeding, drawing random numbers exactly as scikit-learn does.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
        Number of centres to pick, ``1 <= n_clusters <= n_samples``.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the points in both draws (None: all ones).
    x_squared_norms : array-like of shape (n_samples,), default=None
        ``||x_i||^2``, computed if not given.
    random_state : int, RandomState instance or None
        Turned into a ``numpy.random.RandomState`` by ``check_random_state``.
    n_local_trials : int, default=None
        Candidates drawn per step; None means ``2 + int(log(n_clusters))``.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        Rows of ``X`` (the dtype of ``X`` is kept).
    indices : ndarray of shape (n_clusters,)
        Their row numbers, ``centers == X[indices]``.

    Notes
    -----
    The first centre is drawn with probability proportional to the weights. Then, for each
    further centre, ``n_local_trials`` candidates are drawn with probability proportional to
    ``w(x) D(x)^2``, ``D(x)`` the distance to the nearest centre so far, and the candidate that
    leaves the smallest potential ``sum_x w(x) D(x)^2`` is kept. The draws are one
    ``choice`` and then one ``uniform(size=n_local_trials)`` per step, inverted through the
    cumulative sum, the same calls as scikit-learn, so one seed gives the same centres as
    ``sklearn.cluster.kmeans_plusplus`` (up to ties that rounding could break differently).
    Distances are computed in float64.
    """
    X = check_array(X, dtype=[np.float64, np.float32], order="C")
    n_samples = X.shape[0]
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral):
        raise TypeError(f"n_clusters must be an int, got {n_clusters!r}")
    if not 1 <= n_clusters <= n_samples:
        raise ValueError(f"n_clusters must be in [1, n_samples={n_samples}], got {n_clusters}")
    if n_local_trials is not None and (isinstance(n_local_trials, bool)
                                       or not isinstance(n_local_trials, Integral)
                                       or n_local_trials < 1):
        raise ValueError(f"n_local_trials must be an int >= 1 or None, got {n_local_trials!r}")
    sample_weight = _check_sample_weight(sample_weight, n_samples, X.dtype)
    if x_squared_norms is None:
        x_squared_norms = _row_sq_norms(X)
    x_squared_norms = np.asarray(x_squared_norms, dtype=np.float64)
    if x_squared_norms.shape != (n_samples,):
        raise ValueError(f"x_squared_norms must have shape ({n_samples},), "
                         f"got {x_squared_norms.shape}")
    return _kmeans_plusplus(X, n_clusters, x_squared_norms, sample_weight,
                            check_random_state(random_state), n_local_trials)


def _kmeans_plusplus(X, n_clusters, x_squared_norms, sample_weight, random_state,
                     n_local_trials=None):
    """k-means++ on validated inputs; see :func:`kmeans_plusplus`."""
    n_samples = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    w = sample_weight.astype(np.float64)
    indices = np.full(n_clusters, -1, dtype=np.intp)
    indices[0] = random_state.choice(n_samples, p=sample_weight / sample_weight.sum())
    closest_sq = _sq_distances(X[indices[:1]], X, x_squared_norms)[0]  # (n,)
    potential = closest_sq @ w
    for c in range(1, n_clusters):
        targets = random_state.uniform(size=n_local_trials) * potential
        candidates = np.searchsorted(np.cumsum(w * closest_sq), targets)
        np.clip(candidates, None, n_samples - 1, out=candidates)    # rounding at the top end
        cand_sq = _sq_distances(X[candidates], X, x_squared_norms)  # (trials, n)
        np.minimum(closest_sq, cand_sq, out=cand_sq)
        potentials = cand_sq @ w                                     # (trials,)
        best = np.argmin(potentials)
        potential, closest_sq = potentials[best], cand_sq[best]
        indices[c] = candidates[best]
    return X[indices].copy(), indices


# --------------------------------------------------------------------------- Lloyd


def _add_rows_by_label(sums, X, labels, weights) -> None:
    """``sums[j] += sum_{i: labels_i = j} weights_i X_i`` for every cluster j, in place.

    The readable form is the product of a (k, m) one-hot matrix holding the weights with the
    rows; the fast path hands the same one-hot structure straight to SciPy's compiled sparse
    kernel, which skips building the matrix object (most of the cost for a few thousand
    rows). Both add the rows in the same order: from zeros they give identical sums.
    """
    n_clusters, n_features = sums.shape
    m = labels.shape[0]
    indptr = np.arange(m + 1, dtype=labels.dtype)
    if _csc_matvecs is None or not (sums.flags.c_contiguous and X.flags.c_contiguous):
        sums += sp.csc_array((weights, labels, indptr), shape=(n_clusters, m)) @ X
        return
    _csc_matvecs(n_clusters, m, n_features, indptr, labels, weights, X.ravel(),
                 sums.ravel())


def _with_ones(X, shift=None) -> np.ndarray:
    """``[X - shift, 1]``: the rows with a column of ones appended, shape (n, d + 1), C order.

    The Lloyd pass works on this array: with the centres stored as the (d + 1, k) matrix
    ``[-2 C^T; ||c||^2]`` one product gives ``||c||^2 - 2 x.c`` directly, and summing its
    rows per cluster gives the cluster weights in the last column.
    """
    X1 = np.empty((X.shape[0], X.shape[1] + 1), dtype=X.dtype)
    if shift is None:
        X1[:, :-1] = X
    else:
        np.subtract(X, shift, out=X1[:, :-1])
    X1[:, -1] = 1
    return X1


def _lloyd_block(X1, sample_weight, centers, labels, start, stop, update_centers,
                 chunk=CHUNK_ROWS):
    """Label rows ``start:stop`` with their nearest centre; sum them per cluster if asked.

    Parameters
    ----------
    X1 : ndarray of shape (n_samples, n_features + 1)
        The rows with a trailing column of ones, from :func:`_with_ones`.
    sample_weight : ndarray of shape (n_samples,)
    centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,)
        Written in place for rows ``start:stop`` (blocks do not overlap, so threads may
        share it).
    update_centers : bool
    chunk : int
        Rows per distance block; the (chunk, k) distances and the chunk's rows stay in
        cache between the product, the argmin and the per-cluster sums.

    Returns
    -------
    sums : ndarray of shape (n_clusters, n_features + 1) or None
        ``sum_i w_i [x_i, 1]`` over the block's rows in each cluster: the weighted sums of
        the rows, then the clusters' weights.

    Notes
    -----
    ``||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2``, and ``||x||^2`` is the same for every c,
    so the block holds ``||c||^2 - 2 x.c`` = ``[x, 1] @ [-2 C^T; ||c||^2]``, one BLAS product
    (NumPy's, which releases the GIL) and no other pass before the argmin. Scaling by -2 is
    exact, so this is scikit-learn's ``gemm(alpha=-2)`` onto ``||c||^2`` whenever the
    product adds the ``||c||^2`` term last; the labels agree in every verify case.
    """
    n_clusters = centers.shape[0]
    centers1 = np.empty((centers.shape[1] + 1, n_clusters), dtype=X1.dtype)  # (d + 1, k)
    np.multiply(centers.T, -2, out=centers1[:-1])
    centers1[-1] = _row_sq_norms(centers)
    dist = np.empty((chunk, n_clusters), dtype=X1.dtype)             # (chunk, k)
    own = labels.dtype == np.intp                                     # argmin writes intp
    nearest = None if own else np.empty(chunk, dtype=np.intp)
    sums = np.zeros((n_clusters, X1.shape[1]), dtype=X1.dtype) if update_centers else None
    for lo in range(start, stop, chunk):
        hi = min(lo + chunk, stop)
        block = np.matmul(X1[lo:hi], centers1, out=dist[:hi - lo])  # (m, k)
        if own:
            np.argmin(block, axis=1, out=labels[lo:hi])               # first minimum on ties
        else:
            labels[lo:hi] = np.argmin(block, axis=1, out=nearest[:hi - lo])
        if update_centers:
            _add_rows_by_label(sums, X1[lo:hi], labels[lo:hi], sample_weight[lo:hi])
    return sums


def _lloyd_pass(X1, sample_weight, centers, labels, pool, blocks, update_centers=True):
    """One assignment pass over all rows, one ``(start, stop)`` block per pool thread.

    ``X1`` is the rows with a trailing column of ones (:func:`_with_ones`). Returns
    ``(sums, weights)``, shapes (n_clusters, n_features) and (n_clusters,): the weighted
    per-cluster sums of the rows and the clusters' weights (None, None without
    ``update_centers``); ``labels`` is filled in place.
    """
    results = _map_blocks(
        pool,
        lambda b: _lloyd_block(X1, sample_weight, centers, labels, b[0], b[1],
                               update_centers),
        blocks)
    if not update_centers:
        return None, None
    total = np.sum(results, axis=0, dtype=X1.dtype)                   # (k, d + 1)
    return total[:, :-1].copy(), total[:, -1].copy()


def _relocate_empty_clusters(X, sample_weight, centers_old, sums, weights, labels):
    """Give each empty cluster one of the points farthest from their centres (in place).

    As in scikit-learn: the ``n_empty`` points with the largest ``||x - c_label||^2`` are
    moved, the j-th empty cluster receiving the j-th of ``argpartition``'s picks, and their
    contributions leave their old cluster. Nothing happens if every point sits on its centre
    (more clusters than distinct points).
    """
    empty = np.flatnonzero(weights == 0)
    if empty.size == 0:
        return
    distances = ((X - centers_old[labels]) ** 2).sum(axis=1)          # (n,)
    far = np.argpartition(distances, -empty.size)[:-empty.size - 1:-1]
    if np.max(distances) == 0:
        return
    for new_id, far_idx in zip(empty, far, strict=True):             # loop over clusters
        old_id = labels[far_idx]
        contribution = X[far_idx] * sample_weight[far_idx]
        sums[old_id] -= contribution
        sums[new_id] = contribution
        weights[new_id] = sample_weight[far_idx]
        weights[old_id] -= sample_weight[far_idx]


def _average_centers(sums, weights):
    """Centres = sums / weights (in place); a still-empty one copies the heaviest cluster."""
    heaviest = np.argmax(weights)
    full = weights > 0
    sums[full] *= (1 / weights[full])[:, None]
    sums[~full] = sums[heaviest]
    return sums


def _inertia(X, sample_weight, centers, labels, pool, blocks) -> float:
    """``sum_i w_i ||x_i - c_{label_i}||^2``, accumulated in float64."""

    def block(bounds):
        total = 0.0
        for lo in range(bounds[0], bounds[1], CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, bounds[1])
            diff = X[lo:hi] - centers[labels[lo:hi]]                  # (m, d)
            sq = np.einsum("ij,ij->i", diff, diff)
            total += float(sq.astype(np.float64) @ sample_weight[lo:hi].astype(np.float64))
        return total

    return float(sum(_map_blocks(pool, block, blocks)))


def _kmeans_single_lloyd(X1, sample_weight, centers_init, max_iter, tol, pool, blocks):
    """One run of Lloyd's algorithm from ``centers_init`` on ``X1 = [X, 1]`` (:func:`_with_ones`).

    Returns
    -------
    labels : ndarray of shape (n_samples,) (int32)
    inertia : float
    centers : ndarray of shape (n_clusters, n_features)
    n_iter : int
        Passes that moved the centres.

    Notes
    -----
    Each pass labels every point with the current centres and computes the new centres.
    It stops when the labels did not change (strict convergence) or when
    ``sum_j ||c_j^new - c_j^old||^2 <= tol``; in the second case one more labelling pass
    makes the labels those of the returned centres.
    """
    X = X1[:, :-1]                                                    # (n, d) view
    centers = centers_init
    labels = np.full(X.shape[0], -1, dtype=np.intp)                   # argmin's own type
    labels_old = labels.copy()
    strict_convergence = False
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
        sums, weights = _lloyd_pass(X1, sample_weight, centers, labels, pool, blocks)
        _relocate_empty_clusters(X, sample_weight, centers, sums, weights, labels)
        centers_new = _average_centers(sums, weights)
        shift = np.sqrt(((centers_new - centers) ** 2).sum(axis=1))   # (k,) per centre
        centers = centers_new
        if np.array_equal(labels, labels_old):
            strict_convergence = True
            break
        if (shift**2).sum() <= tol:
            break
        labels_old[:] = labels
    if not strict_convergence:
        _lloyd_pass(X1, sample_weight, centers, labels, pool, blocks, update_centers=False)
    inertia = _inertia(X, sample_weight, centers, labels, pool, blocks)
    return labels.astype(np.int32), inertia, centers, n_iter


def _seed_centers(X, n_clusters, init, x_sq_norms, sample_weight, random_state):
    """Initial centres, shape (n_clusters, n_features).

    ``init`` is an array (copied), "k-means++" (greedy k-means++, which needs
    ``x_sq_norms``) or "random": ``n_clusters`` distinct rows drawn with probability
    proportional to ``sample_weight``, with scikit-learn's call to ``random_state.choice``.
    """
    if not isinstance(init, str):
        return init.copy()
    if init == "k-means++":
        return _kmeans_plusplus(X, n_clusters, x_sq_norms, sample_weight, random_state)[0]
    seeds = random_state.choice(X.shape[0], size=n_clusters, replace=False,
                                p=sample_weight / sample_weight.sum())
    return X[seeds]


# --------------------------------------------------------------------------- queries


def _labels_inertia(X, sample_weight, centers, with_inertia: bool = True):
    """Nearest centre of every row (int32, first minimum on ties) and the weighted inertia.

    Runs the threaded assignment pass; the inertia is
    None when ``with_inertia`` is False.
    """
    centers = centers.astype(X.dtype, copy=False)
    labels = np.empty(X.shape[0], dtype=np.intp)
    n_threads = _n_workers(X.shape[0])
    blocks = _blocks(X.shape[0], n_threads, CHUNK_ROWS)
    with _one_blas_thread(), ThreadPoolExecutor(max_workers=n_threads) as pool:
        _lloyd_pass(_with_ones(X), sample_weight, centers, labels, pool, blocks,
                    update_centers=False)
        inertia = (_inertia(X, sample_weight, centers, labels, pool, blocks)
                   if with_inertia else None)
    return labels.astype(np.int32), inertia


class _CenterQueries:
    """``predict``, ``transform``, ``score`` and the fit shortcuts of fitted centres.

    The estimator provides ``fit`` and the fitted ``cluster_centers_``.
    """

    def _check_X(self, X, reset: bool, copy: bool = False) -> np.ndarray:
        _check_numeric(X)
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                             order="C", copy=copy)

    def predict(self, X):
        """Index of the nearest centre for each row of ``X``, shape (n_samples,)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return _labels_inertia(X, np.ones(X.shape[0], X.dtype), self.cluster_centers_,
                               with_inertia=False)[0]

    def fit_predict(self, X, y=None, sample_weight=None):
        """``fit(X).labels_``, shape (n_samples,)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distances to every centre, shape (n_samples, n_clusters)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        centers = self.cluster_centers_
        sq = _sq_distances(X, centers, _row_sq_norms(centers.astype(np.float64)))
        return np.sqrt(sq).astype(X.dtype, copy=False)

    def fit_transform(self, X, y=None, sample_weight=None):
        """``fit(X).transform(X)``, shape (n_samples, n_clusters)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Minus the (weighted) inertia of ``X`` against its nearest fitted centres."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0], X.dtype)
        return -_labels_inertia(X, sample_weight, self.cluster_centers_)[1]


# --------------------------------------------------------------------------- estimator


class KMeans(_CenterQueries, ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin,
             BaseEstimator):
    """k-means clustering by Lloyd's algorithm, scikit-learn's ``KMeans(algorithm="lloyd")``.

    Algorithm (one run; the best of ``n_init`` runs by inertia is kept)::

        c_1..c_k <- init (k-means++, k random points, or the given array)
        repeat up to max_iter times:
            label_i <- argmin_j ||x_i - c_j||^2                          (assignment)
            c_j     <- sum_{label_i = j} w_i x_i / sum_{label_i = j} w_i  (update)
            an empty cluster takes the point farthest from its centre
            stop if no label changed, or if sum_j ||c_j^new - c_j^old||^2 <= tol'

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array-like of shape (n_clusters, n_features)
        "k-means++": greedy k-means++ (:func:`kmeans_plusplus`); "random": ``n_clusters``
        distinct rows drawn with probability proportional to ``sample_weight``; an array:
        those centres (then ``n_init`` is 1).
    n_init : "auto" or int, default="auto"
        Runs from different seeds; "auto" is 1 for k-means++ or an array, 10 for "random".
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative: the run stops when the squared Frobenius norm of the change of the centres
        is ``<= tol * mean_f Var(X[:, f])`` (unweighted, biased variances, as scikit-learn).
    random_state : int, RandomState instance or None
        The one source of randomness, for the seeding.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        ``sum_i w_i ||x_i - c_{label_i}||^2`` (a sum, not a mean).
    n_iter_ : int
    n_features_in_ : int

    Notes
    -----
    float32 input stays float32 (distances and centres), float64 stays float64. As in
    scikit-learn, ``X`` is centred (its mean subtracted, and from an init array) before the
    iterations, which keeps the norm expansion ``||x||^2 - 2 x.c + ||c||^2`` accurate, and
    the mean is added back to ``cluster_centers_``. Each pass is split over the CPU's cores
    by threads, one block of rows each, with BLAS held to one thread meanwhile. The BLAS
    product releases the GIL but NumPy's argmin does not, which is what keeps two threads
    from halving the time. Dense input only.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> km = KMeans(n_clusters=2, init=np.array([[0.0, 0.0], [10.0, 0.0]])).fit(X)
    >>> km.cluster_centers_
    array([[ 0. ,  0.5],
           [10. ,  0.5]])
    >>> km.labels_, km.inertia_
    (array([0, 0, 1, 1], dtype=int32), 1.0)
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300,
                 tol=1e-4, random_state=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # -- validation

    def _resolved_n_init(self) -> int:
        is_array = not isinstance(self.init, str)
        if self.n_init == "auto":
            return 10 if not is_array and self.init == "random" else 1
        if is_array and self.n_init != 1:
            warnings.warn(f"Explicit initial center position passed: performing only one "
                          f"init in KMeans instead of n_init={self.n_init}.",
                          RuntimeWarning, stacklevel=3)
            return 1
        return self.n_init

    # -- fitting

    def fit(self, X, y=None, sample_weight=None):
        """Run k-means on ``X`` (n_samples, n_features); returns ``self``.

        ``sample_weight`` (n_samples,) weights each point in the centres and the inertia and,
        for "k-means++"/"random", in the seeding draws.
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        n_samples = X.shape[0]
        _check_enough_samples(n_samples, self.n_clusters)
        sample_weight = _check_sample_weight(sample_weight, n_samples, X.dtype)
        random_state = check_random_state(self.random_state)
        n_init = self._resolved_n_init()
        tol = float(np.mean(np.var(X, axis=0))) * self.tol if self.tol else 0.0
        init = _centers_array(self.init, self.n_clusters, X)

        X_mean = X.mean(axis=0)
        X1 = _with_ones(X, shift=X_mean)                                # (n, d + 1), centred
        X = X1[:, :-1]
        if init is not None:
            init -= X_mean
        # ||x||^2 is needed only by the k-means++ draws (the passes drop it)
        x_sq_norms = _row_sq_norms(X) if init is None and self.init == "k-means++" else None

        best = None
        n_threads = _n_workers(n_samples)
        blocks = _blocks(n_samples, n_threads, CHUNK_ROWS)
        with _one_blas_thread(), ThreadPoolExecutor(max_workers=n_threads) as pool:
            for _ in range(n_init):
                centers_init = self._initial_centers(X, x_sq_norms, sample_weight, init,
                                                     random_state)
                run = _kmeans_single_lloyd(X1, sample_weight, centers_init, self.max_iter,
                                           tol, pool, blocks)
                # a new run wins only with a lower inertia *and* a different partition:
                # rounding can lower the inertia of the same partition relabelled
                if best is None or (run[1] < best[1] and not _is_same_clustering(run[0],
                                                                                  best[0])):
                    best = run
        labels, inertia, centers, n_iter = best
        centers += X_mean

        n_distinct = np.unique(labels).size
        if n_distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({n_distinct}) found smaller than "
                          f"n_clusters ({self.n_clusters}). Possibly due to duplicate "
                          "points in X.", ConvergenceWarning, stacklevel=2)
        self.cluster_centers_ = centers
        self._n_features_out = centers.shape[0]
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        return self

    def _initial_centers(self, X, x_sq_norms, sample_weight, init, random_state):
        return _seed_centers(X, self.n_clusters, self.init if init is None else init,
                             x_sq_norms, sample_weight, random_state)
