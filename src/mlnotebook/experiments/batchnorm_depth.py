"""Batch normalisation lets a deep, plainly initialised MLP train, and at larger learning rates.

An MLP with six hidden ReLU layers of 64 units learns scikit-learn's digits with plain SGD
(no momentum) at a few fixed learning rates, with and without mlnotebook.nn.BatchNorm1d between
each hidden Linear and its ReLU. Both networks start from the same weights, drawn with torch's
default Linear initialisation (uniform in +-1/sqrt(fan_in), variance 1/(3 fan_in)). With
that initialisation the part of each pre-activation that depends on the input shrinks by
about sqrt(6) = 2.4x per ReLU layer (a weight variance of 1/(3 fan_in) where ReLU needs
2/fan_in), so without normalisation the deep layers see mostly their own biases and the first
layers' gradients are a thousand times smaller than with batch norm: the loss sits at ln 10
for many epochs, and large rates make it diverge. Batch norm re-standardises every layer's
pre-activations, so the network trains at once and over a thirty-fold range of rates.
Pre-activation statistics per layer (at initialisation and after training) and weight-gradient
norms at initialisation show why. Deeper plain networks (the full profile has ten layers) may
not leave the plateau at all.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from mlnotebook.experiments import _mlp
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)
from mlnotebook.optim import SGD

NORMS = {"no norm": None, "BatchNorm": "batch"}


def layer_statistics(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Per hidden layer: statistics of its Linear output and pre-activation, and its gradient.

    The whole of ``(x, y)`` is one batch, passed through a copy of ``model`` in training mode,
    so batch norm standardises with the statistics of exactly these examples (and ``model``'s
    running statistics are not touched).

    Returns
    -------
    dict of lists, one value per hidden layer, first layer first
        ``linear_mean``, ``linear_std``: mean and standard deviation (biased, pooled over
        examples and units) of the Linear layer's output; ``preact_mean``, ``preact_std``:
        the same for the activation's input (equal to the Linear output without a norm
        layer); ``grad_norm``: Frobenius norm of the gradient of the mean cross-entropy with
        respect to the Linear layer's weight.
    """
    probe = copy.deepcopy(model).train()
    activations = [m for m in probe if isinstance(m, tuple(_mlp.ACTIVATIONS.values()))]
    linears = [m for m in probe if isinstance(m, nn.Linear)][: len(activations)]
    seen: dict[str, list[torch.Tensor]] = {"linear": [], "preact": []}
    hooks = [m.register_forward_hook(lambda _m, _inp, out: seen["linear"].append(out.detach()))
             for m in linears]
    hooks += [m.register_forward_hook(lambda _m, inp, _out: seen["preact"].append(
        inp[0].detach())) for m in activations]
    probe.zero_grad()
    nn.functional.cross_entropy(probe(x), y).backward()
    for h in hooks:
        h.remove()
    stats = {}
    for kind, tensors in seen.items():
        stats[f"{kind}_mean"] = [float(t.mean()) for t in tensors]
        stats[f"{kind}_std"] = [float(t.std(correction=0)) for t in tensors]
    stats["grad_norm"] = [float(m.weight.grad.norm()) for m in linears]
    return stats


