"""Mini-batch k-means (Sculley, 2010) drawing its batches exactly as scikit-learn does.

A step labels one random batch with the current centres and moves each centre towards the
mean of its new points with a per-centre learning rate ``1 / (points seen so far)``; so a
centre is always the running mean of every point ever assigned to it. The random numbers
(validation subset, seeding subset, seeding, batch draws, reassignments) are drawn from one
``numpy.random.RandomState`` in the same calls and the same order as
``sklearn.cluster.MiniBatchKMeans``, so the same integer ``random_state`` gives the same
batches and, in float64, the same centres to rounding.

``predict``, ``transform`` and ``score`` come from ``_kmeans._CenterQueries``, shared by
every estimator whose model is a set of centres.
"""

from __future__ import annotations

import warnings
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

from mlnotebook.cluster._kmeans import (
    _CenterQueries,
    _centers_array,
    _check_enough_samples,
    _check_sample_weight,
    _labels_inertia,
    _lloyd_block,
    _one_blas_thread,
    _row_sq_norms,
    _seed_centers,
    _with_ones,
)

# --------------------------------------------------------------------------- shared queries


# --------------------------------------------------------------------------- one step


def _batch_sampler(sample_weight: np.ndarray):
    """A function drawing ``size`` row indices with probability proportional to the weights.

    It draws what ``RandomState.choice(n, size, p=w / w.sum(), replace=True)`` draws (one
    ``random_sample(size)`` inverted through the normalised cumulative sum) but builds the
    cumulative sum once instead of at every call.
    """
    p = (sample_weight / sample_weight.sum()).astype(np.float64)
    cdf = np.cumsum(p)
    cdf /= cdf[-1]

    def draw(random_state, size: int) -> np.ndarray:
        return cdf.searchsorted(random_state.random_sample(size), side="right")

    return draw


def _minibatch_step(X, sample_weight, centers, counts, random_state, random_reassign,
                    reassignment_ratio):
    """One mini-batch update; returns the new centres and the batch's inertia.

    Parameters
    ----------
    X : ndarray of shape (batch_size, n_features)
        The batch.
    sample_weight : ndarray of shape (batch_size,)
    centers : ndarray of shape (n_clusters, n_features)
        Centres before the step (not modified).
    counts : ndarray of shape (n_clusters,)
        Total weight each centre has absorbed so far; updated in place.
    random_state : numpy.random.RandomState
        Used only when a reassignment happens.
    random_reassign : bool
        Whether this step may move light centres onto random batch points.
    reassignment_ratio : float

    Returns
    -------
    centers_new : ndarray of shape (n_clusters, n_features)
    inertia : float
        ``sum_i w_i ||x_i - c_{label_i}||^2`` of the batch against the centres *before* the
        step.

    Notes
    -----
    A centre that received batch weight ``s_j`` (weighted sum ``S_j``) becomes
    ``(c_j * n_j + S_j) / (n_j + s_j)`` and ``n_j += s_j``: the running mean, i.e. a
    gradient step with learning rate ``1 / n_j`` per point. A reassignment moves every centre
    with ``n_j < ratio * max(n)`` (at most half a batch of them, the lightest) onto distinct
    uniformly drawn batch points, and sets their counts to the smallest remaining count.
    """
    labels = np.empty(X.shape[0], dtype=np.int32)
    sums = _lloyd_block(_with_ones(X), sample_weight, centers, labels, 0, X.shape[0],
                        update_centers=True)
    sums, batch_weights = sums[:, :-1], sums[:, -1]                   # (k, d), (k,)
    diff = X - centers[labels]                                        # (b, d)
    inertia = float(np.einsum("ij,ij->i", diff, diff).astype(np.float64)
                    @ sample_weight.astype(np.float64))

    batch_weights = batch_weights.astype(counts.dtype)
    hit = batch_weights > 0
    centers_new = centers.copy()
    centers_new[hit] = centers[hit] * counts[hit, None] + sums[hit]
    counts[hit] += batch_weights[hit]
    centers_new[hit] *= (1 / counts[hit])[:, None]

    if random_reassign and reassignment_ratio > 0:
        to_reassign = counts < reassignment_ratio * counts.max()
        half_batch = int(0.5 * X.shape[0])
        if to_reassign.sum() > 0.5 * X.shape[0]:
            to_reassign[np.argsort(counts)[half_batch:]] = False      # keep the heavier
        n_reassigns = int(to_reassign.sum())
        if n_reassigns:
            new_points = random_state.choice(X.shape[0], replace=False, size=n_reassigns)
            centers_new[to_reassign] = X[new_points]
        if n_reassigns < counts.size:  # all reassigned needs ratio > 1; sklearn fails there
            # a fresh count too small would send the centre straight back next time
            counts[to_reassign] = np.min(counts[~to_reassign])
    return centers_new, inertia


