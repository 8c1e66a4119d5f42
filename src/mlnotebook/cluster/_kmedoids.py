"""k-medoids by PAM (Partitioning Around Medoids): greedy BUILD, then best-improvement SWAP.

The medoids are rows of the data, and the cost is the sum of dissimilarities of every point
to its nearest medoid, for any dissimilarity. PAM follows Kaufman and Rousseeuw and, step
for step, the ``kmedoids`` package's ``pam`` (Schubert's Rust implementation): the same
candidate order, the same strict comparisons, the same incremental bookkeeping of each
point's nearest and second-nearest medoid, and cost sums added in the same order, so that
both pick the same medoids even among exact ties (duplicated points).

Every point keeps ``near`` (nearest medoid: position in the medoid list and distance) and
``seco`` (second nearest). Swapping medoid ``m`` for a non-medoid ``j`` changes the cost by

    delta(j, m) = -near_d[j] + sum_{o != j} t_o,
    t_o = min(D[j, o], seco_d[o]) - near_d[o]      if o belongs to m (it must move),
    t_o = min(D[j, o] - near_d[o], 0)              otherwise (it moves only to j),

which needs no loop over points: the terms for a block of candidates form a matrix whose
rows are the points, summed row after row.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances
from sklearn.metrics.pairwise import _VALID_METRICS
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from mlnotebook.cluster._kmeans import _check_numeric

BLOCK_BYTES = 1 << 22
"""Size of one block of swap terms, (n_samples + 1, n_candidates) float64: 4 MiB."""

_NONE = -1
"""Index of a second-nearest medoid not yet known (only before the second medoid exists)."""


# --------------------------------------------------------------------------- helpers


def _sum_down(terms: np.ndarray) -> np.ndarray:
    """Column sums of ``terms`` (rows, cols), adding the rows one after another.

    NumPy reduces a C-ordered array along axis 0 row by row (``((r0 + r1) + r2) + ...``),
    the order of the reference's scalar loop, whereas a reduction along the contiguous axis
    is pairwise. Matching the order makes tied costs tie in both, bit for bit.
    """
    return np.add.reduce(terms, axis=0)


def _sequential_total(values: np.ndarray) -> float:
    """``((v0 + v1) + v2) + ...``, the reference's order for the total cost."""
    return float(np.cumsum(values)[-1])


def _candidate_blocks(n_rows: int, n_cols: int):
    """Slices of ``range(n_cols)`` whose (n_rows + 1, width) float64 block fits BLOCK_BYTES."""
    width = max(1, BLOCK_BYTES // (8 * (n_rows + 1)))
    for lo in range(0, n_cols, width):
        yield slice(lo, min(lo + width, n_cols))


def _row_sums_without_diagonal(D: np.ndarray) -> np.ndarray:
    """``s[i] = sum_{j != i} D[i, j]``, each added in column order, shape (n,)."""
    n = D.shape[0]
    sums = np.empty(n)
    for cols in _candidate_blocks(n, n):
        terms = D[cols].T.copy()                                      # (n, c): rows are j
        idx = np.arange(cols.start, cols.stop)
        terms[idx, idx - cols.start] = 0.0                            # skip j == i
        sums[cols] = _sum_down(terms)
    return sums


def _check_dissimilarity(D: np.ndarray) -> None:
    """ValueError unless ``D`` is a square, non-negative, symmetric matrix with zero diagonal."""
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"X must be a square dissimilarity matrix when metric='precomputed', "
                         f"got shape {D.shape}")
    if np.any(D < 0):
        raise ValueError("X must hold non-negative dissimilarities when metric='precomputed'")
    if np.any(np.diagonal(D) != 0):
        raise ValueError("X must have a zero diagonal when metric='precomputed' "
                         "(d(x, x) = 0); set it with np.fill_diagonal(X, 0)")
    if not np.allclose(D, D.T, rtol=1e-7, atol=1e-12 * max(float(D.max()), 1.0)):
        raise ValueError("X must be symmetric when metric='precomputed'")


# --------------------------------------------------------------------------- BUILD


