"""Eight optimisers, one network: SGD, momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, AdamW.

A small MLP (64 inputs, one ReLU hidden layer, 10 classes, float32) learns scikit-learn's
bundled 8x8 digits, with features standardised on the training set and a stratified train/test
split. Every optimiser starts from the same weights and sees the same minibatches in the same
order. A comparison is only fair at tuned learning rates, so the default profile first sweeps
each optimiser's rate on a log grid (a few epochs on part of the training set, scored by the
loss on the held-out rest), then trains each at its best rate; the quick profile uses rates
found that way. Times per epoch count training steps only and depend on the machine.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
from torch import nn

from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)
from mlnotebook.optim import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop

# Each optimiser with its settings other than the learning rate (torch's defaults otherwise).
OPTIMISERS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {
    "SGD": (SGD, {}),
    "SGD+momentum": (SGD, {"momentum": 0.9}),
    "SGD+Nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "Adagrad": (Adagrad, {}),
    "RMSprop": (RMSprop, {}),
    "Adadelta": (Adadelta, {}),
    "Adam": (Adam, {}),
    "AdamW": (AdamW, {}),  # weight_decay=0.01, decoupled
}


def load_digits_tensors(test_fraction: float, seed: int, device: str):
    """Digits split stratified by class: (x_train, y_train, x_test, y_test), x unscaled."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed)
    as_x = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return as_x(x_train), as_y(y_train), as_x(x_test), as_y(y_test)


