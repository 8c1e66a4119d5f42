"""Adagrad's effective rate shrinks like 1/sqrt(t) forever; RMSprop's and Adadelta's settle.

Every adaptive method multiplies each coordinate's gradient by its own effective rate. Adagrad
divides by the root of the *sum* of all squared gradients so far, which grows without bound;
RMSprop divides by the root of an exponential moving *average*, which forgets; Adadelta's rate
is a ratio of two such averages. The problem is a noisy stochastic linear regression (one
example per step, Gaussian features, label noise) whose true weights jump to new values half
way through. The rates are read from each optimiser's own state after every step, and checked
against the step it actually took. Noise keeps the squared gradients from vanishing, so
Adagrad's sum grows in proportion to t and its rate falls like 1/sqrt(t): that anneals the
noise away before the jump, then leaves it too slow to follow the new target.
"""

from __future__ import annotations

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
from mlnotebook.optim import Adadelta, Adagrad, RMSprop

# "Recovered" from the jump: the excess loss is back below this fraction of its peak.
RECOVERED = 0.1


def make_stream(steps: int, d: int, batch_size: int, *, noise: float, target_scale: float,
                seed: int, device: str = "cpu"):
    """Every minibatch of the run, drawn up front so each optimiser sees the same ones.

    Returns ``x`` (steps, batch_size, d) standard normal, ``y`` (steps, batch_size) and the
    true weights ``targets`` (2, d): ``targets[0]`` for the first half of the steps,
    ``targets[1]`` after the jump. ``y = x @ target + noise * eps``. Float64 throughout.
    """
    g = torch.Generator().manual_seed(seed)
    targets = target_scale * torch.randn(2, d, generator=g, dtype=torch.float64)
    x = torch.randn(steps, batch_size, d, generator=g, dtype=torch.float64)
    which = (torch.arange(steps) >= steps // 2).long()  # (steps,): 0 then 1
    y = torch.einsum("tbd,td->tb", x, targets[which])
    y += noise * torch.randn(steps, batch_size, generator=g, dtype=torch.float64)
    return x.to(device), y.to(device), targets.to(device)


def effective_rate(opt: torch.optim.Optimizer, p: torch.Tensor, before: dict) -> torch.Tensor:
    """Per-coordinate rate of the step just taken, ``theta -= rate * g``, from the state.

    ``before`` is the parameter's state as it was before the step (Adadelta's numerator
    uses the mean square of steps from before this step updated it).
    """
    group, state = opt.param_groups[0], opt.state[p]
    if isinstance(opt, Adagrad):
        t = float(state["step"])
        lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        return lr_t / (state["sum"].sqrt() + group["eps"])  # eps outside the root
    if isinstance(opt, RMSprop):
        if group["momentum"] or group["centered"]:
            raise ValueError("the effective rate is defined here for plain RMSprop only")
        return group["lr"] / (state["square_avg"].sqrt() + group["eps"])  # eps outside
    if isinstance(opt, Adadelta):
        eps = group["eps"]
        u = before.get("acc_delta", torch.zeros_like(p))  # zero before the first step
        return group["lr"] * (u + eps).sqrt() / (state["square_avg"] + eps).sqrt()
    raise TypeError(f"no effective rate for {type(opt).__name__}")


def record_steps(steps: int, points: int) -> list[int]:
    """Steps to record: log-spaced (for the log-log plot) and evenly spaced (for the jump)."""
    grid = np.r_[np.geomspace(1, steps, points), np.linspace(1, steps, points)]
    return sorted({int(s) for s in grid.round()})


def run(name: str, make_opt, x, y, targets, recorded: list[int], progress) -> dict:
    """Run one optimiser over the stream; the median rate and excess loss at ``recorded``.

    The excess loss is the expected squared error above the noise, which for standard
    normal features is exactly ``|w - target|^2``. ``rate_check`` is the largest relative
    gap between the rate read from the state and the one the step really applied.
    """
    steps, batch_size, d = x.shape
    w = torch.zeros(d, dtype=x.dtype, device=x.device)
    opt = make_opt([w])
    keep = set(recorded)
    rates, q25, q75, excess, checks = [], [], [], [], []
    for t in range(1, steps + 1):
        xb, yb = x[t - 1], y[t - 1]  # (B, d), (B,)
        # The minibatch MSE's gradient, written out: autograd would double the time per step.
        w.grad = xb.T @ (xb @ w - yb) * (2.0 / batch_size)
        if t in keep:
            before = {k: v.clone() for k, v in opt.state[w].items()}
            w_before, g = w.clone(), w.grad.clone()
        opt.step()
        if t in keep:
            rate = effective_rate(opt, w, before)
            applied = (w_before - w) / g  # what the step really multiplied g by
            checks.append(float(((applied - rate).abs() / rate).max()))
            lo, mid, hi = torch.quantile(rate, torch.tensor([0.25, 0.5, 0.75],
                                                            dtype=rate.dtype, device=rate.device))
            rates.append(float(mid))
            q25.append(float(lo))
            q75.append(float(hi))
            target = targets[0] if t <= steps // 2 else targets[1]
            excess.append(float((w - target).pow(2).sum()))
        if t % max(1, steps // 10) == 0:
            progress(t)
    return {"rate": rates, "rate_q25": q25, "rate_q75": q75, "excess_loss": excess,
            "rate_check": max(checks)}


def loglog_slope(steps, values, start: int) -> float:
    """Least-squares slope of log(values) against log(steps), over steps >= ``start``."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    keep = steps >= start
    return float(np.polyfit(np.log(steps[keep]), np.log(values[keep]), 1)[0])


def steps_to_recover(steps, excess, jump: int) -> int | None:
    """Steps after ``jump`` until the excess loss is back below RECOVERED x its peak there.

    None if that never happens within the run. Resolution is that of the recorded steps.
    """
    steps, excess = np.asarray(steps), np.asarray(excess, dtype=float)
    after = steps > jump
    peak = excess[after][0]
    below = np.flatnonzero(excess[after] <= RECOVERED * peak)
    return int(steps[after][below[0]] - jump) if below.size else None


def _optimisers(p: dict) -> dict:
    return {
        "Adagrad": lambda w: Adagrad(w, lr=p["adagrad_lr"]),
        "RMSprop": lambda w: RMSprop(w, lr=p["rmsprop_lr"], alpha=p["rmsprop_alpha"]),
        "Adadelta": lambda w: Adadelta(w, lr=p["adadelta_lr"], rho=p["adadelta_rho"],
                                       eps=p["adadelta_eps"]),
    }


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    steps, jump = p["steps"], p["steps"] // 2
    x, y, targets = make_stream(steps, p["d"], p["batch_size"], noise=p["noise"],
                                target_scale=p["target_scale"], seed=ctx.seed,
                                device=ctx.device)
    recorded = sorted({*record_steps(steps, p["record_points"]), jump})
    fit_from = max(1, round(p["fit_from_fraction"] * steps))
    makers = _optimisers(p)
    settings = {
        "Adagrad": f"lr={p['adagrad_lr']:g}",
        "RMSprop": f"lr={p['rmsprop_lr']:g}, alpha={p['rmsprop_alpha']:g}",
        "Adadelta": (f"lr={p['adadelta_lr']:g}, rho={p['adadelta_rho']:g}, "
                     f"eps={p['adadelta_eps']:g}"),
    }
    runs, rows, metrics = {}, [], {}
    steps_arr = np.asarray(recorded)
    before_jump = int(np.searchsorted(steps_arr, jump, side="right")) - 1
    late = steps_arr > 0.9 * steps
    with one_cpu_thread(ctx.device):
        for i, (name, make_opt) in enumerate(makers.items()):
            out = run(name, make_opt, x, y, targets, recorded,
                      lambda t, i=i: ctx.progress(i * steps + t, len(makers) * steps))
            runs[name] = out
            rate, excess = np.asarray(out["rate"]), np.asarray(out["excess_loss"])
            slope = loglog_slope(recorded, out["rate"], fit_from)
            recovery = steps_to_recover(recorded, out["excess_loss"], jump)
            rows.append([name, settings[name], float(rate[before_jump]), float(rate[-1]), slope,
                         float(excess[before_jump]), recovery, float(excess[late].mean())])
            metrics[f"final_effective_rate[{name}]"] = float(rate[-1])
            metrics[f"loglog_slope[{name}]"] = slope
            metrics[f"excess_loss_before_jump[{name}]"] = float(excess[before_jump])
            metrics[f"final_excess_loss[{name}]"] = float(excess[late].mean())
            metrics[f"steps_to_recover[{name}]"] = recovery
            metrics[f"rate_formula_max_rel_error[{name}]"] = out["rate_check"]
    return Results(
        metrics=metrics,
        tables={"effective_rates": Table(
            ["optimiser", "settings", "effective rate at the jump", "final effective rate",
             f"log-log slope of rate (steps >= {fit_from})", "excess loss before the jump",
             f"steps after the jump to undo {1 - RECOVERED:.0%} of it",
             "final excess loss (mean of last 10% of steps)"], rows)},
        data={"steps": recorded, "jump": jump, "fit_from": fit_from, "noise": p["noise"],
              "runs": runs},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    steps = np.asarray(results.data["steps"], dtype=float)
    jump, fit_from, runs = results.data["jump"], results.data["fit_from"], results.data["runs"]
    colours = dict(zip(runs, plt.get_cmap("tab10").colors, strict=False))

    fig_rate, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, r in runs.items():
        # Adagrad on top: early on RMSprop's average is alpha-discounted sum, so with these
        # settings (rmsprop lr = adagrad lr * sqrt(1 - alpha)) the two start out identical.
        ax.plot(steps, r["rate"], color=colours[name], lw=2.5 if name == "Adagrad" else 1.5,
                zorder=3 if name == "Adagrad" else 2, label=f"{name} (median)")
        ax.fill_between(steps, r["rate_q25"], r["rate_q75"], color=colours[name], alpha=0.2,
                        lw=0)
    adagrad = np.asarray(runs["Adagrad"]["rate"])
    anchor = int(np.searchsorted(steps, fit_from))
    ax.plot(steps, adagrad[anchor] * np.sqrt(steps[anchor] / steps), "k--", lw=1, zorder=4,
            label="reference: proportional to 1/√t")
    ax.axvline(jump, color="0.5", ls=":", lw=1, label="target weights jump")
    ax.set(xscale="log", yscale="log", xlabel="step t (log scale)",
           ylabel="effective learning rate per coordinate (log scale)",
           title="Effective rate: Adagrad's keeps falling, RMSprop's and Adadelta's settle")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", title="band: middle 50% of coordinates",
              title_fontsize=8)

    fig_loss, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, r in runs.items():
        ax.plot(steps, r["excess_loss"], color=colours[name], lw=1.2, label=name)
    ax.axvline(jump, color="0.5", ls=":", lw=1, label="target weights jump")
    ax.set(yscale="log", xlabel="step",
           ylabel="excess loss |w − w*|² (above the noise, log scale)",
           title="After the jump Adagrad's shrunken rate makes it slow to follow")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return {"effective_lr": fig_rate, "loss": fig_loss}


_PROBLEM = {"d": 10, "batch_size": 1, "noise": 3.0, "target_scale": 0.5,
            "adagrad_lr": 0.1, "rmsprop_lr": 0.01, "rmsprop_alpha": 0.99,
            "adadelta_lr": 1.0, "adadelta_rho": 0.9, "adadelta_eps": 1e-5,
            "fit_from_fraction": 0.05}

EXPERIMENT = register(Experiment(
    id="adagrad-effective-lr",
    title="Effective learning rates of Adagrad, RMSprop and Adadelta on a moving target",
    entries=("adagrad", "rmsprop", "adadelta"),
    profiles={
        "quick": {**_PROBLEM, "steps": 2_000, "record_points": 150},
        "default": {**_PROBLEM, "steps": 10_000, "record_points": 300},
        "full": {**_PROBLEM, "steps": 50_000, "record_points": 500},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split()),
))