def _pam_build(D: np.ndarray, n_clusters: int) -> np.ndarray:
    """Greedy BUILD: the medoid indices, shape (n_clusters,), in the order they were chosen.

    The first medoid minimises ``sum_j D[i, j]``. Each next one is the candidate ``i`` with
    the most negative cost change if it became a medoid,
    ``-near_d[i] + sum_{j != i} min(D[i, j] - near_d[j], 0)`` (``near_d`` the distance to
    the nearest medoid so far), summed in that order as the ``kmedoids`` package sums it.
    Ties go to the lowest index. When no candidate lowers the cost (every point already
    sits on a medoid: fewer distinct points than clusters) the reference stops and returns
    fewer medoids; here the first row that is not yet a medoid is added, so there are
    always ``n_clusters``.
    """
    n = D.shape[0]
    medoids = np.empty(n_clusters, dtype=np.intp)
    medoids[0] = np.argmin(_row_sums_without_diagonal(D))             # first minimum
    near_d = D[medoids[0]].copy()                                     # (n,) d(medoid, j)
    near_d[medoids[0]] = 0.0
    for step in range(1, n_clusters):
        gains = np.empty(n)
        for cols in _candidate_blocks(n, n):
            idx = np.arange(cols.start, cols.stop)
            terms = np.empty((n + 1, len(idx)))                       # rows: i itself, then j
            terms[0] = -near_d[idx]
            np.subtract(D[cols].T, near_d[:, None], out=terms[1:])
            np.minimum(terms[1:], 0.0, out=terms[1:])
            terms[1 + idx, idx - cols.start] = 0.0                    # j == i counted first
            gains[cols] = _sum_down(terms)
        best = int(np.argmin(gains))                                  # first minimum
        if not gains[best] < 0:
            best = int(np.flatnonzero(~np.isin(np.arange(n), medoids[:step]))[0])
        medoids[step] = best
        np.minimum(near_d, D[best], out=near_d)
        near_d[best] = 0.0
    return medoids


# --------------------------------------------------------------------------- SWAP


@dataclass
class _Assignment:
    """Nearest and second-nearest medoid of every point, as positions in the medoid list.

    near_i, seco_i : ndarray of shape (n_samples,) (int)
    near_d, seco_d : ndarray of shape (n_samples,) (float64)
    """

    near_i: np.ndarray
    near_d: np.ndarray
    seco_i: np.ndarray
    seco_d: np.ndarray


def _initial_assignment(D: np.ndarray, medoids: np.ndarray) -> tuple[_Assignment, float]:
    """Nearest / second nearest by a scan over the medoids in order, and the total cost.

    A later medoid takes over only if strictly closer (or if the point *is* that medoid), so
    ties go to the earlier medoid.
    """
    n = D.shape[0]
    rows = np.arange(n)
    near_i = np.zeros(n, dtype=np.intp)
    near_d = D[:, medoids[0]].copy()
    seco_i = np.full(n, _NONE, dtype=np.intp)
    seco_d = np.zeros(n)
    for m in range(1, len(medoids)):                                  # loop over medoids
        d = D[:, medoids[m]]
        closer = (d < near_d) | (rows == medoids[m])
        second = ~closer & ((seco_i == _NONE) | (d < seco_d))
        seco_i[closer], seco_d[closer] = near_i[closer], near_d[closer]
        near_i[closer], near_d[closer] = m, d[closer]
        seco_i[second], seco_d[second] = m, d[second]
    state = _Assignment(near_i, near_d, seco_i, seco_d)
    return state, _sequential_total(near_d)


