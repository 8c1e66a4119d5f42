"""Cross-validated scores, learning curves and validation curves.

All of them run the same inner step, :func:`_fit_and_score`: clone the estimator (so
nothing learned on one fold leaks into another), optionally set parameters, fit on the
training indices and score on the test (and training) indices. What differs is which
splits and which parameter values are fed to it, and how the scores are arranged.

Scores follow scikit-learn's sign convention: **greater is better**. Errors are reported
negated (``"neg_mean_squared_error"`` is minus the MSE), so that choosing the best
candidate is always an ``argmax``.
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Callable, Iterable

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target

from mlnotebook.evaluation._split import KFold, StratifiedKFold, _num_samples, _take

__all__ = [
    "check_cv",
    "check_scoring",
    "cross_val_score",
    "cross_validate",
    "learning_curve",
    "validation_curve",
]


# --------------------------------------------------------------------------------------
# Scoring: metrics computed column-wise on (n_samples, n_outputs) arrays


def _as_columns(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions as float arrays of shape (n_samples, n_outputs)."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    y_true = y_true.reshape(len(y_true), -1)
    return y_true, y_pred.reshape(y_true.shape)


def _accuracy(y_true, y_pred) -> float:
    """Fraction of samples predicted exactly (every label of a row, for 2-D targets)."""
    hits = np.asarray(y_true) == np.asarray(y_pred)
    if hits.ndim > 1:
        hits = hits.all(axis=1)
    return float(np.mean(hits))


def _mean_squared_error(y_true, y_pred) -> float:
    """Mean of (y - y_hat)^2 over samples, then the plain mean over outputs."""
    t, p = _as_columns(y_true, y_pred)
    return float(np.mean(np.mean((t - p) ** 2, axis=0)))


def _root_mean_squared_error(y_true, y_pred) -> float:
    """Square root of each output's MSE, then the plain mean over outputs."""
    t, p = _as_columns(y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))))


def _mean_absolute_error(y_true, y_pred) -> float:
    t, p = _as_columns(y_true, y_pred)
    return float(np.mean(np.mean(np.abs(t - p), axis=0)))


def _r2(y_true, y_pred) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot per output, then averaged.

    Convention for constant targets (SS_tot = 0), as scikit-learn: 1.0 when the predictions
    are also exact, else 0.0, so the score stays finite.
    """
    t, p = _as_columns(y_true, y_pred)
    residual = np.sum((t - p) ** 2, axis=0)
    total = np.sum((t - np.mean(t, axis=0)) ** 2, axis=0)
    scores = np.ones(t.shape[1])
    usable = (residual != 0) & (total != 0)
    scores[usable] = 1 - residual[usable] / total[usable]
    scores[(residual != 0) & (total == 0)] = 0.0
    return float(np.mean(scores))


# name -> (metric(y_true, y_pred), sign applied so that greater is better)
_SCORINGS: dict[str, tuple[Callable, int]] = {
    "accuracy": (_accuracy, 1),
    "r2": (_r2, 1),
    "neg_mean_squared_error": (_mean_squared_error, -1),
    "neg_root_mean_squared_error": (_root_mean_squared_error, -1),
    "neg_mean_absolute_error": (_mean_absolute_error, -1),
}


class _PredictScorer:
    """``scorer(estimator, X, y) = sign * metric(y, estimator.predict(X))``."""

    def __init__(self, name: str):
        self.name = name
        self._metric, self._sign = _SCORINGS[name]

    def __call__(self, estimator, X, y) -> float:
        return self._sign * self._metric(y, estimator.predict(X))

    def __repr__(self) -> str:
        return f"make_scorer({self.name})"


def _estimator_score(estimator, X, y=None) -> float:
    """The estimator's own ``score``: accuracy for classifiers, R^2 for regressors."""
    return estimator.score(X) if y is None else estimator.score(X, y)


