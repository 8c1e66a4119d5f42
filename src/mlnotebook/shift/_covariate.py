"""Covariate shift: importance weights q(x) / p(x) from a domain classifier."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted

# Domain labels: which sample an input came from.
SOURCE, TARGET = 0, 1


def _check_inputs(X, name: str, n_features: int | None = None) -> np.ndarray:
    """``X`` as a finite, non-empty float64 array of shape (n, d); errors name ``name``."""
    try:
        X = check_array(X, dtype=np.float64, input_name=name)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features but {n_features} were expected")
    return X


def effective_sample_size(weights) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of non-negative weights.

    Equal weights give ``n``; a few large weights drive it towards 1. It says roughly how
    many unweighted samples a weighted average is worth.

    Parameters
    ----------
    weights : array-like of shape (n_samples,)

    Returns
    -------
    float
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D array, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    total = w.sum()
    if total == 0:
        raise ValueError("weights are all zero")
    return float(total**2 / np.dot(w, w))


class DomainClassifierWeights(BaseEstimator):
    r"""Importance weights for covariate shift, estimated by telling source from target.

    A probabilistic classifier ``h`` learns to separate the ``n_train`` labelled source
    inputs (domain label 0) from the ``n_test`` unlabelled target inputs (domain label 1).
    Its odds turn into the density ratio:

    .. code-block:: text

        w(x) = q(x) / p(x) = h(x) / (1 - h(x)) * n_train / n_test

    Why the prior ratio: the classifier sees the pooled sample, in which an input is a
    target input with prior probability ``n_test / (n_train + n_test)``. By Bayes' rule
    ``h(x) = n_test q(x) / (n_test q(x) + n_train p(x))``, so its odds are
    ``(n_test / n_train) q(x) / p(x)``; multiplying by ``n_train / n_test`` removes the
    sample sizes and leaves the density ratio. With logistic regression the log-odds are
    linear, ``w(x) = (n_train / n_test) exp(coef . x + intercept)``, which is exact when
    ``p`` and ``q`` are Gaussians with a shared covariance (then ``log q/p`` is linear).

    Fit the model of interest with ``sample_weight=weights(X_train)``: on average over the
    source, ``w(x) loss`` equals the loss over the target, so the weighted fit aims at the
    model that is best where the target data lie.

    Parameters
    ----------
    classifier : classifier with ``fit`` and ``predict_proba``, default=None
        The domain classifier; it is cloned, never fitted in place. ``None`` means
        ``sklearn.linear_model.LogisticRegression()`` (L2 penalty, ``C=1.0``; the small
        penalty pulls the log-odds slightly towards zero, i.e. weights towards 1).
        For a log density ratio that is not linear in ``x`` (e.g. different variances),
        pass a pipeline with richer features.
    clip : float or None, default=None
        Upper bound on the weights, applied after the ``n_train / n_test`` factor:
        ``min(w(x), clip)``. Where the source barely covers the target the weights explode
        and a few points dominate the fit; clipping trades that variance for a bias towards
        the source. ``None`` does not clip.

    Attributes
    ----------
    classifier_ : classifier
        The fitted domain classifier (target = class 1).
    n_train_, n_test_ : int
        Sizes of the two samples given to ``fit``.
    prior_ratio_ : float
        ``n_train_ / n_test_``.
    n_features_in_ : int
        Number of features of the inputs.

    Notes
    -----
    The ratio is only identifiable where ``p(x) > 0``; no weighting helps outside the source
    support. Where the classifier says ``h(x) = 1`` exactly, the unclipped weight is
    ``inf``. Check :func:`effective_sample_size` of the weights before trusting a fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X_train = rng.normal(0.0, 1.0, size=(2000, 1))
    >>> X_test = rng.normal(1.0, 1.0, size=(2000, 1))
    >>> dcw = DomainClassifierWeights().fit(X_train, X_test)
    >>> w = dcw.weights(np.array([[-1.0], [0.5], [2.0]]))
    >>> true = np.exp(np.array([-1.0, 0.5, 2.0]) - 0.5)       # q/p for these Gaussians
    >>> bool(np.all(np.abs(w / true - 1) < 0.2))
    True
    """

    def __init__(self, classifier=None, *, clip: float | None = None):
        self.classifier = classifier
        self.clip = clip

    def _check_params(self) -> None:
        clip = self.clip
        if clip is None:
            return
        if isinstance(clip, bool) or not isinstance(clip, (int, float, np.integer, np.floating)):
            raise TypeError(f"clip must be None or a number > 0, got {clip!r}")
        if not (math.isfinite(clip) and clip > 0):
            raise ValueError(f"clip must be None or a finite number > 0, got {clip!r}")

    def fit(self, X_train, X_test) -> DomainClassifierWeights:
        """Fit the domain classifier on source inputs (label 0) against target inputs (1).

        Parameters
        ----------
        X_train : array-like of shape (n_train, n_features)
            Inputs of the labelled source (training) sample.
        X_test : array-like of shape (n_test, n_features)
            Unlabelled inputs from the target distribution.

        Returns
        -------
        self
        """
        self._check_params()
        X_train = _check_inputs(X_train, "X_train")
        X_test = _check_inputs(X_test, "X_test", n_features=X_train.shape[1])
        classifier = LogisticRegression() if self.classifier is None else clone(self.classifier)
        if not hasattr(classifier, "predict_proba"):
            raise TypeError(
                f"classifier must have predict_proba; {type(classifier).__name__} has not"
            )
        X = np.concatenate([X_train, X_test])                             # (n_tr + n_te, d)
        z = np.concatenate([np.full(len(X_train), SOURCE), np.full(len(X_test), TARGET)])
        self.classifier_ = classifier.fit(X, z)
        self.n_train_, self.n_test_ = len(X_train), len(X_test)
        self.prior_ratio_ = self.n_train_ / self.n_test_
        self.n_features_in_ = X_train.shape[1]
        return self

    def weights(self, X) -> np.ndarray:
        """Estimated density ratio ``q(x) / p(x)`` at each row of ``X``, clipped if asked.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Usually the training inputs, to be passed on as ``sample_weight``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Non-negative weights; ``inf`` where ``h(x) = 1`` and ``clip`` is None.
        """
        check_is_fitted(self)
        self._check_params()
        X = _check_inputs(X, "X", n_features=self.n_features_in_)
        proba = self.classifier_.predict_proba(X)                        # (n, 2)
        classes = list(self.classifier_.classes_)
        p_source, p_target = proba[:, classes.index(SOURCE)], proba[:, classes.index(TARGET)]
        with np.errstate(divide="ignore"):
            w = self.prior_ratio_ * (p_target / p_source)
        if self.clip is not None:
            w = np.minimum(w, float(self.clip))
        return w


def covariate_shift_weights(X_train, X_test, *, classifier=None, clip=None) -> np.ndarray:
    """Importance weights of the training inputs, ready to pass as ``sample_weight``.

    Shorthand for ``DomainClassifierWeights(classifier, clip=clip).fit(X_train,
    X_test).weights(X_train)``; see :class:`DomainClassifierWeights` for the formula.

    Parameters
    ----------
    X_train : array-like of shape (n_train, n_features)
    X_test : array-like of shape (n_test, n_features)
    classifier : classifier with ``predict_proba``, default=None (logistic regression)
    clip : float or None, default=None

    Returns
    -------
    ndarray of shape (n_train,)
    """
    estimator = DomainClassifierWeights(classifier, clip=clip).fit(X_train, X_test)
    return estimator.weights(X_train)
