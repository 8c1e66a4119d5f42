"""The dropout, batch-norm, norm-vs-batch-size and double-descent experiments.

Each quick profile runs once through the runner (so its results are JSON-able and its figures
draw); the tests check the structure of what it wrote and facts that hold by construction, and
a second ``compute`` checks that a seed fixes every number.
"""


import numpy as np
import pytest
import torch

from experiment_runs import compute_again, run_quick
from mlnotebook.experiments import _mlp
from mlnotebook.experiments import batchnorm_depth as bd
from mlnotebook.experiments import double_descent as dd
from mlnotebook.experiments import norm_batch_size as nbs


@pytest.fixture(scope="module")
def dropout(tmp_path_factory):
    return run_quick(tmp_path_factory, "dropout-digits")


@pytest.fixture(scope="module")
def batchnorm(tmp_path_factory):
    return run_quick(tmp_path_factory, "batchnorm-depth")


@pytest.fixture(scope="module")
def norms(tmp_path_factory):
    return run_quick(tmp_path_factory, "norm-batch-size")


@pytest.fixture(scope="module")
def descent(tmp_path_factory):
    return run_quick(tmp_path_factory, "double-descent")


# shared helpers


def test_corrupt_labels_changes_exactly_the_chosen_fraction_to_other_classes():
    y = torch.arange(200) % 10
    noisy, corrupted = _mlp.corrupt_labels(y, 0.15, torch.Generator().manual_seed(3))
    assert int(corrupted.sum()) == 30
    assert torch.all(noisy[corrupted] != y[corrupted])
    assert torch.equal(noisy[~corrupted], y[~corrupted])
    again, _ = _mlp.corrupt_labels(y, 0.15, torch.Generator().manual_seed(3))
    assert torch.equal(noisy, again)
    with pytest.raises(ValueError, match="fraction"):
        _mlp.corrupt_labels(y, 1.5, torch.Generator())


def test_make_mlp_starts_from_the_same_weights_whatever_the_norm():
    nets = [_mlp.make_mlp([64, 16, 16, 10], torch.Generator().manual_seed(0), norm=norm,
                          dropout=0.3) for norm in (None, "batch", "layer")]
    weights = [[m.weight for m in net if isinstance(m, torch.nn.Linear)] for net in nets]
    for other in weights[1:]:
        for a, b in zip(weights[0], other, strict=True):
            assert torch.equal(a, b)
    batch_linears = [m for m in nets[1] if isinstance(m, torch.nn.Linear)]
    assert [m.bias is None for m in batch_linears] == [True, True, False]
    assert all(m.bias is not None for m in nets[2] if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("kwargs, match", [({"activation": "gelu"}, "activation"),
                                           ({"norm": "group"}, "norm")])
def test_make_mlp_rejects_unknown_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _mlp.make_mlp([64, 8, 10], torch.Generator(), **kwargs)


# dropout-digits


def test_dropout_results_have_every_condition_and_variant(dropout):
    p, d = dropout["params"], dropout["data"]
    variants = [v["label"] for v in p["variants"]]
    assert d["variants"] == variants
    assert len(d["conditions"]) == len(p["label_noise"])
    evaluations = p["epochs"] // p["eval_every"] + 1
    for condition in d["conditions"]:
        assert list(d["curves"][condition]) == variants
        for curve in d["curves"][condition].values():
            for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss",
                        "batch_loss"):
                assert len(curve[key]) == evaluations, key
    assert set(dropout["figures"]) == {"accuracy", "loss", "gap"}
    assert d["n_train"] == p["n_train"] and d["n_train"] + d["n_test"] == 1797


def test_dropout_table_reports_eval_mode_train_accuracy_and_the_gap(dropout):
    table = dropout["tables"]["final"]
    assert "train accuracy (eval mode)" in table["columns"]
    assert len(table["rows"]) == len(dropout["data"]["conditions"]) * len(
        dropout["data"]["variants"])
    for condition, variant, train, test, _spread, gap, _loss, memorised in table["rows"]:
        curve = dropout["data"]["curves"][condition][variant]
        assert train == curve["train_accuracy"][-1] and test == curve["test_accuracy"][-1]
        assert gap == pytest.approx(train - test)
        # wrong labels are only counted where there are some
        assert (memorised is None) == (condition == "clean labels")


