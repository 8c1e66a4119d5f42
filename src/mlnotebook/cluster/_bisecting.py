"""Bisecting k-means: grow k clusters by splitting one cluster in two at a time.

Each split is a 2-means run of our Lloyd iteration
(:func:`~mlnotebook.cluster._kmeans._kmeans_single_lloyd`) on the rows of the cluster being
split. Which cluster to split, how each 2-means is seeded, and the order in which the random
numbers are drawn follow ``sklearn.cluster.BisectingKMeans``, so one integer
``random_state`` gives the same tree, labels and centres.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from mlnotebook.cluster._kmeans import (
    CHUNK_ROWS,
    _blocks,
    _CenterQueries,
    _check_enough_samples,
    _check_sample_weight,
    _inertia,
    _kmeans_single_lloyd,
    _n_workers,
    _one_blas_thread,
    _row_sq_norms,
    _seed_centers,
    _with_ones,
)


@dataclass(eq=False)
class _Node:
    """A cluster of the bisecting tree: its centre (in centred coordinates), its rows while
    it is a leaf being grown, its score (inertia or size) and its two halves once split."""

    center: np.ndarray
    indices: np.ndarray | None
    score: float
    left: _Node | None = None
    right: _Node | None = None
    label: int = -1

    def leaves(self) -> Iterator[_Node]:
        """Leaves left to right (depth first, left half first)."""
        if self.left is None:
            yield self
        else:
            yield from self.left.leaves()
            yield from self.right.leaves()

    def to_split(self) -> _Node:
        """The first leaf with the highest score."""
        best = None
        for leaf in self.leaves():
            if best is None or leaf.score > best.score:
                best = leaf
        return best


def _nearest_of_two(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``True`` where a row is nearer (or as near) to ``centers[0]`` than to ``centers[1]``.

    Uses ``||c||^2 - 2 x.c``, the expansion the flat assignment uses, first centre on ties.
    """
    dist = X @ (-2 * centers.T) + _row_sq_norms(centers)             # (n, 2)
    return dist[:, 0] <= dist[:, 1]