@dataclass
class _EarlyStopping:
    """scikit-learn's stopping rule on the smoothed mean batch inertia.

    The mean batch inertia (per point) is smoothed by an exponentially weighted average
    with ``alpha = min(1, 2 * batch_size / (n_samples + 1))``, the first step's being
    ignored. The run stops when the squared change of the centres is ``<= tol`` (if
    ``tol > 0``) or when the average has not reached a new minimum for
    ``max_no_improvement`` consecutive steps.
    """

    n_samples: int
    batch_size: int
    tol: float
    max_no_improvement: int | None
    ewa_inertia: float | None = None
    ewa_inertia_min: float | None = None
    no_improvement: int = 0

    def converged(self, step: int, batch_inertia: float, centers_sq_change: float) -> bool:
        if step == 0:                      # inertia of the initial centres
            return False
        mean_inertia = batch_inertia / self.batch_size
        if self.ewa_inertia is None:
            self.ewa_inertia = mean_inertia
        else:
            alpha = min(self.batch_size * 2.0 / (self.n_samples + 1), 1)
            self.ewa_inertia = self.ewa_inertia * (1 - alpha) + mean_inertia * alpha
        if self.tol > 0.0 and centers_sq_change <= self.tol:
            return True
        if self.ewa_inertia_min is None or self.ewa_inertia < self.ewa_inertia_min:
            self.no_improvement = 0
            self.ewa_inertia_min = self.ewa_inertia
        else:
            self.no_improvement += 1
        return (self.max_no_improvement is not None
                and self.no_improvement >= self.max_no_improvement)


# --------------------------------------------------------------------------- estimator


