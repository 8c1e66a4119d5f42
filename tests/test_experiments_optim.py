"""The optimisers-digits and adagrad-effective-lr experiments: numbers that could go wrong."""


import numpy as np
import pytest
import torch

from experiment_runs import compute_again, run_quick
from mlnotebook.experiments import RunContext
from mlnotebook.experiments import adagrad_effective_lr as ael
from mlnotebook.experiments import optimisers_digits as od
from mlnotebook.optim import Adadelta, Adagrad, RMSprop


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return run_quick(tmp_path_factory, "optimisers-digits")


@pytest.fixture(scope="module")
def rates(tmp_path_factory):
    return run_quick(tmp_path_factory, "adagrad-effective-lr")


# optimisers-digits


def test_every_optimiser_lowers_the_training_loss(digits):
    curves = digits["data"]["curves"]
    assert list(curves) == list(od.OPTIMISERS)
    for name, curve in curves.items():
        assert len(curve["train_loss"]) == digits["params"]["epochs"] + 1
        assert curve["train_loss"][-1] < curve["train_loss"][0], name
        assert curve["ms_per_epoch"] > 0


def test_every_optimiser_starts_from_the_same_weights(digits):
    curves = digits["data"]["curves"].values()
    assert len({c["train_loss"][0] for c in curves}) == 1
    assert len({c["test_accuracy"][0] for c in curves}) == 1


@pytest.mark.parametrize("name", ["Adam", "SGD+momentum"])
def test_tuned_optimisers_learn_digits(digits, name):
    assert digits["metrics"][f"test_accuracy[{name}]"] > 0.9


def test_quick_profile_uses_preset_rates_and_has_no_sweep_figure(digits):
    assert digits["data"]["sweep"] is None
    assert set(digits["figures"]) == {"loss", "accuracy"}
    table = digits["tables"]["optimisers"]
    assert [row[0] for row in table["rows"]] == list(od.OPTIMISERS)
    for name, lr, *_ in table["rows"]:
        assert lr == digits["params"]["lrs"][name]


def test_digits_same_seed_same_losses(digits):
    again = compute_again("optimisers-digits", digits)
    for name, curve in digits["data"]["curves"].items():
        assert again.data["curves"][name]["train_loss"] == curve["train_loss"], name
        assert again.data["curves"][name]["test_accuracy"] == curve["test_accuracy"], name


def test_sweep_picks_the_lowest_validation_loss_and_never_a_diverged_rate():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    params = {"hidden": 16, "batch_size": 64, "epochs": 1, "test_fraction": 0.25,
              "sweep_epochs": 1, "validation_fraction": 0.25,
              "sweep": {name: [1e-3, 1e-2] for name in od.OPTIMISERS}}
    params["sweep"]["SGD"] = [0.1, 1e6]  # the second one blows up
    results = od.compute(RunContext(params=params, seed=1))
    sweep = results.data["sweep"]
    assert not np.isfinite(sweep["SGD"]["val_loss"][1])
    assert sweep["SGD"]["best_lr"] == 0.1
    for name, s in sweep.items():
        finite = [v for v in s["val_loss"] if np.isfinite(v)]
        assert s["val_loss"][s["lrs"].index(s["best_lr"])] == min(finite), name
        assert results.metrics[f"lr[{name}]"] == s["best_lr"]
    figures = od.plot(results)
    assert set(figures) == {"loss", "accuracy", "lr_sweep"}
    for fig in figures.values():
        plt.close(fig)


# adagrad-effective-lr


def test_adagrad_rate_falls_like_one_over_root_t(rates):
    assert -0.6 <= rates["metrics"]["loglog_slope[Adagrad]"] <= -0.4
    for name in ("RMSprop", "Adadelta"):
        assert abs(rates["metrics"][f"loglog_slope[{name}]"]) < 0.1, name


def test_adagrad_keeps_falling_while_rmsprop_settles(rates):
    steps = np.asarray(rates["data"]["steps"])
    late = steps >= 0.8 * steps[-1]
    adagrad = np.asarray(rates["data"]["runs"]["Adagrad"]["rate"])
    # every coordinate's rate can only fall, so their median can only fall
    assert np.all(np.diff(adagrad) <= 0)
    assert adagrad[-1] < 0.95 * adagrad[late][0]
    for name in ("RMSprop", "Adadelta"):
        rate = np.asarray(rates["data"]["runs"][name]["rate"])[late]
        assert rate.max() / rate.min() < 3, name


def test_rates_read_from_state_are_the_rates_applied(rates):
    for name in ("Adagrad", "RMSprop", "Adadelta"):
        assert rates["metrics"][f"rate_formula_max_rel_error[{name}]"] < 1e-6, name


def test_adagrad_is_slowest_to_follow_the_jump(rates):
    m = rates["metrics"]
    others = [m["steps_to_recover[RMSprop]"], m["steps_to_recover[Adadelta]"]]
    assert None not in others
    adagrad = m["steps_to_recover[Adagrad]"]
    assert adagrad is None or adagrad > 2 * max(others)


def test_every_optimiser_lowers_the_excess_loss(rates):
    for name, run in rates["data"]["runs"].items():
        assert run["excess_loss"][-1] < run["excess_loss"][0], name


def test_rates_same_seed_same_results(rates):
    again = compute_again("adagrad-effective-lr", rates)
    for name, run in rates["data"]["runs"].items():
        assert again.data["runs"][name]["rate"] == run["rate"], name
        assert again.data["runs"][name]["excess_loss"] == run["excess_loss"], name


@pytest.mark.parametrize("make_opt", [
    lambda w: Adagrad(w, lr=0.3, lr_decay=0.5, initial_accumulator_value=0.2),
    lambda w: RMSprop(w, lr=0.05, alpha=0.7),
    lambda w: Adadelta(w, lr=0.7, rho=0.5, eps=1e-3),
], ids=["Adagrad", "RMSprop", "Adadelta"])
def test_effective_rate_matches_the_step_with_non_default_settings(make_opt):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, generator=g, dtype=torch.float64)
    scale = torch.tensor([0.1, 1.0, 3.0, 10.0, 30.0], dtype=torch.float64)
    opt = make_opt([w])
    for _ in range(4):
        w.grad = scale * w + torch.randn(5, generator=g, dtype=torch.float64)
        before = {k: v.clone() for k, v in opt.state[w].items()}
        w_before, grad = w.clone(), w.grad.clone()
        opt.step()
        rate = ael.effective_rate(opt, w, before)
        torch.testing.assert_close(rate * grad, w_before - w, rtol=1e-9, atol=1e-14)


def test_effective_rate_refuses_rmsprop_with_momentum():
    w = torch.zeros(3, dtype=torch.float64)
    w.grad = torch.ones(3, dtype=torch.float64)
    opt = RMSprop([w], momentum=0.9)
    opt.step()
    with pytest.raises(ValueError, match="plain RMSprop"):
        ael.effective_rate(opt, w, {})
