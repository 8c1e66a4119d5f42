"""mlnotebook.evaluation against sklearn.model_selection: same splits, same scores, same errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import model_selection as skms
from sklearn import preprocessing as skpp
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from mlnotebook import evaluation as ev
from mlnotebook.preprocessing import PolynomialFeatures


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices only; on a busy machine extra BLAS threads just spin."""
    with threadpool_limits(limits=1):
        yield


def _imbalanced(n, weights, seed):
    rng = np.random.default_rng(seed)
    y = rng.choice(len(weights), size=n, p=weights)
    y[: 2 * len(weights)] = np.repeat(np.arange(len(weights)), 2)
    return rng.permutation(y)


DATASETS = {
    "iris": load_iris(return_X_y=True),
    "wine": load_wine(return_X_y=True),
    "imbalanced_41": (np.zeros((41, 2)), _imbalanced(41, [0.75, 0.2, 0.05], seed=1)),
    "words_23": (np.zeros((23, 1)), np.array(["spam", "ham"])[_imbalanced(23, [0.6, 0.4], 2)]),
}


def assert_same_splits(ours, theirs):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


# ----------------------------------------------------------------------------------------
# Splitters: identical indices to scikit-learn's

SPLITTERS = [
    ("KFold", dict(n_splits=2)),
    ("KFold", dict(n_splits=5)),
    ("KFold", dict(n_splits=5, shuffle=True, random_state=0)),
    ("KFold", dict(n_splits=7, shuffle=True, random_state=123)),
    ("StratifiedKFold", dict(n_splits=2)),
    ("StratifiedKFold", dict(n_splits=3)),
    ("StratifiedKFold", dict(n_splits=5, shuffle=True, random_state=0)),
    ("StratifiedKFold", dict(n_splits=4, shuffle=True, random_state=99)),
    ("ShuffleSplit", dict(n_splits=6, test_size=0.3, random_state=4)),
    ("ShuffleSplit", dict(n_splits=3, test_size=5, train_size=10, random_state=8)),
    ("StratifiedShuffleSplit", dict(n_splits=6, test_size=0.3, random_state=4)),
    ("StratifiedShuffleSplit", dict(n_splits=4, test_size=6, train_size=0.5, random_state=2)),
    ("LeaveOneOut", dict()),
]


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize(("name", "kwargs"), SPLITTERS,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                              for n, kw in SPLITTERS])
def test_splitter_gives_sklearns_indices(name, kwargs, dataset):
    X, y = DATASETS[dataset]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class smaller than n_splits
        ours = list(getattr(ev, name)(**kwargs).split(X, y))
        theirs = list(getattr(skms, name)(**kwargs).split(X, y))
    assert_same_splits(ours, theirs)
    assert getattr(ev, name)(**kwargs).get_n_splits(X, y) == len(theirs)


def test_kfold_by_hand():
    folds = [test.tolist() for _, test in ev.KFold(3).split(np.zeros(7))]
    assert folds == [[0, 1, 2], [3, 4], [5, 6]]
    train, test = next(ev.KFold(3).split(np.zeros(7)))
    assert train.tolist() == [3, 4, 5, 6]


@pytest.mark.parametrize("n", [5, 12, 97])
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", [None, 0, 5])
def test_kfold_folds_are_a_disjoint_cover_with_sizes_within_one(n, k, seed):
    cv = ev.KFold(k, shuffle=seed is not None, random_state=seed)
    tests = [test for _, test in cv.split(np.zeros(n))]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(n))
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for train, test in cv.split(np.zeros(n)):
        assert np.intersect1d(train, test).size == 0 and len(train) + len(test) == n
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)


@pytest.mark.parametrize("dataset", ["iris", "imbalanced_41"])
@pytest.mark.parametrize("seed", [None, 3])
def test_stratified_folds_keep_class_counts_within_one(dataset, seed):
    X, y = DATASETS[dataset]
    cv = ev.StratifiedKFold(4, shuffle=seed is not None, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tests = [test for _, test in cv.split(X, y)]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(y)))
    counts = np.array([[np.sum(y[t] == c) for c in np.unique(y)] for t in tests])
    assert np.all(counts.max(axis=0) - counts.min(axis=0) <= 1)


