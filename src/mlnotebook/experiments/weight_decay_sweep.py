"""Weight decay on high-dimensional linear regression: 20 training points, 200 features.

d2l's setup: y = 0.05 + sum_i 0.01 x_i + noise with x ~ N(0, I_200), noise sd 0.01, 20
training points and a large test set; the model is linear with a bias, weights initialised
N(0, 1) as in d2l, and trained by full-batch gradient descent (the project's SGD on all 20
points) on the mean of (y_hat - y)^2 / 2 plus ``l2_penalty(w, lambda)`` = lambda/2 ||w||^2
(the bias is not penalised), for a sweep of lambda. Float64 throughout.

What the sweep shows, and why: 20 points pin the weights down only in the 20-dimensional row
space of X. In the other 180 directions the data gradient is exactly zero, so gradient
descent multiplies that part of the weights by (1 - lr * lambda) per step and nothing else:
without decay the random initialisation stays there for ever (test loss ~ 90), with decay it
fades as (1 - lr * lambda)^t. The experiment measures that component and compares it with
the prediction, and compares the rest of the weights with the closed-form ridge solution
(:class:`mlnotebook.linear_model.Ridge` with alpha = n * lambda), which gradient descent
reaches once it has converged.
"""

from __future__ import annotations

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)
from mlnotebook.linear_model import Ridge
from mlnotebook.nn import l2_penalty
from mlnotebook.optim import SGD


def make_data(p: dict, seed: int, device: str):
    """d2l's synthetic data: (X, y, X_test, y_test), float64 tensors on ``device``."""
    gen = torch.Generator().manual_seed(seed)
    d = p["n_features"]

    def sample(n):
        X = torch.randn(n, d, generator=gen, dtype=torch.float64)
        y = X.sum(dim=1) * p["true_weight"] + p["true_bias"]
        return X, y + p["noise"] * torch.randn(n, generator=gen, dtype=torch.float64)

    X, y = sample(p["n_train"])
    X_test, y_test = sample(p["n_test"])
    return tuple(t.to(device) for t in (X, y, X_test, y_test))


def half_mse(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor):
    """Mean of (x.w + b - y)^2 / 2 for every model at once: W (L, d), b (L,) -> (L,)."""
    return 0.5 * ((X @ W.T + b - y[:, None]) ** 2).mean(dim=0)        # (n, L) -> (L,)


