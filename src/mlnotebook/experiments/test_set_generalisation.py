"""How far a test-set error can stray from the true error, and how reusing the set spoils it.

The population is known exactly: two classes with equal priors and Gaussian inputs
x | y ~ N(+-mu, I), so a linear classifier predict(x) = [w.x + b > 0] has the true error
0.5 * (Phi(-(w.mu + b) / |w|) + Phi((b - w.mu) / |w|)) in closed form.

Part 1 fixes one classifier, draws many test sets of each size n and compares the spread of
the empirical error with Hoeffding's bound P(|err_hat - err| >= eps) <= 2 exp(-2 n eps^2):
the bound always holds, and it is loose by a roughly constant factor in eps.

Part 2 shows adaptive overfitting. K random linear classifiers are scored on one test set and
the best is kept; its score on that reused set is compared with its score on a fresh test set
of the same size and with its true error. The more classifiers were tried, the more the
reused score flatters the winner; a union bound over the K candidates,
eps_K = sqrt(log(2K / delta) / (2n)), caps how much. NumPy only, so it runs on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    register,
    single_blas_thread,
)


def true_error(w: np.ndarray, b, mu: np.ndarray) -> np.ndarray:
    """Exact error of predict(x) = [x.w + b > 0] when x | y ~ N((2y - 1) mu, I), P(y=1)=1/2.

    ``w`` has shape (..., d) and ``b`` broadcasts against w[..., 0]; returns shape (...).
    Along w the score is Gaussian with mean +-w.mu + b and standard deviation |w|.
    """
    norm = np.linalg.norm(w, axis=-1)
    along = w @ mu
    return 0.5 * (ndtr(-(along + b) / norm) + ndtr((b - along) / norm))


def sample(rng: np.random.Generator, shape: tuple[int, ...], mu: np.ndarray):
    """Labels y of ``shape`` (0/1, equal priors) and inputs x of ``shape + (d,)``."""
    y = rng.integers(0, 2, size=shape)
    x = (2 * y - 1)[..., None] * mu + rng.standard_normal(shape + (len(mu),))
    return x, y


def error_rates(rng, w, b, mu, n: int, n_sets: int, max_points: int = 2_000_000):
    """Empirical error of one classifier on ``n_sets`` independent test sets of size ``n``.

    Test sets are drawn in chunks holding at most ``max_points`` points, to bound memory.
    Returns shape (n_sets,).
    """
    per_chunk = max(1, max_points // n)
    rates = []
    for start in range(0, n_sets, per_chunk):
        x, y = sample(rng, (min(per_chunk, n_sets - start), n), mu)  # (s, n, d), (s, n)
        rates.append(np.mean((x @ w + b > 0) != y, axis=1))
    return np.concatenate(rates)


def hoeffding(n, eps):
    """Hoeffding's two-sided bound 2 exp(-2 n eps^2), capped at 1."""
    return np.minimum(1.0, 2.0 * np.exp(-2.0 * np.asarray(n) * np.asarray(eps) ** 2))


def hoeffding_radius(n, delta: float):
    """The eps at which the bound equals delta: sqrt(log(2 / delta) / (2 n))."""
    return np.sqrt(np.log(2.0 / delta) / (2.0 * np.asarray(n, dtype=float)))


def best_of_k(rng, mu, *, n: int, ks: list[int], trials: int) -> dict:
    """Pick the best of k random classifiers on one test set, for every k in ``ks``.

    Each trial draws max(ks) classifiers (Gaussian directions, zero bias), one test set that
    is reused for the choice, and one fresh test set of the same size. The choice among the
    first k candidates is the first with the lowest error on the reused set. Returns arrays of
    shape (trials, len(ks)): the winner's reused, fresh and true error, and the best true error
    among the k candidates.
    """
    k_max = max(ks)
    out = {key: np.empty((trials, len(ks))) for key in ("reused", "fresh", "true", "oracle")}
    for t in range(trials):
        W = rng.standard_normal((k_max, len(mu)))  # (k_max, d)
        truth = true_error(W, 0.0, mu)  # (k_max,)
        errs = {}
        for name in ("reused", "fresh"):
            x, y = sample(rng, (n,), mu)
            errs[name] = np.mean((x @ W.T > 0) != y[:, None], axis=0)  # (k_max,)
        for j, k in enumerate(ks):
            pick = int(np.argmin(errs["reused"][:k]))
            out["reused"][t, j] = errs["reused"][pick]
            out["fresh"][t, j] = errs["fresh"][pick]
            out["true"][t, j] = truth[pick]
            out["oracle"][t, j] = truth[:k].min()
    return out


