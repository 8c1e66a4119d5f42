"""Learning-rate schedules on one task: the same network, data order and peak rate, five plans.

A small MLP learns scikit-learn's bundled 8x8 digits with minibatch SGD (momentum 0.9).
Every run starts from the same weights and sees the same minibatches in the same order;
only the schedule differs, and every schedule peaks at the same rate. The schedules are
stepped once per minibatch. A constant rate keeps jittering at the level its step size
allows; the smooth decays shrink that jitter and reach a lower training loss, warm-up then
cosine the lowest, while a step decay that comes too early freezes progress at its level.
"""

from __future__ import annotations

import copy

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
from mlnotebook.optim import SGD
from mlnotebook.optim.lr_scheduler import (
    ExponentialLR,
    InverseSqrtLR,
    StepLR,
    WarmupCosineLR,
)

SCHEDULES = ("constant", "step", "exponential", "warmup+cosine", "inverse-sqrt")


def load_digits_split(test_fraction: float, rng: np.random.Generator, device: str):
    """Digits as float32 tensors in [0, 1]: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = rng.permutation(len(y))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    x = torch.as_tensor(x / 16.0, dtype=torch.float32, device=device)  # pixels are 0..16
    y = torch.as_tensor(y, dtype=torch.long, device=device)
    return x[train], y[train], x[test], y[test]


def make_scheduler(name: str, opt, *, total_steps: int, warmup_steps: int, d_model: int):
    """Schedule ``name`` for ``total_steps`` minibatch steps, peaking at the optimiser's lr."""
    if name == "constant":
        return None
    if name == "step":  # divide by 10 after a third of the run and again after two thirds
        return StepLR(opt, step_size=total_steps // 3 + 1, gamma=0.1)
    if name == "exponential":  # down by a factor 100 over the run
        return ExponentialLR(opt, gamma=0.01 ** (1.0 / total_steps))
    if name == "warmup+cosine":
        return WarmupCosineLR(opt, warmup_steps=warmup_steps, total_steps=total_steps)
    if name == "inverse-sqrt":  # Noam, scaled so that its peak at warmup_steps is the lr
        return InverseSqrtLR(opt, d_model=d_model, warmup_steps=warmup_steps,
                             scale=(d_model * warmup_steps) ** 0.5)
    raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")


def train(model, scheduler_name, data, batches, *, lr, warmup_steps):
    """Train ``model`` in place over ``batches`` (a list of epochs of index tensors).

    Returns the full training loss before training and after each epoch, the rate of every
    step and the final test accuracy.
    """
    x_train, y_train, x_test, y_test = data
    opt = SGD(model.parameters(), lr=lr, momentum=0.9)
    total = sum(len(epoch) for epoch in batches)
    sched = make_scheduler(scheduler_name, opt, total_steps=total, warmup_steps=warmup_steps,
                           d_model=model[0].out_features)
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        losses, rates = [float(loss_fn(model(x_train), y_train))], []
    for epoch in batches:
        model.train()
        for idx in epoch:
            rates.append(opt.param_groups[0]["lr"])
            opt.zero_grad()
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
        model.eval()
        with torch.no_grad():
            losses.append(float(loss_fn(model(x_train), y_train)))
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(dim=1) == y_test).float().mean())
    return losses, rates, accuracy


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    data = load_digits_split(p["test_fraction"], ctx.rng, ctx.device)
    n_train = len(data[1])
    gen = torch.Generator().manual_seed(ctx.seed)
    init = nn.Sequential(nn.Linear(64, p["hidden"]), nn.ReLU(), nn.Linear(p["hidden"], 10))
    with torch.no_grad():  # the same initial weights for every schedule, from the seed
        for layer in (init[0], init[2]):
            bound = layer.in_features ** -0.5  # torch's default uniform range
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
    init.to(ctx.device)
    # The same minibatches, in the same order, for every schedule.
    batches = [torch.randperm(n_train, generator=gen).to(ctx.device).split(p["batch_size"])
               for _ in range(p["epochs"])]
    warmup_steps = max(1, round(p["warmup_fraction"] * sum(len(e) for e in batches)))
    rows, curves, rates = [], {}, {}
    with one_cpu_thread(ctx.device):
        for i, name in enumerate(SCHEDULES):
            losses, lrs, accuracy = train(copy.deepcopy(init), name, data, batches,
                                          lr=p["lr"], warmup_steps=warmup_steps)
            curves[name], rates[name] = losses, lrs
            rows.append([name, losses[-1], min(losses), accuracy, lrs[-1]])
            ctx.progress(i + 1, len(SCHEDULES))
    metrics = {}
    for name, final, _best, accuracy, _lr in rows:
        metrics[f"final_train_loss[{name}]"] = final
        metrics[f"test_accuracy[{name}]"] = accuracy
    return Results(
        metrics=metrics,
        tables={"schedules": Table(
            ["schedule", "final train loss", "lowest train loss", "test accuracy",
             "final lr"], rows)},
        data={"losses": curves, "rates": rates, "steps_per_epoch": len(batches[0]),
              "warmup_steps": warmup_steps, "lr": p["lr"]},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    fig_lr, ax = plt.subplots(figsize=(7, 4))
    for name, rates in results.data["rates"].items():
        ax.plot(np.arange(len(rates)), rates, label=name)
    ax.set(xlabel="optimiser step (minibatch)", ylabel="learning rate",
           title="The schedules: same peak rate, different plans")
    ax.legend(fontsize=8)

    fig_loss, ax = plt.subplots(figsize=(7, 4))
    for name, losses in results.data["losses"].items():
        ax.semilogy(np.arange(len(losses)), losses, label=name)
    ax.set(xlabel="epoch", ylabel="training loss (full training set)",
           title="Digits MLP, SGD with momentum 0.9: training loss per schedule")
    ax.legend(fontsize=8)
    return {"lr": fig_lr, "loss": fig_loss}


EXPERIMENT = register(Experiment(
    id="lr-schedules",
    title="Learning-rate schedules on a digits MLP",
    entries=("learning-rate-schedules",),
    profiles={
        "quick": {"epochs": 6, "batch_size": 128, "hidden": 64, "lr": 0.3,
                  "warmup_fraction": 0.05, "test_fraction": 0.25},
        "default": {"epochs": 30, "batch_size": 32, "hidden": 128, "lr": 0.3,
                    "warmup_fraction": 0.05, "test_fraction": 0.25},
        "full": {"epochs": 150, "batch_size": 32, "hidden": 256, "lr": 0.1,
                 "warmup_fraction": 0.05, "test_fraction": 0.25},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