def check_scoring(estimator, scoring=None) -> Callable:
    """Turn ``scoring`` into a callable ``scorer(estimator, X, y) -> float``.

    Parameters
    ----------
    estimator : estimator
        Used only when ``scoring`` is None; it must then have a ``score`` method.
    scoring : None, str or callable, default=None
        None: the estimator's own ``score`` method. A string names a metric of
        ``estimator.predict(X)`` against ``y``:

        - ``"accuracy"``: fraction of exactly right predictions (best 1);
        - ``"r2"``: 1 - SS_res / SS_tot, averaged over outputs (best 1);
        - ``"neg_mean_squared_error"``: minus the mean of (y - y_hat)^2 (best 0);
        - ``"neg_root_mean_squared_error"``: minus the square root of the MSE (best 0);
        - ``"neg_mean_absolute_error"``: minus the mean of |y - y_hat| (best 0).

        Or a callable ``scorer(estimator, X, y)`` returning a number, greater is better.
    """
    if scoring is None:
        if not hasattr(estimator, "score"):
            raise TypeError(f"scoring=None needs an estimator with a score method; "
                            f"{type(estimator).__name__} has none, so pass scoring")
        return _estimator_score
    if isinstance(scoring, str):
        if scoring not in _SCORINGS:
            raise ValueError(f"scoring={scoring!r} is not known; choose one of "
                             f"{sorted(_SCORINGS)} or pass a callable scorer(est, X, y)")
        return _PredictScorer(scoring)
    if callable(scoring):
        return scoring
    raise TypeError(f"scoring must be None, a string or a callable, got {scoring!r}")


# --------------------------------------------------------------------------------------
# Splitters and the inner fit-and-score step


class _FixedSplits:
    """A list of ``(train, test)`` pairs given by the user, behaving as a splitter."""

    def __init__(self, splits):
        self.splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splits]
        if not self.splits:
            raise ValueError("cv is an empty iterable: it must yield at least one split")

    def split(self, X=None, y=None, groups=None):
        yield from self.splits

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return len(self.splits)


def check_cv(cv=5, y=None, *, classifier=False):
    """Turn ``cv`` into a splitter with ``split`` and ``get_n_splits``.

    Parameters
    ----------
    cv : None, int, splitter or iterable of (train, test), default=5
        None means 5. An int ``k`` gives :class:`StratifiedKFold` ``(k)`` when
        ``classifier`` is true and ``y`` holds binary or multiclass labels, else
        :class:`KFold` ``(k)``; neither shuffles. An object with a ``split`` method is used
        as it is (scikit-learn's splitters work too); an iterable of index pairs is replayed.
    y : array-like of shape (n_samples,), default=None
    classifier : bool, default=False
    """
    cv = 5 if cv is None else cv
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if classifier and y is not None and type_of_target(y) in ("binary", "multiclass"):
            return StratifiedKFold(cv)
        return KFold(cv)
    if hasattr(cv, "split") and not isinstance(cv, str):
        return cv
    if isinstance(cv, Iterable) and not isinstance(cv, str):
        return _FixedSplits(cv)
    raise ValueError(f"cv must be None, an int, a splitter with a split method or an "
                     f"iterable of (train, test) index pairs; got {cv!r}")


def _fit_and_score(estimator, X, y, train, test, scorer, *, params=None,
                   train_score=False) -> dict:
    """Clone, set ``params``, fit on ``train`` and score on ``test`` (and on ``train``)."""
    est = clone(estimator)
    if params:
        est.set_params(**params)
    X_train, X_test = _take(X, train), _take(X, test)
    y_train = None if y is None else _take(y, train)
    y_test = None if y is None else _take(y, test)
    start = time.perf_counter()
    if y_train is None:
        est.fit(X_train)
    else:
        est.fit(X_train, y_train)
    fitted = time.perf_counter()
    out = {"fit_time": fitted - start, "test_score": _as_score(scorer(est, X_test, y_test))}
    out["score_time"] = time.perf_counter() - fitted
    if train_score:
        out["train_score"] = _as_score(scorer(est, X_train, y_train))
    out["estimator"] = est
    return out


def _as_score(value) -> float:
    if hasattr(value, "item"):
        value = value.item()
    if not isinstance(value, numbers.Number):
        raise TypeError(f"the scorer must return a number, got {value!r}")
    return value


def _check_lengths(X, y) -> None:
    if y is not None and _num_samples(X) != _num_samples(y):
        raise ValueError(f"X has {_num_samples(X)} samples but y has {_num_samples(y)}")