def test_shuffle_with_an_int_seed_repeats_and_with_a_generator_moves_on():
    X = np.zeros(20)
    cv = ev.KFold(4, shuffle=True, random_state=1)
    assert_same_splits(cv.split(X), cv.split(X))
    rs = np.random.RandomState(1)
    cv_rs, cv_ref = ev.KFold(4, shuffle=True, random_state=rs), skms.KFold(
        4, shuffle=True, random_state=np.random.RandomState(1))
    first, second = list(cv_rs.split(X)), list(cv_rs.split(X))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, second, strict=True))
    assert_same_splits(first + second, list(cv_ref.split(X)) + list(cv_ref.split(X)))


def test_our_splitters_drive_sklearns_own_functions():
    X, y = load_diabetes(return_X_y=True)
    a = skms.cross_val_score(Ridge(), X, y, cv=ev.KFold(5, shuffle=True, random_state=3))
    b = skms.cross_val_score(Ridge(), X, y, cv=skms.KFold(5, shuffle=True, random_state=3))
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------------
# train_test_split

SPLIT_OPTIONS = [dict(), dict(test_size=0.3), dict(test_size=11), dict(train_size=0.6),
                 dict(test_size=0.2, train_size=0.5), dict(test_size=5, train_size=15),
                 dict(shuffle=False), dict(shuffle=False, test_size=0.1)]


# stratifying needs shuffling (refusing it is tested among the errors)
SPLIT_CASES = [(kw, strat) for kw in SPLIT_OPTIONS for strat in (False, True)
               if not (strat and kw.get("shuffle") is False)]


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize(("kwargs", "stratify"), SPLIT_CASES, ids=str)
@pytest.mark.parametrize("seed", [0, 17])
def test_train_test_split_gives_sklearns_rows(dataset, kwargs, stratify, seed):
    X, y = DATASETS[dataset]
    extra = dict(kwargs, **({"random_state": seed} if kwargs.get("shuffle", True) else {}))
    if stratify:
        extra["stratify"] = y
    ours = ev.train_test_split(X, y, np.arange(len(y)), **extra)
    theirs = skms.train_test_split(X, y, np.arange(len(y)), **extra)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("kwargs", "n_train", "n_test"), [
    (dict(), 7, 3),                            # default test_size 0.25 rounds up
    (dict(test_size=0.25), 7, 3),
    (dict(train_size=0.75), 7, 3),             # a train fraction rounds down
    (dict(test_size=0.21, train_size=0.31), 3, 3),
    (dict(test_size=2), 8, 2),
    (dict(test_size=2, train_size=5), 5, 2),
])
def test_split_sizes_by_hand(kwargs, n_train, n_test):
    train, test = ev.train_test_split(np.arange(10), random_state=0, **kwargs)
    assert (len(train), len(test)) == (n_train, n_test)
    assert np.intersect1d(train, test).size == 0