class MiniBatchKMeans(_CenterQueries, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                      ClusterMixin, BaseEstimator):
    """Mini-batch k-means, scikit-learn's ``MiniBatchKMeans`` (dense input).

    Algorithm::

        c_1..c_k <- init on a random subset of init_size rows (best of n_init seedings,
                    judged by inertia on a fixed random validation subset)
        n_j <- 0 for every centre
        repeat (max_iter * n_samples) // batch_size times:
            B <- batch_size rows drawn with replacement, P(row i) = w_i / sum(w)
            label_i <- argmin_j ||x_i - c_j||^2 for i in B
            for each j hit by B:  c_j <- (n_j c_j + sum_{i in B, label_i=j} x_i)
                                         / (n_j + |{i in B: label_i = j}|);  n_j += ...
            now and then move centres with n_j < reassignment_ratio * max(n) onto
            random batch points
            stop early on the smoothed batch inertia (see Notes)
        labels_, inertia_ <- nearest centres over all of X

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array-like of shape (n_clusters, n_features)
        "k-means++" (greedy, :func:`~mlnotebook.cluster.kmeans_plusplus`) or "random"
        (distinct rows, probability proportional to ``sample_weight``) run on a random
        subset of ``init_size`` rows; an array gives the centres (then ``n_init`` is 1).
    max_iter : int, default=100
        Passes over the data: the run has at most ``max_iter * n_samples // batch_size``
        steps.
    batch_size : int, default=1024
        Rows per step (at most ``n_samples``).
    tol : float, default=0.0
        Relative: stop when ``sum_j ||c_j^new - c_j^old||^2 <= tol * mean_f Var(X[:, f])``.
        0 disables this test.
    max_no_improvement : int or None, default=10
        Stop after this many steps without a new minimum of the smoothed batch inertia;
        None disables this test.
    init_size : int or None, default=None
        Rows used for the seeding (and for the validation subset); None means
        ``3 * batch_size`` (at least ``3 * n_clusters``), capped at ``n_samples``.
    n_init : "auto" or int, default="auto"
        Seedings tried; "auto" is 3 for "random", 1 otherwise.
    reassignment_ratio : float, default=0.01
        Centres whose count is below this fraction of the largest are re-seeded on random
        batch points (checked each time ``10 * n_clusters`` rows have been drawn, or when a
        centre has count 0). 0 disables reassignment.
    random_state : int, RandomState instance or None
        The one source of randomness, turned into a ``numpy.random.RandomState``.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
        Nearest final centre of every training row (int32).
    inertia_ : float
        ``sum_i w_i ||x_i - c_{label_i}||^2`` over the training set, final centres.
    n_iter_ : int
        ``ceil(n_steps_ * batch_size / n_samples)``, passes over the data.
    n_steps_ : int
        Mini-batch steps taken.
    n_features_in_ : int

    Notes
    -----
    Batches are drawn with probability proportional to ``sample_weight`` and then given
    unit weight, so weights are not counted twice; ``partial_fit`` instead uses the weights
    of the rows it is given. Counts ``n_j`` are sums of weights. Early stopping compares the
    exponentially weighted average of the per-point batch inertia (computed before each
    update, the first step ignored) with its running minimum. Unlike :class:`KMeans`, ``X``
    is not centred. Labels use the norm expansion ``||c||^2 - 2 x.c`` with the first
    minimum on ties. float32 input stays float32.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> init = np.array([[0.0, 0.0], [10.0, 0.0]])
    >>> mbk = MiniBatchKMeans(2, init=init, batch_size=4, random_state=0).fit(X)
    >>> mbk.labels_
    array([0, 0, 1, 1], dtype=int32)
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 0, None, closed="left"), None],
        "init_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "reassignment_ratio": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_clusters=8, *, init="k-means++", max_iter=100, batch_size=1024,
                 tol=0.0, max_no_improvement=10, init_size=None, n_init="auto",
                 reassignment_ratio=0.01, random_state=None):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.random_state = random_state

    # -- validation

    def _check_params_vs_input(self, X) -> None:
        """Derived settings ``_batch_size``, ``_init_size``, ``_tol``, ``_n_init``."""
        n_samples = X.shape[0]
        _check_enough_samples(n_samples, self.n_clusters)
        self._tol = float(np.mean(np.var(X, axis=0))) * self.tol if self.tol else 0.0
        is_array = not isinstance(self.init, str)
        if self.n_init == "auto":
            self._n_init = 3 if not is_array and self.init == "random" else 1
        else:
            self._n_init = self.n_init
        if is_array and self._n_init != 1:
            warnings.warn(f"Explicit initial center position passed: performing only one "
                          f"init in MiniBatchKMeans instead of n_init={self._n_init}.",
                          RuntimeWarning, stacklevel=3)
            self._n_init = 1
        self._batch_size = min(self.batch_size, n_samples)
        init_size = self.init_size
        if init_size is None:
            init_size = 3 * self._batch_size
            if init_size < self.n_clusters:
                init_size = 3 * self.n_clusters
        elif init_size < self.n_clusters:
            warnings.warn(f"init_size={init_size} should be larger than "
                          f"n_clusters={self.n_clusters}. Setting it to "
                          "min(3*n_clusters, n_samples)", RuntimeWarning, stacklevel=3)
            init_size = 3 * self.n_clusters
        self._init_size = min(init_size, n_samples)

    # -- seeding

    def _initial_centers(self, X, x_sq_norms, sample_weight, init, random_state):
        """Seed on a random ``init_size`` subset (drawn even for an array ``init``)."""
        if self._init_size < X.shape[0]:
            subset = random_state.randint(0, X.shape[0], self._init_size)
            X, x_sq_norms, sample_weight = X[subset], x_sq_norms[subset], sample_weight[subset]
        return _seed_centers(X, self.n_clusters, self.init if init is None else init,
                             x_sq_norms, sample_weight, random_state)

    def _random_reassign(self) -> bool:
        """Whether this step may reassign: every ``10 * n_clusters`` drawn rows, or any
        centre still has count 0."""
        self._n_since_last_reassign += self._batch_size
        if (self._counts == 0).any() or self._n_since_last_reassign >= 10 * self.n_clusters:
            self._n_since_last_reassign = 0
            return True
        return False

    # -- fitting

    def fit(self, X, y=None, sample_weight=None):
        """Run mini-batch k-means on ``X`` (n_samples, n_features); returns ``self``.

        ``sample_weight`` (n_samples,) sets the probability of drawing each row (and its
        weight in the seeding and in ``inertia_``).
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        self._check_params_vs_input(X)
        n_samples = X.shape[0]
        random_state = check_random_state(self.random_state)
        sample_weight = _check_sample_weight(sample_weight, n_samples, X.dtype)
        init = _centers_array(self.init, self.n_clusters, X)
        x_sq_norms = _row_sq_norms(X)

        valid = random_state.randint(0, n_samples, self._init_size)
        best_inertia = None
        for _ in range(self._n_init):
            centers = self._initial_centers(X, x_sq_norms, sample_weight, init, random_state)
            if self._n_init == 1:
                best_centers = centers
                break
            inertia = _labels_inertia(X[valid], sample_weight[valid], centers)[1]
            if best_inertia is None or inertia < best_inertia:
                best_centers, best_inertia = centers, inertia
        centers = best_centers

        self._counts = np.zeros(self.n_clusters, dtype=X.dtype)
        self._n_since_last_reassign = 0
        stopping = _EarlyStopping(n_samples, self._batch_size, self._tol,
                                  self.max_no_improvement)
        draw = _batch_sampler(sample_weight)
        unit_weight = np.ones(self._batch_size, dtype=X.dtype)
        n_steps = (self.max_iter * n_samples) // self._batch_size
        with _one_blas_thread():
            for step in range(n_steps):
                batch = draw(random_state, self._batch_size)
                centers_new, batch_inertia = _minibatch_step(
                    X[batch], unit_weight, centers, self._counts, random_state,
                    self._random_reassign(), self.reassignment_ratio)
                change = float(((centers_new - centers) ** 2).sum()) if self._tol > 0 else 0.0
                centers = centers_new
                if stopping.converged(step, batch_inertia, change):
                    break

        self.cluster_centers_ = centers
        self._n_features_out = centers.shape[0]
        self.n_steps_ = step + 1
        self.n_iter_ = int(np.ceil(self.n_steps_ * self._batch_size / n_samples))
        self.labels_, self.inertia_ = _labels_inertia(X, sample_weight, centers)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """One mini-batch step on the rows ``X`` (n_samples, n_features); returns ``self``.

        The first call (without an earlier ``fit``) seeds the centres on ``X``. Each row
        counts with its ``sample_weight``. ``labels_`` and ``inertia_`` then describe ``X``
        against the updated centres.
        """
        self._validate_params()
        has_centers = hasattr(self, "cluster_centers_")
        X = self._check_X(X, reset=not has_centers)
        if not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0], X.dtype)
        self.n_steps_ = getattr(self, "n_steps_", 0)
        if not has_centers:
            self._check_params_vs_input(X)
            init = _centers_array(self.init, self.n_clusters, X)
            self.cluster_centers_ = self._initial_centers(
                X, _row_sq_norms(X), sample_weight, init, self._random_state)
            self._counts = np.zeros(self.n_clusters, dtype=X.dtype)
            self._n_since_last_reassign = 0

        with _one_blas_thread():
            self.cluster_centers_, _ = _minibatch_step(
                X, sample_weight, self.cluster_centers_, self._counts, self._random_state,
                self._random_reassign(), self.reassignment_ratio)
        self.labels_, self.inertia_ = _labels_inertia(X, sample_weight, self.cluster_centers_)
        self.n_steps_ += 1
        self._n_features_out = self.cluster_centers_.shape[0]
        return self
