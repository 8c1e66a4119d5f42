"""Double descent with random ReLU features, and wide MLPs that interpolate yet generalise.

Part 1 regresses the one-hot labels of a few hundred scikit-learn digits on p random ReLU
features, phi(x) = max(0, W x + b) with W and b fixed Gaussian draws, by minimum-norm least
squares (the pseudo-inverse, which is also where gradient descent from zero converges). As p
grows the test error first falls, then climbs to a sharp peak at p = n_train, where the square
feature matrix is barely invertible and the unique interpolating fit is wild, and then falls
again, well below the best model with p < n_train: among the many interpolating fits, the
minimum-norm one gets smoother as features are added. A small ridge penalty removes the peak.
Curves are averaged over several draws of the split and the features.

Part 2 trains one-hidden-layer MLPs of growing width with Adam on the same number of digits,
with clean labels and with a fifth of the labels made wrong. Every MLP wide enough reaches
zero training error, memorising even the wrong labels. With clean labels the widest, with
hundreds of times more weights than training images, are among the best on the test set.
With wrong labels, memorising them costs a few points of test error where the network first
becomes able to fit them all, but making it wider still does not make it worse.
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


def feature_counts(n_train: int, p_min: int, p_max: int, n_log: int,
                   near: list[float]) -> list[int]:
    """A log-spaced grid of feature counts plus extra points at ``near`` times ``n_train``."""
    grid = np.geomspace(p_min, p_max, n_log).round().astype(int)
    extra = np.round(np.asarray(near) * n_train).astype(int)
    return sorted(set(grid.tolist()) | set(extra.tolist()) | {n_train})


def random_features_fit(features_train: torch.Tensor, y_train: torch.Tensor,
                        ridge: float) -> torch.Tensor:
    r"""Least-squares weights of shape (p, k) for features (n, p) and targets (n, k).

    ``ridge = 0`` gives the minimum-norm least-squares solution :math:`\Phi^{+} Y` (via the
    SVD, ``torch.linalg.pinv``), which interpolates when p >= n; ``ridge > 0`` gives
    :math:`\Phi^\top(\Phi\Phi^\top + \lambda I_n)^{-1} Y`, the ridge solution
    :math:`\arg\min_w \|\Phi w - Y\|^2 + \lambda\|w\|^2` written as an n-by-n solve.
    """
    if ridge == 0:
        return torch.linalg.pinv(features_train) @ y_train
    gram = features_train @ features_train.T                          # (n, n)
    eye = torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
    return features_train.T @ torch.linalg.solve(gram + ridge * eye, y_train)


def random_features_curve(p: dict, seed: int, device: str) -> dict[str, np.ndarray]:
    """Train/test errors of the random-features fits for every feature count, one draw.

    Returns arrays of shape (len(p["features"]),): ``test_mse`` (squared error summed over
    the 10 one-hot outputs, mean over test images), ``test_error`` and ``train_error``
    (fraction misclassified by the largest output), and ``ridge_test_mse``,
    ``ridge_test_error``.
    """
    x_train, y_train, x_test, y_test = _mlp.digits_split(p["n_train"], seed, device,
                                                         per_pixel=False)
    x_train, x_test = x_train.double(), x_test.double()
    y_noisy, _ = _mlp.corrupt_labels(y_train, p["label_noise"],
                                torch.Generator().manual_seed(seed + 1))
    targets = torch.nn.functional.one_hot(y_noisy, 10).double()        # (n, 10)
    test_targets = torch.nn.functional.one_hot(y_test, 10).double()
    gen = torch.Generator().manual_seed(seed + 2)
    p_max = max(p["features"])
    # w_j ~ N(0, I / 64): w_j . x has unit variance, as the 64 pixels have unit variance overall
    weights = (torch.randn(64, p_max, generator=gen, dtype=torch.float64) / 8).to(device)
    biases = torch.randn(p_max, generator=gen, dtype=torch.float64).to(device)
    phi_train = torch.relu(x_train @ weights + biases)                  # (n, p_max)
    phi_test = torch.relu(x_test @ weights + biases)                    # (n_test, p_max)
    out = {k: [] for k in ("test_mse", "test_error", "train_error", "ridge_test_mse",
                           "ridge_test_error")}
    for n_features in p["features"]:
        f_train, f_test = phi_train[:, :n_features], phi_test[:, :n_features]
        for prefix, ridge in (("", 0.0), ("ridge_", p["ridge"])):
            w = random_features_fit(f_train, targets, ridge)           # (p, 10)
            predicted = f_test @ w
            out[prefix + "test_mse"].append(
                float(((predicted - test_targets) ** 2).sum(dim=1).mean()))
            out[prefix + "test_error"].append(
                float((predicted.argmax(dim=1) != y_test).double().mean()))
            if not prefix:
                out["train_error"].append(
                    float(((f_train @ w).argmax(dim=1) != y_noisy).double().mean()))
    return {k: np.asarray(v) for k, v in out.items()}


def width_sweep(p: dict, label_noise: float, seed: int, device: str, progress) -> dict:
    """Final train and test error of one-hidden-layer MLPs of each width in ``p["widths"]``."""
    x_train, y_clean, x_test, y_test = _mlp.digits_split(p["n_train"], seed, device)
    y_train, _ = _mlp.corrupt_labels(y_clean, label_noise, torch.Generator().manual_seed(seed + 1))
    batches = _mlp.epoch_batches(len(y_train), p["mlp_batch_size"], p["mlp_epochs"], seed + 3,
                                 device)

    def evaluate(model):
        _, train_accuracy = _mlp.loss_and_accuracy(model, x_train, y_train)
        _, test_accuracy = _mlp.loss_and_accuracy(model, x_test, y_test)
        return {"train_error": 1 - train_accuracy, "test_error": 1 - test_accuracy}

    out = {"train_error": [], "test_error": [], "parameters": []}
    for width in p["widths"]:
        model = _mlp.make_mlp([64, width, 10], torch.Generator().manual_seed(seed)).to(device)
        history = _mlp.train(model, Adam(model.parameters(), lr=p["mlp_lr"]), x_train, y_train,
                             batches, evaluate, every=p["mlp_epochs"])
        out["train_error"].append(history["train_error"][-1])
        out["test_error"].append(history["test_error"][-1])
        out["parameters"].append(sum(t.numel() for t in model.parameters()))
        progress()
    return out


def _condition_label(noise: float) -> str:
    return "clean labels" if noise == 0 else f"{noise:.0%} wrong labels"


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    features = p["features"]
    n = p["n_train"]
    total = p["repeats"] + len(p["widths"]) * len(p["mlp_label_noise"])
    done = 0

    def tick():
        nonlocal done
        done += 1
        ctx.progress(done, total)

    with one_cpu_thread(ctx.device):
        draws = []
        for r in range(p["repeats"]):
            draws.append(random_features_curve(p, ctx.seed + 10 * r, ctx.device))
            tick()
        mlp = {_condition_label(noise): width_sweep(p, noise, ctx.seed, ctx.device, tick)
               for noise in p["mlp_label_noise"]}

    stacked = {k: np.stack([d[k] for d in draws]) for k in draws[0]}   # (repeats, n_p)
    rf = {"features": features,
          "test_error": stacked["test_error"].mean(axis=0),
          "train_error": stacked["train_error"].mean(axis=0),
          "test_mse": np.median(stacked["test_mse"], axis=0),
          "ridge_test_error": stacked["ridge_test_error"].mean(axis=0),
          "ridge_test_mse": np.median(stacked["ridge_test_mse"], axis=0),
          "test_error_per_draw": stacked["test_error"],
          "test_mse_per_draw": stacked["test_mse"]}
    at = {"smallest": 0, "threshold": features.index(n), "largest": len(features) - 1}
    below = [i for i, f in enumerate(features) if f < n]
    peak = int(np.argmax(rf["test_error"]))
    metrics = {f"rf_test_error[p={features[i]}, {name}]": float(rf["test_error"][i])
               for name, i in at.items()}
    metrics.update({f"rf_test_mse[p={features[i]}, {name}]": float(rf["test_mse"][i])
                    for name, i in at.items()})
    metrics["rf_peak_p"] = features[peak]
    metrics["rf_peak_p_by_mse"] = features[int(np.argmax(rf["test_mse"]))]
    metrics["rf_best_test_error_below_threshold"] = float(rf["test_error"][below].min())
    metrics["rf_ridge_test_error_at_threshold"] = float(rf["ridge_test_error"][at["threshold"]])

    rows = [[f, float(rf["train_error"][i]), float(rf["test_error"][i]),
             float(rf["test_mse"][i]), float(rf["ridge_test_error"][i])]
            for i, f in enumerate(features)]
    mlp_rows = []
    for condition, sweep in mlp.items():
        for i, width in enumerate(p["widths"]):
            mlp_rows.append([condition, width, sweep["parameters"][i],
                             sweep["train_error"][i], sweep["test_error"][i]])
        for name, i in (("smallest", 0), ("largest", len(p["widths"]) - 1)):
            key = f"{condition}, width={p['widths'][i]}, {name}"
            metrics[f"mlp_test_error[{key}]"] = sweep["test_error"][i]
            metrics[f"mlp_train_error[{key}]"] = sweep["train_error"][i]
    return Results(
        metrics=metrics,
        tables={
            "random_features": Table(
                ["features p", "train error", f"test error (mean of {p['repeats']})",
                 "test MSE (median)", f"test error, ridge {p['ridge']:g}"], rows),
            "mlp_width": Table(["training labels", "width", "parameters", "train error",
                                "test error"], mlp_rows),
        },
        data={"random_features": rf, "mlp": mlp, "widths": p["widths"], "n_train": n,
              "ridge": p["ridge"], "repeats": p["repeats"],
              "label_noise": p["label_noise"]},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    rf, n = d["random_features"], d["n_train"]
    features = np.asarray(rf["features"])
    figures = {}

    fig, (err_ax, mse_ax) = plt.subplots(1, 2, figsize=(13, 4.6))
    for row in np.asarray(rf["test_error_per_draw"], dtype=float):
        err_ax.plot(features, row, color="C0", alpha=0.2, lw=0.8)
    err_ax.plot(features, rf["test_error"], "o-", ms=3, color="C0",
                label=f"test error, minimum norm (mean of {d['repeats']} draws)")
    err_ax.plot(features, rf["train_error"], "s-", ms=3, color="C1", label="train error")
    err_ax.plot(features, rf["ridge_test_error"], "-", color="C2",
                label=f"test error, ridge lambda={d['ridge']:g}")
    err_ax.set(ylabel="classification error", ylim=(0, 1))
    for row in np.asarray(rf["test_mse_per_draw"], dtype=float):
        mse_ax.plot(features, row, color="C0", alpha=0.2, lw=0.8)
    mse_ax.plot(features, rf["test_mse"], "o-", ms=3, color="C0",
                label="test MSE, minimum norm (median)")
    mse_ax.plot(features, rf["ridge_test_mse"], "-", color="C2",
                label=f"test MSE, ridge lambda={d['ridge']:g} (median)")
    mse_ax.set(ylabel="test squared error on one-hot labels (log scale)", yscale="log")
    for ax in (err_ax, mse_ax):
        ax.axvline(n, color="k", ls=":", lw=1)
        ax.text(n, 0.02, f" p = n = {n}", transform=ax.get_xaxis_transform(), fontsize=8)
        ax.set(xscale="log", xlabel="number of random ReLU features p (log scale)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Double descent: random-features regression on {n} digits")
    fig.tight_layout()
    figures["random_features"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 5))
    widths = np.asarray(d["widths"])
    for i, (condition, sweep) in enumerate(d["mlp"].items()):
        colour = f"C{i}"
        ax.plot(widths, sweep["test_error"], "o-", color=colour, label=f"{condition}: test")
        ax.plot(widths, sweep["train_error"], "s--", color=colour, ms=4,
                label=f"{condition}: train (on the labels it was given)")
    ax.set(xscale="log", xlabel="hidden width (log scale)", ylabel="classification error",
           ylim=(0, None))
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.minorticks_off()
    params = d["mlp"][next(iter(d["mlp"]))]["parameters"]
    top = ax.twiny()  # the same positions, labelled with the number of weights
    top.set(xscale="log", xlim=ax.get_xlim(),
            xlabel=f"number of weights (training images: {n})")
    top.set_xticks(widths, [f"{c / 1000:.3g}k" if c >= 1000 else str(c) for c in params],
                   fontsize=7)
    top.minorticks_off()
    fig.suptitle("One-hidden-layer MLPs on digits: zero training error, yet good test error")
    fig.tight_layout()
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figures["mlp_width"] = fig
    return figures


_NEAR = [0.8, 0.9, 0.95, 0.98, 1.02, 1.05, 1.1, 1.25]

EXPERIMENT = register(Experiment(
    id="double-descent",
    title="Double descent and interpolating networks that generalise",
    entries=("generalisation-in-deep-learning",),
    profiles={
        "quick": {"n_train": 60, "label_noise": 0.0, "repeats": 2, "ridge": 1e-1,
                  "features": feature_counts(60, 5, 600, 10, _NEAR),
                  "widths": [8, 64], "mlp_label_noise": [0.0], "mlp_epochs": 10,
                  "mlp_batch_size": 32, "mlp_lr": 3e-3},
        "default": {"n_train": 200, "label_noise": 0.0, "repeats": 5, "ridge": 1e-1,
                    "features": feature_counts(200, 5, 4000, 24, _NEAR),
                    "widths": [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
                    "mlp_label_noise": [0.0, 0.2], "mlp_epochs": 100, "mlp_batch_size": 32,
                    "mlp_lr": 1e-3},
        "full": {"n_train": 300, "label_noise": 0.0, "repeats": 10, "ridge": 1e-1,
                 "features": feature_counts(300, 5, 10000, 32, _NEAR),
                 "widths": [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
                 "mlp_label_noise": [0.0, 0.2], "mlp_epochs": 300, "mlp_batch_size": 32,
                 "mlp_lr": 1e-3},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
