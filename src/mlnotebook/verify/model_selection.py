"""Splitting, cross-validation, curves, grid search and polynomial features against scikit-learn.

Splits are compared index by index: a case's difference is the number of positions where
our indices differ from scikit-learn's (a length mismatch counts as every position of the
longer one), so anything but 0 fails. Scores are compared as the largest absolute
difference, in float64, with the same splits on both sides.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from sklearn import model_selection as skms
from sklearn import preprocessing as skpp
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from mlnotebook import evaluation as ours
from mlnotebook.preprocessing import PolynomialFeatures
from mlnotebook.verify._base import check

TOL = 1e-12


def _one_blas_thread(fn):
    """Run a check with one BLAS thread: its fits are small, and on a busy machine the extra
    threads only spin (the cross-validation checks ran several times faster this way)."""

    @functools.wraps(fn)
    def wrapper():
        with threadpool_limits(limits=1):
            return fn()

    return wrapper


def _mismatch(a, b) -> float:
    """Positions where two index (or label) arrays differ; all of them if lengths differ."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return float(max(a.size, b.size))
    return float(np.sum(a != b))


def _splits_mismatch(ours_splits, ref_splits) -> float:
    ours_splits, ref_splits = list(ours_splits), list(ref_splits)
    if len(ours_splits) != len(ref_splits):
        return float("inf")
    return sum(_mismatch(a, b) for pair, ref in zip(ours_splits, ref_splits, strict=True)
               for a, b in zip(pair, ref, strict=True))


def _max_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _labels(n: int, weights, seed: int) -> np.ndarray:
    """Imbalanced labels: class c with probability weights[c], each class at least twice."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(weights), size=n, p=weights)
    y[: 2 * len(weights)] = np.repeat(np.arange(len(weights)), 2)
    return rng.permutation(y)


def _datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "iris": load_iris(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "imbalanced_37": (np.zeros((37, 1)), _labels(37, [0.7, 0.2, 0.1], seed=3)),
        "string_labels_50": (np.zeros((50, 1)),
                             np.array(["b", "a", "c"])[_labels(50, [0.5, 0.3, 0.2], seed=4)]),
    }


@check(topic="regularisation", concept="model-selection",
       reference="sklearn.model_selection.train_test_split", tolerance=TOL)
def split_train_test_split_matches_sklearn():
    """Row indices of the split over sizes, seeds, shuffle off and stratification."""
    options = [dict(), dict(test_size=0.3), dict(test_size=17), dict(train_size=0.5),
               dict(test_size=0.2, train_size=0.6), dict(shuffle=False, test_size=0.4)]
    out = {}
    for name, (_, y) in _datasets().items():
        index = np.arange(len(y))
        for kw in options:
            for stratify in (False, True):
                if stratify and kw.get("shuffle") is False:
                    continue
                for seed in (0, 11):
                    extra = {"random_state": seed} if kw.get("shuffle", True) else {}
                    strat = {"stratify": y} if stratify else {}
                    a = ours.train_test_split(index, y, **kw, **extra, **strat)
                    b = skms.train_test_split(index, y, **kw, **extra, **strat)
                    given = " ".join(f"{k}={v}" for k, v in kw.items()) or "defaults"
                    label = f"{name} {given}{' stratify' if stratify else ''} seed={seed}"
                    out[label] = sum(_mismatch(p, q) for p, q in zip(a, b, strict=True))
    return out


@check(topic="regularisation", concept="cross-validation",
       reference="sklearn.model_selection.KFold", tolerance=TOL)
def split_kfold_matches_sklearn():
    """Every fold's train and test indices, over sizes, fold counts and shuffling."""
    out = {}
    for n in (10, 37, 150):
        X = np.zeros((n, 2))
        for k in (2, 3, 5, 10):
            for shuffle, seed in ((False, None), (True, 0), (True, 42)):
                a = ours.KFold(k, shuffle=shuffle, random_state=seed).split(X)
                b = skms.KFold(k, shuffle=shuffle, random_state=seed).split(X)
                out[f"n={n} k={k} shuffle={shuffle} seed={seed}"] = _splits_mismatch(a, b)
    return out


@check(topic="regularisation", concept="cross-validation",
       reference="sklearn.model_selection.StratifiedKFold", tolerance=TOL)
def split_stratified_kfold_matches_sklearn():
    """Every fold's indices on bundled and imbalanced labels, with and without shuffling."""
    out = {}
    for name, (X, y) in _datasets().items():
        for k in (2, 3, 5):
            for shuffle, seed in ((False, None), (True, 0), (True, 7)):
                a = ours.StratifiedKFold(k, shuffle=shuffle, random_state=seed).split(X, y)
                b = skms.StratifiedKFold(k, shuffle=shuffle, random_state=seed).split(X, y)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # classes smaller than k
                    out[f"{name} k={k} shuffle={shuffle} seed={seed}"] = _splits_mismatch(a, b)
    return out


