"""Correcting distribution shift: importance weights for covariate shift, BBSE for label shift.

Covariate shift: a straight line is fitted to y = sin(1.5 x) + noise with source inputs
x ~ N(0, 1), and judged on target inputs x ~ N(shift, 1). A logistic-regression domain
classifier, trained to tell the source inputs from unlabelled target inputs, gives
importance weights w(x) = q(x)/p(x); the weighted fit is compared with the unweighted fit,
with a fit weighted by the true ratio, and with an oracle fitted to labelled target data.

Label shift: five Gaussian classes in the plane; a logistic-regression classifier trained on
balanced source data meets target data whose class proportions move towards a skewed prior.
Black-box shift estimation recovers the target proportions from the classifier's predictions
alone; those estimates then adjust the predicted probabilities (or reweight a refit), and the
target accuracy is compared with the uncorrected classifier and with one told the true prior.

Both run on the CPU with NumPy and scikit-learn (no tensors), with BLAS limited to one
thread: the matrices are tiny, and on a busy machine idle BLAS threads spinning made the runs
three to five times slower. Every (shift, repeat) pair draws its data from its own seeded
generator.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from threadpoolctl import threadpool_limits

from mlnotebook.experiments._base import Experiment, Results, RunContext, Table, register
from mlnotebook.shift import (
    BlackBoxShiftEstimator,
    CovariateShiftProblem,
    DomainClassifierWeights,
    LabelShiftProblem,
    adjust_proba,
    effective_sample_size,
)

# ---------------------------------------------------------------- covariate shift

FIT_METHODS = ("unweighted", "weighted (estimated w)", "weighted (estimated w, clipped)",
               "weighted (true w)", "oracle (target labels)")


def _fit_line(X, y, sample_weight=None) -> tuple[float, float]:
    """Least-squares line (slope, intercept), optionally weighted."""
    model = LinearRegression().fit(X, y, sample_weight=sample_weight)
    return float(model.coef_[0]), float(model.intercept_)


def covariate_trial(problem: CovariateShiftProblem, p: dict, rng: np.random.Generator) -> dict:
    """One draw of the covariate-shift study: fitted lines, their target MSEs, the weights."""
    X_src, y_src = problem.sample(p["n_train"], "source", rng)
    X_unl, _ = problem.sample(p["n_test"], "target", rng)          # labels never looked at
    X_orc, y_orc = problem.sample(p["n_train"], "target", rng)     # for the oracle only
    X_eval, y_eval = problem.sample(p["n_eval"], "target", rng)

    dcw = DomainClassifierWeights().fit(X_src, X_unl)
    w_hat = dcw.weights(X_src)
    w_true = problem.density_ratio(X_src)
    lines = {
        "unweighted": _fit_line(X_src, y_src),
        "weighted (estimated w)": _fit_line(X_src, y_src, w_hat),
        "weighted (estimated w, clipped)": _fit_line(X_src, y_src, np.minimum(w_hat, p["clip"])),
        "weighted (true w)": _fit_line(X_src, y_src, w_true),
        "oracle (target labels)": _fit_line(X_orc, y_orc),
    }
    mse = {m: float(np.mean((a * X_eval[:, 0] + b - y_eval) ** 2))
           for m, (a, b) in lines.items()}
    return {
        "lines": lines, "mse": mse, "dcw": dcw,
        "ess_fraction": effective_sample_size(w_hat) / len(w_hat),
        "weight_rel_error": float(np.mean(np.abs(w_hat - w_true)) / np.mean(w_true)),
        "X_src": X_src, "y_src": y_src,
    }


def compute_covariate(ctx: RunContext) -> Results:
    p = ctx.params
    shifts, repeats = list(p["shifts"]), p["repeats"]
    grid = np.linspace(-3.5, max(shifts) + 3.5, 241)
    rows, metrics, per_shift = [], {}, []
    for i, shift in enumerate(shifts):
        problem = CovariateShiftProblem(target_mean=shift, noise=p["noise"])
        with threadpool_limits(limits=1):
            trials = [covariate_trial(problem, p, np.random.default_rng([ctx.seed, i, r]))
                      for r in range(repeats)]
        mse = np.array([[t["mse"][m] for m in FIT_METHODS] for t in trials])    # (R, M)
        mean, sem = mse.mean(axis=0), mse.std(axis=0, ddof=1) / np.sqrt(repeats)
        ess = float(np.mean([t["ess_fraction"] for t in trials]))
        rel = float(np.mean([t["weight_rel_error"] for t in trials]))
        wins = float(np.mean(mse[:, 1] < mse[:, 0]))
        rows.append([shift, *[round(float(v), 4) for v in mean], round(ess, 3), round(rel, 3),
                     wins])
        for m, v in zip(FIT_METHODS, mean, strict=True):
            metrics[f"target_mse[{m}, shift={shift:g}]"] = float(v)
        metrics[f"ess_fraction[shift={shift:g}]"] = ess
        metrics[f"weight_rel_error[shift={shift:g}]"] = rel
        metrics[f"weighted_beats_unweighted[shift={shift:g}]"] = wins

        first = trials[0]                                   # drawn in the figures
        keep = min(len(first["y_src"]), p["points_shown"])
        per_shift.append({
            "shift": shift,
            "mse_mean": mean, "mse_sem": sem,
            "source_density": problem.input_density(grid, "source"),
            "target_density": problem.input_density(grid, "target"),
            "true_weight": problem.density_ratio(grid[:, None]),
            "estimated_weight": first["dcw"].weights(grid[:, None]),
            "lines": first["lines"],
            "x_src": first["X_src"][:keep, 0], "y_src": first["y_src"][:keep],
        })
        ctx.progress(i + 1, len(shifts))
    return Results(
        metrics=metrics,
        tables={"target_error": Table(
            ["shift (target mean)", *[f"target MSE, {m}" for m in FIT_METHODS],
             "ESS / n (estimated w)", "mean |w_hat - w| / mean w",
             "fraction of repeats: estimated-weighted beats unweighted"], rows)},
        data={"grid": grid, "regression_function": problem.regression_function(grid),
              "noise": p["noise"],
              "clip": p["clip"], "methods": list(FIT_METHODS), "shifts": per_shift,
              "repeats": repeats},
    )


_METHOD_STYLE = {
    "unweighted": {"color": "tab:red"},
    "weighted (estimated w)": {"color": "tab:blue"},
    "weighted (estimated w, clipped)": {"color": "tab:cyan", "ls": "--"},
    "weighted (true w)": {"color": "tab:purple", "ls": ":"},
    "oracle (target labels)": {"color": "k", "ls": "-."},
}


def plot_covariate(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    grid, shifts = np.asarray(d["grid"]), d["shifts"]
    n = len(shifts)
    figures = {}

    fig, axes = plt.subplots(2, n, figsize=(3.4 * n, 6.2), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [1, 2]})
    for j, s in enumerate(shifts):
        top, bottom = axes[0, j], axes[1, j]
        top.fill_between(grid, np.asarray(s["source_density"]), color="tab:green", alpha=0.35,
                         label="source p(x)")
        top.fill_between(grid, np.asarray(s["target_density"]), color="tab:orange",
                         alpha=0.35, label="target q(x)")
        top.set(title=f"target mean = {s['shift']:g}", yticks=[])
        bottom.plot(s["x_src"], s["y_src"], ".", color="0.6", ms=3, label="source data")
        bottom.plot(grid, np.asarray(d["regression_function"]), color="0.3", lw=1,
                    label="E[y | x] = sin(1.5x)")
        for m in ("unweighted", "weighted (estimated w)", "oracle (target labels)"):
            a, b = s["lines"][m]
            bottom.plot(grid, a * grid + b, lw=1.8, label=m, **_METHOD_STYLE[m])
        bottom.set(ylim=(-2.5, 2.5), xlabel="x")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[1, 0].set_ylabel("y")
    axes[1, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Covariate shift: where the inputs lie decides the best line (one draw each)")
    fig.tight_layout()
    figures["inputs_and_fits"] = fig

    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.6), sharey=True, squeeze=False)
    for ax, s in zip(axes[0], shifts, strict=True):
        ax.semilogy(grid, np.asarray(s["true_weight"]), "k", lw=1.5, label="true q(x)/p(x)")
        ax.semilogy(grid, np.asarray(s["estimated_weight"], dtype=float), color="tab:blue",
                    ls="--", lw=1.5, label="domain classifier")
        ax.axhline(d["clip"], color="tab:cyan", ls=":", label=f"clip = {d['clip']:g}")
        ax.set(title=f"target mean = {s['shift']:g}", xlabel="x", ylim=(1e-3, 1e3))
        densities = ax.twinx()                      # where the source data actually are
        densities.fill_between(grid, np.asarray(s["source_density"]), color="tab:green",
                               alpha=0.2, label="source p(x)")
        densities.set(ylim=(0, 1.6), yticks=[])
    axes[0, 0].set_ylabel("importance weight w(x)")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    densities.legend(fontsize=7, loc="lower right")
    fig.suptitle("Estimated vs true importance weights (one draw; log scale; green: source "
                 "density)")
    fig.tight_layout()
    figures["importance_weights"] = fig

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = np.array([s["shift"] for s in shifts])
    for k, m in enumerate(d["methods"]):
        mean = np.array([s["mse_mean"][k] for s in shifts], dtype=float)
        sem = np.array([s["mse_sem"][k] for s in shifts], dtype=float)
        ax.errorbar(xs, mean, yerr=sem, marker="o", ms=4, capsize=3, lw=1.5, label=m,
                    **_METHOD_STYLE[m])
    ax.axhline(d["noise"] ** 2, color="0.5", lw=0.8, ls=":", label="noise variance")
    ax.set(xlabel="shift (mean of the target inputs; source mean 0)",
           ylabel="target MSE of the fitted line",
           title=f"Target error, mean ± s.e. over {d['repeats']} draws")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figures["target_error"] = fig
    return figures


COVARIATE = register(Experiment(
    id="covariate-shift-weighting",
    title="Covariate shift: importance weighting with a domain classifier",
    entries=("distribution-shift",),
    profiles={
        "quick": {"shifts": [0.5, 1.5], "n_train": 200, "n_test": 200, "n_eval": 4000,
                  "repeats": 3, "noise": 0.3, "clip": 10.0, "points_shown": 100},
        "default": {"shifts": [0.25, 0.5, 1.0, 1.5, 2.0], "n_train": 500, "n_test": 500,
                    "n_eval": 20000, "repeats": 40, "noise": 0.3, "clip": 10.0,
                    "points_shown": 150},
        "full": {"shifts": [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5], "n_train": 1000,
                 "n_test": 1000, "n_eval": 50000, "repeats": 200, "noise": 0.3, "clip": 10.0,
                 "points_shown": 150},
    },
    compute=compute_covariate,
    plot=plot_covariate,
    description=" ".join(__doc__.split("\n\n")[1].split()),
))

# ---------------------------------------------------------------- label shift

CLASSIFY_METHODS = ("uncorrected", "BBSE: adjusted probabilities", "BBSE: reweighted refit",
                    "oracle prior: adjusted probabilities")


def skewed_prior(n_classes: int, decay: float) -> np.ndarray:
    """Class proportions falling geometrically, ``decay**k`` normalised."""
    prior = decay ** np.arange(n_classes, dtype=np.float64)
    return prior / prior.sum()


def label_trial(problem: LabelShiftProblem, source: np.ndarray, target: np.ndarray, p: dict,
                rng: np.random.Generator) -> dict:
    """One draw of the label-shift study: estimated target prior and four accuracies."""
    X_train, y_train = problem.sample(p["n_train"], source, rng)
    X_val, y_val = problem.sample(p["n_val"], source, rng)
    X_unl, _ = problem.sample(p["n_target"], target, rng)          # labels never looked at
    X_eval, y_eval = problem.sample(p["n_eval"], target, rng)

    classifier = LogisticRegression().fit(X_train, y_train)       # the black box
    bbse = BlackBoxShiftEstimator(problem.n_classes).fit(
        y_val, classifier.predict(X_val), classifier.predict(X_unl))
    refit = LogisticRegression().fit(X_train, y_train, sample_weight=bbse.sample_weight(y_train))
    proba = classifier.predict_proba(X_eval)                      # (n_eval, K)
    predictions = {
        "uncorrected": proba.argmax(axis=1),
        "BBSE: adjusted probabilities": bbse.adjust_proba(proba).argmax(axis=1),
        "BBSE: reweighted refit": refit.predict(X_eval),
        "oracle prior: adjusted probabilities": adjust_proba(proba, target / source)
        .argmax(axis=1),
    }
    return {
        "accuracy": {m: float(np.mean(pred == y_eval)) for m, pred in predictions.items()},
        "target_prior": bbse.target_prior_,
        "condition_number": bbse.condition_number_,
        "X_src": X_train, "y_src": y_train, "X_tgt": X_eval, "y_tgt": y_eval,
    }


def compute_label(ctx: RunContext) -> Results:
    p = ctx.params
    problem = LabelShiftProblem(n_classes=p["n_classes"], radius=p["radius"])
    k = problem.n_classes
    source = np.full(k, 1.0 / k)
    end = skewed_prior(k, p["decay"])
    strengths, repeats = list(p["strengths"]), p["repeats"]
    rows, metrics, per_strength = [], {}, []
    for i, alpha in enumerate(strengths):
        target = (1 - alpha) * source + alpha * end
        with threadpool_limits(limits=1):
            trials = [label_trial(problem, source, target, p,
                                  np.random.default_rng([ctx.seed, i, r]))
                      for r in range(repeats)]
        acc = np.array([[t["accuracy"][m] for m in CLASSIFY_METHODS] for t in trials])  # (R, M)
        priors = np.array([t["target_prior"] for t in trials])                          # (R, K)
        prior_error = np.abs(priors - target).max(axis=1)                               # (R,)
        gain = float(np.mean(acc[:, 1] - acc[:, 0]))
        rows.append([alpha, *[round(float(v), 4) for v in acc.mean(axis=0)],
                     round(float(prior_error.mean()), 4), round(gain, 4)])
        for m, v in zip(CLASSIFY_METHODS, acc.mean(axis=0), strict=True):
            metrics[f"target_accuracy[{m}, strength={alpha:g}]"] = float(v)
        metrics[f"prior_max_abs_error[strength={alpha:g}]"] = float(prior_error.mean())
        metrics[f"condition_number[strength={alpha:g}]"] = float(
            np.mean([t["condition_number"] for t in trials]))
        per_strength.append({
            "strength": alpha, "true_prior": target,
            "estimated_prior_mean": priors.mean(axis=0),
            "estimated_prior_sd": priors.std(axis=0, ddof=1) if repeats > 1 else np.zeros(k),
            "accuracy_mean": acc.mean(axis=0),
            "accuracy_sem": acc.std(axis=0, ddof=1) / np.sqrt(repeats) if repeats > 1
            else np.zeros(len(CLASSIFY_METHODS)),
        })
        ctx.progress(i + 1, len(strengths))
    shown = p["points_shown"]
    first = trials[0]                                    # strongest shift, first draw
    return Results(
        metrics=metrics,
        tables={"label_shift": Table(
            ["shift strength", *[f"target accuracy, {m}" for m in CLASSIFY_METHODS],
             "max_k |q_hat_k - q_k| (mean over draws)",
             "accuracy gain of BBSE-adjusted over uncorrected"], rows)},
        data={"methods": list(CLASSIFY_METHODS), "strengths": per_strength,
              "repeats": repeats, "n_classes": k, "means": problem.means,
              "samples": {"source_X": first["X_src"][:shown], "source_y": first["y_src"][:shown],
                          "target_X": first["X_tgt"][:shown], "target_y": first["y_tgt"][:shown],
                          "strength": strengths[-1]}},
    )


def plot_label(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    k, per = d["n_classes"], d["strengths"]
    colours = plt.get_cmap("tab10").colors
    xs = np.array([s["strength"] for s in per])
    figures = {}

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True)
    sm = d["samples"]
    for ax, (which, prefix) in zip(axes, (("source (balanced)", "source"),
                                          (f"target (strength {sm['strength']:g})", "target")),
                                   strict=True):
        X, y = np.asarray(sm[f"{prefix}_X"]), np.asarray(sm[f"{prefix}_y"])
        for c in range(k):
            ax.plot(X[y == c, 0], X[y == c, 1], ".", ms=4, color=colours[c % 10],
                    label=f"class {c}")
        means = np.asarray(d["means"])
        ax.plot(means[:, 0], means[:, 1], "k+", ms=10)
        ax.set(title=which, xlabel="x1", aspect="equal")
    axes[0].set_ylabel("x2")
    axes[0].legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle("Label shift: the same class clouds, different class proportions")
    fig.tight_layout()
    figures["samples"] = fig

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in range(k):
        true = np.array([s["true_prior"][c] for s in per])
        est = np.array([s["estimated_prior_mean"][c] for s in per])
        sd = np.array([s["estimated_prior_sd"][c] for s in per])
        ax.plot(xs, true, color=colours[c % 10], lw=1.2)
        ax.errorbar(xs, est, yerr=sd, fmt="o", ms=4, capsize=3, color=colours[c % 10],
                    label=f"class {c}")
    ax.plot([], [], "-", color="0.4", label="true q(y)")
    ax.plot([], [], "o", color="0.4", label="BBSE estimate (mean ± sd)")
    ax.set(xlabel="shift strength (0: balanced target, 1: skewed)",
           ylabel="target class proportion q(y)",
           title=f"BBSE recovers the target prior ({d['repeats']} draws per strength)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    figures["target_prior"] = fig

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = [{"color": "tab:red"}, {"color": "tab:blue"}, {"color": "tab:cyan", "ls": "--"},
              {"color": "k", "ls": "-."}]
    for j, m in enumerate(d["methods"]):
        mean = np.array([s["accuracy_mean"][j] for s in per])
        sem = np.array([s["accuracy_sem"][j] for s in per])
        ax.errorbar(xs, mean, yerr=sem, marker="o", ms=4, capsize=3, lw=1.5, label=m,
                    **styles[j])
    ax.set(xlabel="shift strength (0: balanced target, 1: skewed)", ylabel="target accuracy",
           title="Target accuracy (mean ± s.e. over draws)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figures["accuracy"] = fig
    return figures


LABEL = register(Experiment(
    id="label-shift-bbse",
    title="Label shift: black-box shift estimation of the target class proportions",
    entries=("distribution-shift",),
    profiles={
        "quick": {"n_classes": 5, "radius": 1.5, "decay": 0.5, "strengths": [0.0, 0.5, 1.0],
                  "n_train": 500, "n_val": 1000, "n_target": 1000, "n_eval": 4000, "repeats": 2,
                  "points_shown": 300},
        "default": {"n_classes": 5, "radius": 1.5, "decay": 0.5,
                    "strengths": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], "n_train": 2000,
                    "n_val": 2000, "n_target": 2000, "n_eval": 20000, "repeats": 20,
                    "points_shown": 600},
        "full": {"n_classes": 5, "radius": 1.5, "decay": 0.5,
                 "strengths": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                 "n_train": 5000, "n_val": 5000, "n_target": 5000, "n_eval": 50000,
                 "repeats": 50, "points_shown": 800},
    },
    compute=compute_label,
    plot=plot_label,
    description=" ".join(__doc__.split("\n\n")[2].split()),
))
