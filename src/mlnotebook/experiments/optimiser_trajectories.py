"""Seven optimisers race on a ravine and on Rosenbrock's banana valley.

Each optimiser gets its best learning rate from a log-spaced grid (the one that first brings
the loss below the tolerance, or else the lowest final loss). Every grid point is its own
parameter group holding its own copy of the starting point, so one optimiser object runs the
whole sweep at once; the loss is the sum over groups, whose gradient with respect to each
copy is exactly that copy's own gradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)
from mlnotebook.optim import SGD, Adadelta, Adagrad, Adam, RMSprop


def ravine(xy: torch.Tensor, kappa: float = 20.0) -> torch.Tensor:
    """(x^2 + kappa y^2) / 2 for ``xy`` of shape (..., 2); minimum 0 at the origin."""
    return 0.5 * (xy[..., 0] ** 2 + kappa * xy[..., 1] ** 2)


def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
    """(1 - x)^2 + 100 (y - x^2)^2 for ``xy`` of shape (..., 2); minimum 0 at (1, 1)."""
    return (1 - xy[..., 0]) ** 2 + 100 * (xy[..., 1] - xy[..., 0] ** 2) ** 2


PROBLEMS = {
    "ravine": dict(loss=ravine, start=(-4.0, 1.0), optimum=(0.0, 0.0), tol=1e-6,
                   box=((-5.0, 1.5), (-1.6, 1.6))),
    "rosenbrock": dict(loss=rosenbrock, start=(-1.5, 2.0), optimum=(1.0, 1.0), tol=1e-4,
                       box=((-2.0, 2.0), (-0.5, 3.0))),
}

# name: (class, fixed keyword arguments, lowest and highest learning rate of the sweep)
OPTIMISERS = {
    "GD": (SGD, {}, 1e-4, 1.0),
    "momentum": (SGD, {"momentum": 0.9}, 1e-4, 1.0),
    "Nesterov": (SGD, {"momentum": 0.9, "nesterov": True}, 1e-4, 1.0),
    "Adagrad": (Adagrad, {}, 1e-2, 10.0),
    "RMSprop": (RMSprop, {}, 1e-4, 1.0),
    "Adadelta": (Adadelta, {}, 1e-1, 100.0),
    "Adam": (Adam, {}, 1e-3, 1.0),
}


def sweep(problem: dict, cls, kwargs: dict, lrs: np.ndarray, steps: int, device: str):
    """Run one optimiser at every lr at once.

    Returns positions of shape (steps + 1, n_lr, 2) and losses of shape (steps + 1, n_lr).
    """
    start = torch.tensor(problem["start"], dtype=torch.float64, device=device)
    copies = [start.clone().requires_grad_() for _ in lrs]
    groups = [{"params": [c], "lr": float(lr)} for c, lr in zip(copies, lrs, strict=True)]
    opt = cls(groups, **kwargs)
    path = [torch.stack([c.detach() for c in copies])]
    for _ in range(steps):
        opt.zero_grad()
        problem["loss"](torch.stack(copies)).sum().backward()
        opt.step()
        path.append(torch.stack([c.detach() for c in copies]))
    positions = torch.stack(path)                                   # (steps+1, n_lr, 2)
    losses = problem["loss"](positions)                             # (steps+1, n_lr)
    return positions.cpu().numpy(), losses.cpu().numpy()


def first_below(losses: np.ndarray, tol: float) -> int | None:
    """The first step from which the loss stays below ``tol`` to the end, or None.

    "Stays" matters: an oscillating optimiser can dip below the tolerance once and bounce
    back out, which is not convergence.
    """
    outside = np.flatnonzero(~(np.isfinite(losses) & (losses < tol)))
    if outside.size == 0:
        return 0
    return None if outside[-1] == losses.size - 1 else int(outside[-1] + 1)


def choose(losses: np.ndarray, tol: float) -> int:
    """Index of the best lr: fastest to settle below the tolerance, else lowest final loss."""
    reach = [first_below(losses[:, j], tol) for j in range(losses.shape[1])]
    if any(r is not None for r in reach):
        return min((r, j) for j, r in enumerate(reach) if r is not None)[1]
    final = np.where(np.isfinite(losses[-1]), losses[-1], np.inf)
    return int(np.argmin(final))


def compute(ctx: RunContext) -> Results:
    steps, n_lr = ctx.params["steps"], ctx.params["n_lr"]
    rows, paths, curves = [], {}, {}
    total = len(PROBLEMS) * len(OPTIMISERS)
    for p_name, problem in PROBLEMS.items():
        paths[p_name], curves[p_name] = {}, {}
        for name, (cls, kwargs, low, high) in OPTIMISERS.items():
            lrs = np.geomspace(low, high, n_lr)
            with one_cpu_thread(ctx.device):
                positions, losses = sweep(problem, cls, kwargs, lrs, steps, ctx.device)
            best = choose(losses, problem["tol"])
            reached = first_below(losses[:, best], problem["tol"])
            final = float(losses[-1, best])
            diverged = int(np.sum(~np.isfinite(losses[-1]) | (losses[-1] > losses[0])))
            rows.append([p_name, name, float(lrs[best]), reached,
                         final if math.isfinite(final) else None, diverged])
            paths[p_name][name] = positions[:, best]
            curves[p_name][name] = losses[:, best]
            ctx.progress(len(rows), total)
    metrics = {f"steps_to_tol[{p}, {o}]": r for p, o, _lr, r, _f, _d in rows}
    return Results(
        metrics=metrics,
        tables={"race": Table(["problem", "optimiser", "best lr", "steps until loss stays < tol",
                               f"loss after {steps} steps", f"of {n_lr} lrs diverged"],
                              rows)},
        data={"steps": steps, "paths": paths, "losses": curves,
              "tolerances": {p: PROBLEMS[p]["tol"] for p in PROBLEMS}},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    fig_paths, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, (p_name, problem) in zip(axes, PROBLEMS.items(), strict=True):
        (x0, x1), (y0, y1) = problem["box"]
        xs, ys = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
        grid = torch.from_numpy(np.stack([xs, ys], axis=-1))
        zs = problem["loss"](grid).numpy()
        ax.contour(xs, ys, zs, levels=np.geomspace(max(zs.min(), 1e-3), zs.max(), 18),
                   colors="0.78", linewidths=0.7)
        for name, path in results.data["paths"][p_name].items():
            path = np.asarray(path, dtype=float)
            keep = np.all(np.isfinite(path), axis=1)
            ax.plot(path[keep, 0], path[keep, 1], lw=1.2, label=name)
        ax.plot(*problem["start"], "ko", ms=5)
        ax.plot(*problem["optimum"], "k*", ms=12)
        ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y",
               title=f"{p_name}: each optimiser at its best learning rate")
    axes[1].legend(fontsize=8, loc="upper right")

    fig_loss, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, p_name in zip(axes, PROBLEMS, strict=True):
        for name, curve in results.data["losses"][p_name].items():
            curve = np.asarray(curve, dtype=float)
            ax.semilogy(np.clip(curve, 1e-16, None), lw=1.2, label=name)
        ax.axhline(results.data["tolerances"][p_name], color="k", ls=":", lw=1,
                   label="tolerance")
        ax.set(xlabel="step", ylabel="loss - minimum", title=f"{p_name}: loss per step")
    axes[0].legend(fontsize=8)
    return {"trajectories": fig_paths, "loss": fig_loss}


EXPERIMENT = register(Experiment(
    id="optimiser-trajectories",
    title="Optimisers race on a ravine and on the Rosenbrock function",
    entries=("comparing-optimisers", "gradient-descent", "momentum", "adagrad", "rmsprop",
             "adadelta", "adam", "optimisation-challenges"),
    profiles={
        "quick": {"steps": 100, "n_lr": 3},
        "default": {"steps": 2000, "n_lr": 7},
        "full": {"steps": 10000, "n_lr": 17},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
