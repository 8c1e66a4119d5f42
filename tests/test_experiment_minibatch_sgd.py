"""The minibatch-sgd experiment: batch, stochastic and minibatch descent on linear regression."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from mlnotebook.experiments import get_experiment, run_experiment
from mlnotebook.experiments.minibatch_sgd import ShuffledBatches, make_regression

FULL = "B=2,000 (full batch GD)"


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    path = run_experiment(get_experiment("minibatch-sgd"), profile="quick", seed=0,
                          out=tmp_path_factory.mktemp("a"))
    return json.loads(path.read_text())


def _epoch_ends(curve):
    """Loss at the end of each whole epoch, by epoch number."""
    return {round(e): loss for e, loss in zip(curve["epochs"], curve["loss"], strict=True)
            if e > 0 and float(e).is_integer()}


def test_every_batch_size_lowers_the_loss(record):
    curves = record["data"]["curves"]
    assert list(curves) == [FULL, "B=100", "B=10", "B=1 (SGD)"]
    for label, curve in curves.items():
        assert curve["excess"][-1] < 0.1 * curve["excess"][0], label
        assert min(curve["excess"]) >= -1e-9, f"{label} went below the least-squares optimum"
        assert np.all(np.diff(curve["seconds"]) >= 0), label


def test_full_batch_descent_is_monotone(record):
    loss = record["data"]["curves"][FULL]["loss"]
    assert len(loss) == 11  # the start, then one evaluation per epoch = per step
    assert np.all(np.diff(loss) <= 0)


def test_minibatches_beat_full_batch_at_the_same_epoch(record):
    full = _epoch_ends(record["data"]["curves"][FULL])
    mini = _epoch_ends(record["data"]["curves"]["B=100"])
    assert sorted(full) == sorted(mini) == list(range(1, 11))
    for epoch in full:
        assert mini[epoch] < full[epoch], epoch


def test_examples_and_steps_are_counted(record):
    curves, n = record["data"]["curves"], record["params"]["n"]
    assert curves[FULL]["examples"][-1] == 10 * n
    assert curves["B=1 (SGD)"]["examples"][-1] == curves["B=1 (SGD)"]["steps"][-1] == 600
    # SGD is evaluated inside its (capped) first epoch, not only at its end
    assert sum(0 < e < 1 for e in curves["B=1 (SGD)"]["epochs"]) >= 5
    rows = {row[0]: row for row in record["tables"]["batch_sizes"]["rows"]}
    assert rows["B=1 (SGD)"][-1] == "capped at 600 steps"
    assert rows[FULL][-1] == "10 epochs"


def test_optimum_matches_sklearn_linear_regression(record):
    from sklearn.linear_model import LinearRegression

    p = record["params"]
    X, y = make_regression(p["n"], p["d"], rho=p["rho"], noise=p["noise"],
                           seed=record["data"]["data_seed"])
    X, y = X.numpy(), y.numpy()
    assert X.dtype == y.dtype == np.float64
    reference = np.mean((LinearRegression().fit(X, y).predict(X) - y) ** 2)
    np.testing.assert_allclose(record["metrics"]["optimal_loss"], reference, rtol=1e-4)


def _without_timings(record):
    metrics = {k: v for k, v in record["metrics"].items() if "seconds" not in k}
    table = record["tables"]["batch_sizes"]
    rows = {row[0]: {c: v for c, v in zip(table["columns"], row, strict=True)
                     if "seconds" not in c} for row in table["rows"]}
    curves = {label: {k: v for k, v in c.items() if k != "seconds"}
              for label, c in record["data"]["curves"].items()}
    return {"metrics": metrics, "table": rows, "curves": curves}


def _leaves(tree, path=()):
    """(path, value) for every number, string or None in nested dicts and lists."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _leaves(value, (*path, i))
    else:
        yield path, tree


def test_same_seed_same_numbers(record, tmp_path):
    unplotted = dataclasses.replace(get_experiment("minibatch-sgd"), plot=lambda results: {})
    again = run_experiment(unplotted, profile="quick", seed=0, out=tmp_path)
    first = dict(_leaves(_without_timings(record)))
    second = dict(_leaves(_without_timings(json.loads(again.read_text()))))
    assert first.keys() == second.keys() and len(first) > 100
    # MKL's LAPACK is not bit-reproducible between calls, so the least-squares optimum (and
    # every excess loss measured from it) and the Hessian's eigenvalues may move in the 16th
    # digit. The data, the training and the losses themselves are exact.
    solver = ("optimal", "excess", "hessian", "stability")
    for path, value in first.items():
        if isinstance(value, float) and any(word in str(p) for p in path for word in solver):
            assert second[path] == pytest.approx(value, rel=1e-12, abs=1e-15), path
        else:
            assert second[path] == value, path


def test_loader_shuffles_each_epoch_into_full_batches():
    loader = ShuffledBatches(10, 4, epochs=2, seed=3)
    batches = list(loader)
    assert len(loader) == 3 and [len(b) for b in batches] == [4, 4, 2] * 2
    first, second = torch.cat(batches[:3]), torch.cat(batches[3:])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert not torch.equal(first, second), "each epoch is a fresh shuffle"
    again = list(loader)
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True)), "seeded"