def test_train_test_split_keeps_the_kind_of_its_inputs():
    rows = [{"a": 1}, "two", 3.0, (4,), None, 6]
    frame = pd.DataFrame({"v": np.arange(6) * 10}, index=list("abcdef"))
    l_tr, l_te, f_tr, f_te, a_tr, _ = ev.train_test_split(rows, frame, np.arange(6),
                                                          test_size=2, random_state=1)
    assert isinstance(l_tr, list) and len(l_te) == 2
    assert [rows.index(r) for r in l_tr] == a_tr.tolist()
    assert isinstance(f_tr, pd.DataFrame) and (f_tr["v"] // 10).tolist() == a_tr.tolist()
    theirs = skms.train_test_split(rows, frame, test_size=2, random_state=1)
    assert l_tr == theirs[0] and f_te.equals(theirs[3])


# ----------------------------------------------------------------------------------------
# Scores: cross_val_score, cross_validate, learning_curve, validation_curve


def _logistic():
    return make_pipeline(skpp.StandardScaler(), LogisticRegression(max_iter=1000))


X_DIAB, Y_DIAB = load_diabetes(return_X_y=True)
X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_BC, Y_BC = load_breast_cancer(return_X_y=True)

SCORE_CASES = [
    ("ridge", lambda: Ridge(alpha=0.5), X_DIAB, Y_DIAB, None),
    ("ridge-r2", lambda: Ridge(alpha=0.5), X_DIAB, Y_DIAB, "r2"),
    ("ridge-mse", lambda: Ridge(alpha=0.5), X_DIAB, Y_DIAB, "neg_mean_squared_error"),
    ("ridge-rmse", lambda: Ridge(alpha=0.5), X_DIAB, Y_DIAB, "neg_root_mean_squared_error"),
    ("ridge-mae", lambda: Ridge(alpha=0.5), X_DIAB, Y_DIAB, "neg_mean_absolute_error"),
    ("ridge-2-outputs-r2", lambda: Ridge(), X_DIAB, np.c_[Y_DIAB, X_DIAB[:, 0] * 100], "r2"),
    ("ridge-2-outputs-mse", lambda: Ridge(), X_DIAB, np.c_[Y_DIAB, X_DIAB[:, 0] * 100],
     "neg_mean_squared_error"),
    ("tree-iris", lambda: DecisionTreeClassifier(random_state=0), X_IRIS, Y_IRIS, None),
    ("logistic-cancer-acc", _logistic, X_BC, Y_BC, "accuracy"),
]
CVS = [("int-5", lambda: 5, lambda: 5), ("default", lambda: None, lambda: None),
       ("shuffled-3", lambda: ev.KFold(3, shuffle=True, random_state=6),
        lambda: skms.KFold(3, shuffle=True, random_state=6))]


@pytest.mark.parametrize(("name", "make", "X", "y", "scoring"), SCORE_CASES,
                         ids=[c[0] for c in SCORE_CASES])
@pytest.mark.parametrize(("cv_name", "ours_cv", "sk_cv"), CVS, ids=[c[0] for c in CVS])
def test_cross_val_score_equals_sklearn(name, make, X, y, scoring, cv_name, ours_cv, sk_cv):
    a = ev.cross_val_score(make(), X, y, cv=ours_cv(), scoring=scoring)
    b = skms.cross_val_score(make(), X, y, cv=sk_cv(), scoring=scoring)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("name", "make", "X", "y", "scoring"), SCORE_CASES[::2],
                         ids=[c[0] for c in SCORE_CASES[::2]])
def test_cross_validate_train_and_test_scores_equal_sklearn(name, make, X, y, scoring):
    a = ev.cross_validate(make(), X, y, cv=4, scoring=scoring, return_train_score=True,
                          return_estimator=True)
    b = skms.cross_validate(make(), X, y, cv=4, scoring=scoring, return_train_score=True)
    for key in ("train_score", "test_score"):
        np.testing.assert_array_equal(a[key], b[key])
    assert len(a["estimator"]) == 4 and all(t >= 0 for t in a["fit_time"])


def test_the_original_estimator_is_never_fitted():
    est = Ridge()
    ev.cross_val_score(est, X_DIAB, Y_DIAB, cv=3)
    with pytest.raises(NotFittedError):
        est.predict(X_DIAB)


