"""Dropout on an over-parameterised MLP that memorises a small digits training set.

A 64-256-256-10 ReLU network (about 85,000 weights) learns from only a few hundred of
scikit-learn's 8x8 digits and is tested on all the others. Every variant starts from the same
weights and sees the same minibatches (Adam, lr 1e-3); they differ only in mlnotebook.nn.Dropout
after each hidden layer (and, in one variant, on the input pixels). All reach 100% training
accuracy. With clean labels there is little to overfit to, and dropout changes test accuracy by
a point or so. With part of the training labels replaced by wrong ones, the plain network
memorises the wrong labels and its test accuracy falls; dropout makes memorising them much
harder, and the gap between training and test accuracy shrinks. Train accuracy is measured in
eval mode (dropout off), like test accuracy, against the labels the network was given, wrong
ones included.
"""

from __future__ import annotations

import numpy as np
import torch

from mlnotebook.experiments import _mlp
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)
from mlnotebook.optim import Adam


def run(p: dict, variant: dict, label_noise: float, seed: int, device: str):
    """Train one variant on one split: its history (lists per evaluation), (n_train, n_test)."""
    x_train, y_clean, x_test, y_test = _mlp.digits_split(p["n_train"], seed, device)
    y_train, corrupted = _mlp.corrupt_labels(y_clean, label_noise,
                                             torch.Generator().manual_seed(seed + 1))
    model = _mlp.make_mlp(
        [64, p["hidden"], p["hidden"], 10], torch.Generator().manual_seed(seed),
        dropout=variant["p"], input_dropout=variant["input_p"],
        dropout_generator=torch.Generator(device=device).manual_seed(seed + 2)).to(device)
    batches = _mlp.epoch_batches(len(y_train), p["batch_size"], p["epochs"], seed + 3, device)

    def evaluate(m):
        train_loss, train_accuracy = _mlp.loss_and_accuracy(m, x_train, y_train)
        test_loss, test_accuracy = _mlp.loss_and_accuracy(m, x_test, y_test)
        values = {"train_loss": train_loss, "train_accuracy": train_accuracy,
                  "test_loss": test_loss, "test_accuracy": test_accuracy}
        if corrupted.any():
            predicted = m(x_train[corrupted]).argmax(dim=1)
            values["memorised"] = float((predicted == y_train[corrupted]).float().mean())
        return values

    opt = Adam(model.parameters(), lr=p["lr"])
    history = _mlp.train(model, opt, x_train, y_train, batches, evaluate,
                         every=p["eval_every"])
    return history, (len(y_train), len(y_test))


