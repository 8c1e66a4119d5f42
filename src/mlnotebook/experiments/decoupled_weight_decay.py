"""Adam with an L2 penalty against decoupled weight decay (AdamW), and why SGD has no such split.

The problem is a linear regression whose features are in very different units: k informative
features with unit scale (y = sum_j u_j z_j + noise, u_j ~ N(0, 1)) and m irrelevant
features with scales from 1 to ``max_scale`` (their gradients are that much larger). A linear
model with a bias is trained full-batch on the mean of (y_hat - y)^2 / 2 by the project's
``Adam(weight_decay=wd)`` (the L2 gradient wd * w is added before Adam's per-coordinate
scaling) and ``AdamW(weight_decay=wd)`` (every weight is multiplied by 1 - lr * wd per step),
the bias not decayed, with a cosine learning-rate schedule, for a sweep of wd. Float64.

What to look for: (1) per step, AdamW shrinks every weight by the same fraction lr * wd,
while in Adam the L2 term is divided by the root of the second moment, so a weight's
decay rate is about lr * wd / sqrt(v_hat): weights with large gradients hardly decay;
(2) Adam's L2 run converges to the closed-form ridge solution of the same objective (alpha
= n * wd): adaptivity changes the path, not the destination; AdamW's destination is
different; (3) the test error over the wd sweep for both, on several independently drawn
data sets, since which one generalises better here depends on the draw; (4) for plain SGD
the L2 penalty and the decoupled decay give the same trajectory.
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
from mlnotebook.optim import SGD, Adam, AdamW
from mlnotebook.optim.lr_scheduler import CosineAnnealingLR

OPTIMISERS = {"Adam + L2": Adam, "AdamW": AdamW}


def make_units_problem(p: dict, seed: int, device: str):
    """(X, y, X_test, y_test, scales, u): unit-scale informative features, then loud ones.

    Feature j is ``scales[j] * z_j`` with z_j ~ N(0, 1), and y = z . u + noise, so ``u`` are
    the true coefficients in standard units (zero for the irrelevant features).
    """
    gen = torch.Generator().manual_seed(seed)
    k, m = p["n_informative"], p["n_irrelevant"]
    scales = torch.cat([torch.ones(k, dtype=torch.float64),
                        torch.logspace(0, np.log10(p["max_scale"]), m, dtype=torch.float64)])
    u = torch.zeros(k + m, dtype=torch.float64)
    u[:k] = torch.randn(k, generator=gen, dtype=torch.float64)

    def sample(n):
        Z = torch.randn(n, k + m, generator=gen, dtype=torch.float64)
        return Z * scales, Z @ u + p["noise"] * torch.randn(n, generator=gen,
                                                             dtype=torch.float64)

    X, y = sample(p["n_train"])
    X_test, y_test = sample(p["n_test"])
    return (*(t.to(device) for t in (X, y, X_test, y_test)), scales, u)


def half_mse(W, b, X, y):
    """Mean of (x.w + b - y)^2 / 2 for every model at once: W (L, d), b (L,) -> (L,)."""
    return 0.5 * ((X @ W.T + b - y[:, None]) ** 2).mean(dim=0)        # (n, L) -> (L,)


def train_sweep(cls, X, y, wds, *, lr: float, steps: int):
    """One model per weight decay, trained together; returns (W (L, d), b (L,), v_hat (L, d)).

    Each weight vector is its own parameter group with its own ``weight_decay``; the biases
    are one more group without decay. Adam's state is per entry, so this is exactly
    ``len(wds)`` separate runs from zero. ``v_hat`` is each weight's bias-corrected second
    moment at the end, the scale Adam divides by.
    """
    d = X.shape[1]
    weights = [torch.zeros(d, dtype=X.dtype, device=X.device, requires_grad=True)
               for _ in wds]
    bias = torch.zeros(len(wds), dtype=X.dtype, device=X.device, requires_grad=True)
    groups = [{"params": [w], "weight_decay": wd} for w, wd in zip(weights, wds, strict=True)]
    opt = cls([*groups, {"params": [bias], "weight_decay": 0.0}], lr=lr)
    schedule = CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        opt.zero_grad()
        half_mse(torch.stack(weights), bias, X, y).sum().backward()
        opt.step()
        schedule.step()
    beta2 = opt.defaults["betas"][1]
    v_hat = torch.stack([opt.state[w]["exp_avg_sq"] / (1 - beta2 ** opt.state[w]["step"])
                         for w in weights])
    return torch.stack(weights).detach(), bias.detach(), v_hat


def coupled_vs_decoupled(X, y, wd: float, *, sgd_lr: float, adam_lr: float,
                         steps: int) -> dict:
    """Largest |difference| of the weights, per step, between coupled and decoupled decay.

    SGD (rate ``sgd_lr``): loss + l2_penalty(w, wd) against the data loss with
    ``w *= 1 - lr * wd`` before each step. Adam (rate ``adam_lr``): ``Adam(weight_decay=wd)``
    against ``AdamW(weight_decay=wd)``. The bias takes plain SGD steps in every run.
    """
    def run(make_opt, lr: float, penalty: bool = False, shrink: bool = False):
        w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
        b = torch.zeros((), dtype=X.dtype, device=X.device, requires_grad=True)
        opt = make_opt([w])
        bias_opt = SGD([b], lr=lr)
        path = []
        for _ in range(steps):
            opt.zero_grad()
            bias_opt.zero_grad()
            loss = half_mse(w[None], b[None], X, y).sum()
            if penalty:
                loss = loss + l2_penalty([w], wd)
            loss.backward()
            if shrink:
                with torch.no_grad():
                    w.mul_(1 - lr * wd)
            opt.step()
            bias_opt.step()
            path.append(w.detach().clone())
        return torch.stack(path)

    sgd_l2 = run(lambda ps: SGD(ps, lr=sgd_lr), sgd_lr, penalty=True)
    sgd_decay = run(lambda ps: SGD(ps, lr=sgd_lr), sgd_lr, shrink=True)
    adam_l2 = run(lambda ps: Adam(ps, lr=adam_lr, weight_decay=wd), adam_lr)
    adamw = run(lambda ps: AdamW(ps, lr=adam_lr, weight_decay=wd), adam_lr)
    return {"sgd_max_diff": float((sgd_l2 - sgd_decay).abs().max()),
            "adam_max_diff": float((adam_l2 - adamw).abs().max()),
            "sgd_diff_per_step": (sgd_l2 - sgd_decay).abs().amax(dim=1).cpu().numpy(),
            "adam_diff_per_step": (adam_l2 - adamw).abs().amax(dim=1).cpu().numpy()}


def mse(W, b, X, y) -> np.ndarray:
    """Test mean squared error of every model: (L,)."""
    return (2 * half_mse(W, b, X, y)).cpu().numpy()


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    wds = [0.0] + np.geomspace(p["wd_min"], p["wd_max"], p["n_wds"]).tolist()
    n_data = p["n_datasets"]
    sweeps = {name: [] for name in OPTIMISERS}
    ridge_sweep = []
    with one_cpu_thread(ctx.device), threadpool_limits(1):
        for r in range(n_data):
            X, y, X_test, y_test, scales, u = make_units_problem(p, ctx.seed + r, ctx.device)
            fits = {}
            for name, cls in OPTIMISERS.items():
                W, b, v_hat = train_sweep(cls, X, y, wds, lr=p["lr"], steps=p["steps"])
                fits[name] = (W, b, v_hat)
                sweeps[name].append(mse(W, b, X_test, y_test))
            Xn, yn = X.cpu().numpy(), y.cpu().numpy()
            ridges = [Ridge(alpha=len(yn) * wd).fit(Xn, yn) for wd in wds]
            Xtn, ytn = X_test.cpu().numpy(), y_test.cpu().numpy()
            ridge_sweep.append([float(np.mean((m.predict(Xtn) - ytn) ** 2)) for m in ridges])
            if r == 0:
                first = {"X": X, "y": y, "scales": scales.numpy(), "u": u.numpy(),
                         "fits": fits, "ridges": ridges}
            ctx.progress(r + 1, n_data + 1)
        traj = coupled_vs_decoupled(first["X"], first["y"], p["probe_wd"],
                                    sgd_lr=p["sgd_lr"], adam_lr=p["lr"],
                                    steps=p["trajectory_steps"])
    ctx.progress(n_data + 1, n_data + 1)

    sweeps = {name: np.array(v) for name, v in sweeps.items()}        # (n_data, L)
    ridge_sweep = np.array(ridge_sweep)
    best = {name: v.argmin(axis=1) for name, v in sweeps.items()}     # per data set
    best_mse = {name: v.min(axis=1) for name, v in sweeps.items()}

    # Mechanism on the first data set: decay rate per step per unit lr, and where the
    # test error comes from. With independent unit z_j, the excess test MSE of weights w is
    # sum_j (scale_j w_j - u_j)^2 (plus the squared intercept error): one term per feature.
    W_l2 = first["fits"]["Adam + L2"][0]
    probe = int(np.argmin(np.abs(np.array(wds) - p["probe_wd"])))
    eps = 1e-8
    grad_rms = {name: first["fits"][name][2][probe].sqrt().cpu().numpy() for name in OPTIMISERS}
    rate = {"Adam + L2": wds[probe] / (grad_rms["Adam + L2"] + eps),
            "AdamW": np.full(len(first["u"]), wds[probe])}
    b0 = {name: int(best[name][0]) for name in OPTIMISERS}
    runs = {"no decay": first["fits"]["AdamW"][0][0]}
    runs.update({f"{name}, wd = {wds[b0[name]]:.3g}": first["fits"][name][0][b0[name]]
                 for name in OPTIMISERS})
    feature_error = {label: (first["scales"] * w.cpu().numpy() - first["u"]) ** 2
                     for label, w in runs.items()}
    gap_to_ridge = float(np.abs(W_l2[probe].cpu().numpy() - first["ridges"][probe].coef_).max())

    rows = []
    for i, wd in enumerate(wds):
        rows.append([wd, float(sweeps["Adam + L2"][0, i]), float(sweeps["AdamW"][0, i]),
                     float(ridge_sweep[0, i]),
                     float(np.abs(W_l2[i].cpu().numpy() - first["ridges"][i].coef_).max())])
    per_data = [[r, float(best_mse["Adam + L2"][r]), wds[best["Adam + L2"][r]],
                 float(best_mse["AdamW"][r]), wds[best["AdamW"][r]],
                 float(sweeps["Adam + L2"][r, 0])] for r in range(n_data)]
    metrics = {
        "test_mse[no decay]": float(sweeps["AdamW"][0, 0]),
        "best_test_mse[Adam + L2]": float(best_mse["Adam + L2"][0]),
        "best_wd[Adam + L2]": wds[b0["Adam + L2"]],
        "best_test_mse[AdamW]": float(best_mse["AdamW"][0]),
        "best_wd[AdamW]": wds[b0["AdamW"]],
        "data_sets_where_AdamW_best_is_lower": int(np.sum(best_mse["AdamW"]
                                                          < best_mse["Adam + L2"])),
        "data_sets": n_data,
        "adam_l2_distance_to_ridge[probe wd]": gap_to_ridge,
        "decay_rate_spread[Adam + L2]": float(rate["Adam + L2"].max()
                                              / rate["Adam + L2"].min()),
        "decay_rate_spread[AdamW]": float(rate["AdamW"].max() / rate["AdamW"].min()),
        "sgd_l2_vs_decoupled_max_diff": traj["sgd_max_diff"],
        "adam_l2_vs_adamw_max_diff": traj["adam_max_diff"],
    }
    return Results(
        metrics=metrics,
        tables={
            "sweep (first data set)": Table(
                ["weight decay", "test MSE Adam + L2", "test MSE AdamW",
                 "test MSE closed-form ridge (alpha = n wd)",
                 "max |Adam + L2 weights - ridge weights|"], rows),
            "best per data set": Table(
                ["data set", "best test MSE Adam + L2", "at wd", "best test MSE AdamW",
                 "at wd", "test MSE without decay"], per_data)},
        data={"wds": wds, "sweeps": sweeps, "ridge": ridge_sweep,
              "scales": first["scales"], "n_informative": p["n_informative"],
              "probe_wd": wds[probe], "rate": rate, "grad_rms": grad_rms,
              "feature_error": feature_error,
              "trajectories": {"sgd": traj["sgd_diff_per_step"],
                               "adam": traj["adam_diff_per_step"]},
              "noise": p["noise"]},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    wds = np.asarray(d["wds"], dtype=float)
    figures = {}
    colours = {"Adam + L2": "C0", "AdamW": "C3"}

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, sweep in d["sweeps"].items():
        sweep = np.asarray(sweep, dtype=float)
        for r, row in enumerate(sweep):
            ax.loglog(wds[1:], row[1:], "o-" if r == 0 else "-", color=colours[name],
                      alpha=1.0 if r == 0 else 0.3, ms=4, label=name if r == 0 else None)
    ridge = np.asarray(d["ridge"], dtype=float)[0]
    ax.loglog(wds[1:], ridge[1:], "k:", lw=1.5, label="closed-form ridge, alpha = n wd")
    ax.axhline(np.asarray(d["sweeps"]["AdamW"], dtype=float)[0, 0], color="0.5", ls="--",
               lw=1, label="no decay")
    ax.axhline(d["noise"] ** 2, color="0.5", ls="-.", lw=1, label="noise floor")
    ax.set(xlabel="weight decay wd", ylabel="test MSE",
           title="Test error over the weight-decay sweep (faint: other data sets)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figures["test_error"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    k = d["n_informative"]
    for name, rate in d["rate"].items():
        g = np.asarray(d["grad_rms"][name], dtype=float)
        rate = np.asarray(rate, dtype=float)
        ax.loglog(g[k:], rate[k:], "o", color=colours[name], ms=5,
                  label=f"{name}, irrelevant features")
        ax.loglog(g[:k], rate[:k], "*", color=colours[name], mec="k", ms=10,
                  label=f"{name}, informative features")
    ax.set(xlabel="gradient scale of the weight: sqrt(v_hat) at the end of training",
           ylabel="decay per step / lr",
           title=f"Per-weight decay rate at wd = {d['probe_wd']:.3g}: "
                 "uneven under Adam + L2, uniform under AdamW")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figures["decay_rate"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    s = np.asarray(d["scales"], dtype=float)
    floor = 1e-8
    for (label, err), colour in zip(d["feature_error"].items(), ("0.5", "C0", "C3"),
                                    strict=True):
        err = np.maximum(np.asarray(err, dtype=float), floor)
        ax.loglog(s[k:], err[k:], "o", color=colour, ms=5,
                  label=f"{label}: irrelevant {err[k:].sum():.2f}, informative "
                        f"{err[:k].sum():.2f}")
        ax.loglog(s[:k] * np.linspace(0.93, 1.07, k), err[:k], "*", color=colour, mec="k",
                  ms=9)
    ax.set(xlabel="feature scale (stars: the informative unit-scale features, spread out)",
           ylabel="(scale * w - u)^2: its share of the test MSE",
           title="Where the test error comes from, feature by feature")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, title="sum of shares", title_fontsize=8)
    figures["error_by_feature"] = fig

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    floor = 1e-18                       # exact zeros drawn at the bottom of the log axis
    for key, label, colour in (("sgd", "SGD: L2 penalty vs decoupled decay", "C2"),
                               ("adam", "Adam(weight_decay) vs AdamW", "C3")):
        diff = np.maximum(np.asarray(d["trajectories"][key], dtype=float), floor)
        ax.semilogy(np.arange(1, len(diff) + 1), diff, color=colour, label=label)
    ax.set(xlabel="step", ylabel="max |difference of weights|", ylim=(floor / 2, None),
           title="Coupled vs decoupled: the same for SGD, not for Adam")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figures["sgd_vs_adam"] = fig
    return figures


_COMMON = {"n_train": 60, "n_informative": 10, "n_irrelevant": 30, "max_scale": 30.0,
           "noise": 1.0, "lr": 0.05, "wd_min": 1e-3, "wd_max": 10.0, "probe_wd": 0.1,
           "sgd_lr": 2e-4}

EXPERIMENT = register(Experiment(
    id="decoupled-weight-decay",
    title="Adam + L2 vs AdamW: coupled and decoupled weight decay",
    entries=("weight-decay", "adamw"),
    profiles={
        "quick": {**_COMMON, "n_test": 1000, "n_wds": 5, "steps": 200, "n_datasets": 1,
                  "trajectory_steps": 100},
        "default": {**_COMMON, "n_test": 2000, "n_wds": 9, "steps": 800, "n_datasets": 4,
                    "trajectory_steps": 200},
        "full": {**_COMMON, "n_test": 5000, "n_wds": 17, "steps": 2000, "n_datasets": 10,
                 "trajectory_steps": 500},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