def test_a_callable_scorer_and_a_fixed_list_of_splits():
    def neg_max_error(est, X, y):
        return -np.max(np.abs(est.predict(X) - y))

    splits = [(np.arange(0, 300), np.arange(300, 442)), (np.arange(142, 442), np.arange(142))]
    a = ev.cross_val_score(Ridge(), X_DIAB, Y_DIAB, cv=splits, scoring=neg_max_error)
    b = skms.cross_val_score(Ridge(), X_DIAB, Y_DIAB, cv=splits, scoring="neg_max_error")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("y_true", "y_pred", "expected"), [
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1.0),
    ([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], 0.0),    # predicting the mean
    ([2.0, 2.0, 2.0], [2.0, 2.0, 2.0], 1.0),    # constant target, exact: 1 by convention
    ([2.0, 2.0, 2.0], [1.0, 2.0, 2.0], 0.0),    # constant target, inexact: 0 by convention
    ([0.0, 2.0], [2.0, 0.0], -3.0),             # 1 - 8 / 2
])
def test_r2_by_hand(y_true, y_pred, expected):
    class Fixed:
        def predict(self, X):
            return np.asarray(y_pred)

    assert ev.check_scoring(None, "r2")(Fixed(), None, np.asarray(y_true)) == expected
    assert r2_score(y_true, y_pred) == expected


def test_error_scores_are_negated_so_greater_is_better():
    class Fixed:
        def predict(self, X):
            return np.array([1.0, 1.0, 4.0])

    y = np.array([1.0, 3.0, 1.0])  # errors 0, -2, 3
    assert ev.check_scoring(None, "neg_mean_squared_error")(Fixed(), None, y) == -13 / 3
    assert ev.check_scoring(None, "neg_mean_absolute_error")(Fixed(), None, y) == -5 / 3
    assert ev.check_scoring(None, "neg_root_mean_squared_error")(Fixed(), None, y) == (
        -np.sqrt(13 / 3))
    assert ev.check_scoring(None, "accuracy")(Fixed(), None, y) == 1 / 3


LEARNING_CASES = [
    ("ridge-fractions", Ridge(), X_DIAB, Y_DIAB, dict(train_sizes=np.linspace(0.1, 1, 5))),
    ("ridge-counts-shuffled", Ridge(), X_DIAB, Y_DIAB,
     dict(train_sizes=[15, 40, 100, 353], shuffle=True, random_state=0)),
    ("ridge-default-sizes-mse", Ridge(), X_DIAB, Y_DIAB,
     dict(scoring="neg_mean_squared_error", cv=ev.KFold(4, shuffle=True, random_state=1))),
    ("tree-iris-shuffled", DecisionTreeClassifier(random_state=1), X_IRIS, Y_IRIS,
     dict(train_sizes=[0.3, 0.6, 1.0], shuffle=True, random_state=5, cv=3)),
]


@pytest.mark.parametrize(("name", "est", "X", "y", "kwargs"), LEARNING_CASES,
                         ids=[c[0] for c in LEARNING_CASES])
