"""Batch, stochastic and minibatch gradient descent are one optimiser fed by different loaders.

On a generated linear regression (correlated features, known weights, Gaussian noise) the
same loop, the same :class:`mlnotebook.optim.SGD` and the same mean squared error are run
with batch sizes from the whole training set (gradient descent) down to one example (SGD);
only the loader changes. Learning rates are fixed (no decay) and picked per batch size, so
the small batches settle into a noise floor above the least-squares optimum. Loss is measured
on the full training set, in float64, against the closed-form optimum; wall-clock times count
training work only and depend on the machine.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from mlnotebook.experiments._base import Experiment, Results, RunContext, Table, register
from mlnotebook.optim import SGD

# A run reaches the optimum "for practical purposes" when its loss is within this factor of it.
NEAR_OPTIMUM = 1.1


def make_regression(n: int, d: int, *, rho: float, noise: float, seed: int,
                    dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear-regression data with correlated features and known weights.

    Rows of ``X`` (shape (n, d)) are Gaussian with covariance ``rho ** |i - j|``;
    ``y`` (shape (n,)) is ``X @ w + 1 + noise * eps`` with ``w`` and ``eps`` standard normal.

    Notes
    -----
    Features are built by the AR(1) recursion ``x_j = rho x_{j-1} + sqrt(1 - rho^2) z_j``
    and products are summed elementwise rather than by a BLAS matrix product, whose last
    bits can change from call to call; so one seed gives bit-identical data.
    """
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(n, d, generator=g, dtype=torch.float64)
    X = torch.empty_like(Z)
    X[:, 0] = Z[:, 0]
    for j in range(1, d):
        X[:, j] = rho * X[:, j - 1] + math.sqrt(1 - rho**2) * Z[:, j]
    w = torch.randn(d, generator=g, dtype=torch.float64)
    y = (X * w).sum(dim=1) + 1.0 + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return X.to(dtype), y.to(dtype)


def mean_squared_error(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b) -> float:
    """Mean of ``(X @ w + b - y) ** 2``, summed elementwise so that it is reproducible."""
    return float(((X * w).sum(dim=1) + b - y).pow(2).mean())


def least_squares_loss(X: torch.Tensor, y: torch.Tensor) -> float:
    """The smallest mean squared error any weights and bias can reach on (X, y)."""
    A = torch.cat([X, torch.ones_like(X[:, :1])], dim=1)  # (n, d + 1): bias column
    theta = torch.linalg.lstsq(A, y[:, None]).solution.squeeze(1)  # (d + 1,)
    return mean_squared_error(X, y, theta[:-1], theta[-1])


class ShuffledBatches:
    """Index batches from a fresh seeded shuffle each epoch: all that is random about SGD.

    Iterating yields ``epochs * len(self)`` index tensors of at most ``batch_size`` entries
    (the last batch of an epoch may be smaller), on ``device``. Iterating again repeats them.
    """

    def __init__(self, n: int, batch_size: int, *, epochs: int, seed: int, device: str = "cpu"):
        self.n, self.batch_size, self.epochs = n, batch_size, epochs
        self.seed, self.device = seed, device

    def __len__(self) -> int:
        """Batches (so optimiser steps) per epoch."""
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epochs):
            perm = torch.randperm(self.n, generator=g).to(self.device)
            yield from perm.split(self.batch_size)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def train(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, loader, *, lr: float,
          max_steps: int, evaluate: Callable[[torch.nn.Module], float],
          eval_steps: set[int], on_eval: Callable[[int], None] = lambda step: None,
          ) -> dict[str, list]:
    """Minimise the mean squared error with SGD on the batches ``loader`` yields.

    The same loop is full-batch gradient descent, minibatch SGD or single-example SGD; only
    ``loader`` differs. ``evaluate(model)`` is recorded before the first step and after every
    step in ``eval_steps``, together with the examples processed and the training time so
    far; the clock stops while evaluating. ``y`` has shape (n, 1) like the model's output.
    """
    device = str(X.device)
    opt = SGD(model.parameters(), lr=lr)
    history = {"steps": [0], "examples": [0], "seconds": [0.0], "loss": [evaluate(model)]}
    examples, seconds = 0, 0.0
    _synchronize(device)
    started = time.perf_counter()
    for step, idx in enumerate(itertools.islice(loader, max_steps), start=1):
        opt.zero_grad()
        F.mse_loss(model(X[idx]), y[idx]).backward()
        opt.step()
        examples += idx.numel()
        if step in eval_steps:
            _synchronize(device)
            seconds += time.perf_counter() - started
            history["steps"].append(step)
            history["examples"].append(examples)
            history["seconds"].append(seconds)
            history["loss"].append(evaluate(model))
            on_eval(step)
            started = time.perf_counter()
    return history