@single_blas_thread
def compute(ctx: RunContext) -> Results:
    p = ctx.params
    rng = ctx.rng
    mu = np.asarray(p["mu"], dtype=float)
    w, b = np.asarray(p["w"], dtype=float), p["b"]
    err = float(true_error(w, b, mu))
    ns, eps_list, delta = p["ns"], p["eps"], p["delta"]

    # Part 1: one fixed classifier, many test sets of each size.
    rates = {}
    for i, n in enumerate(ns):
        rates[n] = error_rates(rng, w, b, mu, n, p["n_sets"])
        ctx.progress(i + 1, len(ns) + 1)
    deviation = {n: np.abs(r - err) for n, r in rates.items()}
    rows, freq = [], np.empty((len(ns), len(eps_list)))
    for i, n in enumerate(ns):
        freq[i] = [np.mean(deviation[n] >= e) for e in eps_list]
        q95 = float(np.quantile(deviation[n], 1 - delta))
        rows.append([n, float(np.mean(rates[n])), float(np.std(rates[n], ddof=1)),
                     math.sqrt(err * (1 - err) / n), q95, float(hoeffding_radius(n, delta))]
                    + freq[i].tolist())
    bound = hoeffding(np.asarray(ns)[:, None], np.asarray(eps_list)[None, :])

    # Part 2: adaptive overfitting by reusing one test set to pick among k classifiers.
    mu_k = np.asarray(p["adaptive_mu"], dtype=float)
    adaptive = best_of_k(rng, mu_k, n=p["adaptive_n"], ks=p["ks"], trials=p["trials"])
    ctx.progress(len(ns) + 1, len(ns) + 1)
    means = {key: value.mean(axis=0) for key, value in adaptive.items()}
    optimism = adaptive["fresh"] - adaptive["reused"]  # (trials, len(ks))
    optimism_se = optimism.std(axis=0, ddof=1) / np.sqrt(len(optimism))
    union = hoeffding_radius(p["adaptive_n"], delta / np.asarray(p["ks"], dtype=float))

    n_max = ns[-1]
    metrics = {
        "true_error": err,
        "max_excess_over_hoeffding": float(np.max(freq - bound)),
        f"std_err_hat[n={n_max}]": rows[-1][2],
        f"binomial_std[n={n_max}]": rows[-1][3],
        f"empirical_radius_{1 - delta:g}[n={n_max}]": rows[-1][4],
        f"hoeffding_radius_{1 - delta:g}[n={n_max}]": rows[-1][5],
        "hoeffding_looseness": rows[-1][5] / rows[-1][4],
    }
    k_max = p["ks"][-1]
    for key, label in (("reused", "reused_test_error"), ("fresh", "fresh_test_error"),
                       ("true", "true_error_of_winner")):
        metrics[f"{label}[k={k_max}]"] = float(means[key][-1])
    metrics[f"optimism[k={k_max}]"] = float(means["fresh"][-1] - means["reused"][-1])
    metrics[f"optimism[k={p['ks'][0]}]"] = float(means["fresh"][0] - means["reused"][0])
    metrics[f"union_bound_radius[k={k_max}]"] = float(union[-1])

    adaptive_rows = [[k, float(means["reused"][j]), float(means["fresh"][j]),
                      float(means["true"][j]), float(means["oracle"][j]), float(union[j])]
                     for j, k in enumerate(p["ks"])]
    return Results(
        metrics=metrics,
        tables={
            "test_set_size": Table(
                ["n", "mean err_hat", "std err_hat", "sqrt(err(1-err)/n)",
                 f"empirical {1 - delta:g} radius", f"Hoeffding {1 - delta:g} radius"]
                + [f"P(|dev| >= {e:g})" for e in eps_list], rows),
            "reuse": Table(["k classifiers tried", "winner's reused test error",
                            "winner's fresh test error", "winner's true error",
                            "best true error among k", "union-bound radius"], adaptive_rows),
        },
        data={"true_error": err, "ns": ns, "eps": eps_list, "delta": delta,
              "rates": {str(n): r for n, r in rates.items()}, "freq": freq, "bound": bound,
              "ks": p["ks"], "adaptive_n": p["adaptive_n"], "adaptive_means": means,
              "optimism": optimism.mean(axis=0), "optimism_se": optimism_se,
              "union_radius": union},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    err, delta = d["true_error"], d["delta"]
    ns = np.asarray(d["ns"], dtype=float)
    rates = [np.asarray(d["rates"][str(n)]) for n in d["ns"]]

    fig_spread, ax = plt.subplots(figsize=(7.5, 4.5))
    lo, hi = (np.array([np.quantile(r, q) for r in rates]) for q in (delta / 2, 1 - delta / 2))
    ax.fill_between(ns, lo, hi, color="C0", alpha=0.25,
                    label=f"middle {1 - delta:.0%} of test-set errors")
    jitter = np.random.default_rng(0)  # spreads the dots sideways; not part of the results
    for n, r in zip(ns, rates, strict=True):
        shown = r[:200]
        xs = n * np.exp(0.04 * jitter.standard_normal(len(shown)))
        ax.plot(xs, shown, ".", color="C0", ms=2, alpha=0.3)
    radius = hoeffding_radius(ns, delta)
    ax.plot(ns, err + radius, "k--", label=f"Hoeffding {1 - delta:.0%} band")
    ax.plot(ns, err - radius, "k--")
    normal = 1.96 * np.sqrt(err * (1 - err) / ns)
    ax.plot(ns, err + normal, ":", color="C3", label="normal approximation, 1.96 sd")
    ax.plot(ns, err - normal, ":", color="C3")
    ax.axhline(err, color="k", lw=1, label=f"true error {err:.3f}")
    ax.set(xscale="log", xlabel="test-set size n", ylabel="empirical test error",
           ylim=(max(-0.02, err - 0.45), min(1.0, err + 0.45)),
           title="The same classifier, many test sets: the error estimate tightens like 1/sqrt(n)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)

    fig_bound, ax = plt.subplots(figsize=(7.5, 4.5))
    freq, bound = np.asarray(d["freq"]), np.asarray(d["bound"])
    n_sets = len(rates[0])
    for j, eps in enumerate(d["eps"]):
        colour = f"C{j}"
        ax.plot(ns, bound[:, j], "-", color=colour, label=f"Hoeffding bound, eps={eps:g}")
        seen = freq[:, j] > 0
        ax.plot(ns[seen], freq[seen, j], "o", color=colour, label=f"observed, eps={eps:g}")
    ax.axhline(1 / n_sets, color="0.6", ls=":", lw=1, label="1 / number of test sets")
    ax.set(xscale="log", yscale="log", ylim=(0.3 / n_sets, 1.5), xlabel="test-set size n",
           ylabel="P(|err_hat - err| >= eps)",
           title="Hoeffding's bound holds at every n, with room to spare")
    ax.legend(fontsize=7, ncol=2)

    fig_reuse, (ax, ax_gap) = plt.subplots(1, 2, figsize=(11, 4.3))
    ks = np.asarray(d["ks"], dtype=float)
    m = d["adaptive_means"]
    ax.plot(ks, m["reused"], "o-", color="C3", label="winner's error on the reused test set")
    ax.plot(ks, m["fresh"], "s-", color="C0", label="winner's error on a fresh test set")
    ax.plot(ks, m["true"], "k--", label="winner's true error")
    ax.plot(ks, m["oracle"], ":", color="0.5", label="best true error among the k")
    ax.set(xscale="log", xlabel="k classifiers tried on the same test set",
           ylabel="error rate (mean over trials)",
           title=f"Best of k random classifiers, chosen on one test set of {d['adaptive_n']}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    gap, se = np.asarray(d["optimism"]), np.asarray(d["optimism_se"])
    ax_gap.errorbar(ks, gap, yerr=2 * se, fmt="o-", color="C3", capsize=3,
                    label="fresh minus reused error of the winner (mean, 2 s.e.)")
    ax_gap.plot(ks, d["union_radius"], "k--",
                label=f"union-bound radius sqrt(log(2k/delta) / 2n), delta={delta:g}")
    ax_gap.axhline(0, color="0.6", lw=1)
    ax_gap.set(xscale="log", xlabel="k classifiers tried on the same test set",
               ylabel="optimism of the reused test error",
               title="The reused score flatters the winner more as k grows")
    ax_gap.title.set_fontsize(9)
    ax_gap.legend(fontsize=8)
    return {"error_spread": fig_spread, "hoeffding": fig_bound, "test_set_reuse": fig_reuse}


EXPERIMENT = register(Experiment(
    id="test-set-generalisation",
    title="Test-set error: Hoeffding's bound and adaptive overfitting",
    entries=("generalisation-in-classification",),
    profiles={
        "quick": {"mu": [0.8, 0.4], "w": [1.0, 0.0], "b": 0.1, "ns": [10, 30, 100, 300],
                  "n_sets": 400, "eps": [0.05, 0.1, 0.2], "delta": 0.05,
                  "adaptive_mu": [0.3] * 10, "adaptive_n": 100, "ks": [1, 3, 10, 30, 100],
                  "trials": 40},
        "default": {"mu": [0.8, 0.4], "w": [1.0, 0.0], "b": 0.1,
                    "ns": [10, 20, 50, 100, 200, 500, 1000, 2000], "n_sets": 4000,
                    "eps": [0.02, 0.05, 0.1, 0.2], "delta": 0.05,
                    "adaptive_mu": [0.3] * 10, "adaptive_n": 200,
                    "ks": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], "trials": 300},
        "full": {"mu": [0.8, 0.4], "w": [1.0, 0.0], "b": 0.1,
                 "ns": [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000], "n_sets": 20000,
                 "eps": [0.01, 0.02, 0.05, 0.1, 0.2], "delta": 0.05,
                 "adaptive_mu": [0.3] * 10, "adaptive_n": 200,
                 "ks": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 3000, 10000],
                 "trials": 1000},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