def test_learning_curve_equals_sklearn(name, est, X, y, kwargs):
    sk_kwargs = dict(kwargs)
    if isinstance(kwargs.get("cv"), ev.KFold):
        sk_kwargs["cv"] = skms.KFold(4, shuffle=True, random_state=1)
    ours = ev.learning_curve(est, X, y, **kwargs)
    theirs = skms.learning_curve(est, X, y, **sk_kwargs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    n_folds = 5 if "cv" not in kwargs else ours[1].shape[1]
    assert ours[1].shape == ours[2].shape == (len(ours[0]), n_folds)


VALIDATION_CASES = [
    ("ridge-alpha", Ridge(), X_DIAB, Y_DIAB, "alpha", np.logspace(-4, 3, 8), None),
    ("poly-degree-in-pipeline", make_pipeline(PolynomialFeatures(), Ridge(alpha=1e-2)),
     X_DIAB[:, [2, 8]], Y_DIAB, "polynomialfeatures__degree", [1, 2, 3, 5],
     "neg_mean_squared_error"),
    ("logistic-C", _logistic(), X_BC, Y_BC, "logisticregression__C", [0.01, 1.0, 100.0],
     "accuracy"),
]


@pytest.mark.parametrize(("name", "est", "X", "y", "param", "values", "scoring"),
                         VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_validation_curve_equals_sklearn(name, est, X, y, param, values, scoring):
    ours = ev.validation_curve(est, X, y, param_name=param, param_range=values, cv=4,
                               scoring=scoring)
    theirs = skms.validation_curve(est, X, y, param_name=param, param_range=values, cv=4,
                                   scoring=scoring)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours[0].shape == (len(values), 4)


# ----------------------------------------------------------------------------------------
# GridSearchCV

SEARCH_CASES = [
    ("ridge-pipeline", make_pipeline(skpp.StandardScaler(), Ridge()), X_DIAB, Y_DIAB,
     {"ridge__alpha": [0.01, 0.3, 3.0, 30.0], "standardscaler__with_mean": [True, False]},
     "neg_mean_squared_error", 5),
    ("tree-list-of-grids-with-ties", DecisionTreeClassifier(random_state=0), X_IRIS, Y_IRIS,
     [{"max_depth": [1, 2, 3, 4]}, {"min_samples_leaf": [1, 10, 40], "max_depth": [None]}],
     None, 3),
    ("logistic-shuffled-cv", _logistic(), X_BC, Y_BC, {"logisticregression__C": [0.01, 0.1, 1]},
     "accuracy", "shuffled"),
]


@pytest.mark.parametrize(("name", "est", "X", "y", "grid", "scoring", "cv"), SEARCH_CASES,
                         ids=[c[0] for c in SEARCH_CASES])
def test_grid_search_equals_sklearn(name, est, X, y, grid, scoring, cv):
    ours_cv, sk_cv = cv, cv
    if cv == "shuffled":
        ours_cv = ev.KFold(4, shuffle=True, random_state=2)
        sk_cv = skms.KFold(4, shuffle=True, random_state=2)
    a = ev.GridSearchCV(est, grid, scoring=scoring, cv=ours_cv, return_train_score=True)
    b = skms.GridSearchCV(est, grid, scoring=scoring, cv=sk_cv, return_train_score=True)
    a.fit(X, y)
    b.fit(X, y)
    assert a.cv_results_["params"] == b.cv_results_["params"]
    for key, value in b.cv_results_.items():
        if "time" in key or key == "params":
            continue
        if key.startswith("param_"):
            assert a.cv_results_[key].tolist() == value.tolist(), key
            np.testing.assert_array_equal(np.ma.getmaskarray(a.cv_results_[key]),
                                          np.ma.getmaskarray(value))
        else:
            np.testing.assert_array_equal(a.cv_results_[key], value, err_msg=key)
    assert (a.best_index_, a.best_params_, a.best_score_, a.n_splits_) == (
        b.best_index_, b.best_params_, b.best_score_, b.n_splits_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.score(X, y) == b.score(X, y)


def test_grid_search_ranks_ties_together_and_picks_the_first_best():
    grid = {"max_depth": [1, 2, 3, 4, 5, 6, 7, 8]}
    search = ev.GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=3).fit(
        X_IRIS, Y_IRIS)
    mean, rank = search.cv_results_["mean_test_score"], search.cv_results_["rank_test_score"]
    for i in range(len(mean)):
        assert rank[i] == 1 + np.sum(mean > mean[i])
    assert search.best_index_ == np.flatnonzero(mean == mean.max())[0]
    assert len(set(rank.tolist())) < len(rank)  # deep trees tie on iris


def test_grid_search_order_and_std_by_hand():
    assert list(ev.ParameterGrid({"b": [1, 2], "a": ["x", "y"]})) == [
        {"a": "x", "b": 1}, {"a": "x", "b": 2}, {"a": "y", "b": 1}, {"a": "y", "b": 2}]
    assert len(ev.ParameterGrid([{"a": [1, 2, 3]}, {"b": [1, 2], "c": [0, 1]}])) == 7
    search = ev.GridSearchCV(Ridge(), {"alpha": [1.0]}, cv=3).fit(X_DIAB, Y_DIAB)
    folds = [search.cv_results_[f"split{k}_test_score"][0] for k in range(3)]
    assert search.cv_results_["std_test_score"][0] == pytest.approx(np.std(folds, ddof=0),
                                                                    rel=1e-14)


def test_grid_search_takes_the_kind_of_its_estimator():
    from sklearn.base import is_classifier, is_regressor

    assert is_classifier(ev.GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1]}))
    assert is_regressor(ev.GridSearchCV(Ridge(), {"alpha": [1.0]}))
    # so sklearn's cross_val_score stratifies an int cv around our search, as around its own
    inner = {"max_depth": [1, 2]}
    a = skms.cross_val_score(ev.GridSearchCV(DecisionTreeClassifier(random_state=0), inner,
                                             cv=3), X_IRIS, Y_IRIS, cv=4)
    b = skms.cross_val_score(skms.GridSearchCV(DecisionTreeClassifier(random_state=0), inner,
                                               cv=3), X_IRIS, Y_IRIS, cv=4)
    np.testing.assert_array_equal(a, b)


