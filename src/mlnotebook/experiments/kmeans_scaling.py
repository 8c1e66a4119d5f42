"""Fit time against the number of samples: our KMeans and GaussianMixture next to scikit-learn's.

One Lloyd iteration labels every point (an (n, k) distance block per chunk of rows) and
averages the points per cluster, so its cost is O(n k d): at fixed k and d the time should grow
linearly in n once n is large enough to hide the fixed costs (thread start-up, small arrays).
Likewise one EM iteration of a Gaussian mixture with full covariances costs O(n k d^2). The
experiment times both sides doing the same work: the same data, the same explicit initial
centres (or weights, means and precisions), one start, tol=0 and a fixed max_iter, which the
table's iteration counts and the difference of the results confirm. Each n is timed a few
times, ours and scikit-learn's alternating (which goes first swaps every repeat), and the
median is kept; both use all the CPU's cores (the quick profile holds BLAS, which only the
mixtures use, to one thread on both sides, so that the test suite does not wait on BLAS
threads of a busy machine). The slope of log(time) against log(n), fitted over the larger n,
is near 1 for linear growth. Times depend on the machine and its load.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from mlnotebook.experiments._base import Experiment, Results, RunContext, Table, register


def clustered_data(n: int, n_features: int, n_clusters: int, seed: int, dtype) -> np.ndarray:
    """``n`` points around ``n_clusters`` standard-normal centres with unit noise, overlapping.

    The clusters overlap enough that Lloyd's algorithm still moves labels after the
    iteration counts used here, so a fit with tol=0 runs all of its iterations.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, n_features))
    X = centres[rng.integers(0, n_clusters, n)] + rng.standard_normal((n, n_features))
    return X.astype(dtype)


def kmeans_pair(X: np.ndarray, n_clusters: int, max_iter: int, seed: int) -> dict:
    """Fits of our KMeans and scikit-learn's lloyd KMeans from the same initial centres."""
    from sklearn.cluster import KMeans as SkKMeans

    from mlnotebook.cluster import KMeans

    init = X[np.random.default_rng(seed).choice(len(X), n_clusters, replace=False)]
    kwargs = dict(init=init, n_init=1, max_iter=max_iter, tol=0.0)
    ours = KMeans(n_clusters, **kwargs)
    theirs = SkKMeans(n_clusters, algorithm="lloyd", **kwargs)
    return {"ours": lambda: ours.fit(X), "sklearn": lambda: theirs.fit(X)}