def _swap_deltas(D: np.ndarray, n_medoids: int, state: _Assignment,
                 candidates: np.ndarray) -> np.ndarray:
    """Cost change ``delta[c, m]`` of swapping medoid ``m`` for ``candidates[c]``.

    Returns
    -------
    delta : ndarray of shape (len(candidates), n_medoids)
        Each entry summed in the reference's order: ``-near_d[j]``, then the points
        ``o = 0, 1, ...`` (``o == j`` left out).
    """
    n = D.shape[0]
    near_d, seco_d = state.near_d[:, None], state.seco_d[:, None]     # (n, 1)
    members = [np.flatnonzero(state.near_i == m) for m in range(n_medoids)]
    delta = np.empty((len(candidates), n_medoids))
    for cols in _candidate_blocks(n, len(candidates)):
        cand = candidates[cols]
        d_jo = D[cand].T                                              # (n, c): rows are o
        moves_to_j = np.minimum(d_jo - near_d, 0.0)                   # o keeps its medoid or
        loses_medoid = np.minimum(d_jo, seco_d) - near_d              # o's medoid is removed
        col = np.arange(len(cand))
        moves_to_j[cand, col] = 0.0                                   # skip o == j
        loses_medoid[cand, col] = 0.0
        terms = np.empty((n + 1, len(cand)))
        for m in range(n_medoids):                                    # loop over medoids
            terms[0] = -state.near_d[cand]
            terms[1:] = moves_to_j
            terms[1 + members[m]] = loses_medoid[members[m]]
            delta[cols, m] = _sum_down(terms)
    return delta


def _second_nearest(D, medoids, rows, skip, b, d_oj):
    """For each point in ``rows``: nearest medoid other than ``skip[r]`` and ``b``,
    if strictly closer than ``d_oj`` (medoid ``b`` at that distance otherwise).

    Returns ``(index, distance)``, each of shape (len(rows),).
    """
    dist = D[np.ix_(rows, medoids)]                                   # (r, k)
    dist[:, b] = np.inf
    dist[np.arange(len(rows)), skip] = np.inf
    best = np.argmin(dist, axis=1)                                    # first minimum
    best_d = dist[np.arange(len(rows)), best]
    closer = best_d < d_oj
    return np.where(closer, best, b), np.where(closer, best_d, d_oj)


def _do_swap(D: np.ndarray, medoids: np.ndarray, state: _Assignment, b: int, j: int) -> float:
    """Make ``j`` medoid number ``b`` and update ``state`` in place; returns the new cost.

    The update of nearest / second-nearest follows the reference case by case, so later
    ties are broken as it breaks them.
    """
    medoids[b] = j
    near_i, near_d, seco_i, seco_d = state.near_i, state.near_d, state.seco_i, state.seco_d
    d_oj = D[:, j]                                                    # (n,) d(o, j)
    others = np.arange(D.shape[0]) != j
    lost = others & (near_i == b)                                     # o's medoid is replaced
    kept = others & ~lost
    lost_to_j = lost & (d_oj < seco_d)
    lost_to_seco = lost & ~lost_to_j
    kept_to_j = kept & (d_oj < near_d)
    kept_seco_j = kept & ~kept_to_j & (d_oj < seco_d)
    kept_seco_gone = kept & ~kept_to_j & ~kept_seco_j & (seco_i == b)

    if near_i[j] != b:
        seco_i[j], seco_d[j] = near_i[j], near_d[j]
    near_i[j], near_d[j] = b, 0.0

    near_i[lost_to_j], near_d[lost_to_j] = b, d_oj[lost_to_j]
    rows = np.flatnonzero(lost_to_seco)
    near_i[rows], near_d[rows] = seco_i[rows], seco_d[rows]
    seco_i[rows], seco_d[rows] = _second_nearest(D, medoids, rows, near_i[rows], b,
                                                 d_oj[rows])

    seco_i[kept_to_j], seco_d[kept_to_j] = near_i[kept_to_j], near_d[kept_to_j]
    near_i[kept_to_j], near_d[kept_to_j] = b, d_oj[kept_to_j]
    seco_i[kept_seco_j], seco_d[kept_seco_j] = b, d_oj[kept_seco_j]
    rows = np.flatnonzero(kept_seco_gone)
    seco_i[rows], seco_d[rows] = _second_nearest(D, medoids, rows, near_i[rows], b,
                                                 d_oj[rows])
    return _sequential_total(near_d)


