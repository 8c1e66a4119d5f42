"""Exhaustive grid search over hyperparameters, scored by cross-validation."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from mlnotebook.evaluation._validation import (
    _check_lengths,
    _check_param_name,
    _fit_and_score,
    check_cv,
    check_scoring,
)

__all__ = ["GridSearchCV", "ParameterGrid"]


class ParameterGrid:
    """Every combination of parameter values in a grid, or in a list of grids.

    Parameters
    ----------
    param_grid : dict of str to sequence, or list of such dicts
        Each dict maps parameter names to the values to try; a list of dicts searches
        each sub-grid in turn (useful when some parameters only make sense together).

    Notes
    -----
    The order is scikit-learn's: sub-grids in the order given; within a sub-grid the names
    are sorted alphabetically and the combinations run as ``itertools.product`` over the
    sorted names, so the **last** name in alphabetical order varies fastest.

    Examples
    --------
    >>> from mlnotebook.evaluation import ParameterGrid
    >>> list(ParameterGrid({"b": [1, 2], "a": ["x", "y"]}))
    [{'a': 'x', 'b': 1}, {'a': 'x', 'b': 2}, {'a': 'y', 'b': 1}, {'a': 'y', 'b': 2}]
    """

    def __init__(self, param_grid):
        grids = [param_grid] if isinstance(param_grid, Mapping) else param_grid
        if not isinstance(grids, Sequence) or isinstance(grids, str):
            raise TypeError(f"param_grid must be a dict or a list of dicts, got {param_grid!r}")
        for grid in grids:
            if not isinstance(grid, Mapping):
                raise TypeError(f"param_grid must be a dict or a list of dicts, found {grid!r}")
            for name, values in grid.items():
                if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
                    raise TypeError(f"param_grid[{name!r}] must be a sequence of values to "
                                    f"try, got {values!r}")
                if len(values) == 0:
                    raise ValueError(f"param_grid[{name!r}] is empty: give at least one value")
        self.param_grid = list(grids)

    def __iter__(self):
        for grid in self.param_grid:
            names = sorted(grid)
            for values in itertools.product(*(grid[name] for name in names)):
                yield dict(zip(names, values, strict=True))

    def __len__(self) -> int:
        return sum(int(np.prod([len(v) for v in grid.values()])) for grid in self.param_grid)


def _param_column(candidates: list[dict], name: str) -> np.ma.MaskedArray:
    """The values of one parameter across candidates, masked where a sub-grid lacks it."""
    present = np.array([name in params for params in candidates])
    values = [params.get(name) for params in candidates]
    dtype = np.dtype(object)
    try:
        typed = np.array([v for v, p in zip(values, present, strict=True) if p])
    except ValueError:  # ragged sequences stay objects
        typed = None
    if typed is not None and typed.ndim == 1 and typed.dtype.kind in "biuf":
        dtype = typed.dtype
    column = np.empty(len(candidates), dtype=dtype)
    column[present] = [v for v, p in zip(values, present, strict=True) if p]
    return np.ma.MaskedArray(column, mask=~present)


def _rank_descending(scores: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest score; ties share the lowest rank ("min"); NaN ranks last."""
    finite = np.where(np.isnan(scores), np.nanmin(scores) - 1, scores)
    better = finite[None, :] > finite[:, None]  # better[i, j]: candidate j beats i
    return (1 + better.sum(axis=1)).astype(np.int32)


class GridSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Try every parameter combination with cross-validation and keep the best.

    Parameters
    ----------
    estimator : estimator
        The model to tune; cloned for every fit, never fitted itself.
    param_grid : dict or list of dicts
        See :class:`ParameterGrid`. Every name must be in ``estimator.get_params()``.
    scoring : None, str or callable, default=None
        See :func:`mlnotebook.evaluation.check_scoring`; greater is better, so error
        metrics are negated (``"neg_mean_squared_error"``).
    cv : None, int, splitter or iterable, default=None
        See :func:`mlnotebook.evaluation.check_cv`. Every candidate sees the same splits.
    refit : bool, default=True
        Refit the best candidate on all of ``X, y`` as ``best_estimator_``, which
        ``predict``, ``score`` and the other methods then use.
    return_train_score : bool, default=False
        Also score each fold's model on its own training part.

    Attributes
    ----------
    cv_results_ : dict of ndarray of shape (n_candidates,)
        ``params`` (list of dicts), ``param_<name>`` (masked arrays), ``split<k>_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``, the same for
        ``train`` when asked, and ``mean/std_fit_time``, ``mean/std_score_time``.
    best_index_ : int
        The first candidate (in :class:`ParameterGrid` order) with rank 1.
    best_params_ : dict
    best_score_ : float
        ``mean_test_score[best_index_]``: an optimistic estimate, being a maximum over
        noisy estimates.
    best_estimator_ : estimator
        Only when ``refit=True``.
    scorer_ : callable
    n_splits_ : int
    refit_time_ : float
        Seconds spent refitting, when ``refit=True``.

    Notes
    -----
    ``mean_test_score`` is the unweighted mean of the per-split scores and
    ``std_test_score`` their population standard deviation (divisor ``n_splits``), as in
    scikit-learn. Ranks are "min" ranks of the mean scores (ties share the best rank);
    candidates whose mean is NaN rank last.
    """

    def __init__(self, estimator, param_grid, *, scoring=None, cv=None, refit=True,
                 return_train_score=False):
        self.estimator = estimator
        self.param_grid = param_grid
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.return_train_score = return_train_score

    def fit(self, X, y=None, groups=None):
        """Cross-validate every candidate, then (``refit=True``) refit the best on all data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        groups : array-like of shape (n_samples,), default=None
            Passed on to ``cv.split``.

        Returns
        -------
        self : GridSearchCV
        """
        if not isinstance(self.refit, bool):
            raise TypeError(f"refit must be True or False, got {self.refit!r}")
        _check_lengths(X, y)
        candidates = list(ParameterGrid(self.param_grid))
        for params in candidates:
            for name in params:
                _check_param_name(self.estimator, name, "param_grid")
        splitter = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        scorer = check_scoring(self.estimator, self.scoring)
        splits = list(splitter.split(X, y, groups))

        keys = ["test_score", "fit_time", "score_time"] + ["train_score"] * self.return_train_score
        table = {key: np.empty((len(candidates), len(splits))) for key in keys}
        for i, params in enumerate(candidates):
            for k, (train, test) in enumerate(splits):
                out = _fit_and_score(self.estimator, X, y, train, test, scorer, params=params,
                                     train_score=self.return_train_score)
                for key in keys:
                    table[key][i, k] = out[key]

        results = {"params": candidates}
        names = sorted({name for params in candidates for name in params})
        results.update({f"param_{name}": _param_column(candidates, name) for name in names})
        for key in keys:
            scores = table[key]  # (n_candidates, n_splits)
            if key.endswith("_score"):
                results.update({f"split{k}_{key}": scores[:, k] for k in range(len(splits))})
            mean = scores.mean(axis=1)
            results[f"mean_{key}"] = mean
            results[f"std_{key}"] = np.sqrt(np.mean((scores - mean[:, None]) ** 2, axis=1))
        results["rank_test_score"] = _rank_descending(results["mean_test_score"])

        self.cv_results_ = results
        self.n_splits_ = len(splits)
        self.scorer_ = scorer
        self.best_index_ = int(np.argmin(results["rank_test_score"]))
        self.best_params_ = candidates[self.best_index_]
        self.best_score_ = float(results["mean_test_score"][self.best_index_])
        if self.refit:
            start = time.perf_counter()
            best = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_ = best.fit(X) if y is None else best.fit(X, y)
            self.refit_time_ = time.perf_counter() - start
        return self

    def __sklearn_tags__(self):
        # A search over a classifier is a classifier (so an int cv stratifies), and so on.
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        return tags

    def _best(self, method: str):
        check_is_fitted(self, "cv_results_")
        if not self.refit:
            raise NotFittedError(f"{method} needs the refitted best estimator; this "
                                 f"GridSearchCV was created with refit=False")
        return self.best_estimator_

    def predict(self, X):
        """``best_estimator_.predict(X)``."""
        return self._best("predict").predict(X)

    def predict_proba(self, X):
        """``best_estimator_.predict_proba(X)``."""
        return self._best("predict_proba").predict_proba(X)

    def decision_function(self, X):
        """``best_estimator_.decision_function(X)``."""
        return self._best("decision_function").decision_function(X)

    def transform(self, X):
        """``best_estimator_.transform(X)``."""
        return self._best("transform").transform(X)

    def score(self, X, y=None):
        """The search's scorer applied to ``best_estimator_`` on ``(X, y)``."""
        return self.scorer_(self._best("score"), X, y)

    @property
    def classes_(self):
        return self._best("classes_").classes_