def test_dropout_variants_start_from_the_same_network(dropout):
    # at epoch 0 dropout is switched off (eval mode) and the weights are identical
    for curves in dropout["data"]["curves"].values():
        assert len({c["test_loss"][0] for c in curves.values()}) == 1
        assert len({c["train_accuracy"][0] for c in curves.values()}) == 1


def test_dropout_same_seed_same_curves(dropout):
    again = compute_again(dropout["id"], dropout)
    for condition, curves in dropout["data"]["curves"].items():
        for variant, curve in curves.items():
            assert again.data["curves"][condition][variant]["test_loss"] == curve["test_loss"]
            assert again.data["curves"][condition][variant]["batch_loss"][1:] == \
                curve["batch_loss"][1:]


# batchnorm-depth


def test_batchnorm_preactivations_are_standardised_at_init(batchnorm):
    stats = batchnorm["data"]["at_init"]["BatchNorm"]
    depth = batchnorm["params"]["depth"]
    assert len(stats["preact_mean"]) == len(stats["preact_std"]) == depth
    # gamma = 1, beta = 0: each unit is (x - mean) / sqrt(var + eps) over the batch
    assert np.allclose(stats["preact_mean"], 0.0, atol=1e-5)
    assert np.allclose(stats["preact_std"], 1.0, atol=1e-3)


def test_plain_init_shrinks_the_signal_and_the_gradients(batchnorm):
    plain = batchnorm["data"]["at_init"]["no norm"]
    assert plain["preact_std"] == plain["linear_std"]  # nothing between Linear and ReLU
    assert plain["preact_std"][-1] < plain["preact_std"][0] / 3
    bn = batchnorm["data"]["at_init"]["BatchNorm"]
    assert max(plain["grad_norm"]) < min(bn["grad_norm"])


def test_batchnorm_epochs_to_target_agree_with_the_histories(batchnorm):
    target = batchnorm["data"]["target_loss"]
    for label, run in batchnorm["data"]["runs"].items():
        h = run["history"]
        assert h["epoch"] == list(range(len(h["epoch"])))
        below = [e for e, v in zip(h["epoch"], h["train_loss"], strict=True)
                 if v is not None and v < target]
        assert batchnorm["metrics"][f"epochs_to_target[{label}]"] == (below[0] if below
                                                                       else None)
    assert set(batchnorm["figures"]) == {"loss", "loss_vs_time", "layer_statistics"}


def test_layer_statistics_leave_the_running_statistics_alone():
    model = _mlp.make_mlp([64, 8, 8, 10], torch.Generator().manual_seed(0), norm="batch")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(50, 64), torch.arange(50) % 10
    stats = bd.layer_statistics(model, x, y)
    assert len(stats["grad_norm"]) == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_batchnorm_same_seed_same_losses(batchnorm):
    again = compute_again(batchnorm["id"], batchnorm)
    for label, run in batchnorm["data"]["runs"].items():
        assert again.data["runs"][label]["history"]["train_loss"] == run["history"][
            "train_loss"]


# norm-batch-size


def test_norm_batch_size_table_has_every_pair_and_scaled_rates(norms):
    p = norms["params"]
    rows = norms["tables"]["batch_sizes"]["rows"]
    assert [(r[0], r[1]) for r in rows] == [(b, n) for b in p["batch_sizes"]
                                             for n in nbs.NORMS]
    for batch_size, _name, lr, *_ in rows:
        assert lr == pytest.approx(p["lr_at_128"] * batch_size / 128, abs=1e-6)
    for run in norms["data"]["runs"].values():
        seen = run["history"]["examples"][-1]
        assert p["examples"] - run["batch_size"] < seen <= p["examples"]


def test_train_and_eval_mode_agree_without_batch_statistics(norms):
    for batch_size, name, *_, gap, train_acc, eval_acc in norms["tables"]["batch_sizes"]["rows"]:
        if name == "BatchNorm":
            continue
        # no norm and LayerNorm compute the same function in both modes
        assert abs(gap) < 1e-5, (name, batch_size)
        assert train_acc == pytest.approx(eval_acc, abs=1e-6)
    tiny = min(norms["params"]["batch_sizes"])
    bn_gap = norms["metrics"][f"train_mode_minus_eval_mode_loss[BatchNorm, batch {tiny}]"]
    assert abs(bn_gap) > 1e-3