def train_sweep(X, y, X_test, y_test, lambdas, w0, *, lr: float, steps: int,
                record_every: int):
    """Gradient descent on every lambda at once; losses recorded every ``record_every`` steps.

    Each lambda has its own weight vector; the loss is the sum of the models' losses, which
    are independent, and SGD without momentum updates every entry on its own, so this is
    exactly ``len(lambdas)`` separate runs from the same start ``w0`` (bias 0).

    Returns
    -------
    W : Tensor of shape (L, d)
    b : Tensor of shape (L,)
    history : dict of lists
        ``step`` and, per recording, ``train`` and ``test`` losses of shape (L,).
    """
    weights = [w0.clone().requires_grad_() for _ in lambdas]
    bias = torch.zeros(len(lambdas), dtype=w0.dtype, device=w0.device, requires_grad=True)
    opt = SGD([*weights, bias], lr=lr)
    history = {"step": [], "train": [], "test": []}

    def record(step):
        with torch.no_grad():
            W = torch.stack(weights)
            history["step"].append(step)
            history["train"].append(half_mse(W, bias, X, y).cpu().numpy())
            history["test"].append(half_mse(W, bias, X_test, y_test).cpu().numpy())

    record(0)
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = half_mse(torch.stack(weights), bias, X, y).sum()
        for w, lam in zip(weights, lambdas, strict=True):
            loss = loss + l2_penalty([w], lam)
        loss.backward()
        opt.step()
        if step % record_every == 0 or step == steps:
            record(step)
    return torch.stack(weights).detach(), bias.detach(), history


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    lambdas = [0.0] + np.geomspace(p["lambda_min"], p["lambda_max"], p["n_lambdas"]).tolist()
    X, y, X_test, y_test = make_data(p, ctx.seed, ctx.device)
    gen = torch.Generator().manual_seed(ctx.seed + 1)
    w0 = (p["init_std"] * torch.randn(p["n_features"], generator=gen,
                                      dtype=torch.float64)).to(ctx.device)
    with one_cpu_thread(ctx.device):
        W, b, history = train_sweep(X, y, X_test, y_test, lambdas, w0, lr=p["lr"],
                                    steps=p["steps"], record_every=p["record_every"])
    ctx.progress(1, 2)

    Xn, yn, Xtn, ytn = (t.cpu().numpy() for t in (X, y, X_test, y_test))
    Wn, bn, w0n = W.cpu().numpy(), b.cpu().numpy(), w0.cpu().numpy()
    n = len(yn)
    with threadpool_limits(1):
        # Orthonormal basis of the row space of X; its complement is what the data never see.
        V_row = np.linalg.svd(Xn, full_matrices=False)[2].T               # (d, n)
        null = Wn - (Wn @ V_row) @ V_row.T                                # (L, d)
        null0 = w0n - V_row @ (V_row.T @ w0n)                             # (d,)
        rows, data_ridge = [], {"test": [], "norm": []}
        for i, lam in enumerate(lambdas):
            train, test = history["train"][-1][i], history["test"][-1][i]
            predicted = (1 - p["lr"] * lam) ** p["steps"] * null0
            null_err = float(np.abs(null[i] - predicted).max())
            if lam > 0:
                ridge = Ridge(alpha=n * lam).fit(Xn, yn)
                ridge_test = 0.5 * float(np.mean((ridge.predict(Xtn) - ytn) ** 2))
                # The ridge weights lie in the row space, so compare the rest of w with them.
                row_gap = max(float(np.abs(Wn[i] - null[i] - ridge.coef_).max()),
                              abs(float(bn[i]) - ridge.intercept_))
                ridge_norm = float(np.linalg.norm(ridge.coef_))
            else:
                ridge_test = row_gap = ridge_norm = None
            data_ridge["test"].append(ridge_test)
            data_ridge["norm"].append(ridge_norm)
            rows.append([lam, n * lam, train, test, float(np.linalg.norm(Wn[i])),
                         float(np.linalg.norm(null[i])), float(np.linalg.norm(predicted)),
                         null_err, row_gap, ridge_test])
    ctx.progress(2, 2)

    final_test = np.array([r[3] for r in rows])
    best = int(np.argmin(final_test))
    converged = [r[0] for r in rows if r[8] is not None and r[8] < 1e-6]
    metrics = {
        "test_loss[lambda=0]": rows[0][3],
        "train_loss[lambda=0]": rows[0][2],
        "best_lambda": lambdas[best],
        "test_loss[best_lambda]": rows[best][3],
        "ridge_test_loss[best_lambda]": rows[best][9],
        "null_space_prediction_max_error": max(r[7] for r in rows),
        "smallest_lambda_converged_to_ridge": min(converged) if converged else None,
    }
    curves = {"step": history["step"],
              "train": np.array(history["train"]).T, "test": np.array(history["test"]).T}
    return Results(
        metrics=metrics,
        tables={"sweep": Table(
            ["lambda", "ridge alpha = n lambda", "train loss", "test loss", "||w||",
             "||w null-space part||", "predicted (1 - lr lambda)^T ||P w0||",
             "max |null part - prediction|", "max |rest - ridge solution|",
             "closed-form ridge test loss"], rows)},
        data={"lambdas": lambdas, "best": best, "curves": curves,
              "norm": [r[4] for r in rows], "null_norm": [r[5] for r in rows],
              "null_predicted": [r[6] for r in rows], "ridge": data_ridge,
              "train": [r[2] for r in rows], "test": final_test, "lr": p["lr"],
              "steps": p["steps"], "noise": p["noise"], "n_features": p["n_features"],
              "true_weight": p["true_weight"]},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    lam = np.asarray(d["lambdas"][1:], dtype=float)
    best = d["best"]
    floor = d["noise"] ** 2 / 2                      # the test loss of the true function
    # The test loss of w = 0 with the right bias: the signal sum_i 0.01 x_i is all missed.
    zero = 0.5 * (d["n_features"] * d["true_weight"] ** 2 + d["noise"] ** 2)
    figures = {}

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.loglog(lam, d["train"][1:], "o-", label="train loss (gradient descent)")
    ax.loglog(lam, d["test"][1:], "s-", label="test loss (gradient descent)")
    ridge = np.array([np.nan if v is None else v for v in d["ridge"]["test"][1:]])
    ax.loglog(lam, ridge, "k:", label="test loss of the closed-form ridge solution")
    ax.axhline(d["test"][0], color="C1", ls="--", lw=1, label="test loss at lambda = 0")
    ax.axhline(zero, color="0.3", ls=(0, (1, 3)), lw=1, label="w = 0, bias 0.05")
    ax.axhline(floor, color="0.5", ls="-.", lw=1, label="noise floor (true weights)")
    if best > 0:
        ax.plot(lam[best - 1], d["test"][best], "*", ms=14, color="C1", mec="k")
    ax.set(xlabel="lambda (penalty lambda/2 ||w||^2)", ylabel="loss: mean of (y_hat - y)^2 / 2",
           title=f"Weight decay sweep after {d['steps']} full-batch steps (lr={d['lr']:g})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figures["loss_vs_lambda"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.loglog(lam, d["norm"][1:], "o-", label="||w|| trained")
    ax.loglog(lam, d["null_norm"][1:], "s", mfc="none", label="||part of w the data never see||")
    ax.loglog(lam, np.maximum(d["null_predicted"][1:], 1e-300), "k--", lw=1,
              label="predicted: (1 - lr lambda)^T ||that part of w0||")
    ax.loglog(lam, [np.nan if v is None else v for v in d["ridge"]["norm"][1:]], "k:",
              label="||w|| of the closed-form ridge solution")
    ax.axhline(d["norm"][0], color="C0", ls="--", lw=1, label="||w|| at lambda = 0")
    ax.set(xlabel="lambda", ylabel="Euclidean norm", ylim=(1e-4, 3 * max(d["norm"])),
           title="Weight norm against lambda: decay erases the unseen part of the start")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figures["norm_vs_lambda"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    steps = np.asarray(d["curves"]["step"])
    for i, colour in ((0, "C3"), (best, "C2")):
        label = f"lambda = {d['lambdas'][i]:.3g}"
        ax.semilogy(steps, d["curves"]["train"][i], color=colour, ls="--",
                    label=f"train, {label}")
        ax.semilogy(steps, d["curves"]["test"][i], color=colour, label=f"test, {label}")
    ax.set(xlabel="full-batch step (one epoch)", ylabel="loss (log scale, cut at 1e-12)",
           ylim=(1e-12, None),
           title="Training curves without decay and at the best lambda")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figures["curves"] = fig
    return figures


_COMMON = {"n_train": 20, "n_features": 200, "true_weight": 0.01, "true_bias": 0.05,
           "noise": 0.01, "init_std": 1.0, "lr": 0.05, "lambda_min": 1e-3, "lambda_max": 10.0}

EXPERIMENT = register(Experiment(
    id="weight-decay-sweep",
    title="Weight decay sweep: 20 points, 200 features",
    entries=("weight-decay",),
    profiles={
        "quick": {**_COMMON, "n_test": 1000, "n_lambdas": 7, "steps": 300, "record_every": 10},
        "default": {**_COMMON, "n_test": 2000, "n_lambdas": 13, "steps": 1000,
                    "record_every": 10},
        "full": {**_COMMON, "n_test": 10000, "n_lambdas": 25, "steps": 5000,
                 "record_every": 25},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
