"""Ridge and Lasso against scikit-learn, closed-form answers, and bad input."""

import itertools
import warnings

import numpy as np
import pytest
import sklearn.linear_model as sk
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from mlnotebook.linear_model import (
    Lasso,
    Ridge,
    duality_gap,
    lasso_path,
    ridge_solve,
    soft_threshold,
)


def _problem(n, p, targets=1, seed=0):
    """Offset, unequally scaled features, a sparse truth, noise; plus positive weights."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 2, p) + rng.uniform(-1, 1, p)
    W = np.zeros((p, targets))
    support = rng.choice(p, max(1, p // 5), replace=False)
    W[support] = rng.standard_normal((support.size, targets))
    Y = X @ W + 0.5 * rng.standard_normal((n, targets)) + 1.0
    return X, (Y[:, 0] if targets == 1 else Y), rng.uniform(0.2, 3.0, n)


# ----------------------------------------------------------------------------- Ridge

RIDGE_CASES = list(itertools.product(
    [(100, 10), (30, 30), (20, 80)],          # tall (primal), square, wide (dual)
    [1e-3, 1.0, 50.0],
    [True, False],
    [1, 3],
    [False, True]))


@pytest.mark.parametrize(("shape", "alpha", "fit_intercept", "targets", "weighted"),
                         RIDGE_CASES)
def test_ridge_matches_sklearn(shape, alpha, fit_intercept, targets, weighted):
    X, y, sw = _problem(*shape, targets)
    sw = sw if weighted else None
    ours = Ridge(alpha, fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    ref = sk.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    assert ours.coef_.shape == ref.coef_.shape
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("shape", "solver"), [((50, 10), "cholesky"),
                                               ((10, 10), "cholesky"),
                                               ((10, 50), "cholesky_dual")])
def test_ridge_picks_the_smaller_system(shape, solver):
    X, y, _ = _problem(*shape)
    assert Ridge(1.0).fit(X, y).solver_ == solver
    assert Ridge(0.0).fit(X, y).solver_ == "lstsq"


def test_ridge_shapes_for_one_column_y_follow_sklearn():
    X, y, _ = _problem(40, 5)
    ours, ref = Ridge().fit(X, y[:, None]), sk.Ridge().fit(X, y[:, None])
    assert ours.coef_.shape == ref.coef_.shape == (5,)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_) == (1,)
    assert Ridge(fit_intercept=False).fit(X, y).intercept_ == 0.0


def test_ridge_hand_computed():
    X, y = np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0])
    model = Ridge(alpha=2.0).fit(X, y)   # centred: w = sum xc yc / (sum xc^2 + alpha) = 4 / 4
    assert model.coef_ == pytest.approx([1.0]) and model.intercept_ == pytest.approx(2.0)


def test_ridge_alpha_zero_is_least_squares_and_min_norm_when_wide():
    X, y, _ = _problem(60, 8)
    ref = sk.LinearRegression().fit(X, y)
    np.testing.assert_allclose(Ridge(0.0).fit(X, y).coef_, ref.coef_, rtol=1e-9)
    Xw, yw, _ = _problem(8, 30)
    coef, _ = ridge_solve(Xw, yw[:, None], 0.0)
    np.testing.assert_allclose(coef[0], np.linalg.pinv(Xw) @ yw, rtol=1e-9, atol=1e-12)


def test_ridge_is_the_half_mse_plus_half_lambda_minimiser_with_alpha_n_lambda():
    # The scaling the weight-decay experiment relies on: alpha = n * lambda.
    X, y, _ = _problem(30, 50)
    lam, n = 0.3, len(y)
    model = Ridge(alpha=n * lam).fit(X, y)
    residual = X @ model.coef_ + model.intercept_ - y
    grad_w = X.T @ residual / n + lam * model.coef_
    assert np.abs(grad_w).max() < 1e-10 and abs(residual.mean()) < 1e-10


@pytest.mark.parametrize(("cls", "kwargs", "tol"),
                         [(Ridge, {}, 1e-10),
                          (Lasso, {"tol": 1e-12, "max_iter": 10_000}, 1e-8)])
def test_integer_sample_weights_equal_repeated_rows(cls, kwargs, tol):
    # Ridge's weights multiply the squared errors; the lasso rescales them to sum to n, and
    # its 1 / (2n) then makes the objective the weighted mean, again that of repeated rows.
    X, y, _ = _problem(30, 4)
    counts = np.arange(30) % 3 + 1
    weighted = cls(0.05, **kwargs).fit(X, y, sample_weight=counts)
    repeated = cls(0.05, **kwargs).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=tol, atol=tol)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, rel=tol, abs=tol)


# ----------------------------------------------------------------------------- Lasso

def _alpha(X, y, fraction, fit_intercept=True):
    Xc = X - X.mean(axis=0) if fit_intercept else X
    yc = y - y.mean() if fit_intercept else y
    return fraction * np.abs(Xc.T @ yc).max() / len(y)


LASSO_CASES = list(itertools.product(
    [(100, 10), (40, 30), (25, 80)],
    [0.5, 0.1, 0.02],
    [True, False],
    [False, True],
    [False, True]))


@pytest.mark.parametrize(("shape", "fraction", "fit_intercept", "positive", "weighted"),
                         LASSO_CASES)
def test_lasso_matches_sklearn_at_tight_tolerance(shape, fraction, fit_intercept, positive,
                                                  weighted):
    X, y, sw = _problem(*shape)
    sw = sw if weighted else None
    alpha = _alpha(X, y, fraction, fit_intercept)
    kwargs = dict(fit_intercept=fit_intercept, positive=positive, tol=1e-12, max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = Lasso(alpha, **kwargs).fit(X, y, sample_weight=sw)
        ref = sk.Lasso(alpha=alpha, **kwargs).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-8)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-8)
    np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)
    y_seen = y - np.average(y, weights=sw) if fit_intercept else y
    scale = np.sum((sw if weighted else 1) * y_seen**2) / (np.mean(sw) if weighted else 1)
    bound = 1e-12 * scale / len(y)                  # the certificate it stopped on
    assert -bound <= ours.dual_gap_ <= bound        # (rounding can make it a hair negative)
    if positive:
        assert np.all(ours.coef_ >= 0)


@pytest.mark.parametrize("y_shape", ["1d", "one column", "three columns"])
def test_lasso_attribute_shapes_follow_sklearn(y_shape):
    X, Y, _ = _problem(50, 6, targets=3)
    y = {"1d": Y[:, 0], "one column": Y[:, :1], "three columns": Y}[y_shape]
    ours, ref = Lasso(0.05).fit(X, y), sk.Lasso(alpha=0.05).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    assert np.shape(ours.dual_gap_) == np.shape(ref.dual_gap_)
    assert type(ours.n_iter_) is type(ref.n_iter_)
    assert ours.predict(X).shape == ref.predict(X).shape


def test_lasso_above_alpha_max_is_all_zero_and_below_it_is_not():
    X, y, _ = _problem(60, 12)
    alpha_max = _alpha(X, y, 1.0)
    assert np.all(Lasso(alpha_max * 1.0001).fit(X, y).coef_ == 0)
    # Just below, w = 0 is no longer optimal; at the default tol its duality gap,
    # (0.01)^2 / 2 ||y||^2, would still pass as converged (as in scikit-learn), so tighten it.
    assert np.any(Lasso(alpha_max * 0.99, tol=1e-8).fit(X, y).coef_ != 0)
    assert Lasso(alpha_max * 1.0001).fit(X, y).intercept_ == pytest.approx(y.mean())


def test_lasso_hand_computed_orthogonal_design():
    # Orthogonal columns of squared norm 2: w_j = S(X_j . y, n alpha) / 2.
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    y = np.array([2.0, -2.0, 0.2, -0.2])
    assert Lasso(alpha=0.1, fit_intercept=False).fit(X, y).coef_.tolist() == [1.8, 0.0]


def test_soft_threshold_and_a_zero_duality_gap_at_the_closed_form():
    assert soft_threshold(np.array([-3.0, -0.5, 0.0, 0.5, 3.0]), 1.0).tolist() == \
        [-2.0, 0.0, 0.0, 0.0, 2.0]
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((40, 6)))[0]
    y = Q @ np.array([3.0, -2.0, 0.5, 0.1, 0.0, -1.0]) + 0.1 * rng.standard_normal(40)
    w = soft_threshold(Q.T @ y, 0.7)                  # exact minimiser for a = 0.7
    gap, _ = duality_gap(Q, y, w, y - Q @ w, 0.7)
    assert abs(gap) < 1e-12
    worse, _ = duality_gap(Q, y, w * 0.9, y - Q @ (w * 0.9), 0.7)
    assert worse > 1e-4


def test_warm_start_continues_from_the_previous_solution():
    X, y, _ = _problem(80, 20)
    alpha = _alpha(X, y, 0.05)
    model = Lasso(alpha, tol=1e-10, max_iter=10_000, warm_start=True).fit(X, y)
    first_iters, coef = model.n_iter_, model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_ < first_iters
    np.testing.assert_allclose(model.coef_, coef, atol=1e-8)


def test_lasso_warns_when_it_runs_out_of_sweeps():
    X, y, _ = _problem(40, 30)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=2"):
        model = Lasso(_alpha(X, y, 0.01), tol=1e-12, max_iter=2).fit(X, y)
    assert model.n_iter_ == 2


def test_lasso_path_matches_sklearn():
    X, y, _ = _problem(60, 15)
    X, y = X - X.mean(axis=0), y - y.mean()
    alphas, coefs, gaps = lasso_path(X, y, alphas=25, eps=1e-2, tol=1e-12, max_iter=100_000)
    ref_alphas, ref_coefs, _ = sk.lasso_path(X, y, alphas=25, eps=1e-2, tol=1e-12,
                                             max_iter=100_000)
    np.testing.assert_allclose(alphas, ref_alphas, rtol=1e-12)
    np.testing.assert_allclose(coefs, ref_coefs, atol=1e-8)
    assert np.all(coefs[:, 0] == 0) and gaps.shape == (25,)
    given, _, _ = lasso_path(X, y, alphas=[0.1, 1.0, 0.5])
    assert given.tolist() == [1.0, 0.5, 0.1]


@pytest.mark.parametrize("estimator", [Ridge(), Lasso(alpha=0.1)], ids=["Ridge", "Lasso"])
def test_sklearn_estimator_contract(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(estimator)


# ----------------------------------------------------------------------------- bad input

X_OK, Y_OK, _ = _problem(10, 3)


@pytest.mark.parametrize("cls", [Ridge, Lasso])
@pytest.mark.parametrize(
    ("kwargs", "X", "y", "fit_kwargs", "error", "match"),
    [({"alpha": -1.0}, X_OK, Y_OK, {}, ValueError, "alpha must be a finite number"),
     ({"alpha": float("nan")}, X_OK, Y_OK, {}, ValueError, "alpha must be a finite number"),
     ({"alpha": "1"}, X_OK, Y_OK, {}, TypeError, "alpha must be a real number"),
     ({"fit_intercept": "yes"}, X_OK, Y_OK, {}, TypeError, "fit_intercept must be a bool"),
     ({}, np.where(np.eye(10, 3) > 0, np.nan, X_OK), Y_OK, {}, ValueError,
      "Input X contains NaN"),
     ({}, X_OK, np.r_[Y_OK[:-1], np.inf], {}, ValueError, "Input y contains infinity"),
     ({}, X_OK, Y_OK[:9], {}, ValueError, "inconsistent numbers of samples"),
     ({}, X_OK, Y_OK, {"sample_weight": np.ones(9)}, ValueError,
      r"sample_weight must have shape \(10,\)"),
     ({}, X_OK, Y_OK, {"sample_weight": -np.ones(10)}, ValueError,
      "sample_weight must be finite and >= 0"),
     ({}, X_OK, Y_OK, {"sample_weight": np.zeros(10)}, ValueError,
      "sample_weight must not be all zero")])
def test_bad_input(cls, kwargs, X, y, fit_kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs).fit(X, y, **fit_kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [({"alpha": 0.0}, ValueError, "alpha must be a finite number > 0"),
     ({"max_iter": 0}, ValueError, "max_iter must be >= 1"),
     ({"max_iter": 2.5}, TypeError, "max_iter must be an int"),
     ({"tol": -1e-4}, ValueError, "tol must be >= 0"),
     ({"positive": 1}, TypeError, "positive must be a bool"),
     ({"warm_start": None}, TypeError, "warm_start must be a bool")])
def test_lasso_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        Lasso(**kwargs).fit(X_OK, Y_OK)


@pytest.mark.parametrize("cls", [Ridge, Lasso])
def test_predict_checks_fit_and_features(cls):
    with pytest.raises(NotFittedError):
        cls().predict(X_OK)
    model = cls(alpha=0.1).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="3 features"):
        model.predict(X_OK[:, :2])


def test_lasso_path_bad_input():
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        lasso_path(X_OK, Y_OK[:5])
    with pytest.raises(ValueError, match="eps must be in"):
        lasso_path(X_OK, Y_OK, eps=2.0)
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        lasso_path(X_OK, Y_OK, alphas=[0.1, -1.0])
