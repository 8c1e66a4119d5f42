"""Label shift: black-box shift estimation (BBSE) of the class weights q(y) / p(y)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

# Above this condition number the solve of C w = mu is refused (see bbse_weights).
MAX_CONDITION = 1e8


def _check_labels(y, name: str, n_classes: int | None = None) -> np.ndarray:
    """``y`` as a non-empty 1-D int64 array of labels in [0, n_classes); errors name ``name``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one label")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels 0..K-1, got dtype {y.dtype}")
    y = y.astype(np.int64)
    top = "K-1" if n_classes is None else n_classes - 1
    if y.min() < 0 or (n_classes is not None and y.max() >= n_classes):
        raise ValueError(
            f"{name} has labels outside 0..{top} (min {y.min()}, max {y.max()})"
        )
    return y


def bbse_weights(confusion_matrix, target_pred_marginal, *,
                 max_condition: float = MAX_CONDITION) -> np.ndarray:
    r"""Solve the BBSE system ``C w = mu`` for the class weights ``w_j = q(y=j) / p(y=j)``.

    Under label shift (``p(x | y)`` the same in source and target) a fixed classifier ``f``
    has ``mu_i = P_q(f(x) = i) = sum_j P(f(x) = i | y = j) q_j = sum_j C_ij w_j`` with the
    joint source confusion matrix ``C_ij = P_p(f(x) = i, y = j)``. So ``w = C^{-1} mu``.

    Parameters
    ----------
    confusion_matrix : array-like of shape (n_classes, n_classes)
        ``C[i, j]``: how often the classifier predicts ``i`` when the true label is ``j``
        on labelled source data (rows: predicted, columns: true). Counts or probabilities;
        it is divided by its total, so its column sums are the source prior ``p``.
    target_pred_marginal : array-like of shape (n_classes,)
        ``mu[i]``: how often the classifier predicts ``i`` on unlabelled target data.
        Counts or frequencies; divided by its total.
    max_condition : float, default=1e8
        The largest condition number of ``C`` that is solved; above it (or for a singular
        ``C``) a ValueError is raised rather than returning weights dominated by noise.

    Returns
    -------
    ndarray of shape (n_classes,)
        Non-negative weights ``w``; ``w * p`` is the estimated target prior and sums to 1.

    Notes
    -----
    With estimated ``C`` and ``mu`` the exact solution can have negative entries (a class
    that has all but vanished). Those are clipped to 0 and the target prior ``w * p`` is
    renormalised to sum to one; the returned weights are that prior divided by ``p``. When
    no entry is negative this changes nothing: the solution already satisfies
    ``sum_j w_j p_j = sum_i mu_i = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> p, q = np.array([0.5, 0.5]), np.array([0.8, 0.2])
    >>> given_y = np.array([[0.9, 0.3], [0.1, 0.7]])       # P(f = i | y = j), columns sum to 1
    >>> C = given_y * p                                      # joint: P(f = i, y = j)
    >>> bbse_weights(C, given_y @ q).round(12)
    array([1.6, 0.4])
    """
    C = np.asarray(confusion_matrix, dtype=np.float64)
    mu = np.asarray(target_pred_marginal, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] < 2:
        raise ValueError(f"confusion_matrix must be square with >= 2 classes, got {C.shape}")
    if mu.shape != (C.shape[0],):
        raise ValueError(
            f"target_pred_marginal must have shape ({C.shape[0]},) to match "
            f"confusion_matrix, got {mu.shape}"
        )
    for name, a in (("confusion_matrix", C), ("target_pred_marginal", mu)):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or a.sum() == 0:
            raise ValueError(f"{name} must be finite, >= 0 and not all zero")
    C, mu = C / C.sum(), mu / mu.sum()
    p = C.sum(axis=0)                                                   # source prior (K,)
    if np.any(p == 0):
        raise ValueError(
            f"confusion_matrix is singular: class {np.flatnonzero(p == 0)[0]} never occurs as "
            "a true label, so its weight cannot be estimated"
        )
    if np.any(C.sum(axis=1) == 0):
        raise ValueError(
            "confusion_matrix is singular: the classifier never predicts class "
            f"{np.flatnonzero(C.sum(axis=1) == 0)[0]}"
        )
    condition = np.linalg.cond(C)
    if not condition <= max_condition:
        raise ValueError(
            f"confusion_matrix is singular or ill-conditioned (condition number "
            f"{condition:.3g} > max_condition={max_condition:g}); the classifier must "
            "separate the classes better for BBSE to be usable"
        )
    w = np.linalg.solve(C, mu)
    prior = np.maximum(w, 0.0) * p                                      # estimated q (K,)
    return prior / prior.sum() / p