def test_grid_search_is_a_clonable_estimator_with_refit_false():
    search = ev.GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, refit=False)
    copy = clone(search)
    assert copy.get_params()["param_grid"] == {"alpha": [0.1, 1.0]}
    with pytest.raises(NotFittedError):
        copy.predict(X_DIAB)
    copy.fit(X_DIAB, Y_DIAB)
    assert not hasattr(copy, "best_estimator_") and copy.best_params_ in (
        {"alpha": 0.1}, {"alpha": 1.0})
    with pytest.raises(NotFittedError, match="refit=False"):
        copy.predict(X_DIAB)


# ----------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: ev.KFold(1), ValueError, "n_splits must be at least 2"),
    (lambda: ev.StratifiedKFold(0), ValueError, "n_splits must be at least 2"),
    (lambda: ev.KFold(2.5), TypeError, "n_splits must be an integer"),
    (lambda: ev.KFold(3, shuffle=1), TypeError, "shuffle must be True or False"),
    (lambda: ev.KFold(3, random_state=0), ValueError, "random_state has no effect"),
    (lambda: list(ev.KFold(6).split(np.zeros(5))), ValueError,
     "n_splits=6 is greater than the number of samples n_samples=5"),
    (lambda: list(ev.StratifiedKFold(3).split(np.zeros(4), [0, 0, 1, 1])), ValueError,
     "greater than the number of members of every class"),
    (lambda: list(ev.StratifiedKFold(2).split(np.zeros(4), [0.1, 0.2, 0.3, 0.4])), ValueError,
     "binary or multiclass"),
    (lambda: list(ev.StratifiedKFold(2).split(np.zeros(4))), ValueError, "needs the class"),
    (lambda: list(ev.LeaveOneOut().split(np.zeros(1))), ValueError, "at least 2 samples"),
    (lambda: ev.LeaveOneOut().get_n_splits(), ValueError, "needs X"),
    (lambda: ev.ShuffleSplit(0), ValueError, "n_splits must be at least 1"),
])
def test_splitter_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(test_size=1.5), ValueError, r"test_size=1.5 must be a fraction in \(0, 1\)"),
    (dict(test_size=0.0), ValueError, "test_size=0.0 must be a fraction"),
    (dict(test_size=-2), ValueError, r"test_size=-2 must be a count in \[1, 9\]"),
    (dict(test_size=10), ValueError, "test_size=10 must be a count"),
    (dict(train_size=1.0), ValueError, "train_size=1.0 must be a fraction"),
    (dict(test_size="half"), TypeError, "test_size must be a float, an int or None"),
    (dict(test_size=0.6, train_size=0.6), ValueError, "must not exceed 1"),
    (dict(test_size=6, train_size=6), ValueError, "ask for 6 \\+ 6 samples"),
    (dict(test_size=0.95), ValueError, "training set would be empty"),
    (dict(shuffle=False, stratify=np.zeros(10)), ValueError, "stratify needs shuffle=True"),
    (dict(stratify=np.arange(10)), ValueError, "at least 2 members"),
])
def test_train_test_split_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ev.train_test_split(np.arange(10), **kwargs)


