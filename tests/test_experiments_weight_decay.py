"""The weight-decay-sweep, l1-vs-l2 and decoupled-weight-decay experiments: numbers that
could go wrong."""


import numpy as np
import pytest

from experiment_runs import run_quick
from mlnotebook.experiments import RunContext, get_experiment


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return run_quick(tmp_path_factory, "weight-decay-sweep")


@pytest.fixture(scope="module")
def sparsity(tmp_path_factory):
    return run_quick(tmp_path_factory, "l1-vs-l2")


@pytest.fixture(scope="module")
def decoupled(tmp_path_factory):
    return run_quick(tmp_path_factory, "decoupled-weight-decay")


def _column(record, table, name):
    t = record["tables"][table]
    i = t["columns"].index(name)
    return [row[i] for row in t["rows"]]


# weight-decay-sweep


def test_decay_beats_no_decay_by_orders_of_magnitude(sweep):
    m = sweep["metrics"]
    assert m["train_loss[lambda=0]"] < 1e-20                   # it interpolates the 20 points
    assert m["test_loss[lambda=0]"] > 10                      # and keeps the random start
    assert m["best_lambda"] > 0
    assert m["test_loss[best_lambda]"] < 1e-3 * m["test_loss[lambda=0]"]
    # As good as the closed-form ridge there, and no worse than predicting with w = 0.
    assert m["test_loss[best_lambda]"] < 1.05 * m["ridge_test_loss[best_lambda]"]
    p = sweep["params"]
    assert m["test_loss[best_lambda]"] < 0.5 * (p["n_features"] * p["true_weight"] ** 2
                                                + p["noise"] ** 2)


def test_unseen_part_of_the_weights_decays_exactly_as_predicted(sweep):
    assert sweep["metrics"]["null_space_prediction_max_error"] < 1e-10
    measured = _column(sweep, "sweep", "||w null-space part||")
    predicted = _column(sweep, "sweep", "predicted (1 - lr lambda)^T ||P w0||")
    np.testing.assert_allclose(measured[:5], predicted[:5], rtol=1e-10)
    assert measured[0] > 10                                    # ~ sqrt(180) of N(0, 1) start


def test_the_rest_of_the_weights_approaches_the_ridge_solution(sweep):
    gaps = _column(sweep, "sweep", "max |rest - ridge solution|")[1:]
    assert all(b <= a for a, b in zip(gaps, gaps[1:], strict=False))   # faster with lambda
    assert gaps[-1] < 1e-3
    tests = _column(sweep, "sweep", "test loss")
    ridge = _column(sweep, "sweep", "closed-form ridge test loss")
    assert tests[-1] == pytest.approx(ridge[-1], rel=1e-3)


def test_sweep_figures_and_determinism(sweep):
    assert set(sweep["figures"]) == {"loss_vs_lambda", "norm_vs_lambda", "curves"}
    experiment = get_experiment("weight-decay-sweep")
    again = experiment.compute(RunContext(params=dict(experiment.profiles["quick"]), seed=0))
    assert again.metrics["test_loss[lambda=0]"] == sweep["metrics"]["test_loss[lambda=0]"]


# l1-vs-l2


def test_lasso_has_exact_zeros_and_ridge_none(sparsity):
    m = sparsity["metrics"]
    n_features = sparsity["params"]["n_features"]
    k = sparsity["params"]["n_informative"]
    assert m["ridge_exact_zeros"] == 0 and m["ridge_path_exact_zeros_max"] == 0
    assert m["lasso_exact_zeros"] >= n_features - k - 2
    zeros = sparsity["data"]["lasso"]["zeros"]
    assert zeros[0] == n_features                         # alpha_max: everything is zero
    assert zeros[-1] == 0                                 # near least squares: nothing is


def test_lasso_recovers_the_support_at_the_universal_alpha(sparsity):
    m = sparsity["metrics"]
    assert m["lasso_true_positives"] == sparsity["params"]["n_informative"]
    assert m["lasso_false_negatives"] == 0
    assert m["lasso_false_positives"] <= 2
    assert m["test_mse[lasso]"] < m["test_mse[ridge]"] <= m["test_mse[least squares]"]


def test_orthonormal_design_matches_the_closed_forms(sparsity):
    m = sparsity["metrics"]
    assert m["orthonormal_ridge_formula_error"] < 1e-10
    assert m["orthonormal_lasso_formula_error"] < 1e-10
    o = sparsity["data"]["orthonormal"]
    b, lasso = np.asarray(o["b"]), np.asarray(o["lasso"])
    np.testing.assert_array_equal(lasso == 0, np.abs(b) <= o["threshold"])


def test_shrinkage_axis_runs_from_zero_to_least_squares(sparsity):
    s = sparsity["data"]["lasso"]["shrinkage"]
    assert s[0] == 0 and s[-1] == pytest.approx(1.0, abs=0.02)
    assert set(sparsity["figures"]) == {"paths", "zeros", "support", "orthonormal"}


# decoupled-weight-decay


def test_adamw_decays_uniformly_and_adam_l2_does_not(decoupled):
    m = decoupled["metrics"]
    assert m["decay_rate_spread[AdamW]"] == pytest.approx(1.0)
    assert m["decay_rate_spread[Adam + L2]"] > 10
    rate = np.asarray(decoupled["data"]["rate"]["Adam + L2"])
    g = np.asarray(decoupled["data"]["grad_rms"]["Adam + L2"])
    # Larger gradients, weaker decay: the rate is wd / (sqrt(v_hat) + eps).
    assert np.corrcoef(np.log(g), np.log(rate))[0, 1] < -0.99


def test_sgd_coincides_and_adam_does_not(decoupled):
    m = decoupled["metrics"]
    assert m["sgd_l2_vs_decoupled_max_diff"] < 1e-12
    assert m["adam_l2_vs_adamw_max_diff"] > 1e-2


def test_adam_l2_heads_for_the_ridge_solution(decoupled):
    gaps = _column(decoupled, "sweep (first data set)", "max |Adam + L2 weights - ridge weights|")
    assert gaps[-1] < 1e-4 and gaps[-1] < gaps[1]
    adam = _column(decoupled, "sweep (first data set)", "test MSE Adam + L2")
    ridge = _column(decoupled, "sweep (first data set)",
                    "test MSE closed-form ridge (alpha = n wd)")
    assert adam[-1] == pytest.approx(ridge[-1], rel=1e-4)


def test_decay_helps_both_on_the_first_data_set(decoupled):
    m = decoupled["metrics"]
    for name in ("Adam + L2", "AdamW"):
        assert m[f"best_wd[{name}]"] > 0
        assert m[f"best_test_mse[{name}]"] < m["test_mse[no decay]"]
    assert set(decoupled["figures"]) == {"test_error", "decay_rate", "error_by_feature",
                                         "sgd_vs_adam"}