def first_epoch_below(history: dict, key: str, target: float) -> int | None:
    """The first evaluated epoch whose ``history[key]`` is below ``target`` (None if none)."""
    for epoch, value in zip(history["epoch"], history[key], strict=True):
        if value < target:
            return epoch
    return None


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    x_train, y_train, x_test, y_test = _mlp.digits_split(p["train_fraction"], ctx.seed,
                                                         ctx.device)
    sizes = [64] + [p["width"]] * p["depth"] + [10]
    batches = _mlp.epoch_batches(len(y_train), p["batch_size"], p["epochs"], ctx.seed + 1,
                                 ctx.device)

    def evaluate(model):
        train_loss, _ = _mlp.loss_and_accuracy(model, x_train, y_train)
        _, test_accuracy = _mlp.loss_and_accuracy(model, x_test, y_test)
        return {"train_loss": train_loss, "test_accuracy": test_accuracy}

    runs, rows, metrics, at_init = {}, [], {}, {}
    total, done = len(NORMS) * len(p["lrs"]), 0
    with one_cpu_thread(ctx.device):
        for name, norm in NORMS.items():
            def fresh(norm=norm):
                return _mlp.make_mlp(sizes, torch.Generator().manual_seed(ctx.seed),
                                     activation=p["activation"], norm=norm).to(ctx.device)

            at_init[name] = layer_statistics(fresh(), x_train, y_train)
            for lr in p["lrs"]:
                model = fresh()
                history = _mlp.train(model, SGD(model.parameters(), lr=lr), x_train, y_train,
                                     batches, evaluate)
                label = f"{name}, lr={lr:g}"
                reached = first_epoch_below(history, "train_loss", p["target_loss"])
                trained = len(history["epoch"]) - 1
                ms = 1000 * history["seconds"][-1] / max(trained, 1)
                runs[label] = {"norm": name, "lr": lr, "history": history,
                               "trained": (layer_statistics(model, x_train, y_train)
                                           if not history["diverged"] else None)}
                final_loss, accuracy = history["train_loss"][-1], history["test_accuracy"][-1]
                rows.append([name, lr, reached, final_loss, accuracy, history["diverged"],
                             round(ms, 2)])
                metrics[f"epochs_to_target[{label}]"] = reached
                metrics[f"final_train_loss[{label}]"] = final_loss
                metrics[f"test_accuracy[{label}]"] = accuracy
                done += 1
                ctx.progress(done, total)
    for name in NORMS:
        metrics[f"init_last_preact_std[{name}]"] = at_init[name]["preact_std"][-1]
        metrics[f"init_first_grad_norm[{name}]"] = at_init[name]["grad_norm"][0]
    return Results(
        metrics=metrics,
        tables={"runs": Table(
            ["network", "lr", f"epochs to train loss < {p['target_loss']:g}",
             "final train loss", "test accuracy", "diverged",
             "ms per epoch (machine-dependent)"], rows)},
        data={"runs": runs, "at_init": at_init, "target_loss": p["target_loss"],
              "stats_lr": p["stats_lr"], "depth": p["depth"], "width": p["width"],
              "activation": p["activation"], "n_train": len(y_train), "device": ctx.device},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    lrs = sorted({r["lr"] for r in d["runs"].values()})
    colours = dict(zip(lrs, plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(lrs))),
                       strict=True))
    dashes = {"no norm": "--", "BatchNorm": "-"}
    net = f"{d['depth']} hidden {d['activation']} layers of {d['width']}"
    figures = {}
    for name, x_key, x_label in (("loss", "epoch", "epoch"),
                                 ("loss_vs_time", "seconds",
                                  "training time in seconds (this machine)")):
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for label, run in d["runs"].items():
            h = run["history"]
            loss = np.array([math.nan if v is None else v for v in h["train_loss"]])
            ax.semilogy(h[x_key], loss, dashes[run["norm"]], color=colours[run["lr"]], lw=1.6,
                        label=label + (" (diverged)" if h["diverged"] else ""))
        ax.axhline(math.log(10), color="0.5", lw=0.8, ls=":")
        ax.axhline(d["target_loss"], color="r", lw=0.8, ls=":")
        ax.text(ax.get_xlim()[1], math.log(10), " ln 10 (guessing)", va="bottom", ha="right",
                fontsize=7, color="0.4")
        ax.text(ax.get_xlim()[1], d["target_loss"], " target", va="bottom", ha="right",
                fontsize=7, color="r")
        ax.set(xlabel=x_label, ylabel="training loss (eval mode, whole training set)",
               title=f"SGD on digits, {net}: with and without BatchNorm")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        figures[name] = fig

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    trained = {r["norm"]: r["trained"] for r in d["runs"].values()
               if r["lr"] == d["stats_lr"] and r["trained"] is not None}
    layers = np.arange(1, d["depth"] + 1)
    for stage, stats, ls in (("init", d["at_init"], "-"), ("trained", trained, "--")):
        for name, s in stats.items():
            colour = "C0" if name == "no norm" else "C3"
            axes[0].semilogy(layers, s["preact_std"], ls, marker="o", ms=3, color=colour,
                             label=f"{name}, {stage}")
            axes[1].plot(layers, s["preact_mean"], ls, marker="o", ms=3, color=colour)
            if stage == "init":  # after training the gradients mostly reflect the loss level
                axes[2].semilogy(layers, s["grad_norm"], ls, marker="o", ms=3, color=colour,
                                 label=name)
            if name != "no norm":
                axes[0].semilogy(layers, s["linear_std"], ls, color=colour, alpha=0.35,
                                 label=f"{name}, {stage}: Linear output before BN")
    axes[0].set(ylabel="std of pre-activations (log)", title="Spread of each layer's input "
                "to the ReLU")
    axes[1].set(ylabel="mean of pre-activations", title="Centre of the pre-activations")
    axes[2].set(ylabel="|dL/dW| (log)",
                title="Weight-gradient norm at initialisation")
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("hidden layer")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Layer statistics on the whole training set (train mode) at initialisation "
                 f"and after training with lr={d['stats_lr']:g}")
    fig.tight_layout()
    figures["layer_statistics"] = fig
    return figures


EXPERIMENT = register(Experiment(
    id="batchnorm-depth",
    title="Batch normalisation trains a deep plain-SGD MLP that otherwise stalls",
    entries=("batch-normalisation",),
    profiles={
        "quick": {"depth": 6, "width": 32, "activation": "relu", "train_fraction": 0.75,
                  "batch_size": 64, "epochs": 3, "lrs": [0.3], "stats_lr": 0.3,
                  "target_loss": 0.5},
        "default": {"depth": 6, "width": 64, "activation": "relu", "train_fraction": 0.75,
                    "batch_size": 64, "epochs": 30, "lrs": [0.1, 0.3, 1.0, 3.0],
                    "stats_lr": 0.3,
                    "target_loss": 0.1},
        "full": {"depth": 10, "width": 128, "activation": "relu", "train_fraction": 0.75,
                 "batch_size": 64, "epochs": 60, "lrs": [0.03, 0.1, 0.3, 1.0, 3.0],
                 "stats_lr": 0.3, "target_loss": 0.1},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