class BisectingKMeans(_CenterQueries, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                      ClusterMixin, BaseEstimator):
    """Bisecting k-means, scikit-learn's ``BisectingKMeans`` (Lloyd inner runs, dense input).

    Algorithm::

        one cluster holding every row
        repeat n_clusters - 1 times:
            pick the leaf with the largest score (first one on ties)
            split its rows by 2-means (best of n_init seedings by inertia)
            each half is a new leaf, scored by its inertia or by its size
        labels_ <- leaf of each row, leaves numbered left to right

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"random", "k-means++"}, default="random"
        Seeding of every 2-means: two distinct rows of the cluster drawn with probability
        proportional to ``sample_weight``, or greedy k-means++ with 2 local trials.
    n_init : int, default=1
        2-means runs per split; the one with the lowest inertia is kept (a later run must
        be lower by a relative ``1e-6``).
    random_state : int, RandomState instance or None
        One ``numpy.random.RandomState`` shared by all the splits, in order.
    max_iter : int, default=300
        Lloyd iterations per 2-means run.
    tol : float, default=1e-4
        Each 2-means stops when ``sum_j ||c_j^new - c_j^old||^2 <= tol``. As in
        scikit-learn, this ``tol`` is absolute (not scaled by the variance of ``X``).
    bisecting_strategy : {"biggest_inertia", "largest_cluster"}, default="biggest_inertia"
        Score of a leaf: its weighted inertia ``sum_i w_i ||x_i - c||^2``, or its number of
        rows (unweighted).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Centres of the leaves, left to right (the 2-means centres, which are the means of
        their rows unless a run stopped on ``max_iter``/``tol``).
    labels_ : ndarray of shape (n_samples,)
        Leaf of every training row (int32).
    inertia_ : float
        ``sum_i w_i ||x_i - c_{label_i}||^2``.
    n_features_in_ : int

    Notes
    -----
    ``X`` is centred (its mean subtracted) before the splits, as in scikit-learn; the mean
    is added back to the centres. The root's score is 0, so the first split is of all the
    rows. ``predict`` walks down the tree (at each split, to the nearer of the two halves'
    centres), which can differ from the nearest leaf centre; ``transform`` and ``score``
    use the leaf centres directly, as scikit-learn does.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 1], [10, 1], [3, 1], [10, 0], [2, 1], [10, 2],
    ...               [10, 8], [10, 9], [10, 10]], dtype=float)
    >>> bkm = BisectingKMeans(n_clusters=3, random_state=0).fit(X)
    >>> bkm.labels_
    array([0, 2, 0, 2, 0, 2, 1, 1, 1], dtype=int32)
    >>> bkm.cluster_centers_
    array([[ 2.,  1.],
           [10.,  9.],
           [10.,  1.]])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "bisecting_strategy": [StrOptions({"biggest_inertia", "largest_cluster"})],
    }

    def __init__(self, n_clusters=8, *, init="random", n_init=1, random_state=None,
                 max_iter=300, tol=1e-4, bisecting_strategy="biggest_inertia"):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol
        self.bisecting_strategy = bisecting_strategy

    def fit(self, X, y=None, sample_weight=None):
        """Grow ``n_clusters`` clusters of ``X`` (n_samples, n_features); returns ``self``.

        ``sample_weight`` (n_samples,) weights the rows in the seeding, the centres and the
        inertias (not in the "largest_cluster" sizes).
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        n_samples = X.shape[0]
        _check_enough_samples(n_samples, self.n_clusters)
        random_state = check_random_state(self.random_state)
        sample_weight = _check_sample_weight(sample_weight, n_samples, X.dtype)

        self._X_mean = X.mean(axis=0)
        X1 = _with_ones(X, shift=self._X_mean)                         # (n, d + 1), centred
        X = X1[:, :-1]
        root = _Node(center=X.mean(axis=0), indices=np.arange(n_samples), score=0)
        x_sq_norms = _row_sq_norms(X)
        n_threads = _n_workers(n_samples)
        with _one_blas_thread(), ThreadPoolExecutor(max_workers=n_threads) as pool:
            for _ in range(self.n_clusters - 1):
                self._split(X1, x_sq_norms, sample_weight, root.to_split(), random_state,
                            pool)

            labels = np.full(n_samples, -1, dtype=np.int32)
            centers = np.empty((self.n_clusters, X.shape[1]), dtype=X.dtype)
            for label, leaf in enumerate(root.leaves()):
                labels[leaf.indices] = label
                centers[label] = leaf.center
                leaf.label, leaf.indices = label, None
            X += self._X_mean
            centers += self._X_mean
            inertia = _inertia(X, sample_weight, centers, labels, pool,
                               _blocks(n_samples, n_threads, CHUNK_ROWS))

        self._tree = root
        self.cluster_centers_ = centers
        self._n_features_out = centers.shape[0]
        self.labels_ = labels
        self.inertia_ = inertia
        return self

    def _split(self, X1, x_sq_norms, sample_weight, node, random_state, pool) -> None:
        """Replace the leaf ``node`` by the two halves of its best 2-means run.

        ``X1`` is the centred rows with a trailing column of ones (``_with_ones``).
        """
        X1, x_sq_norms = X1[node.indices], x_sq_norms[node.indices]   # (m, d + 1), (m,)
        X = X1[:, :-1]
        sample_weight = sample_weight[node.indices]
        blocks = _blocks(X.shape[0], _n_workers(X.shape[0]), CHUNK_ROWS)
        best = None
        for _ in range(self.n_init):
            centers_init = _seed_centers(X, 2, self.init, x_sq_norms, sample_weight,
                                         random_state)
            run = _kmeans_single_lloyd(X1, sample_weight, centers_init, self.max_iter,
                                       self.tol, pool, blocks)
            # a small margin, as scikit-learn, so rounding alone never swaps the winner
            if best is None or run[1] < best[1] * (1 - 1e-6):
                best = run
        labels, _, centers, _ = best

        if self.bisecting_strategy == "biggest_inertia":
            diff = X - centers[labels]                                # (m, d)
            per_row = np.einsum("ij,ij->i", diff, diff).astype(np.float64) * sample_weight
            scores = np.bincount(labels, weights=per_row, minlength=2)
        else:
            scores = np.bincount(labels, minlength=2)
        node.left = _Node(centers[0], node.indices[labels == 0], scores[0])
        node.right = _Node(centers[1], node.indices[labels == 1], scores[1])
        node.indices = None

    def predict(self, X):
        """Leaf reached by each row of ``X`` walking down the tree, shape (n_samples,)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        labels = np.full(X.shape[0], -1, dtype=np.int32)
        # (node, rows of X that reached it); one vectorised 2-way assignment per split
        stack = [(self._tree, np.arange(X.shape[0]))]
        while stack:
            node, rows = stack.pop()
            if node.left is None:
                labels[rows] = node.label
                continue
            centers = np.vstack([node.left.center, node.right.center]) + self._X_mean
            to_left = _nearest_of_two(X[rows], centers.astype(X.dtype, copy=False))
            stack.append((node.left, rows[to_left]))
            stack.append((node.right, rows[~to_left]))
        return labels