def test_step_batches_cover_the_examples_in_full_batches():
    parts = nbs.step_batches(100, 8, 500, 4, seed=0, device="cpu")
    steps = [idx for part in parts for idx in part]
    assert len(parts) == 4 and len(steps) == 500 // 8
    assert all(len(idx) == 8 for idx in steps)
    assert all(len(torch.unique(idx)) == 8 for idx in steps)


def test_mode_losses_leave_the_running_statistics_alone():
    model = _mlp.make_mlp([64, 8, 10], torch.Generator().manual_seed(0), norm="batch")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    x, y = torch.randn(40, 64), torch.arange(40) % 10
    modes = nbs.mode_losses(model, x, y, 4, seed=0)
    assert set(modes) == {"train", "eval"}
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with torch.no_grad():
        eval_loss = torch.nn.functional.cross_entropy(model.eval()(x), y)
    assert modes["eval"][0] == pytest.approx(float(eval_loss), rel=1e-6)


def test_norm_batch_size_same_seed_same_results(norms):
    again = compute_again(norms["id"], norms)
    assert again.tables["batch_sizes"].rows == norms["tables"]["batch_sizes"]["rows"]


# double-descent


def test_random_features_peak_at_the_interpolation_threshold(descent):
    n = descent["params"]["n_train"]
    assert 0.9 * n <= descent["metrics"]["rf_peak_p"] <= 1.1 * n
    rf = descent["data"]["random_features"]
    features = rf["features"]
    threshold = features.index(n)
    assert rf["test_error"][-1] < rf["test_error"][threshold]
    # with p >= n the minimum-norm fit interpolates: every training label is reproduced
    assert all(e == 0 for f, e in zip(features, rf["train_error"], strict=True) if f >= n)
    assert features == sorted(set(features)) and n in features
    assert set(descent["figures"]) == {"random_features", "mlp_width"}


def test_minimum_norm_fit_is_least_squares_below_and_interpolates_above():
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    tall = torch.randn(30, 10, generator=gen, dtype=torch.float64)
    expected = torch.linalg.lstsq(tall, y).solution
    torch.testing.assert_close(dd.random_features_fit(tall, y, 0.0), expected)
    wide = torch.randn(30, 80, generator=gen, dtype=torch.float64)
    w = dd.random_features_fit(wide, y, 0.0)
    torch.testing.assert_close(wide @ w, y)
    # minimum norm: w lies in the row space of the features, w = wide.T a
    a = torch.linalg.lstsq(wide.T, w).solution
    torch.testing.assert_close(wide.T @ a, w)
    # a vanishing ridge penalty tends to the minimum-norm solution
    torch.testing.assert_close(dd.random_features_fit(wide, y, 1e-9), w, rtol=1e-5, atol=1e-6)


def test_ridge_fit_solves_the_penalised_normal_equations():
    gen = torch.Generator().manual_seed(1)
    phi = torch.randn(20, 50, generator=gen, dtype=torch.float64)
    y = torch.randn(20, 2, generator=gen, dtype=torch.float64)
    w = dd.random_features_fit(phi, y, 0.7)
    torch.testing.assert_close((phi.T @ phi + 0.7 * torch.eye(50, dtype=torch.float64)) @ w,
                               phi.T @ y)


def test_mlp_width_table_counts_the_weights(descent):
    rows = descent["tables"]["mlp_width"]["rows"]
    widths = descent["params"]["widths"]
    assert len(rows) == len(widths) * len(descent["params"]["mlp_label_noise"])
    for _condition, width, parameters, train_error, test_error in rows:
        assert parameters == 64 * width + width + width * 10 + 10
        assert 0 <= train_error <= 1 and 0 <= test_error <= 1


def test_double_descent_same_seed_same_results(descent):
    again = compute_again(descent["id"], descent)
    assert again.tables["random_features"].rows == descent["tables"]["random_features"]["rows"]
    assert again.tables["mlp_width"].rows == descent["tables"]["mlp_width"]["rows"]
