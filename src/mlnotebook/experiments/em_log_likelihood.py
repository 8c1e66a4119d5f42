"""EM's log-likelihood never goes down, but where it ends depends on where it starts.

Three EM runs are traced iteration by iteration. The two-coins problem of Do & Batzoglou
(``two_coins_em``) from several starting guesses, drawn over the log-likelihood surface of
(theta_A, theta_B). A two-component 1-D Gaussian mixture (``gaussian_1d_em``) fitted to data
with three bumps, so that different starts settle in different local optima, plus a start
with both components equal, which EM can never split. And ``GaussianMixture.lower_bounds_``
(the mean log-likelihood per sample before each M step): once from the 1-D EM's first start,
where it must reproduce the 1-D EM's numbers, and from several random starts on 2-D data.
Every trace is checked for the monotone rise EM guarantees.
"""

from __future__ import annotations

import warnings

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

BUMPS = {"weights": [0.45, 0.35, 0.2], "means": [-3.0, 0.5, 4.0], "sds": [0.9, 0.8, 1.0]}
"""The 1-D data: a mixture of three Gaussians, to be fitted with two components."""


def min_increase(values) -> float:
    """The smallest step-to-step change of a trace (negative means it went down)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.diff(values).min()) if values.size > 1 else 0.0


def coins_surface(heads, tosses: int, grid: np.ndarray) -> np.ndarray:
    """Observed-data log-likelihood of the two-coins model on ``grid`` x ``grid``.

    Same model as ``two_coins_em`` (each coin picked with probability 1/2, binomial
    coefficients included). Rows index theta_B, columns theta_A: shape (len(grid), len(grid)).
    """
    from scipy.special import gammaln, logsumexp

    h = np.asarray(heads, dtype=np.float64)[:, None, None]                    # (sets, 1, 1)
    log_binom = gammaln(tosses + 1) - gammaln(h + 1) - gammaln(tosses - h + 1)
    a, b = np.meshgrid(grid, grid)                                              # (G, G)

    def per_coin(theta):
        return np.log(0.5) + log_binom + h * np.log(theta) + (tosses - h) * np.log1p(-theta)

    return logsumexp(np.stack([per_coin(a), per_coin(b)]), axis=0).sum(axis=0)


def iterations_to_settle(log_lik, tol: float) -> int:
    """First iteration after which the log-likelihood moves by less than ``tol`` per step."""
    steps = np.abs(np.diff(np.asarray(log_lik)))
    moving = np.flatnonzero(steps >= tol)
    return int(moving[-1] + 2) if moving.size else 1


def two_coins_runs(starts, n_iter: int) -> dict:
    from mlnotebook.mixture import two_coins_em

    runs = {}
    for start in starts:
        trace = two_coins_em(theta_init=tuple(start), n_iter=n_iter)
        runs[f"({start[0]:g}, {start[1]:g})"] = {"params": trace.params,
                                                 "log_likelihood": trace.log_likelihood}
    return runs


def bumps_sample(n: int, rng: np.random.Generator) -> np.ndarray:
    which = rng.choice(3, size=n, p=BUMPS["weights"])
    return np.asarray(BUMPS["means"])[which] + np.asarray(BUMPS["sds"])[which] * \
        rng.standard_normal(n)


def mixture_starts(x: np.ndarray, n_starts: int, rng: np.random.Generator) -> list[dict]:
    """Random starts (means uniform between the 5th and 95th percentiles, both sds = std/2,
    weight 1/2) followed by one symmetric start: equal means and sds."""
    low, high = np.percentile(x, [5, 95])
    sd = float(x.std()) / 2
    starts = [{"means": tuple(rng.uniform(low, high, size=2)), "sds": (sd, sd),
               "weight": 0.5} for _ in range(n_starts)]
    starts.append({"means": (float(x.mean()),) * 2, "sds": (sd, sd), "weight": 0.5})
    return starts


def gmm_matches_1d_em(x: np.ndarray, start: dict, n_iter: int, trace) -> float:
    """Max |n * GaussianMixture.lower_bounds_ - gaussian_1d_em log-likelihood| from one start.

    A spherical mixture on one feature with ``reg_covar=0`` is the 1-D model; ``tol=0``
    makes it run exactly ``n_iter`` iterations.
    """
    from mlnotebook.mixture import GaussianMixture

    gm = GaussianMixture(2, covariance_type="spherical", reg_covar=0.0, tol=0.0,
                         max_iter=n_iter,
                         weights_init=[start["weight"], 1.0 - start["weight"]],
                         means_init=np.asarray(start["means"])[:, None],
                         precisions_init=1.0 / np.asarray(start["sds"]) ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(x[:, None])
    return float(np.max(np.abs(np.asarray(gm.lower_bounds_) * x.size
                               - trace.log_likelihood)))


def gmm_random_starts(n_samples: int, n_starts: int, seed: int, max_iter: int) -> dict:
    """``lower_bounds_`` of a full 3-component GMM from ``init_params="random"`` starts."""
    from mlnotebook.experiments.soft_vs_hard_clustering import make_data
    from mlnotebook.mixture import GaussianMixture

    X, _ = make_data("anisotropic", n_samples, np.random.default_rng([seed, 99]))
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for s in range(n_starts):
            gm = GaussianMixture(3, init_params="random", tol=1e-6, max_iter=max_iter,
                                 random_state=seed + s).fit(X)
            runs[f"random_state={seed + s}"] = {"lower_bounds": gm.lower_bounds_,
                                                "converged": bool(gm.converged_)}
    return runs


def compute(ctx: RunContext) -> Results:
    from mlnotebook.mixture import gaussian_1d_em
    from mlnotebook.mixture._em_illustration import DO_BATZOGLOU_HEADS

    p = ctx.params
    settle_tol = p["settle_tol"]
    coins = two_coins_runs(p["coin_starts"], p["coin_iterations"])
    grid = np.linspace(0.01, 0.99, p["grid_points"])
    coin_rows = [[start, *np.round(run["params"][-1], 4).tolist(),
                  round(float(run["log_likelihood"][-1]), 6),
                  iterations_to_settle(run["log_likelihood"], settle_tol),
                  min_increase(run["log_likelihood"])] for start, run in coins.items()]
    ctx.progress(1, 4)

    x = bumps_sample(p["n_samples"], ctx.rng)
    starts = mixture_starts(x, p["n_starts"], ctx.rng)
    mixtures, finals = [], []
    for start in starts:
        trace = gaussian_1d_em(x, means_init=start["means"], sigmas_init=start["sds"],
                               weight_init=start["weight"], n_iter=p["mixture_iterations"])
        mixtures.append({"start": start, "params": trace.params,
                         "log_likelihood": trace.log_likelihood})
        finals.append(trace)
    gmm_gap = gmm_matches_1d_em(x, starts[0], p["mixture_iterations"], finals[0])
    ctx.progress(2, 4)

    # Group the ends of the runs into optima: the same fit up to swapping the two labels.
    optima: dict[tuple, dict] = {}
    for i, run in enumerate(mixtures):
        pi, m1, m2, s1, s2 = run["params"][-1]
        parts = sorted([(m1, s1, pi), (m2, s2, 1 - pi)])
        key = tuple(np.round([v for part in parts for v in part], 2))
        entry = optima.setdefault(key, {"log_likelihood": float(run["log_likelihood"][-1]),
                                        "parts": parts, "starts": []})
        entry["starts"].append(i)
    ranked = sorted(optima.values(), key=lambda o: -o["log_likelihood"])
    optimum_rows = [[rank + 1, round(o["log_likelihood"], 4),
                     *[round(float(v), 3) for part in o["parts"] for v in part],
                     len(o["starts"]), ", ".join(map(str, o["starts"]))]
                    for rank, o in enumerate(ranked)]
    symmetric = mixtures[-1]
    ctx.progress(3, 4)

    gmm_runs = gmm_random_starts(p["gmm_samples"], p["gmm_starts"], ctx.seed, p["gmm_max_iter"])
    gmm_rows = [[name, len(run["lower_bounds"]), round(float(run["lower_bounds"][-1]), 6),
                 run["converged"], min_increase(run["lower_bounds"])]
                for name, run in gmm_runs.items()]
    ctx.progress(4, 4)

    metrics = {
        "coins_min_increase": min(min_increase(r["log_likelihood"]) for r in coins.values()),
        "mixture_min_increase": min(min_increase(r["log_likelihood"]) for r in mixtures),
        "gmm_min_increase": min(min_increase(r["lower_bounds"]) for r in gmm_runs.values()),
        "coins_theta_A[first start]": float(coins[next(iter(coins))]["params"][-1][0]),
        "coins_theta_B[first start]": float(coins[next(iter(coins))]["params"][-1][1]),
        "mixture_distinct_optima": len(ranked),
        "mixture_best_log_likelihood": ranked[0]["log_likelihood"],
        "mixture_worst_log_likelihood": ranked[-1]["log_likelihood"],
        "mixture_starts_at_best": len(ranked[0]["starts"]),
        "symmetric_start_mean_gap": float(abs(symmetric["params"][-1][1]
                                              - symmetric["params"][-1][2])),
        "gmm_vs_1d_em_max_abs_diff": gmm_gap,
        "gmm_final_lower_bound_spread": float(np.ptp([r["lower_bounds"][-1]
                                                      for r in gmm_runs.values()])),
    }
    return Results(
        metrics=metrics,
        tables={
            "two_coins": Table(["start (theta_A, theta_B)", "theta_A", "theta_B",
                                "final log-likelihood", f"iterations until steps < "
                                f"{settle_tol:g}", "smallest step change"], coin_rows),
            "mixture_optima": Table(
                ["rank", "final log-likelihood", "mean (left)", "sd (left)",
                 "weight (left)", "mean (right)", "sd (right)", "weight (right)",
                 "starts reaching it", "start indices (last = symmetric)"], optimum_rows),
            "gmm_random_starts": Table(["start", "iterations", "final lower bound",
                                        "converged", "smallest step change"], gmm_rows)},
        data={"coins": coins, "grid": grid,
              "coins_surface": coins_surface(DO_BATZOGLOU_HEADS, 10, grid),
              "x": x, "mixtures": mixtures, "gmm_runs": gmm_runs,
              "optima": [{"log_likelihood": o["log_likelihood"],
                          "params": [v for part in o["parts"] for v in part]}
                         for o in ranked]},
    )


def _mixture_density(t: np.ndarray, params) -> np.ndarray:
    """Density of a two-part 1-D mixture given as (m1, s1, w1, m2, s2, w2), shape of t."""
    m1, s1, w1, m2, s2, w2 = params
    return sum(w / (s * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((t - m) / s) ** 2)
               for m, s, w in ((m1, s1, w1), (m2, s2, w2)))


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    data = results.data
    fig_coins, (ax_surface, ax_ll) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    grid = np.asarray(data["grid"])
    surface = np.asarray(data["coins_surface"])
    top = surface.max()
    best_coins = max(run["log_likelihood"][-1] for run in data["coins"].values())
    ax_surface.contourf(grid, grid, np.maximum(surface, top - 12), levels=24, cmap="Greys")
    for i, (label, run) in enumerate(data["coins"].items()):
        path = np.asarray(run["params"])
        ax_surface.plot(path[:, 0], path[:, 1], ".-", color=f"C{i}", ms=4, lw=1, label=label)
        ax_surface.plot(*path[0], "o", color=f"C{i}", mfc="none")
        ax_surface.plot(*path[-1], "*", color=f"C{i}", ms=12, mec="k")
        gap = best_coins - np.asarray(run["log_likelihood"])
        ax_ll.semilogy(np.arange(len(gap)), np.maximum(gap, 1e-14), ".-", color=f"C{i}",
                       label=label)
    ax_surface.plot([0, 1], [0, 1], color="0.6", lw=0.7, ls="--")
    ax_surface.set(xlabel="theta_A", ylabel="theta_B", aspect="equal",
                   title="Two coins: EM paths on the log-likelihood (o start, * end)")
    ax_surface.legend(fontsize=7, title="start", title_fontsize=7)
    ax_ll.set(xlabel="iteration", ylabel="best final log-likelihood - log-likelihood",
              title="Distance below the best optimum: it only shrinks (floor 1e-14)")

    fig_mix, axes = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
    finals = [run["log_likelihood"][-1] for run in data["mixtures"]]
    norm = plt.Normalize(min(finals), max(finals))
    cmap = plt.get_cmap("viridis")
    for run in data["mixtures"]:
        colour = cmap(norm(run["log_likelihood"][-1]))
        gap = max(finals) - np.asarray(run["log_likelihood"])
        axes[0].semilogy(np.arange(len(gap)), np.maximum(gap, 1e-12), color=colour, lw=1)
        path = np.asarray(run["params"])
        axes[1].plot(path[:, 1], path[:, 2], "-", color=colour, lw=1)
        axes[1].plot(path[0, 1], path[0, 2], "o", color=colour, mfc="none", ms=4)
        axes[1].plot(path[-1, 1], path[-1, 2], "*", color=colour, ms=11, mec="k")
    axes[0].set(xlabel="iteration", ylabel="best final log-likelihood - log-likelihood",
                title="1-D mixture, one line per start (floor 1e-12)")
    axes[1].set(xlabel="mu_1", ylabel="mu_2", aspect="equal",
                title="Paths of the two means (o start, * end)")
    x = np.asarray(data["x"])
    axes[2].hist(x, bins=50, density=True, color="0.8")
    t = np.linspace(x.min() - 1, x.max() + 1, 400)
    for rank, optimum in enumerate(data["optima"]):
        axes[2].plot(t, _mixture_density(t, optimum["params"]),
                     color=cmap(norm(optimum["log_likelihood"])), ls="-" if rank == 0 else "--",
                     label=f"optimum {rank + 1}: log L = {optimum['log_likelihood']:.1f}")
    axes[2].set(xlabel="x", ylabel="density", title="Three bumps, two components")
    axes[2].legend(fontsize=8)
    fig_mix.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[1],
                     label="final log-likelihood")

    fig_gmm, ax = plt.subplots(figsize=(6.5, 4))
    for name, run in data["gmm_runs"].items():
        bounds = np.asarray(run["lower_bounds"])
        ax.plot(np.arange(1, len(bounds) + 1), bounds, label=name)
    ax.set(xlabel="EM iteration", ylabel="lower_bound (mean log p(x) per sample)",
           title="GaussianMixture.lower_bounds_ from random starts")
    ax.legend(fontsize=7)
    return {"two_coins": fig_coins, "mixture_1d": fig_mix, "gmm_lower_bound": fig_gmm}


EXPERIMENT = register(Experiment(
    id="em-log-likelihood",
    title="EM's log-likelihood: a monotone rise to a local optimum",
    entries=("em-algorithm", "gaussian-mixtures"),
    profiles={
        "quick": {"coin_starts": [[0.6, 0.5], [0.5, 0.6], [0.3, 0.9], [0.5, 0.5]],
                  "coin_iterations": 20, "grid_points": 60, "settle_tol": 1e-6,
                  "n_samples": 300, "n_starts": 6, "mixture_iterations": 100,
                  "gmm_samples": 300, "gmm_starts": 3, "gmm_max_iter": 200},
        "default": {"coin_starts": [[0.6, 0.5], [0.5, 0.6], [0.3, 0.9], [0.9, 0.2],
                                    [0.1, 0.15], [0.5, 0.5]],
                    "coin_iterations": 30, "grid_points": 120, "settle_tol": 1e-6,
                    "n_samples": 600, "n_starts": 20, "mixture_iterations": 300,
                    "gmm_samples": 900, "gmm_starts": 6, "gmm_max_iter": 500},
        "full": {"coin_starts": [[0.6, 0.5], [0.5, 0.6], [0.3, 0.9], [0.9, 0.2],
                                 [0.1, 0.15], [0.5, 0.5]],
                 "coin_iterations": 50, "grid_points": 200, "settle_tol": 1e-8,
                 "n_samples": 3000, "n_starts": 60, "mixture_iterations": 1000,
                 "gmm_samples": 3000, "gmm_starts": 12, "gmm_max_iter": 1000},
    },
    compute=single_blas_thread(compute),
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
