"""Choosing the number of mixture components with BIC and AIC, when the truth is known.

Data are drawn from a 2-D mixture of ``true_k`` Gaussians with random elongated covariances.
For every covariance type and every k = 1..k_max a ``GaussianMixture`` is fitted and scored by
BIC = -2 log L + p ln n and AIC = -2 log L + 2 p (lower is better); each criterion picks its
k per covariance type, and BIC also picks the type and k together. Repeating over data seeds
and sample sizes counts how often each criterion recovers the true number of components.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    register,
    single_blas_thread,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CRITERIA = ("bic", "aic")


def make_mixture(true_k: int, separation: float, rng: np.random.Generator):
    """Weights (K,), means (K, 2) and covariances (K, 2, 2) of a random 2-D mixture.

    Means sit evenly on a circle of radius ``separation`` (turned by a random angle); each
    covariance is a random rotation of diag(a^2, b^2) with axis lengths a, b in [0.3, 1.2];
    weights are Dirichlet(5, ..., 5), so no component is tiny.
    """
    angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(true_k) / true_k
    means = separation * np.column_stack([np.cos(angles), np.sin(angles)])
    turn = rng.uniform(0, np.pi, size=true_k)
    rotations = np.stack([np.stack([np.cos(turn), -np.sin(turn)], axis=1),
                          np.stack([np.sin(turn), np.cos(turn)], axis=1)], axis=1)  # (K, 2, 2)
    axes = rng.uniform(0.3, 1.2, size=(true_k, 2))
    covariances = np.einsum("kij,kj,klj->kil", rotations, axes**2, rotations)
    weights = rng.dirichlet(np.full(true_k, 5.0))
    return weights, means, covariances


def sample_mixture(weights, means, covariances, n: int, rng: np.random.Generator):
    """``n`` draws (n, 2) and their components (n,)."""
    y = rng.choice(len(weights), size=n, p=weights)
    scales = np.linalg.cholesky(covariances)                               # (K, 2, 2)
    z = rng.standard_normal((n, 2))
    return means[y] + np.einsum("nij,nj->ni", scales[y], z), y


def criterion_curves(X, k_max: int, n_init: int, seed: int) -> dict[str, np.ndarray]:
    """BIC and AIC for each covariance type and k = 1..k_max: {criterion: (4, k_max)}."""
    from mlnotebook.mixture import GaussianMixture

    out = {c: np.empty((len(COVARIANCE_TYPES), k_max)) for c in CRITERIA}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for t, cov in enumerate(COVARIANCE_TYPES):
            for k in range(1, k_max + 1):
                gm = GaussianMixture(k, covariance_type=cov, n_init=n_init,
                                     random_state=seed).fit(X)
                out["bic"][t, k - 1] = gm.bic(X)
                out["aic"][t, k - 1] = gm.aic(X)
    return out


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    true_k, k_max, n_seeds = p["true_k"], p["k_max"], p["n_seeds"]
    sizes = p["n_samples"]
    # picks[criterion][size][type] = the k chosen on each seed
    picks = {c: {n: {cov: [] for cov in COVARIANCE_TYPES} for n in sizes} for c in CRITERIA}
    joint = {n: [] for n in sizes}            # BIC's (type, k) choice on each seed
    shown = None
    total = len(sizes) * n_seeds
    for rep in range(n_seeds):
        rng = np.random.default_rng([ctx.seed, rep])
        mixture = make_mixture(true_k, p["separation"], rng)
        for j, n in enumerate(sizes):
            X, y = sample_mixture(*mixture, n, rng)
            curves = criterion_curves(X, k_max, p["n_init"], ctx.seed + rep)
            for c in CRITERIA:
                for t, cov in enumerate(COVARIANCE_TYPES):
                    picks[c][n][cov].append(int(np.argmin(curves[c][t])) + 1)
            t, k = np.unravel_index(np.argmin(curves["bic"]), curves["bic"].shape)
            joint[n].append(f"{COVARIANCE_TYPES[t]}, k={k + 1}")
            if rep == 0 and n == sizes[-1]:
                shown = {"X": X, "y": y, "n": n, "curves": curves}
            ctx.progress(rep * len(sizes) + j + 1, total)

    rows, metrics = [], {}
    for n in sizes:
        for cov in COVARIANCE_TYPES:
            row = [n, cov]
            for c in CRITERIA:
                chosen = np.array(picks[c][n][cov])
                hit = float(np.mean(chosen == true_k))
                metrics[f"{c}_recovers[n={n}, {cov}]"] = hit
                row += [hit, float(chosen.mean()), _mode(chosen)]
            rows.append(row)
        joint_hits = float(np.mean([j == f"full, k={true_k}" for j in joint[n]]))
        metrics[f"bic_joint_recovers[n={n}]"] = joint_hits
    joint_rows = [[n, float(np.mean([j == f"full, k={true_k}" for j in joint[n]])),
                   ", ".join(f"{pick} x{count}" for pick, count in
                             Counter(joint[n]).most_common())] for n in sizes]
    return Results(
        metrics={"true_k": true_k, **metrics},
        tables={
            "recovery": Table(["n", "covariance type", "BIC: share k = true",
                               "BIC: mean k", "BIC: most common k", "AIC: share k = true",
                               "AIC: mean k", "AIC: most common k"], rows),
            "bic_joint": Table(["n", f"share picking (full, k={true_k})",
                                "BIC's (type, k) choices over seeds"], joint_rows)},
        data={"true_k": true_k, "k_max": k_max, "sizes": sizes, "shown": shown,
              # per criterion, per sample size (in the order of sizes): each seed's k
              "picks": {c: {cov: [picks[c][n][cov] for n in sizes]
                            for cov in COVARIANCE_TYPES} for c in CRITERIA}},
    )


def _mode(values: np.ndarray) -> int:
    counts = np.bincount(values)
    return int(np.argmax(counts))


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    from mlnotebook.experiments.soft_vs_hard_clustering import ellipse_points

    data = results.data
    true_k, k_max, shown = data["true_k"], data["k_max"], data["shown"]
    ks = np.arange(1, k_max + 1)
    fig_curves, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, c in zip(axes, CRITERIA, strict=True):
        values = np.asarray(shown["curves"][c])
        for t, cov in enumerate(COVARIANCE_TYPES):
            line, = ax.plot(ks, values[t], "o-", ms=4, label=cov)
            best = int(np.argmin(values[t]))
            ax.plot(ks[best], values[t, best], "*", ms=14, color=line.get_color(),
                    markeredgecolor="k")
        ax.axvline(true_k, color="0.6", ls="--", lw=1)
        ax.set(xlabel="number of components k", ylabel=c.upper(),
               title=f"{c.upper()} on one data set (n={shown['n']}); star = minimum")
        ax.legend(fontsize=8, title="covariance type", title_fontsize=8)

    sizes = data["sizes"]
    fig_picks, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.4),
                                   sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    for j, (ax, n) in enumerate(zip(axes, sizes, strict=True)):
        for i, c in enumerate(CRITERIA):
            chosen = np.asarray(data["picks"][c]["full"][j])
            counts = np.bincount(chosen, minlength=k_max + 1)[1:]
            ax.bar(ks + (i - 0.5) * 0.38, counts, width=0.38, label=c.upper())
        ax.axvline(true_k, color="0.6", ls="--", lw=1)
        ax.set(xlabel="chosen k (full covariances)", title=f"n = {n}", xticks=ks)
    axes[0].set_ylabel("data seeds")
    axes[0].legend(fontsize=8)

    X, y = np.asarray(shown["X"]), np.asarray(shown["y"])
    fig_data, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(*X.T, s=5, c=y, cmap="tab10", vmin=0, vmax=9)
    for k in range(true_k):
        members = X[y == k]
        ring = ellipse_points(members.mean(axis=0), np.cov(members.T), 2.0)
        ax.plot(*ring.T, "k-", lw=0.8)
    ax.set(aspect="equal", title=f"One data set: {true_k} true components (2-sd ellipses "
                                 "of each group)")
    ax.title.set_fontsize(9)
    return {"criteria": fig_curves, "chosen_k": fig_picks, "data": fig_data}


EXPERIMENT = register(Experiment(
    id="gmm-choosing-k",
    title="Choosing the number of Gaussian mixture components with BIC and AIC",
    entries=("gaussian-mixtures", "clustering-applications"),
    profiles={
        "quick": {"true_k": 4, "k_max": 6, "separation": 4.0, "n_samples": [400],
                  "n_seeds": 2, "n_init": 2},
        "default": {"true_k": 4, "k_max": 8, "separation": 4.0, "n_samples": [150, 600, 2400],
                    "n_seeds": 8, "n_init": 1},
        "full": {"true_k": 4, "k_max": 10, "separation": 4.0,
                 "n_samples": [150, 600, 2400, 9600], "n_seeds": 30, "n_init": 3},
    },
    compute=single_blas_thread(compute),
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