@check(topic="regularisation", concept="cross-validation",
       reference="sklearn.model_selection.LeaveOneOut", tolerance=TOL)
def split_leave_one_out_matches_sklearn():
    """All n splits for a few sizes."""
    return {f"n={n}": _splits_mismatch(ours.LeaveOneOut().split(np.zeros(n)),
                                       skms.LeaveOneOut().split(np.zeros(n)))
            for n in (2, 5, 31)}


@check(topic="regularisation", concept="model-selection",
       reference="sklearn.model_selection.StratifiedShuffleSplit", tolerance=TOL)
def split_shuffle_split_matches_sklearn():
    """Ten random splits of ShuffleSplit and StratifiedShuffleSplit, in sklearn's order."""
    out = {}
    for name, (X, y) in _datasets().items():
        for size in (0.25, 9):
            for cls in ("ShuffleSplit", "StratifiedShuffleSplit"):
                a = getattr(ours, cls)(10, test_size=size, random_state=5).split(X, y)
                b = getattr(skms, cls)(10, test_size=size, random_state=5).split(X, y)
                out[f"{cls} {name} test_size={size}"] = _splits_mismatch(a, b)
    return out


def _score_cases():
    X_d, y_d = load_diabetes(return_X_y=True)
    X_b, y_b = load_breast_cancer(return_X_y=True)
    X_i, y_i = load_iris(return_X_y=True)
    logistic = make_pipeline(skpp.StandardScaler(), LogisticRegression(max_iter=1000))
    cases = {}
    for scoring in (None, "r2", "neg_mean_squared_error", "neg_root_mean_squared_error",
                    "neg_mean_absolute_error"):
        cases[f"ridge diabetes scoring={scoring}"] = (Ridge(alpha=0.3), X_d, y_d, scoring)
    cases["logistic breast_cancer accuracy"] = (logistic, X_b, y_b, "accuracy")
    cases["tree iris default score"] = (DecisionTreeClassifier(random_state=0), X_i, y_i, None)
    return cases


def _cv_pairs():
    """(label, our cv, sklearn's cv) with the same folds on both sides."""
    return [("cv=5", 5, 5),
            ("shuffled 4-fold", ours.KFold(4, shuffle=True, random_state=2),
             skms.KFold(4, shuffle=True, random_state=2))]


@check(topic="regularisation", concept="cross-validation",
       reference="sklearn.model_selection.cross_val_score", tolerance=TOL)
@_one_blas_thread
def cv_cross_val_score_matches_sklearn():
    """Per-fold test scores for regressors and classifiers under every scoring name."""
    out = {}
    for label, (est, X, y, scoring) in _score_cases().items():
        for cv_label, cv_ours, cv_ref in _cv_pairs():
            a = ours.cross_val_score(est, X, y, cv=cv_ours, scoring=scoring)
            b = skms.cross_val_score(est, X, y, cv=cv_ref, scoring=scoring)
            out[f"{label} {cv_label}"] = _max_diff(a, b)
    return out


@check(topic="regularisation", concept="cross-validation",
       reference="sklearn.model_selection.cross_validate", tolerance=TOL)
@_one_blas_thread
def cv_cross_validate_matches_sklearn():
    """Per-fold training and test scores (return_train_score=True)."""
    out = {}
    for label, (est, X, y, scoring) in _score_cases().items():
        a = ours.cross_validate(est, X, y, cv=5, scoring=scoring, return_train_score=True)
        b = skms.cross_validate(est, X, y, cv=5, scoring=scoring, return_train_score=True)
        out[label] = max(_max_diff(a[key], b[key]) for key in ("train_score", "test_score"))
    return out


@check(topic="regularisation", concept="underfitting-overfitting",
       reference="sklearn.model_selection.learning_curve", tolerance=TOL)
@_one_blas_thread
def curve_learning_curve_matches_sklearn():
    """Sizes (mismatches counted) and score arrays, fractions and counts, shuffled or not."""
    X_d, y_d = load_diabetes(return_X_y=True)
    X_i, y_i = load_iris(return_X_y=True)
    cases = {
        "ridge diabetes fractions": (Ridge(), X_d, y_d, np.linspace(0.1, 1.0, 5), False),
        "ridge diabetes counts shuffled": (Ridge(), X_d, y_d, np.array([20, 50, 120, 300]),
                                           True),
        "tree iris fractions shuffled": (DecisionTreeClassifier(random_state=0), X_i, y_i,
                                         np.array([0.2, 0.5, 1.0]), True),
    }
    out = {}
    for label, (est, X, y, sizes, shuffle) in cases.items():
        kw = dict(train_sizes=sizes, cv=5, shuffle=shuffle, random_state=3 if shuffle else None)
        a = ours.learning_curve(est, X, y, **kw)
        b = skms.learning_curve(est, X, y, **kw)
        out[label] = max(_mismatch(a[0], b[0]), _max_diff(a[1], b[1]), _max_diff(a[2], b[2]))
    return out


