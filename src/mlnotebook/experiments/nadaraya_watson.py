"""Attention pooling as kernel regression: four kernels, three widths, and a learned width.

Noisy samples of y = 2 sin(x) + x^0.8 on [0, 5] are the keys (x_i) and values (y_i); test
inputs on a grid are the queries. Every Nadaraya-Watson fit is an attention-weighted
average of the training targets, and its error is measured against the noise-free curve.
A parametric version learns its width by gradient descent on the leave-one-out error.
"""

from __future__ import annotations

import numpy as np
import torch

from mlnotebook.attention import NadarayaWatson, ParametricNadarayaWatson
from mlnotebook.attention._nadaraya_watson import KERNELS, kernel_weights
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)


def target(x: np.ndarray) -> np.ndarray:
    """The noise-free regression function y = 2 sin(x) + x^0.8."""
    return 2 * np.sin(x) + x ** 0.8


def loo_mse(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Leave-one-out mean squared error of the gaussian estimator on its training points."""
    sq = (x[:, None] - x[None, :]) ** 2                                 # (n, n)
    np.fill_diagonal(sq, np.inf)                                        # a point cannot see itself
    return float(np.mean((kernel_weights(sq, "gaussian", bandwidth) @ y - y) ** 2))


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    x_train = np.sort(ctx.rng.uniform(0, 5, p["n_train"]))
    y_train = target(x_train) + p["noise"] * ctx.rng.normal(size=p["n_train"])
    x_test = np.linspace(0, 5, p["n_test"])
    y_true = target(x_test)
    X_train, X_test = x_train[:, None], x_test[:, None]

    rows, fits = [], {}
    for kernel in KERNELS:
        for h in p["bandwidths"]:
            pred = NadarayaWatson(kernel=kernel, bandwidth=h).fit(X_train, y_train) \
                .predict(X_test)
            mse = float(np.mean((pred - y_true) ** 2))
            rows.append([kernel, h, mse])
            fits[f"{kernel} h={h:g}"] = pred

    sweep = np.geomspace(p["sweep"][0], p["sweep"][1], p["sweep"][2])
    sweep_test = [float(np.mean((NadarayaWatson(bandwidth=float(h)).fit(X_train, y_train)
                                 .predict(X_test) - y_true) ** 2)) for h in sweep]
    sweep_loo = [loo_mse(x_train, y_train, float(h)) for h in sweep]

    with one_cpu_thread(ctx.device):
        model = ParametricNadarayaWatson(w=p["w_init"], dtype=torch.float64, device=ctx.device)
        model.fit(x_train, y_train, epochs=0)
        pred_init = model.predict(x_test).cpu().numpy()
        model.fit(x_train, y_train, epochs=p["epochs"], lr=p["lr"])
        pred_learned = model.predict(x_test).cpu().numpy()
        loss_history = model.loss_history_.cpu().numpy()
        bandwidth_history = 1.0 / np.abs(model.w_history_.cpu().numpy())
    learned_h = model.bandwidth
    mse_init = float(np.mean((pred_init - y_true) ** 2))
    mse_learned = float(np.mean((pred_learned - y_true) ** 2))
    rows.append(["learned gaussian", round(learned_h, 4), mse_learned])

    narrow, wide = p["heatmap_bandwidths"]
    weights = {f"h={h:g}": NadarayaWatson(bandwidth=h).fit(X_train, y_train)
               .attention_weights(X_test) for h in (narrow, wide)}

    best = min(rows[:-1], key=lambda r: r[2])
    metrics = {f"test_mse[{k}, h={h:g}]": m for k, h, m in rows[:-1]}
    metrics.update({"learned_bandwidth": learned_h, "test_mse[learned]": mse_learned,
                    "test_mse[initial w]": mse_init,
                    "best_sweep_bandwidth": float(sweep[int(np.argmin(sweep_test))]),
                    "loo_best_bandwidth": float(sweep[int(np.argmin(sweep_loo))])})
    return Results(
        metrics=metrics,
        tables={"test_mse": Table(["kernel", "bandwidth h", "test MSE vs true f"],
                                  rows),
                "best": Table(["best fixed kernel", "h", "test MSE", "learned h",
                               "learned test MSE", "initial h", "initial test MSE"],
                              [[best[0], best[1], best[2], learned_h, mse_learned,
                                1 / abs(p["w_init"]), mse_init]])},
        data={"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_true": y_true,
              "bandwidths": list(p["bandwidths"]), "fits": fits,
              "sweep": sweep, "sweep_test": sweep_test, "sweep_loo": sweep_loo,
              "pred_init": pred_init, "pred_learned": pred_learned,
              "loss_history": loss_history, "bandwidth_history": bandwidth_history,
              "learned_bandwidth": learned_h, "initial_bandwidth": 1 / abs(p["w_init"]),
              "weights": weights},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = {k: np.asarray(v, dtype=float) if isinstance(v, list) and k != "bandwidths" else v
         for k, v in results.data.items()}
    x_train, y_train, x_test, y_true = d["x_train"], d["y_train"], d["x_test"], d["y_true"]
    mse = {(k, h): m for k, h, m in results.tables["test_mse"].rows}

    hs = d["bandwidths"]
    fig_fits, axes = plt.subplots(len(KERNELS), len(hs), figsize=(3.6 * len(hs), 2.5 *
                                  len(KERNELS)), sharex=True, sharey=True, squeeze=False)
    for r, kernel in enumerate(KERNELS):
        for c, h in enumerate(hs):
            ax = axes[r, c]
            ax.plot(x_train, y_train, ".", color="0.6", ms=4, label="training data (keys, values)")
            ax.plot(x_test, y_true, "k--", lw=1, label="true f")
            ax.plot(x_test, np.asarray(d["fits"][f"{kernel} h={h:g}"]), color="C0", lw=1.6,
                    label="Nadaraya-Watson")
            ax.set_title(f"{kernel}, h={h:g}: MSE {mse[(kernel, h)]:.3f}", fontsize=9)
            if r == len(KERNELS) - 1:
                ax.set_xlabel("x")
            if c == 0:
                ax.set_ylabel("y")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig_fits.suptitle("Kernel regression: each row a kernel, each column a bandwidth h "
                      "(test MSE against the true curve)")
    fig_fits.tight_layout()

    fig_w, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, (name, w) in zip(axes, d["weights"].items(), strict=True):
        w = np.asarray(w, dtype=float)
        im = ax.imshow(w, origin="lower", aspect="auto", cmap="viridis",
                       extent=(-0.5, w.shape[1] - 0.5, x_test[0], x_test[-1]))
        ax.set(xlabel="training point i (sorted by x_i)", ylabel="test input x (query)",
               title=f"gaussian attention weights, {name}")
        fig_w.colorbar(im, ax=ax, label="weight alpha(x, x_i)")
    fig_w.suptitle("Narrow kernel: each query attends to a few neighbours; wide: to nearly all")
    fig_w.tight_layout()

    fig_l, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ax.loglog(d["sweep"], d["sweep_test"], "o-", ms=3, label="test MSE vs true f")
    ax.loglog(d["sweep"], d["sweep_loo"], "s-", ms=3,
              label="leave-one-out MSE (noisy training targets)")
    ax.axvline(d["learned_bandwidth"], color="C3", ls=":", label="learned h")
    ax.set(xlabel="bandwidth h", ylabel="mean squared error",
           title="Gaussian kernel: the width trades bias for variance")
    ax.legend(fontsize=8)
    ax = axes[1]
    epochs = np.arange(len(d["loss_history"]))
    ax.plot(epochs, d["loss_history"], color="C0")
    ax.set(xlabel="epoch", ylabel="leave-one-out loss (MSE / 2)",
           title="Learning the width by gradient descent")
    twin = ax.twinx()
    twin.plot(np.arange(len(d["bandwidth_history"])), d["bandwidth_history"], color="C3")
    twin.set_ylabel("bandwidth h = 1 / |w|", color="C3")
    twin.set_yscale("log")
    ax = axes[2]
    ax.plot(x_train, y_train, ".", color="0.6", ms=4, label="training data")
    ax.plot(x_test, y_true, "k--", lw=1, label="true f")
    ax.plot(x_test, d["pred_init"], color="C1", label=f"initial h={d['initial_bandwidth']:.2g}")
    ax.plot(x_test, d["pred_learned"], color="C3",
            label=f"learned h={d['learned_bandwidth']:.2g}")
    ax.set(xlabel="x", ylabel="y", title="Parametric attention pooling, before and after")
    ax.legend(fontsize=8)
    fig_l.tight_layout()
    return {"fits": fig_fits, "attention_weights": fig_w, "learned_bandwidth": fig_l}


EXPERIMENT = register(Experiment(
    id="nadaraya-watson",
    title="Nadaraya-Watson kernel regression: attention pooling with fixed and learned kernels",
    entries=("nadaraya-watson", "attention-pooling", "why-attention"),
    profiles={
        "quick": {"n_train": 50, "n_test": 100, "noise": 0.5, "bandwidths": [0.1, 0.5, 2.0],
                  "heatmap_bandwidths": [0.1, 2.0], "sweep": [0.02, 5.0, 12],
                  "w_init": 0.2, "epochs": 50, "lr": 2.0},
        "default": {"n_train": 100, "n_test": 200, "noise": 0.5,
                    "bandwidths": [0.1, 0.5, 2.0], "heatmap_bandwidths": [0.1, 2.0],
                    "sweep": [0.02, 5.0, 30], "w_init": 0.2, "epochs": 200, "lr": 2.0},
        "full": {"n_train": 400, "n_test": 400, "noise": 0.5, "bandwidths": [0.1, 0.5, 2.0],
                 "heatmap_bandwidths": [0.1, 2.0], "sweep": [0.01, 5.0, 60],
                 "w_init": 0.2, "epochs": 500, "lr": 2.0},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