def test_split_needs_arrays_of_one_length():
    with pytest.raises(ValueError, match="at least one array"):
        ev.train_test_split()
    with pytest.raises(ValueError, match=r"same number of samples, got \[10, 9\]"):
        ev.train_test_split(np.arange(10), np.arange(9))


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: ev.cross_val_score(Ridge(), X_DIAB, Y_DIAB, scoring="mse"), ValueError,
     "scoring='mse' is not known"),
    (lambda: ev.cross_val_score(Ridge(), X_DIAB, Y_DIAB, scoring=3), TypeError,
     "scoring must be None, a string or a callable"),
    (lambda: ev.cross_val_score(Ridge(), X_DIAB, Y_DIAB[:-1]), ValueError,
     "X has 442 samples but y has 441"),
    (lambda: ev.cross_val_score(Ridge(), X_DIAB, Y_DIAB, cv="five"), ValueError,
     "cv must be None, an int"),
    (lambda: ev.cross_val_score(Ridge(), X_DIAB, Y_DIAB, cv=1), ValueError,
     "n_splits must be at least 2"),
    (lambda: ev.validation_curve(Ridge(), X_DIAB, Y_DIAB, param_name="lambda",
                                 param_range=[1.0]), ValueError,
     "param_name: 'lambda' is not a parameter of Ridge"),
    (lambda: ev.validation_curve(Ridge(), X_DIAB, Y_DIAB, param_name="alpha",
                                 param_range=[]), ValueError, "param_range is empty"),
    (lambda: ev.learning_curve(Ridge(), X_DIAB, Y_DIAB, train_sizes=[0.0, 0.5]), ValueError,
     r"fractions must lie in \(0, 1\]"),
    (lambda: ev.learning_curve(Ridge(), X_DIAB, Y_DIAB, train_sizes=[10, 400]), ValueError,
     r"counts must lie in \[1, 353\]"),
    (lambda: ev.GridSearchCV(Ridge(), {"lambda": [1.0]}).fit(X_DIAB, Y_DIAB), ValueError,
     "param_grid: 'lambda' is not a parameter of Ridge"),
    (lambda: ev.GridSearchCV(Ridge(), {"alpha": []}).fit(X_DIAB, Y_DIAB), ValueError,
     r"param_grid\['alpha'\] is empty"),
    (lambda: ev.GridSearchCV(Ridge(), {"alpha": 1.0}).fit(X_DIAB, Y_DIAB), TypeError,
     r"param_grid\['alpha'\] must be a sequence"),
    (lambda: ev.GridSearchCV(Ridge(), "alpha").fit(X_DIAB, Y_DIAB), TypeError,
     "param_grid must be a dict or a list of dicts"),
    (lambda: ev.GridSearchCV(Ridge(), {"alpha": [1.0]}).predict(X_DIAB), NotFittedError,
     "not fitted"),
])
def test_validation_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_duplicate_train_sizes_warn_and_are_dropped():
    with pytest.warns(RuntimeWarning, match="duplicate"):
        sizes, _, _ = ev.learning_curve(Ridge(), X_DIAB, Y_DIAB, train_sizes=[0.5, 0.5, 1.0])
    assert sizes.tolist() == [176, 353]


# ----------------------------------------------------------------------------------------
# The verify rows (`mlnb verify regularisation`) for these tools


def _our_checks():
    from mlnotebook.verify import all_checks

    prefixes = ("split_", "cv_", "curve_", "search_", "poly_")
    return [c for c in all_checks("regularisation")
            if c.name.split(".", 1)[1].startswith(prefixes)]


@pytest.mark.parametrize("chk", _our_checks(), ids=lambda c: c.name)
def test_verify_rows_pass(chk):
    from mlnotebook.verify._base import run_check

    rows = run_check(chk)
    assert rows and all(r.error is None for r in rows)
    assert [r.case for r in rows if not r.passed] == []