def _condition_label(noise: float) -> str:
    return "clean labels" if noise == 0 else f"{noise:.0%} wrong labels"


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    conditions = [_condition_label(noise) for noise in p["label_noise"]]
    total, done = len(conditions) * len(p["variants"]) * p["repeats"], 0
    curves: dict[str, dict] = {}
    rows, metrics = [], {}
    with one_cpu_thread(ctx.device):
        for noise, condition in zip(p["label_noise"], conditions, strict=True):
            curves[condition] = {}
            for variant in p["variants"]:
                histories = []
                for r in range(p["repeats"]):
                    history, sizes = run(p, variant, noise, ctx.seed + 10 * r, ctx.device)
                    histories.append(history)
                    done += 1
                    ctx.progress(done, total)
                keys = [k for k, v in histories[0].items() if isinstance(v, list)]
                mean = {k: np.mean([h[k] for h in histories], axis=0).tolist() for k in keys}
                finals = {k: [h[k][-1] for h in histories] for k in keys if k != "epoch"}
                curves[condition][variant["label"]] = mean
                train_acc = float(np.mean(finals["train_accuracy"]))
                test_acc = float(np.mean(finals["test_accuracy"]))
                gap = train_acc - test_acc
                memorised = float(np.mean(finals["memorised"])) if "memorised" in finals \
                    else None
                spread = (float(np.std(finals["test_accuracy"])) if p["repeats"] > 1 else None)
                rows.append([condition, variant["label"], train_acc, test_acc, spread, gap,
                             float(np.mean(finals["test_loss"])), memorised])
                key = f"{condition} | {variant['label']}"
                metrics[f"train_accuracy[{key}]"] = train_acc
                metrics[f"test_accuracy[{key}]"] = test_acc
                metrics[f"gap[{key}]"] = gap
                if memorised is not None:
                    metrics[f"memorised[{key}]"] = memorised
    return Results(
        metrics=metrics,
        tables={"final": Table(
            ["training labels", "model", "train accuracy (eval mode)", "test accuracy",
             "test accuracy std over repeats", "gap (train - test)", "test loss",
             "wrong training labels memorised"], rows)},
        data={"curves": curves, "conditions": conditions,
              "variants": [v["label"] for v in p["variants"]],
              "n_train": sizes[0], "n_test": sizes[1], "hidden": p["hidden"],
              "repeats": p["repeats"]},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    d = results.data
    colours = dict(zip(d["variants"], plt.get_cmap("tab10").colors, strict=False))
    figures = {}
    n = len(d["conditions"])
    for name, ylabel, log in (("accuracy", "accuracy", False),
                              ("loss", "cross-entropy loss (log scale)", True)):
        fig, axes = plt.subplots(1, n, figsize=(6 * n, 4.5), squeeze=False, sharey=True)
        for ax, condition in zip(axes[0], d["conditions"], strict=True):
            for variant, c in d["curves"][condition].items():
                epochs = np.asarray(c["epoch"])
                train = np.asarray(c[f"train_{name}"], dtype=float)
                test = np.asarray(c[f"test_{name}"], dtype=float)
                ax.plot(epochs, train, "--", color=colours[variant], lw=1.3)
                ax.plot(epochs, test, "-", color=colours[variant], lw=1.8, label=variant)
            ax.set(title=f"{condition} ({d['n_train']} training images)", xlabel="epoch",
                   yscale="log" if log else "linear")
            if not log:
                ax.set_ylim(0.5, 1.005)
            ax.grid(True, alpha=0.3)
        axes[0][0].set_ylabel(ylabel)
        axes[0][0].plot([], [], "k-", label=f"test ({d['n_test']} images)")
        axes[0][0].plot([], [], "k--", label="train (eval mode: dropout off)")
        axes[0][0].legend(fontsize=8, loc="lower right" if not log else "upper right")
        fig.suptitle(f"Digits MLP 64-{d['hidden']}-{d['hidden']}-10 with and without dropout")
        fig.tight_layout()
        figures[name] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    rows = results.tables["final"].rows
    width = 0.8 / len(d["variants"])
    for j, variant in enumerate(d["variants"]):
        test = [r[3] for r in rows if r[1] == variant]
        gap = [r[5] for r in rows if r[1] == variant]
        xs = np.arange(n) + (j - (len(d["variants"]) - 1) / 2) * width
        ax.bar(xs, test, width, color=colours[variant], label=variant)
        ax.bar(xs, gap, width, bottom=test, color=colours[variant], alpha=0.35, hatch="//")
        for x, t in zip(xs, test, strict=True):
            ax.text(x, t - 0.01, f"{t:.3f}", ha="center", va="top", fontsize=7, rotation=90,
                    color="white")
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="0.6", alpha=0.35, hatch="//",
                         label="gap: train accuracy - test accuracy"))
    ax.set(xticks=np.arange(n), xticklabels=d["conditions"], ylim=(0.5, 1.02),
           ylabel="final test accuracy (solid) + gap (hatched)",
           title="Generalisation gap: train accuracy minus test accuracy")
    ax.legend(handles=handles, fontsize=8, loc="lower left")
    ax.grid(True, axis="y", alpha=0.3)
    figures["gap"] = fig
    return figures


_VARIANTS = [
    {"label": "no dropout", "p": 0.0, "input_p": 0.0},
    {"label": "dropout 0.5", "p": 0.5, "input_p": 0.0},
    {"label": "dropout 0.5 + input 0.2", "p": 0.5, "input_p": 0.2},
]

EXPERIMENT = register(Experiment(
    id="dropout-digits",
    title="Dropout on an over-parameterised digits MLP: train vs test accuracy",
    entries=("dropout",),
    profiles={
        "quick": {"n_train": 200, "hidden": 64, "epochs": 6, "eval_every": 2, "batch_size": 32,
                  "lr": 1e-3, "label_noise": [0.0, 0.2], "variants": _VARIANTS[:2],
                  "repeats": 1},
        "default": {"n_train": 300, "hidden": 256, "epochs": 100, "eval_every": 2,
                    "batch_size": 32, "lr": 1e-3, "label_noise": [0.0, 0.2],
                    "variants": _VARIANTS, "repeats": 1},
        "full": {"n_train": 300, "hidden": 512, "epochs": 150, "eval_every": 2, "batch_size": 32,
                 "lr": 1e-3, "label_noise": [0.0, 0.2],
                 "variants": [*_VARIANTS[:2], {"label": "dropout 0.2", "p": 0.2,
                                               "input_p": 0.0}, _VARIANTS[2]],
                 "repeats": 3},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
