"""The polynomial-degree, model-selection-cv and test-set-generalisation experiments."""


import numpy as np
import pytest
from scipy.stats import binom
from sklearn import model_selection as skms
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from experiment_runs import run_quick
from mlnotebook.experiments import RunContext, get_experiment
from mlnotebook.experiments import model_selection_cv as msc
from mlnotebook.experiments import polynomial_degree as pd_exp
from mlnotebook.experiments import test_set_generalisation as tsg


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices only; on a busy machine extra BLAS threads just spin."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def degree(tmp_path_factory):
    return run_quick(tmp_path_factory, "polynomial-degree")


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    return run_quick(tmp_path_factory, "model-selection-cv")


@pytest.fixture(scope="module")
def test_sets(tmp_path_factory):
    return run_quick(tmp_path_factory, "test-set-generalisation")


def _compute_again(record):
    experiment = get_experiment(record["id"])
    return experiment.compute(RunContext(params=dict(experiment.profiles["quick"]),
                                         seed=record["seed"]))


@pytest.mark.parametrize(("fixture", "figures"), [
    ("degree", {"error_by_degree", "fits", "learning_curves"}),
    ("selection", {"cv_vs_test", "choices", "ridge_validation_curve"}),
    ("test_sets", {"error_spread", "hoeffding", "test_set_reuse"}),
])
def test_figures_are_written_and_runs_repeat(fixture, figures, request):
    record = request.getfixturevalue(fixture)
    assert set(record["figures"]) == figures
    assert _compute_again(record).metrics == pytest.approx(record["metrics"], rel=0, abs=0)


# polynomial-degree


def test_training_error_never_rises_with_the_degree(degree):
    train = np.asarray(degree["data"]["train_err"])  # (repeats, degrees): nested models
    assert np.all(np.diff(train, axis=1) <= 1e-9 * train[:, :-1] + 1e-12)


def test_test_error_is_u_shaped_in_the_degree(degree):
    m = degree["metrics"]
    assert 2 <= m["best_degree"] <= 6
    assert m["test_mse[underfit]"] > 1.5 * m["test_mse[good_fit]"]
    assert m["test_mse[overfit]"] > 10 * m["test_mse[good_fit]"]
    assert m["train_mse[overfit]"] < m["train_mse[good_fit]"] < m["train_mse[underfit]"]
    assert m["test_mse[good_fit]"] > m["noise_variance"]  # nobody beats the noise


def test_learning_curves_close_the_overfitting_gap_but_not_the_bias(degree):
    lc = degree["data"]["learning"]
    over, under = lc["overfit"], lc["underfit"]
    assert over["test_mse"][-1] < over["test_mse"][0] / 5
    assert over["train_mse"][-1] > over["train_mse"][0]
    bias_floor = degree["metrics"]["noise_variance"] + 0.1  # a line misses sin(pi x) by a lot
    assert under["test_mse"][-1] > bias_floor and under["train_mse"][-1] > bias_floor


def test_an_interpolating_polynomial_has_zero_training_error():
    rng = np.random.default_rng(0)
    X, y = pd_exp.make_data(rng, 12, 0.3)
    model = pd_exp.polynomial_regression(11).fit(X, y)
    assert pd_exp.mse(model, X, y) < 1e-16


# model-selection-cv


def test_training_error_picks_the_most_complex_model_and_cv_does_better(selection):
    m, top = selection["metrics"], selection["params"]["max_degree"]
    assert m["degree[training error]"] == top
    assert m["repeats_median_degree[training error]"] == top
    assert 2 <= m["repeats_median_degree[cross-validation]"] <= 7
    assert (m["repeats_mean_test_mse[test oracle]"] <= m["repeats_mean_test_mse[cross-validation]"]
            < m["repeats_mean_test_mse[training error]"])
    assert m["ridge_median_test_mse[cv-chosen alpha]"] < m["ridge_median_test_mse[smallest alpha]"]


def test_select_degree_reports_sklearns_grid_search_numbers():
    rng = np.random.default_rng(3)
    X, y = pd_exp.make_data(rng, 25, 0.3)
    X_test, y_test = pd_exp.make_data(rng, 100, 0.3)
    degrees = list(range(7))
    ours = msc.select_degree(X, y, X_test, y_test, degrees, folds=5, seed=11)
    ref = skms.GridSearchCV(pd_exp.polynomial_regression(0), {"poly__degree": degrees},
                            scoring="neg_mean_squared_error",
                            cv=skms.KFold(5, shuffle=True, random_state=11)).fit(X, y)
    np.testing.assert_array_equal(ours["cv_mse"], -ref.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(ours["cv_std"], ref.cv_results_["std_test_score"])
    assert ours["chosen"]["cross-validation"] == ref.best_params_["poly__degree"]
    assert ours["fold_mse"].shape == (7, 5)


@pytest.mark.parametrize("alpha", [1e-6, 0.1, 10.0])
def test_standardised_ridge_is_scaler_plus_sklearn_ridge(alpha):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 6)) * [1, 2, 3, 4, 5, 6], rng.standard_normal(30)
    ours = msc.StandardisedRidge(alpha).fit(X, y).predict(X)
    ref = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(X, y).predict(X)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


# test-set-generalisation


def test_closed_form_true_error_matches_a_large_sample():
    rng = np.random.default_rng(0)
    mu, w, b = np.array([0.8, 0.4]), np.array([1.0, -0.5]), 0.3
    exact = float(tsg.true_error(w, b, mu))
    rates = tsg.error_rates(rng, w, b, mu, n=100_000, n_sets=4)
    se = np.sqrt(exact * (1 - exact) / 100_000)
    assert np.all(np.abs(rates - exact) < 5 * se)


def test_empirical_errors_are_binomial_and_respect_hoeffding(test_sets):
    d, m = test_sets["data"], test_sets["metrics"]
    err, n_sets = d["true_error"], test_sets["params"]["n_sets"]
    assert m["max_excess_over_hoeffding"] <= 0
    for n in d["ns"]:
        rates = np.asarray(d["rates"][str(n)])
        assert rates.shape == (n_sets,)
        # the mean of n_sets independent binomial proportions sits within 5 standard errors
        assert abs(rates.mean() - err) < 5 * np.sqrt(err * (1 - err) / (n * n_sets))
        counts = np.round(rates * n)
        expected = binom.cdf(np.floor(err * n), n, err)
        assert abs(np.mean(counts <= np.floor(err * n)) - expected) < 5 * np.sqrt(
            expected * (1 - expected) / n_sets) + 1e-9
    assert m["hoeffding_looseness"] > 1


def test_reusing_a_test_set_flatters_the_winner(test_sets):
    means = test_sets["data"]["adaptive_means"]
    k_max = test_sets["params"]["ks"][-1]
    assert means["reused"][-1] < means["fresh"][-1]
    assert test_sets["metrics"][f"optimism[k={k_max}]"] > 0.01
    assert abs(test_sets["metrics"]["optimism[k=1]"]) < 0.03  # one fixed classifier: unbiased
    # the winner's true error can only be as good as the best candidate's
    assert np.all(np.asarray(means["true"]) >= np.asarray(means["oracle"]) - 1e-12)
    # more candidates never make the best available one worse
    assert np.all(np.diff(means["oracle"]) <= 1e-12)


def test_hoeffding_helpers_by_hand():
    assert tsg.hoeffding(100, 0.1) == pytest.approx(2 * np.exp(-2))
    assert tsg.hoeffding(1, 0.01) == 1.0
    assert float(tsg.hoeffding_radius(200, 0.05)) == pytest.approx(np.sqrt(np.log(40) / 400))
