"""Batch norm against layer norm as the batch shrinks: accuracy and the train/eval mismatch.

The same digits MLP (two hidden ReLU layers of 64) is trained with mlnotebook.nn.BatchNorm1d,
with mlnotebook.nn.LayerNorm, or with no normalisation, at batch sizes from 128 down to 2.
Every run sees the same number of training examples, starts from the same weights, and uses
SGD with momentum 0.9 at a learning rate proportional to the batch size (the linear scaling
rule), so that every run gets a comparable amount of training; only at batch size 128, with
few steps, does the unnormalised network lag behind. Batch norm standardises
each feature with the mean and variance of the batch: with 2 examples every feature becomes
+-1 in training, while evaluation uses running averages of those noisy statistics, so the
network evaluated is not the one trained. The table compares the loss on the training set as
training saw it (train mode, batches of the training size) with the loss in eval mode. Layer
norm uses each example's own statistics, so both modes compute the same function at any
batch size.
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

NORMS = {"no norm": None, "BatchNorm": "batch", "LayerNorm": "layer"}


def step_batches(n: int, batch_size: int, examples: int, chunks: int, seed: int,
                 device: str) -> list[list[torch.Tensor]]:
    """``examples // batch_size`` minibatches of seeded shuffles, cut into ``chunks`` parts.

    Each part plays the role of an epoch for :func:`_mlp.train`, which evaluates after each.
    """
    steps = examples // batch_size
    epochs = math.ceil(steps / (n // batch_size))
    flat = [idx for epoch in _mlp.epoch_batches(n, batch_size, epochs, seed, device)
            for idx in epoch][:steps]
    bounds = np.linspace(0, steps, chunks + 1).round().astype(int)
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


@torch.no_grad()
def mode_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                seed: int) -> dict[str, tuple[float, float]]:
    """Loss and accuracy of ``model`` on ``(x, y)`` in train mode and in eval mode.

    Train mode is the function the optimiser saw: the examples go through in shuffled batches
    of ``batch_size`` and batch norm standardises each batch with its own statistics. Eval
    mode is the function that is deployed: batch norm uses its running averages. Both score
    the same examples (those left over after the last full batch are left out). ``model``'s
    running statistics and mode are left as they were.

    Returns
    -------
    {"train": (loss, accuracy), "eval": (loss, accuracy)}
    """
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    order = order[: len(y) // batch_size * batch_size].to(x.device)
    # train mode on a copy: its forward passes update the copy's running statistics
    probe = copy.deepcopy(model).train()
    scores = {"train": torch.cat([probe(x[idx]) for idx in order.split(batch_size)])}
    was_training = model.training
    scores["eval"] = model.eval()(x[order])                               # (n_scored, 10)
    model.train(was_training)
    return {mode: (float(nn.functional.cross_entropy(z, y[order])),
                   float((z.argmax(dim=1) == y[order]).float().mean()))
            for mode, z in scores.items()}


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    x_train, y_train, x_test, y_test = _mlp.digits_split(p["train_fraction"], ctx.seed,
                                                         ctx.device)
    sizes = [64] + [p["width"]] * p["depth"] + [10]

    def evaluate(model):
        test_loss, test_accuracy = _mlp.loss_and_accuracy(model, x_test, y_test)
        return {"test_loss": test_loss, "test_accuracy": test_accuracy}

    runs, rows, metrics = {}, [], {}
    total, done = len(NORMS) * len(p["batch_sizes"]), 0
    with one_cpu_thread(ctx.device):
        for batch_size in p["batch_sizes"]:
            batches = step_batches(len(y_train), batch_size, p["examples"], p["checkpoints"],
                                   ctx.seed + 1, ctx.device)
            lr = p["lr_at_128"] * batch_size / 128
            for name, norm in NORMS.items():
                model = _mlp.make_mlp(sizes, torch.Generator().manual_seed(ctx.seed),
                                      norm=norm).to(ctx.device)
                opt = SGD(model.parameters(), lr=lr, momentum=p["momentum"])
                history = _mlp.train(model, opt, x_train, y_train, batches, evaluate)
                modes = mode_losses(model, x_train, y_train, batch_size, ctx.seed + 2)
                (train_loss, train_accuracy), (eval_loss, eval_accuracy) = modes.values()
                seen = np.cumsum([0] + [len(b) * batch_size for b in batches])
                history["examples"] = seen[: len(history["epoch"])].tolist()
                runs[f"{name}, batch {batch_size}"] = {"norm": name, "batch_size": batch_size,
                                                       "history": history}
                test_loss, test_accuracy = history["test_loss"][-1], history["test_accuracy"][-1]
                rows.append([batch_size, name, round(lr, 6), test_accuracy, test_loss,
                             train_loss, eval_loss, train_loss - eval_loss, train_accuracy,
                             eval_accuracy])
                key = f"{name}, batch {batch_size}"
                metrics[f"test_accuracy[{key}]"] = test_accuracy
                metrics[f"test_loss[{key}]"] = test_loss
                metrics[f"train_mode_minus_eval_mode_loss[{key}]"] = train_loss - eval_loss
                done += 1
                ctx.progress(done, total)
    return Results(
        metrics=metrics,
        tables={"batch_sizes": Table(
            ["batch size", "network", "lr", "test accuracy (eval mode)", "test loss",
             "train loss, train mode", "train loss, eval mode", "train mode - eval mode",
             "train accuracy, train mode", "train accuracy, eval mode"], rows)},
        data={"runs": runs, "batch_sizes": list(p["batch_sizes"]), "norms": list(NORMS),
              "examples": p["examples"], "n_train": len(y_train),
              "n_test": len(y_test)},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    colours = {"no norm": "C0", "BatchNorm": "C3", "LayerNorm": "C2"}
    sizes = d["batch_sizes"]
    by = {(r[1], r[0]): r for r in results.tables["batch_sizes"].rows}
    figures = {}

    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(12, 4.3))
    for name in d["norms"]:
        acc_ax.plot(sizes, [by[name, b][3] for b in sizes], "o-", color=colours[name],
                    label=name)
        loss_ax.plot(sizes, [by[name, b][4] for b in sizes], "o-", color=colours[name],
                     label=name)
    acc_ax.set(ylabel=f"test accuracy ({d['n_test']} digits, eval mode)")
    loss_ax.set(ylabel="test loss (log scale)", yscale="log")
    for ax in (acc_ax, loss_ax):
        ax.set(xscale="log", xlabel="batch size (log scale, shrinking to the right)")
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Same network, same {d['examples']} training examples seen, lr "
                 "proportional to batch size")
    fig.tight_layout()
    figures["batch_size"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in d["norms"]:
        ax.plot(sizes, [by[name, b][5] for b in sizes], "o--", color=colours[name],
                label=f"{name}: train mode (batches as in training)")
        ax.plot(sizes, [by[name, b][6] for b in sizes], "s-", color=colours[name], ms=4,
                label=f"{name}: eval mode (running statistics)")
    ax.set(xscale="log", yscale="log", xlabel="batch size (log scale, shrinking to the right)",
           ylabel="loss on the training set (log scale)",
           title="The network trained vs the network evaluated")
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figures["train_vs_eval_mode"] = fig

    shown = sorted({max(sizes), min(sizes)}, reverse=True)
    fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4.3), squeeze=False,
                             sharey=True)
    for ax, batch_size in zip(axes[0], shown, strict=True):
        for name in d["norms"]:
            h = d["runs"][f"{name}, batch {batch_size}"]["history"]
            ax.plot(h["examples"], h["test_accuracy"], "o-", ms=3, color=colours[name],
                    label=name)
        ax.set(title=f"batch size {batch_size}", xlabel="training examples seen",
               ylim=(0, 1))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (eval mode)")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    figures["curves"] = fig
    return figures


EXPERIMENT = register(Experiment(
    id="norm-batch-size",
    title="BatchNorm vs LayerNorm as the batch size shrinks",
    entries=("batch-normalisation", "layer-normalisation"),
    profiles={
        "quick": {"width": 32, "depth": 2, "train_fraction": 0.75, "batch_sizes": [16, 2],
                  "examples": 240, "checkpoints": 2, "lr_at_128": 0.1, "momentum": 0.9},
        "default": {"width": 64, "depth": 2, "train_fraction": 0.75,
                    "batch_sizes": [128, 32, 8, 4, 2], "examples": 3000, "checkpoints": 8,
                    "lr_at_128": 0.1, "momentum": 0.9},
        "full": {"width": 128, "depth": 3, "train_fraction": 0.75,
                 "batch_sizes": [256, 128, 64, 32, 16, 8, 4, 2], "examples": 10000,
                 "checkpoints": 16, "lr_at_128": 0.1, "momentum": 0.9},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