def _pam_swap(D: np.ndarray, medoids: np.ndarray, max_iter: int):
    """SWAP from ``medoids`` (changed in place).

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Position of each point's medoid in ``medoids``.
    loss : float
        ``sum_i D[i, medoid of i]``.
    n_iter : int
        Iterations run, the last one being the one that found no improving swap (unless
        ``max_iter`` stopped the loop first).
    """
    n = D.shape[0]
    if len(medoids) == 1:
        # one cluster: the best medoid directly (ties keep the initial one, then the
        # lowest index), as the reference does
        sums = _row_sums_without_diagonal(D)
        if sums.min() < sums[medoids[0]]:
            medoids[0] = np.argmin(sums)
        return np.zeros(n, dtype=np.intp), float(sums[medoids[0]]), 1
    state, loss = _initial_assignment(D, medoids)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        candidates = np.flatnonzero(np.arange(n) != medoids[state.near_i])
        delta = _swap_deltas(D, len(medoids), state, candidates)
        flat = int(np.argmin(delta))                                  # first (j, m) in order
        c, b = divmod(flat, len(medoids))
        if not delta[c, b] < 0:
            break
        new_loss = _do_swap(D, medoids, state, b, int(candidates[c]))
        if new_loss >= loss:                                          # rounding, not progress
            break
        loss = new_loss
    return state.near_i.copy(), loss, n_iter


# --------------------------------------------------------------------------- estimator