def evaluation_steps(steps_per_epoch: int, total_steps: int, first_epoch_points: int) -> set[int]:
    """Log-spaced steps inside the first epoch, then every epoch end, then the last step."""
    inside = np.geomspace(1, steps_per_epoch, first_epoch_points).round().astype(int)
    ends = range(steps_per_epoch, total_steps + 1, steps_per_epoch)
    return {int(s) for s in (*inside, *ends, total_steps) if s <= total_steps}


def _label(batch_size: int, n: int) -> str:
    if batch_size == n:
        return f"B={n:,} (full batch GD)"
    return f"B={batch_size:,}" + (" (SGD)" if batch_size == 1 else "")


def _first_reaching(history: dict[str, list], key: str, threshold: float):
    for value, loss in zip(history[key], history["loss"], strict=True):
        if loss <= threshold:
            return value
    return None


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    n, d, epochs, max_steps = p["n"], p["d"], p["epochs"], p["max_steps"]
    data_seed, loader_seed = (int(s) for s in ctx.rng.integers(2**62, size=2))
    X64, y64 = make_regression(n, d, rho=p["rho"], noise=p["noise"], seed=data_seed)
    optimum = least_squares_loss(X64, y64)
    A = torch.cat([X64, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    hessian_eigs = torch.linalg.eigvalsh(2 * A.T @ A / n)  # of the MSE in (w, b)
    X64, y64 = X64.to(ctx.device), y64.to(ctx.device)
    X, y = X64.float(), y64.float()[:, None]  # training runs in float32, y as (n, 1)

    @torch.no_grad()
    def training_loss(model):  # float64, so tiny excess losses are not rounding noise
        return mean_squared_error(X64, y64, model.weight.double()[0], model.bias.double())

    runs = [(n if b == "full" else int(b), float(lr)) for b, lr in p["runs"]]
    plans = []
    for batch_size, lr in runs:
        loader = ShuffledBatches(n, batch_size, epochs=epochs, seed=loader_seed, device=ctx.device)
        plans.append((batch_size, lr, loader, min(max_steps, epochs * len(loader))))
    total, done = sum(plan[3] for plan in plans), 0

    rows, curves, metrics = [], {}, {
        "n": n, "d": d, "optimal_loss": optimum,
        "hessian_condition_number": float(hessian_eigs[-1] / hessian_eigs[0]),
        "full_batch_lr_stability_limit": float(2 / hessian_eigs[-1]),
    }
    for batch_size, lr, loader, steps in plans:
        model = torch.nn.Linear(d, 1).to(ctx.device)
        torch.nn.init.zeros_(model.weight)  # every run starts from the same point
        torch.nn.init.zeros_(model.bias)
        history = train(model, X, y, loader, lr=lr, max_steps=steps, evaluate=training_loss,
                        eval_steps=evaluation_steps(len(loader), steps, p["first_epoch_points"]),
                        on_eval=lambda step, before=done: ctx.progress(before + step, total))
        done += steps
        label = _label(batch_size, n)
        loss = np.asarray(history["loss"])
        history["epochs"] = [e / n for e in history["examples"]]
        history["excess"] = (loss - optimum).tolist()
        history["batch_size"], history["lr"] = batch_size, lr
        curves[label] = history
        epochs_run = history["epochs"][-1]
        threshold = NEAR_OPTIMUM * optimum
        examples_to, seconds_to = (_first_reaching(history, k, threshold)
                                   for k in ("examples", "seconds"))
        capped = steps < epochs * len(loader)
        rows.append([
            label, lr, len(loader), round(epochs_run, 3), steps, float(loss[-1]),
            float(loss[-1] - optimum), examples_to,
            history["seconds"][-1] / epochs_run, seconds_to,
            f"capped at {steps:,} steps" if capped else f"{epochs} epochs",
        ])
        metrics[f"final_excess_loss[{label}]"] = float(loss[-1] - optimum)
        metrics[f"examples_to_{NEAR_OPTIMUM:g}x_optimum[{label}]"] = examples_to
        metrics[f"seconds_to_{NEAR_OPTIMUM:g}x_optimum[{label}]"] = seconds_to
    columns = ["run", "lr (fixed)", "steps per epoch", "epochs run", "steps", "final loss",
               "final excess loss", f"examples to {NEAR_OPTIMUM:g}x optimum",
               "seconds per epoch", f"seconds to {NEAR_OPTIMUM:g}x optimum", "stopped after"]
    return Results(
        metrics=metrics,
        tables={"batch_sizes": Table(columns, rows)},
        data={"optimal_loss": optimum, "n": n, "data_seed": data_seed, "device": ctx.device,
              "curves": curves},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    optimum, n = results.data["optimal_loss"], results.data["n"]
    curves = results.data["curves"]
    near = (NEAR_OPTIMUM - 1) * optimum
    near_label = f"{NEAR_OPTIMUM:g}x optimal loss"
    figures = {}
    specs = [
        ("loss_vs_epochs", "epochs", f"epochs (passes over the {n:,} training examples)",
         "Per epoch, smaller batches take more steps: a fast start, then a noise floor"),
        ("loss_vs_examples", "examples", "examples processed (log scale)",
         "SGD makes progress long before one epoch ends"),
        ("loss_vs_time", "seconds", "training wall-clock time in seconds (log scale)",
         f"Loss against time on {results.data['device']} (machine-dependent)"),
    ]
    for name, key, xlabel, title in specs:
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for label, curve in curves.items():
            x = np.asarray(curve[key], dtype=float)
            excess = np.asarray(curve["excess"], dtype=float)
            if key != "epochs":  # a log axis cannot show the starting point at 0
                x, excess = x[1:], excess[1:]
            ax.plot(x, np.maximum(excess, 1e-12), ".-", ms=3, lw=1.2,
                    label=f"{label}, lr={curve['lr']:g}")
        ax.axhline(near, color="0.5", ls=":", lw=1, label=near_label)
        if key == "examples":
            ax.axvline(n, color="0.5", ls="--", lw=1, label="one epoch")
        ax.set_yscale("log")
        if key != "epochs":
            ax.set_xscale("log")
        ax.set(xlabel=xlabel, ylabel="training loss − least-squares optimum", title=title)
        ax.minorticks_off()  # the decade grid is enough to read, and halves the drawing time
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        figures[name] = fig
    return figures


_RUNS = [["full", 0.2], [1000, 0.2], [100, 0.1], [10, 0.03], [1, 0.003]]

EXPERIMENT = register(Experiment(
    id="minibatch-sgd",
    title="Batch vs stochastic vs minibatch gradient descent on linear regression",
    entries=("gradient-descent", "sgd", "minibatch-sgd"),
    profiles={
        "quick": {"n": 2000, "d": 20, "rho": 0.6, "noise": 0.5, "epochs": 10,
                  "max_steps": 600, "first_epoch_points": 8,
                  "runs": [["full", 0.2], [100, 0.1], [10, 0.03], [1, 0.003]]},
        "default": {"n": 10_000, "d": 20, "rho": 0.6, "noise": 0.5, "epochs": 30,
                    "max_steps": 10_000, "first_epoch_points": 20, "runs": _RUNS},
        "full": {"n": 100_000, "d": 20, "rho": 0.6, "noise": 0.5, "epochs": 30,
                 "max_steps": 50_000, "first_epoch_points": 30,
                 "runs": [["full", 0.2], [10_000, 0.2], *_RUNS[1:]]},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split()),
))