def adjust_proba(proba, weights) -> np.ndarray:
    """Move predicted class probabilities from the source prior to the target prior.

    Under label shift ``q(y | x) ∝ p(y | x) q(y) / p(y) = p(y | x) w_y`` (Bayes' rule with
    the same ``p(x | y)``), so each row is multiplied by ``w`` and renormalised.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Source-calibrated probabilities, e.g. ``classifier.predict_proba(X)``; columns in
        label order 0..K-1.
    weights : array-like of shape (n_classes,)
        Non-negative class weights ``q(y) / p(y)``.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Rows sum to one. A row whose every class with probability > 0 has weight 0 cannot be
        moved and is returned unchanged.
    """
    P = np.asarray(proba, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] == 0:
        raise ValueError(f"proba must be a non-empty 2-D array, got shape {P.shape}")
    if w.shape != (P.shape[1],):
        raise ValueError(f"weights must have shape ({P.shape[1]},) to match proba, got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    adjusted = P * w                                                    # (n, K)
    total = adjusted.sum(axis=1, keepdims=True)                         # (n, 1)
    stuck = total[:, 0] == 0
    adjusted[stuck], total[stuck] = P[stuck], P[stuck].sum(axis=1, keepdims=True)
    return adjusted / total


class BlackBoxShiftEstimator(BaseEstimator):
    r"""Black-box shift estimation (Lipton, Wang and Smola, 2018) of the label shift.

    Any fixed classifier ``f`` (the black box; it need not be good, only better than
    guessing for every class) gives, on labelled held-out source data, the joint confusion
    matrix and, on unlabelled target data, the predicted-label frequencies:

    .. code-block:: text

        C[i, j] = P_p(f(x) = i, y = j)        (rows predicted, columns true)
        mu[i]   = P_q(f(x) = i)
        mu = C w,   w_j = q(y = j) / p(y = j)   =>   w = C^{-1} mu

    The identity needs label shift (``p(x | y)`` unchanged) and an invertible ``C``.
    The weights then either reweight the training loss (:meth:`sample_weight`) or move the
    classifier's probabilities to the target prior (:meth:`adjust_proba`).

    Parameters
    ----------
    n_classes : int or None, default=None
        Number of classes ``K``; labels are 0..K-1. ``None`` takes one more than the largest
        label seen in ``fit``.
    max_condition : float, default=1e8
        Largest condition number of the estimated ``C`` that is solved; see
        :func:`bbse_weights`.

    Attributes
    ----------
    n_classes_ : int
    confusion_matrix_ : ndarray of shape (n_classes_, n_classes_)
        Estimated joint ``C[i, j]`` (sums to one).
    source_prior_ : ndarray of shape (n_classes_,)
        Column sums of ``C``: the class frequencies of the validation labels.
    target_pred_marginal_ : ndarray of shape (n_classes_,)
        Estimated ``mu``.
    condition_number_ : float
        Condition number (2-norm) of ``confusion_matrix_``.
    weights_ : ndarray of shape (n_classes_,)
        Estimated ``q(y) / p(y)``, negative solutions clipped to 0 (see :func:`bbse_weights`).
    target_prior_ : ndarray of shape (n_classes_,)
        Estimated ``q(y) = weights_ * source_prior_``; sums to one.

    Notes
    -----
    Hard predictions are used (Lipton et al.'s BBSE-hard). The validation sample must be
    disjoint from the classifier's training data, or ``C`` is too optimistic. The source
    prior is estimated from the validation labels; if the classifier's training set has
    other class proportions, reweighting its loss by ``weights_`` is only right up to that
    difference.

    Examples
    --------
    >>> import numpy as np
    >>> y_val = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> pred_val = np.array([0, 0, 0, 1, 1, 1, 1, 0])      # 75% right in each class
    >>> pred_target = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    >>> bbse = BlackBoxShiftEstimator().fit(y_val, pred_val, pred_target)
    >>> bbse.target_prior_.round(6)
    array([0.9, 0.1])
    """

    def __init__(self, n_classes: int | None = None, *, max_condition: float = MAX_CONDITION):
        self.n_classes = n_classes
        self.max_condition = max_condition

    def _check_params(self) -> None:
        k = self.n_classes
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
                raise TypeError(f"n_classes must be None or an integer >= 2, got {k!r}")
            if k < 2:
                raise ValueError(f"n_classes must be >= 2, got {k!r}")
        m = self.max_condition
        if isinstance(m, bool) or not isinstance(m, (int, float, np.integer, np.floating)):
            raise TypeError(f"max_condition must be a number >= 1, got {m!r}")
        if not (math.isfinite(m) and m >= 1):
            raise ValueError(f"max_condition must be a finite number >= 1, got {m!r}")

    def fit(self, y_true_val, y_pred_val, y_pred_target) -> BlackBoxShiftEstimator:
        """Estimate ``C`` and ``mu`` from the classifier's predictions and solve for ``w``.

        Parameters
        ----------
        y_true_val : array-like of shape (n_val,)
            True labels of a labelled source sample the classifier was not trained on.
        y_pred_val : array-like of shape (n_val,)
            The classifier's predicted labels on that sample.
        y_pred_target : array-like of shape (n_target,)
            The classifier's predicted labels on unlabelled target data.

        Returns
        -------
        self
        """
        self._check_params()
        k = self.n_classes
        y_true = _check_labels(y_true_val, "y_true_val", k)
        y_pred = _check_labels(y_pred_val, "y_pred_val", k)
        y_target = _check_labels(y_pred_target, "y_pred_target", k)
        if len(y_true) != len(y_pred):
            raise ValueError(
                f"y_true_val and y_pred_val must have the same length, got {len(y_true)} "
                f"and {len(y_pred)}"
            )
        if k is None:
            k = 1 + int(max(y_true.max(), y_pred.max(), y_target.max()))
            if k < 2:
                raise ValueError("only class 0 occurs in the labels; n_classes must be >= 2")
        C = np.zeros((k, k))
        np.add.at(C, (y_pred, y_true), 1.0)                               # counts (K, K)
        C /= len(y_true)
        mu = np.bincount(y_target, minlength=k) / len(y_target)          # (K,)
        self.weights_ = bbse_weights(C, mu, max_condition=float(self.max_condition))
        self.n_classes_ = k
        self.confusion_matrix_ = C
        self.source_prior_ = C.sum(axis=0)
        self.target_pred_marginal_ = mu
        self.condition_number_ = float(np.linalg.cond(C))
        self.target_prior_ = self.weights_ * self.source_prior_
        return self

    def sample_weight(self, y) -> np.ndarray:
        """Per-sample weights ``w[y_i]`` for refitting a model on source data.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Source labels.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.weights_[_check_labels(y, "y", self.n_classes_)]

    def adjust_proba(self, proba) -> np.ndarray:
        """Probabilities moved to the estimated target prior; see :func:`adjust_proba`.

        Parameters
        ----------
        proba : array-like of shape (n_samples, n_classes_)

        Returns
        -------
        ndarray of shape (n_samples, n_classes_)
        """
        check_is_fitted(self)
        return adjust_proba(proba, self.weights_)