def gmm_pair(X: np.ndarray, n_components: int, max_iter: int, seed: int) -> dict:
    """Fits of our and scikit-learn's full-covariance GaussianMixture from the same start."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from mlnotebook.mixture import GaussianMixture
    from mlnotebook.verify.mixture import starting_values

    kwargs = dict(n_components=n_components, covariance_type="full", tol=0.0,
                  max_iter=max_iter, **starting_values(X, n_components, "full", seed))
    ours, theirs = GaussianMixture(**kwargs), SkGaussianMixture(**kwargs)

    def quietly(model):
        def fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tol=0 never "converges"; that is the point
                return model.fit(X)
        return fit

    return {"ours": quietly(ours), "sklearn": quietly(theirs)}


def time_interleaved(fits: dict, repeats: int) -> tuple[dict, dict]:
    """Median seconds of each fit over ``repeats`` rounds, and the fitted models.

    The sides alternate within a round and the one going first swaps every round, so a
    slow patch of the machine falls on both.
    """
    names = list(fits)
    seconds = {name: [] for name in names}
    fitted = {}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            fitted[name] = fits[name]()
            seconds[name].append(time.perf_counter() - started)
    return {name: float(np.median(s)) for name, s in seconds.items()}, fitted


def loglog_slope(ns, seconds, min_n: int) -> float:
    """Least-squares slope of log(seconds) against log(n) over the points with n >= min_n."""
    ns, seconds = np.asarray(ns, dtype=float), np.asarray(seconds, dtype=float)
    keep = ns >= min_n
    if keep.sum() < 2:
        raise ValueError(f"need at least two n >= slope_min_n={min_n} to fit a slope, "
                         f"got {int(keep.sum())}")
    return float(np.polyfit(np.log(ns[keep]), np.log(seconds[keep]), 1)[0])


def _relative(a: float, b: float) -> float:
    return float(abs(a - b) / abs(b))


def _series(ctx: RunContext) -> list[dict]:
    """The (model, dtype) series to time, with their n grid and how to fit and compare."""
    p = ctx.params
    series = [{"model": "KMeans", "dtype": dtype, "ns": p["ns"],
               "data": lambda n, dt=dtype: clustered_data(
                   n, p["n_features"], p["n_clusters"], ctx.seed, dt),
               "pair": lambda X: kmeans_pair(X, p["n_clusters"], p["max_iter"], ctx.seed),
               "agreement": lambda a, b: _relative(a.inertia_, b.inertia_)}
              for dtype in p["dtypes"]]
    gmm = p["gmm"]
    if gmm:
        from sklearn.datasets import make_blobs

        series.append({
            "model": "GaussianMixture", "dtype": "float64", "ns": gmm["ns"],
            "data": lambda n: make_blobs(n, gmm["n_features"], centers=gmm["n_components"],
                                         cluster_std=2.0, random_state=ctx.seed)[0],
            "pair": lambda X: gmm_pair(X, gmm["n_components"], gmm["max_iter"], ctx.seed),
            "agreement": lambda a, b: _relative(a.lower_bound_, b.lower_bound_)})
    return series


def compute(ctx: RunContext) -> Results:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=ctx.params["blas_threads"], user_api="blas"):
        return _compute(ctx)


def _compute(ctx: RunContext) -> Results:
    p = ctx.params
    series = _series(ctx)
    total, done = sum(len(s["ns"]) for s in series), 0
    rows, metrics, curves = [], {}, {}
    for s in series:
        label = f"{s['model']} {s['dtype']}"
        X_all = s["data"](max(s["ns"]))
        # one untimed fit of each side first: imports, thread pools and caches warm up
        time_interleaved(s["pair"](X_all[:min(s["ns"])]), repeats=1)
        curve = {"ns": list(s["ns"]), "ours": [], "sklearn": []}
        for n in s["ns"]:
            seconds, fitted = time_interleaved(s["pair"](X_all[:n]), p["repeats"])
            ours, theirs = fitted["ours"], fitted["sklearn"]
            curve["ours"].append(seconds["ours"])
            curve["sklearn"].append(seconds["sklearn"])
            rows.append([s["model"], s["dtype"], n, round(seconds["ours"], 5),
                         round(seconds["sklearn"], 5),
                         round(seconds["ours"] / seconds["sklearn"], 3),
                         int(ours.n_iter_), int(theirs.n_iter_),
                         s["agreement"](ours, theirs)])
            done += 1
            ctx.progress(done, total)
        for side in ("ours", "sklearn"):
            slope = loglog_slope(curve["ns"], curve[side], p["slope_min_n"])
            curve[f"slope_{side}"] = slope
            metrics[f"slope[{label}, {side}]"] = slope
        largest = curve["ours"][-1] / curve["sklearn"][-1]
        metrics[f"ratio_at_largest_n[{label}]"] = largest
        curves[label] = curve
    return Results(
        metrics=metrics,
        tables={"fit_time": Table(
            ["model", "dtype", "n", "ours s", "sklearn s", "ours / sklearn",
             "ours iterations", "sklearn iterations",
             "relative difference (inertia or lower bound)"], rows)},
        data={"curves": curves, "slope_min_n": p["slope_min_n"], "repeats": p["repeats"],
              "blas_threads": p["blas_threads"],
              "kmeans_shape": {"n_features": p["n_features"], "n_clusters": p["n_clusters"],
                               "max_iter": p["max_iter"]},
              "gmm_shape": {k: v for k, v in (p["gmm"] or {}).items() if k != "ns"},
              "computed on": "cpu"},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    curves = results.data["curves"]
    colours = plt.get_cmap("tab10").colors
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.5),
                                       gridspec_kw={"width_ratios": [3, 2]})
    for i, (label, c) in enumerate(curves.items()):
        ns, colour = np.asarray(c["ns"], dtype=float), colours[i % len(colours)]
        ours, theirs = np.asarray(c["ours"]), np.asarray(c["sklearn"])
        ax.loglog(ns, ours, "o-", color=colour,
                  label=f"ours, {label} (slope {c['slope_ours']:.2f})")
        ax.loglog(ns, theirs, "s--", color=colour, mfc="none",
                  label=f"scikit-learn, {label} (slope {c['slope_sklearn']:.2f})")
        ax_ratio.loglog(ns, ours / theirs, "o-", color=colour, label=label)
    first = next(iter(curves.values()))
    ns = np.asarray(first["ns"], dtype=float)
    guide = first["ours"][-1] * ns / ns[-1]          # slope 1 through ours at the largest n
    ax.loglog(ns, guide, ":", color="0.4", lw=1.5, label="slope 1 (time proportional to n)")
    ax.axvline(results.data["slope_min_n"], color="0.8", lw=1)
    ax.set(xlabel="n (samples)", ylabel="median fit time (s, machine-dependent)",
           title="Fit time against n (slopes fitted right of the grey line)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    ax_ratio.axhline(1.0, color="0.4", ls=":", lw=1)
    ax_ratio.set(xlabel="n (samples)", ylabel="ours / scikit-learn (log scale)",
                 title="Time ratio (below 1: ours faster)")
    ax_ratio.grid(True, which="major", alpha=0.3)
    ax_ratio.legend(fontsize=7)
    fig.tight_layout()
    return {"fit_time": fig}


_GRID = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000]

EXPERIMENT = register(Experiment(
    id="kmeans-scaling",
    title="k-means and Gaussian mixture fit time against n, next to scikit-learn",
    entries=("k-means",),
    profiles={
        "quick": {"ns": [500, 1_000, 2_000, 4_000], "n_features": 32, "n_clusters": 32,
                  "max_iter": 3, "dtypes": ["float64"], "repeats": 1, "slope_min_n": 1_000,
                  "blas_threads": 1,
                  "gmm": {"ns": [500, 1_000, 2_000, 4_000], "n_features": 8,
                          "n_components": 8, "max_iter": 3}},
        "default": {"ns": _GRID, "n_features": 32, "n_clusters": 32, "max_iter": 10,
                    "dtypes": ["float64"], "repeats": 3, "slope_min_n": 20_000,
                    "blas_threads": None,
                    "gmm": {"ns": _GRID[:-2], "n_features": 8, "n_components": 8,
                            "max_iter": 10}},
        "full": {"ns": _GRID + [500_000], "n_features": 32, "n_clusters": 32,
                 "max_iter": 20, "dtypes": ["float64", "float32"], "repeats": 5,
                 "slope_min_n": 20_000, "blas_threads": None,
                 "gmm": {"ns": _GRID, "n_features": 8, "n_components": 8, "max_iter": 20}},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split()),
))