class KMedoids(TransformerMixin, ClusterMixin, BaseEstimator):
    """k-medoids clustering by PAM: BUILD, then the best improving swap until none is left.

    Algorithm::

        BUILD: m_1 <- argmin_i sum_j d(i, j)
               m_l <- argmin_i sum_j min(d(i, j) - D_j, 0),  D_j = min_{l' < l} d(m_l', j)
        SWAP:  repeat up to max_iter times:
                   (j, m) <- argmin over non-medoids j and medoids m of the cost change
                   stop if it is >= 0, else replace medoid m by j

    Parameters
    ----------
    n_clusters : int, default=8
    metric : str or callable, default="euclidean"
        Any metric of ``sklearn.metrics.pairwise_distances``, or "precomputed": then ``X`` in
        ``fit`` is a square, symmetric, non-negative (n_samples, n_samples) dissimilarity
        matrix with a zero diagonal.
    method : {"pam"}, default="pam"
        The only one: Kaufman and Rousseeuw's PAM, one best swap per iteration.
    init : {"build", "random"} or array-like of shape (n_clusters,), default="build"
        "build": greedy BUILD; "random": ``n_clusters`` distinct rows drawn by
        ``RandomState.choice(n_samples, n_clusters, replace=False)`` (the ``kmedoids``
        package's draw); an array: the initial medoid indices.
    max_iter : int, default=300
        Most SWAP iterations.
    random_state : int, RandomState instance or None
        Only used by ``init="random"``.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features) or None
        The medoids, ``X[medoid_indices_]``; None when ``metric="precomputed"``.
    medoid_indices_ : ndarray of shape (n_clusters,)
        Row numbers of the medoids; ``labels_`` index into this array.
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        ``sum_i d(x_i, medoid of x_i)``: plain, not squared, distances.
    n_iter_ : int
        SWAP iterations, counting the last one that found nothing to improve.
    n_features_in_ : int

    Notes
    -----
    Equal to ``kmedoids.pam(D, n_clusters, init="build")`` (medoids in the same order,
    labels, loss, ``n_iter``), including its tie-breaking: BUILD and SWAP take the first
    minimum in index order (candidates by row, then medoids by position), a point's nearest
    medoid is kept unless another is strictly closer, and costs are summed in the same
    order so that ties that are exact there are exact here. ``d`` is symmetrised first,
    ``(D + D^T) / 2``, since BLAS may round ``d(i, j)`` and ``d(j, i)`` differently; the
    equality holds with the reference given that same matrix. With more clusters than
    distinct points the reference returns fewer medoids; we add the first non-medoid rows
    (see :func:`_pam_build`) and warn.

    Distances are computed once, (n_samples, n_samples) in float64, so memory is
    quadratic; each SWAP iteration costs ``O(n_clusters * n_samples^2)``. Ties in
    ``labels_`` follow the incremental bookkeeping above, whereas :meth:`predict` takes the
    first nearest medoid; the two agree except between equidistant medoids.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [13.0]])
    >>> km = KMedoids(n_clusters=2).fit(X)
    >>> km.medoid_indices_, km.labels_, km.inertia_
    (array([1, 4]), array([0, 0, 0, 1, 1, 1]), 5.0)
    >>> km.predict([[5.0], [9.0]])
    array([0, 1])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions(set(_VALID_METRICS) | {"precomputed"}), callable],
        "method": [StrOptions({"pam"})],
        "init": [StrOptions({"build", "random"}), "array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_clusters=8, *, metric="euclidean", method="pam", init="build",
                 max_iter=300, random_state=None):
        self.n_clusters = n_clusters
        self.metric = metric
        self.method = method
        self.init = init
        self.max_iter = max_iter
        self.random_state = random_state

    # -- validation

    def _check_X(self, X, reset: bool) -> np.ndarray:
        _check_numeric(X)
        return validate_data(self, X, reset=reset, dtype=np.float64)

    def _initial_medoids(self, D: np.ndarray) -> np.ndarray:
        n = D.shape[0]
        if isinstance(self.init, str) and self.init == "build":
            return _pam_build(D, self.n_clusters)
        if isinstance(self.init, str):
            rng = check_random_state(self.random_state)
            return rng.choice(n, self.n_clusters, replace=False).astype(np.intp)
        init = check_array(self.init, ensure_2d=False, dtype=None, input_name="init")
        if init.shape != (self.n_clusters,):
            raise ValueError(f"init must hold n_clusters={self.n_clusters} medoid indices, "
                             f"got shape {init.shape}")
        if init.dtype.kind not in "iu" and not np.all(np.mod(init, 1) == 0):
            raise ValueError("init must hold integer medoid indices")
        init = init.astype(np.intp)
        if init.min() < 0 or init.max() >= n:
            raise ValueError(f"init indices must lie in [0, n_samples={n}), got {init}")
        if np.unique(init).size != init.size:
            raise ValueError(f"init indices must be distinct, got {init}")
        return init.copy()

    # -- fitting

    def fit(self, X, y=None):
        """Find the medoids of ``X``; returns ``self``.

        ``X`` is (n_samples, n_features), or (n_samples, n_samples) dissimilarities when
        ``metric="precomputed"``.
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        n_samples = X.shape[0]
        if self.n_clusters > n_samples:
            raise ValueError(f"n_clusters={self.n_clusters} must be <= "
                             f"n_samples={n_samples}")
        if self.metric == "precomputed":
            _check_dissimilarity(X)
            D = X
        else:
            D = pairwise_distances(X, metric=self.metric)
        # d(i, j) and d(j, i) can differ in the last bit (BLAS rounding); make them equal so
        # that no result depends on which of the two a step happens to read
        D = (D + D.T) / 2                                             # (n, n), symmetric
        medoids = self._initial_medoids(D)
        labels, loss, n_iter = _pam_swap(D, medoids, self.max_iter)
        n_coinciding = np.count_nonzero(D[np.ix_(medoids, medoids)] == 0) - len(medoids)
        if n_coinciding:
            warnings.warn(f"Some of the {self.n_clusters} medoids coincide (distance 0): "
                          "X has fewer distinct points than n_clusters, or duplicates were "
                          "given as init.", ConvergenceWarning, stacklevel=2)

        self.medoid_indices_ = medoids
        self.cluster_centers_ = None if self.metric == "precomputed" else X[medoids].copy()
        self.labels_ = labels
        self.inertia_ = loss
        self.n_iter_ = n_iter
        return self

    # -- using a fitted model

    def transform(self, X):
        """Distances to every medoid, shape (n_samples, n_clusters).

        With ``metric="precomputed"``, ``X`` is (n_samples, n_train_samples): the
        dissimilarities to the training points.
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        if self.metric == "precomputed":
            return X[:, self.medoid_indices_]
        return pairwise_distances(X, self.cluster_centers_, metric=self.metric)

    def predict(self, X):
        """Index of the nearest medoid (the first one on ties), shape (n_samples,)."""
        return np.argmin(self.transform(X), axis=1)