@check(topic="regularisation", concept="underfitting-overfitting",
       reference="sklearn.model_selection.validation_curve", tolerance=TOL)
@_one_blas_thread
def curve_validation_curve_matches_sklearn():
    """Training and test score arrays over a parameter range, plain and in a pipeline."""
    X_d, y_d = load_diabetes(return_X_y=True)
    X_i, y_i = load_iris(return_X_y=True)
    cases = {
        "ridge alpha": (Ridge(), X_d, y_d, "alpha", np.logspace(-3, 2, 6),
                        "neg_mean_squared_error"),
        "pipeline poly degree": (make_pipeline(PolynomialFeatures(), Ridge(alpha=1e-3)),
                                 X_d[:, :2], y_d, "polynomialfeatures__degree", [1, 2, 3, 4],
                                 "r2"),
        "tree depth": (DecisionTreeClassifier(random_state=0), X_i, y_i, "max_depth",
                       [1, 2, 3, None], None),
    }
    out = {}
    for label, (est, X, y, name, values, scoring) in cases.items():
        a = ours.validation_curve(est, X, y, param_name=name, param_range=values, cv=4,
                                  scoring=scoring)
        b = skms.validation_curve(est, X, y, param_name=name, param_range=values, cv=4,
                                  scoring=scoring)
        out[label] = max(_max_diff(a[0], b[0]), _max_diff(a[1], b[1]))
    return out


@check(topic="regularisation", concept="model-selection",
       reference="sklearn.model_selection.GridSearchCV", tolerance=TOL)
@_one_blas_thread
def search_grid_search_cv_matches_sklearn():
    """cv_results_ scores and ranks, best index (mismatch counted), best score, predictions."""
    X_d, y_d = load_diabetes(return_X_y=True)
    X_i, y_i = load_iris(return_X_y=True)
    cases = {
        "ridge pipeline 2-D grid": (
            make_pipeline(skpp.StandardScaler(), Ridge()), X_d, y_d,
            {"ridge__alpha": [0.01, 0.1, 1.0, 10.0], "standardscaler__with_std": [True, False]},
            "neg_mean_squared_error"),
        "tree list of grids": (
            DecisionTreeClassifier(random_state=0), X_i, y_i,
            [{"max_depth": [1, 2, 3]}, {"min_samples_leaf": [1, 5, 20], "max_depth": [None]}],
            None),
    }
    out = {}
    for label, (est, X, y, grid, scoring) in cases.items():
        a = ours.GridSearchCV(est, grid, scoring=scoring, cv=5, return_train_score=True).fit(X, y)
        b = skms.GridSearchCV(est, grid, scoring=scoring, cv=5, return_train_score=True).fit(X, y)
        diffs = [_mismatch(a.best_index_, b.best_index_),
                 float(a.cv_results_["params"] != b.cv_results_["params"]),
                 _max_diff(a.best_score_, b.best_score_),
                 _max_diff(a.predict(X), b.predict(X))]
        for key in b.cv_results_:
            if "time" not in key and key != "params" and not key.startswith("param_"):
                diffs.append(_max_diff(a.cv_results_[key], b.cv_results_[key]))
        out[label] = max(diffs)
    return out


@check(topic="regularisation", concept="underfitting-overfitting",
       reference="sklearn.preprocessing.PolynomialFeatures", tolerance=TOL)
def poly_polynomial_features_matches_sklearn():
    """Transformed columns (and names: each differing name counts 1) over the options."""
    rng = np.random.default_rng(0)
    out = {}
    for n_features in (1, 2, 4):
        X = rng.standard_normal((25, n_features))
        for degree in (0, 1, 2, 3, 5, (2, 3)):
            for interaction_only in (False, True):
                for include_bias in (True, False):
                    kw = dict(degree=degree, interaction_only=interaction_only,
                              include_bias=include_bias)
                    if degree == 0 and not include_bias:
                        continue  # both refuse: no columns
                    if interaction_only and degree == (2, 3) and n_features == 1 and (
                            not include_bias):
                        continue  # no columns either
                    a, b = PolynomialFeatures(**kw).fit(X), skpp.PolynomialFeatures(**kw).fit(X)
                    names = _mismatch(a.get_feature_names_out(), b.get_feature_names_out())
                    label = f"d={n_features} degree={degree}" + (
                        " interaction_only" if interaction_only else "") + (
                        "" if include_bias else " no bias")
                    out[label] = max(_max_diff(a.transform(X), b.transform(X)), names)
    return out