def _check_param_name(estimator, name: str, argument: str) -> None:
    valid = estimator.get_params(deep=True)
    if name not in valid:
        raise ValueError(f"{argument}: {name!r} is not a parameter of "
                         f"{type(estimator).__name__}; valid names are {sorted(valid)}")


# --------------------------------------------------------------------------------------
# Public functions


def cross_validate(estimator, X, y=None, *, groups=None, cv=None, scoring=None,
                   return_train_score=False, return_estimator=False) -> dict:
    """Per-fold test (and training) scores and timings of ``estimator`` under ``cv``.

    Parameters
    ----------
    estimator : estimator with fit
        Cloned for every fold with ``sklearn.base.clone``; the original is never fitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
    groups : array-like of shape (n_samples,), default=None
        Passed on to ``cv.split``.
    cv : None, int, splitter or iterable, default=None
        See :func:`check_cv` (None is 5 folds, stratified for classifiers).
    scoring : None, str or callable, default=None
        See :func:`check_scoring`. Greater is better.
    return_train_score : bool, default=False
    return_estimator : bool, default=False

    Returns
    -------
    dict of ndarray of shape (n_splits,)
        ``test_score``, ``fit_time``, ``score_time`` (seconds), plus ``train_score`` and
        ``estimator`` (a list) when asked for; entry ``k`` belongs to the ``k``-th split.
    """
    _check_lengths(X, y)
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    scorer = check_scoring(estimator, scoring)
    folds = [_fit_and_score(estimator, X, y, train, test, scorer,
                            train_score=return_train_score)
             for train, test in splitter.split(X, y, groups)]
    keys = ["fit_time", "score_time", "test_score"] + ["train_score"] * return_train_score
    result = {key: np.array([fold[key] for fold in folds], dtype=float) for key in keys}
    if return_estimator:
        result["estimator"] = [fold["estimator"] for fold in folds]
    return result


def cross_val_score(estimator, X, y=None, *, groups=None, cv=None, scoring=None) -> np.ndarray:
    """Test score of ``estimator`` on each fold of ``cv``, shape (n_splits,).

    Same as ``cross_validate(...)["test_score"]``; see :func:`cross_validate`. With
    ``scoring=None`` the score is ``estimator.score`` (accuracy for classifiers, R^2 for
    regressors); error scorings are negated, so every score is greater-is-better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from mlnotebook.evaluation import KFold, cross_val_score
    >>> X = np.arange(20.0).reshape(10, 2); y = X @ [1.0, -1.0] + 3.0
    >>> cross_val_score(Ridge(alpha=1e-9), X, y, cv=KFold(5),
    ...                 scoring="neg_mean_squared_error").round(6).tolist()
    [-0.0, -0.0, -0.0, -0.0, -0.0]
    """
    return cross_validate(estimator, X, y, groups=groups, cv=cv, scoring=scoring)["test_score"]


def _absolute_train_sizes(train_sizes, n_max: int) -> np.ndarray:
    """Training-set sizes as counts: fractions in (0, 1] of ``n_max`` (truncated) or counts.

    Duplicates are dropped (with a warning) and the result is sorted, as scikit-learn's.
    """
    sizes = np.asarray(train_sizes)
    if sizes.ndim != 1 or sizes.size == 0:
        raise ValueError(f"train_sizes must be a non-empty 1-D sequence, got {train_sizes!r}")
    if np.issubdtype(sizes.dtype, np.floating):
        if sizes.min() <= 0 or sizes.max() > 1:
            raise ValueError(f"train_sizes given as fractions must lie in (0, 1], got the "
                             f"range [{sizes.min()}, {sizes.max()}]")
        counts = np.clip((sizes * n_max).astype(int), 1, n_max)
    elif np.issubdtype(sizes.dtype, np.integer):
        if sizes.min() <= 0 or sizes.max() > n_max:
            raise ValueError(f"train_sizes given as counts must lie in [1, {n_max}] (the "
                             f"smallest training fold), got [{sizes.min()}, {sizes.max()}]")
        counts = sizes
    else:
        raise TypeError(f"train_sizes must hold floats or ints, got dtype {sizes.dtype}")
    unique = np.unique(counts)
    if len(unique) < len(counts):
        warnings.warn(f"train_sizes has duplicate sizes; using the {len(unique)} distinct "
                      f"ones {unique.tolist()}", RuntimeWarning, stacklevel=3)
    return unique