def standardise(x_fit: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Centre and scale every feature by its mean and std on ``x_fit`` (only)."""
    mean, std = x_fit.mean(dim=0), x_fit.std(dim=0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # some border pixels are always 0
    return [(x - mean) / std for x in (x_fit, *others)]


def make_mlp(hidden: int, generator: torch.Generator) -> nn.Sequential:
    """64 -> hidden -> 10 with ReLU, initialised like torch's Linear but from ``generator``."""
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = layer.in_features ** -0.5
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    return model


def epoch_batches(n: int, batch_size: int, epochs: int, seed: int, device: str):
    """``epochs`` lists of index tensors, one fresh seeded shuffle per epoch."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=gen).to(device).split(batch_size) for _ in range(epochs)]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(model: nn.Module, name: str, lr: float, x, y, batches, evaluate) -> dict:
    """Train ``model`` in place with optimiser ``name``; ``evaluate(model)`` -> dict per epoch.

    Returns the evaluations before training and after every epoch (lists under the keys
    ``evaluate`` returns) and ``seconds``, the training time of each epoch.
    """
    cls, kwargs = OPTIMISERS[name]
    opt = cls(model.parameters(), lr=lr, **kwargs)
    loss_fn = nn.CrossEntropyLoss()
    history = {k: [v] for k, v in evaluate(model).items()}
    history["seconds"] = []
    for epoch in batches:
        _synchronize(x.device)
        started = time.perf_counter()
        for idx in epoch:
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        _synchronize(x.device)
        history["seconds"].append(time.perf_counter() - started)
        for k, v in evaluate(model).items():
            history[k].append(v)
    return history


@torch.no_grad()
def _loss(model, x, y) -> float:
    value = float(nn.functional.cross_entropy(model(x), y))
    return value if math.isfinite(value) else math.nan


@torch.no_grad()
def _accuracy(model, x, y) -> float:
    return float((model(x).argmax(dim=1) == y).float().mean())


def sweep(p: dict, init: nn.Module, x_train, y_train, seed: int, device: str, progress):
    """Final validation loss of every (optimiser, lr) in ``p["sweep"]``; the best lr of each.

    Trains on a stratified part of the training set and scores on the rest, so the test set
    plays no part in the choice. A run that diverges scores NaN and is never chosen.
    """
    from sklearn.model_selection import train_test_split

    fit, val = train_test_split(np.arange(len(y_train)), test_size=p["validation_fraction"],
                                stratify=y_train.cpu().numpy(), random_state=seed)
    fit, val = (torch.as_tensor(i, device=device) for i in (fit, val))
    x_fit, x_val = standardise(x_train[fit], x_train[val])
    y_fit, y_val = y_train[fit], y_train[val]
    batches = epoch_batches(len(fit), p["batch_size"], p["sweep_epochs"], seed + 1, device)
    evaluate = lambda model: {}  # noqa: E731 - only the final validation loss matters
    results, best = {}, {}
    total, done = sum(len(lrs) for lrs in p["sweep"].values()), 0
    for name, lrs in p["sweep"].items():
        losses = []
        for lr in lrs:
            model = copy.deepcopy(init)
            train(model, name, lr, x_fit, y_fit, batches, evaluate)
            losses.append(_loss(model, x_val, y_val))
            done += 1
            progress(done, total)
        scores = [v if math.isfinite(v) else math.inf for v in losses]
        best[name] = lrs[int(np.argmin(scores))]
        results[name] = {"lrs": list(lrs), "val_loss": losses, "best_lr": best[name]}
    return results, best


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    x_train, y_train, x_test, y_test = load_digits_tensors(p["test_fraction"], ctx.seed,
                                                           ctx.device)
    gen = torch.Generator().manual_seed(ctx.seed)
    init = make_mlp(p["hidden"], gen).to(ctx.device)  # the same start for every run
    n_runs = len(OPTIMISERS) + (sum(map(len, p["sweep"].values())) if p["sweep"] else 0)
    with one_cpu_thread(ctx.device):
        if p["sweep"]:
            sweep_results, lrs = sweep(p, init, x_train, y_train, ctx.seed, ctx.device,
                                       lambda done, _total: ctx.progress(done, n_runs))
        else:
            sweep_results, lrs = None, dict(p["lrs"])
        x_train, x_test = standardise(x_train, x_test)
        batches = epoch_batches(len(y_train), p["batch_size"], p["epochs"], ctx.seed,
                                ctx.device)

        def evaluate(model):
            return {"train_loss": _loss(model, x_train, y_train),
                    "test_accuracy": _accuracy(model, x_test, y_test)}

        curves, rows, metrics = {}, [], {}
        for i, name in enumerate(OPTIMISERS):
            history = train(copy.deepcopy(init), name, lrs[name], x_train, y_train, batches,
                            evaluate)
            ms = 1000 * float(np.mean(history.pop("seconds")))
            curves[name] = {**history, "lr": lrs[name], "ms_per_epoch": ms}
            final_loss, accuracy = history["train_loss"][-1], history["test_accuracy"][-1]
            rows.append([name, lrs[name], final_loss, accuracy, round(ms, 2)])
            metrics[f"lr[{name}]"] = lrs[name]
            metrics[f"final_train_loss[{name}]"] = final_loss
            metrics[f"test_accuracy[{name}]"] = accuracy
            metrics[f"ms_per_epoch[{name}]"] = ms
            ctx.progress(n_runs - len(OPTIMISERS) + i + 1, n_runs)
    lr_source = "chosen by sweep" if sweep_results else "preset"
    return Results(
        metrics=metrics,
        tables={"optimisers": Table(
            ["optimiser", f"lr ({lr_source})", "final train loss", "test accuracy",
             "ms per epoch (machine-dependent)"], rows)},
        data={"epochs": list(range(p["epochs"] + 1)), "curves": curves, "sweep": sweep_results,
              "n_train": len(y_train), "n_test": len(y_test), "device": ctx.device},
    )


def _styles(names) -> dict[str, dict]:
    """A colour per optimiser; the variants (Nesterov, AdamW) dashed, so 8 lines stay apart."""
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab10").colors
    return {name: {"color": colours[i % len(colours)],
                   "ls": "--" if name in ("SGD+Nesterov", "AdamW") else "-"}
            for i, name in enumerate(names)}


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    curves, epochs = results.data["curves"], np.asarray(results.data["epochs"])
    style = _styles(curves)
    figures = {}

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, c in curves.items():
        loss = np.asarray(c["train_loss"], dtype=float)
        ax.semilogy(epochs, loss, lw=1.5, label=f"{name} (lr={c['lr']:g})", **style[name])
    ax.set(xlabel="epoch", ylabel="training loss (cross-entropy, whole training set)",
           title="Digits MLP: training loss per optimiser, each at its tuned learning rate")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    figures["loss"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    lowest = 1.0
    for name, c in curves.items():
        accuracy = np.asarray(c["test_accuracy"], dtype=float)
        ax.plot(epochs[1:], accuracy[1:], lw=1.5, label=name, **style[name])
        lowest = min(lowest, float(np.nanmin(accuracy[1:])))
    ax.set(xlabel="epoch", ylabel=f"test accuracy ({results.data['n_test']} held-out digits)",
           ylim=(max(0.0, lowest - 0.02), 1.0),
           title="Test accuracy after each epoch (y axis zoomed in)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    figures["accuracy"] = fig

    if results.data.get("sweep"):
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        chance = math.log(10)  # the loss of predicting every class with probability 1/10
        top = 2 * chance
        for name, s in results.data["sweep"].items():
            lrs = np.asarray(s["lrs"], dtype=float)
            val = np.array([np.nan if v is None else v for v in s["val_loss"]], dtype=float)
            off = ~(val <= top)  # diverged (NaN) or far worse than guessing: drawn at the top
            shown = np.where(off, top, val)
            ax.plot(lrs, shown, marker="o", ms=4, lw=1.2, label=name, **style[name])
            ax.plot(lrs[off], shown[off], "^", ms=8, color=style[name]["color"])
            best = lrs == s["best_lr"]
            ax.plot(lrs[best], val[best], "*", ms=13, color=style[name]["color"],
                    markeredgecolor="k")
        ax.axhline(chance, color="0.4", ls=":", lw=1)
        ax.plot([], [], "*", ms=11, color="0.6", markeredgecolor="k", label="chosen lr")
        ax.plot([], [], "^", ms=8, color="0.6", label=f"diverged or loss > {top:.1f}")
        ax.plot([], [], ":", color="0.4", label="loss of guessing (ln 10)")
        ax.set(xscale="log", yscale="log", xlabel="learning rate (log scale)",
               ylabel="validation loss after the sweep (log scale)",
               title="Learning-rate sweep: each optimiser has its own best rate")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, ncol=2, loc="upper left")
        figures["lr_sweep"] = fig
    return figures


# Half-decade grids around each optimiser's usual range.
_SWEEP = {
    "SGD": [0.1, 0.3, 1.0, 3.0],
    "SGD+momentum": [0.01, 0.03, 0.1, 0.3],
    "SGD+Nesterov": [0.01, 0.03, 0.1, 0.3],
    "Adagrad": [0.01, 0.03, 0.1, 0.3],
    "RMSprop": [3e-4, 1e-3, 3e-3, 1e-2],
    "Adadelta": [1.0, 3.0, 10.0, 30.0],
    "Adam": [3e-4, 1e-3, 3e-3, 1e-2],
    "AdamW": [3e-4, 1e-3, 3e-3, 1e-2],
}
# What the default profile's sweep chose (seed 0); used by the quick profile.
_TUNED = {"SGD": 1.0, "SGD+momentum": 0.1, "SGD+Nesterov": 0.1, "Adagrad": 0.03,
          "RMSprop": 3e-3, "Adadelta": 10.0, "Adam": 3e-3, "AdamW": 3e-3}

EXPERIMENT = register(Experiment(
    id="optimisers-digits",
    title="Comparing eight optimisers on a digits MLP at tuned learning rates",
    entries=("comparing-optimisers", "adam", "rmsprop", "adagrad", "adadelta", "momentum"),
    profiles={
        "quick": {"hidden": 128, "batch_size": 32, "epochs": 6, "test_fraction": 0.25,
                  "sweep": None, "lrs": _TUNED},
        "default": {"hidden": 128, "batch_size": 32, "epochs": 30, "test_fraction": 0.25,
                    "sweep": _SWEEP, "sweep_epochs": 8, "validation_fraction": 0.25},
        "full": {"hidden": 256, "batch_size": 32, "epochs": 100, "test_fraction": 0.25,
                 "sweep": _SWEEP, "sweep_epochs": 15, "validation_fraction": 0.25},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split()),
))
