"""Gradient descent on a ravine: how the learning rate decides crawl, converge or diverge.

The loss is the quadratic bowl L(x, y) = (x^2 + kappa * y^2) / 2, whose Hessian has
eigenvalues 1 and kappa. Theory says plain gradient descent converges iff lr < 2 / kappa and
that the error shrinks by max_i |1 - lr * lambda_i| per step; the experiment measures it.
"""

from __future__ import annotations

import numpy as np
import torch

from mlnotebook.experiments._base import Experiment, Results, RunContext, Table, register
from mlnotebook.optim import SGD


def ravine_loss(xy: torch.Tensor, kappa: float) -> torch.Tensor:
    """L(x, y) = (x^2 + kappa y^2) / 2 for ``xy`` of shape (..., 2)."""
    return 0.5 * (xy[..., 0] ** 2 + kappa * xy[..., 1] ** 2)


def descend(start, loss_fn, *, lr: float, momentum: float, steps: int, device: str) -> np.ndarray:
    """Positions visited by SGD (full batch, so plain gradient descent), shape (steps + 1, 2)."""
    xy = torch.tensor(start, dtype=torch.float64, device=device, requires_grad=True)
    opt = SGD([xy], lr=lr, momentum=momentum)
    path = [xy.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(xy).backward()
        opt.step()
        path.append(xy.detach().clone())
    return torch.stack(path).cpu().numpy()


def compute(ctx: RunContext) -> Results:
    kappa, steps, tol = ctx.params["kappa"], ctx.params["steps"], ctx.params["tol"]
    start = [-4.0, 1.5]
    limit = 2.0 / kappa
    runs = [(lr_frac * limit, 0.0) for lr_frac in ctx.params["lr_fractions"]]
    runs.append((ctx.params["momentum_lr_fraction"] * limit, ctx.params["momentum"]))
    rows, paths, losses = [], {}, {}
    for i, (lr, mu) in enumerate(runs):
        path = descend(start, lambda xy: ravine_loss(xy, kappa), lr=lr, momentum=mu,
                       steps=steps, device=ctx.device)
        loss = 0.5 * (path[:, 0] ** 2 + kappa * path[:, 1] ** 2)
        below = np.flatnonzero(loss < tol)
        dist = np.linalg.norm(path, axis=1)
        # Measured contraction: geometric mean of |e_{t+1}| / |e_t| over the run's second half.
        half = dist[steps // 2 :]
        with np.errstate(divide="ignore", invalid="ignore"):
            measured = float(np.exp(np.mean(np.diff(np.log(half))))) if np.all(half > 0) else 0.0
        predicted = max(abs(1 - lr * 1.0), abs(1 - lr * kappa)) if mu == 0 else None
        label = f"lr={lr:.3g}" + (f", momentum={mu:g}" if mu else "")
        rows.append([label, round(lr, 6), mu, predicted, measured,
                     int(below[0]) if below.size else None, float(loss[-1])])
        paths[label], losses[label] = path, loss
        ctx.progress(i + 1, len(runs))
    metrics = {"kappa": kappa, "stable_lr_limit": limit}
    for label, *_rest, steps_to_tol, _final in rows:
        metrics[f"steps_to_tol[{label}]"] = steps_to_tol
    return Results(
        metrics=metrics,
        tables={"learning_rates": Table(
            ["run", "lr", "momentum", "predicted rate", "measured rate",
             f"steps to loss < {tol:g}", "final loss"], rows)},
        data={"kappa": kappa, "paths": paths, "losses": losses},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    kappa = results.data["kappa"]
    paths = {k: np.asarray(v) for k, v in results.data["paths"].items()}
    xs, ys = np.meshgrid(np.linspace(-5, 5, 300), np.linspace(-2.5, 2.5, 200))
    fig_path, ax = plt.subplots(figsize=(8, 4.5))
    ax.contour(xs, ys, 0.5 * (xs**2 + kappa * ys**2), levels=np.geomspace(0.05, 60, 14),
               colors="0.75", linewidths=0.8)
    for label, path in paths.items():
        shown = path[np.all(np.abs(path) < [5, 2.5], axis=1)]
        ax.plot(shown[:, 0], shown[:, 1], ".-", ms=3, lw=1, label=label)
    ax.plot(0, 0, "k*", ms=10)
    ax.set(xlim=(-5, 5), ylim=(-2.5, 2.5), xlabel="x", ylabel="y",
           title=f"Gradient descent on a ravine (condition number {kappa:g})")
    ax.legend(fontsize=8, loc="lower right")

    fig_loss, ax = plt.subplots(figsize=(7, 4))
    for label, loss in results.data["losses"].items():
        ax.semilogy(np.maximum(np.asarray(loss, dtype=float), 1e-300), label=label)
    ax.set(xlabel="step", ylabel="loss", title="Loss per step: the learning rate sets the rate")
    ax.legend(fontsize=8)
    return {"trajectories": fig_path, "loss": fig_loss}


EXPERIMENT = register(Experiment(
    id="gd-learning-rate",
    title="Gradient descent and the learning rate on a ravine",
    entries=("gradient-descent", "momentum", "optimisation-challenges"),
    profiles={
        "quick": {"kappa": 10.0, "steps": 40, "tol": 1e-6,
                  "lr_fractions": [0.1, 0.5, 0.95, 1.02],
                  "momentum": 0.5, "momentum_lr_fraction": 0.5},
        "default": {"kappa": 10.0, "steps": 150, "tol": 1e-8,
                    "lr_fractions": [0.1, 0.5, 0.95, 1.02],
                    "momentum": 0.5, "momentum_lr_fraction": 0.5},
        "full": {"kappa": 50.0, "steps": 600, "tol": 1e-10,
                 "lr_fractions": [0.05, 0.25, 0.5, 0.95, 1.02],
                 "momentum": 0.75, "momentum_lr_fraction": 0.5},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