def learning_curve(estimator, X, y=None, *, groups=None, train_sizes=None, cv=None,
                   scoring=None, shuffle=False, random_state=None):
    """Training and test scores as the training set grows.

    For every split of ``cv`` and every size ``m`` the estimator is fitted on the first
    ``m`` indices of the split's training set and scored on that subset and on the test set.

    Parameters
    ----------
    estimator : estimator with fit
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), default=None
    groups : array-like of shape (n_samples,), default=None
    train_sizes : array-like of shape (n_ticks,), default=None
        None means ``np.linspace(0.1, 1.0, 5)``, scikit-learn's default. Floats are
        fractions in (0, 1] of the **first** split's training-set size, truncated to ints
        and clipped to at least 1; ints are counts. Duplicates are removed.
    cv : None, int, splitter or iterable, default=None
        See :func:`check_cv`.
    scoring : None, str or callable, default=None
        See :func:`check_scoring`.
    shuffle : bool, default=False
        Permute each split's training indices (``rng.permutation``, split after split)
        before taking prefixes; otherwise the prefixes follow the splitter's (often sorted)
        order, which makes small training sets unrepresentative of sorted data.
    random_state : None, int or numpy.random.RandomState, default=None
        Seeds the permutation when ``shuffle=True``.

    Returns
    -------
    train_sizes_abs : ndarray of shape (n_unique_ticks,)
    train_scores : ndarray of shape (n_unique_ticks, n_splits)
    test_scores : ndarray of shape (n_unique_ticks, n_splits)
    """
    _check_lengths(X, y)
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    scorer = check_scoring(estimator, scoring)
    splits = list(splitter.split(X, y, groups))
    if train_sizes is None:
        train_sizes = np.linspace(0.1, 1.0, 5)
    sizes = _absolute_train_sizes(train_sizes, len(splits[0][0]))
    if shuffle:
        rng = check_random_state(random_state)
        splits = [(rng.permutation(train), test) for train, test in splits]
    train_scores = np.empty((len(sizes), len(splits)))
    test_scores = np.empty((len(sizes), len(splits)))
    for k, (train, test) in enumerate(splits):
        for i, m in enumerate(sizes):
            out = _fit_and_score(estimator, X, y, train[:m], test, scorer, train_score=True)
            train_scores[i, k], test_scores[i, k] = out["train_score"], out["test_score"]
    return sizes, train_scores, test_scores


def validation_curve(estimator, X, y=None, *, param_name, param_range, groups=None, cv=None,
                     scoring=None):
    """Training and test scores as one parameter of the estimator varies.

    Parameters
    ----------
    estimator : estimator with fit
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), default=None
    param_name : str
        A name from ``estimator.get_params()``; nested names such as
        ``"ridge__alpha"`` reach into a pipeline.
    param_range : array-like of shape (n_values,)
    groups : array-like of shape (n_samples,), default=None
    cv : None, int, splitter or iterable, default=None
        See :func:`check_cv`.
    scoring : None, str or callable, default=None
        See :func:`check_scoring`.

    Returns
    -------
    train_scores : ndarray of shape (n_values, n_splits)
    test_scores : ndarray of shape (n_values, n_splits)
        Entry ``[i, k]`` is for ``param_range[i]`` on the ``k``-th split.
    """
    _check_lengths(X, y)
    _check_param_name(estimator, param_name, "param_name")
    values = list(param_range)
    if not values:
        raise ValueError("param_range is empty: give at least one value to try")
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    scorer = check_scoring(estimator, scoring)
    splits = list(splitter.split(X, y, groups))
    train_scores = np.empty((len(values), len(splits)))
    test_scores = np.empty((len(values), len(splits)))
    for k, (train, test) in enumerate(splits):
        for i, value in enumerate(values):
            out = _fit_and_score(estimator, X, y, train, test, scorer,
                                 params={param_name: value}, train_score=True)
            train_scores[i, k], test_scores[i, k] = out["train_score"], out["test_score"]
    return train_scores, test_scores
