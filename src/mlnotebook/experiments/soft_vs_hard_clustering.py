"""Soft versus hard clustering: a Gaussian mixture succeeds where k-means cuts clusters up.

Two 2-D data sets with three known groups that break k-means' assumption of round clusters
of similar spread: "anisotropic" (round blobs stretched by one linear map, so every cluster
is the same long ellipse) and "unequal" (blobs of very different sizes and spreads). On each,
our ``KMeans`` and ``GaussianMixture(covariance_type="full")`` get three clusters and the
adjusted Rand index (ARI) scores their labels against the truth, over several data seeds.
The mixture also gives every point a membership probability; after matching its components
to the true groups, the experiment checks how often its confident and its uncertain points
are right, i.e. whether the probabilities mean what they say.
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

DATASETS = ("anisotropic", "unequal")
STRETCH = np.array([[0.6, -0.64], [-0.4, 0.85]])
"""The linear map of the anisotropic set (as in scikit-learn's k-means assumptions demo)."""


def make_data(name: str, n_samples: int, rng: np.random.Generator):
    """``(X (n, 2), y (n,))`` with three groups; ``rng`` draws everything."""
    if name == "anisotropic":
        centres = np.array([[-2.5, -4.0], [0.0, 0.0], [2.5, 4.0]])
        y = rng.choice(3, size=n_samples)
        X = (centres[y] + rng.standard_normal((n_samples, 2))) @ STRETCH
    elif name == "unequal":
        centres = np.array([[-4.0, 0.0], [3.0, 2.2], [3.0, -2.2]])
        spreads = np.array([2.0, 0.6, 0.6])
        y = rng.choice(3, size=n_samples, p=[0.7, 0.15, 0.15])
        X = centres[y] + spreads[y, None] * rng.standard_normal((n_samples, 2))
    else:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    return X, y


def match_labels(y_true: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Relabel ``labels`` by the one-to-one map to ``y_true`` that agrees most often."""
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((n, n), int)
    np.add.at(counts, (labels, y_true), 1)                 # (predicted, true)
    rows, cols = linear_sum_assignment(-counts)
    mapping = np.empty(n, int)
    mapping[rows] = cols
    return mapping[labels]


def ellipse_points(mean, covariance, n_std: float, n_points: int = 100) -> np.ndarray:
    """The ``n_std`` standard-deviation contour of a 2-D Gaussian, shape (n_points, 2)."""
    t = np.linspace(0.0, 2.0 * np.pi, n_points)
    circle = np.column_stack([np.cos(t), np.sin(t)])               # (n_points, 2)
    return np.asarray(mean) + n_std * circle @ np.linalg.cholesky(covariance).T


def compare(X, y, n_init: int, seed: int, confident: float) -> dict:
    """Fit k-means and a full GMM with three clusters; their scores and the GMM's memberships."""
    from sklearn.metrics import adjusted_rand_score

    from mlnotebook.cluster import KMeans
    from mlnotebook.mixture import GaussianMixture

    km = KMeans(3, n_init=n_init, random_state=seed).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(3, covariance_type="full", n_init=n_init,
                             random_state=seed).fit(X)
    proba = gm.predict_proba(X)                                         # (n, 3)
    labels = proba.argmax(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(proba > 0, proba * np.log(proba), 0.0).sum(axis=1)
    correct = match_labels(y, labels, 3) == y
    sure = proba.max(axis=1) >= confident
    return {
        "kmeans_ari": float(adjusted_rand_score(y, km.labels_)),
        "gmm_ari": float(adjusted_rand_score(y, labels)),
        "kmeans_accuracy": float((match_labels(y, km.labels_, 3) == y).mean()),
        "gmm_accuracy": float(correct.mean()),
        "confident_fraction": float(sure.mean()),
        "confident_accuracy": float(correct[sure].mean()) if sure.any() else None,
        "uncertain_accuracy": float(correct[~sure].mean()) if (~sure).any() else None,
        # expected accuracy if max probability is calibrated, against the achieved one
        "mean_max_proba": float(proba.max(axis=1).mean()),
        "kmeans": km, "gmm": gm, "labels": labels, "entropy": entropy,
    }


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    n_seeds, confident = p["n_seeds"], p["confident"]
    keys = ("kmeans_ari", "gmm_ari", "kmeans_accuracy", "gmm_accuracy", "confident_fraction",
            "confident_accuracy", "uncertain_accuracy", "mean_max_proba")
    per_seed = {name: {key: [] for key in keys} for name in DATASETS}
    shown = {}
    for i, name in enumerate(DATASETS):
        for rep in range(n_seeds):
            rng = np.random.default_rng([ctx.seed, i, rep])
            X, y = make_data(name, p["n_samples"], rng)
            out = compare(X, y, p["n_init"], ctx.seed + rep, confident)
            for key in keys:
                per_seed[name][key].append(out[key])
            if rep == 0:  # the first data set of each kind is drawn
                gm = out["gmm"]
                shown[name] = {
                    "X": X, "y": y, "kmeans_labels": out["kmeans"].labels_,
                    "kmeans_centres": out["kmeans"].cluster_centers_,
                    "gmm_labels": out["labels"], "gmm_entropy": out["entropy"],
                    "gmm_means": gm.means_, "gmm_covariances": gm.covariances_,
                    "kmeans_ari": out["kmeans_ari"], "gmm_ari": out["gmm_ari"]}
            ctx.progress(i * n_seeds + rep + 1, len(DATASETS) * n_seeds)

    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    metrics, rows = {}, []
    for name in DATASETS:
        s = per_seed[name]
        for key in keys:
            metrics[f"{key}[{name}]"] = mean(s[key])
        metrics[f"gmm_wins[{name}]"] = int(np.sum(np.array(s["gmm_ari"])
                                                  > np.array(s["kmeans_ari"])))
        rows.append([name, round(mean(s["kmeans_ari"]), 4), round(float(np.min(
            s["kmeans_ari"])), 4), round(mean(s["gmm_ari"]), 4), round(float(np.min(
                s["gmm_ari"])), 4), metrics[f"gmm_wins[{name}]"], n_seeds])
    calibration = [[name, round(metrics[f"mean_max_proba[{name}]"], 4),
                    round(metrics[f"gmm_accuracy[{name}]"], 4),
                    round(metrics[f"confident_fraction[{name}]"], 4),
                    _rounded(metrics[f"confident_accuracy[{name}]"]),
                    _rounded(metrics[f"uncertain_accuracy[{name}]"])] for name in DATASETS]
    return Results(
        metrics=metrics,
        tables={
            "ari": Table(["data", "k-means ARI (mean)", "k-means ARI (worst)",
                          "GMM ARI (mean)", "GMM ARI (worst)", "seeds GMM better",
                          "seeds"], rows),
            "memberships": Table(
                ["data", "mean max probability", "GMM accuracy",
                 f"share with max prob >= {confident:g}", "accuracy there",
                 "accuracy on the rest"], calibration)},
        data={"shown": shown, "per_seed": per_seed, "confident": confident},
    )


def _rounded(value):
    return None if value is None else round(value, 4)


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    figures = {}
    for name, d in results.data["shown"].items():
        X = np.asarray(d["X"])
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), sharex=True, sharey=True,
                                 layout="constrained")
        ax = axes[0]
        ax.scatter(*X.T, s=6, c=np.asarray(d["kmeans_labels"]), cmap="tab10", vmin=0,
                   vmax=9)
        ax.scatter(*np.asarray(d["kmeans_centres"]).T, marker="X", s=120, c="k")
        ax.set_title(f"k-means (hard): ARI {d['kmeans_ari']:.3f}")

        entropy = np.asarray(d["gmm_entropy"])
        colours = plt.get_cmap("tab10")(np.asarray(d["gmm_labels"]))
        colours[:, 3] = 1.0 - 0.85 * entropy / np.log(3)   # faded where membership is split
        for ax in axes[1:]:
            for mean, cov in zip(d["gmm_means"], d["gmm_covariances"], strict=True):
                for n_std in (1.0, 2.0):
                    ring = ellipse_points(mean, np.asarray(cov), n_std)
                    ax.plot(*ring.T, "k-", lw=1.2 if n_std == 1 else 0.7)
            ax.plot(*np.asarray(d["gmm_means"]).T, "k+", ms=12, mew=2)
        axes[1].scatter(*X.T, s=6, c=colours)
        axes[1].set_title(f"GMM (soft), faded = uncertain: ARI {d['gmm_ari']:.3f}")
        shade = axes[2].scatter(*X.T, s=6, c=entropy, cmap="magma_r", vmin=0,
                                vmax=np.log(3))
        axes[2].set_title("GMM membership entropy (nats)")
        fig.colorbar(shade, ax=axes[2], shrink=0.8)
        for ax in axes:
            ax.set_aspect("equal", adjustable="box")
        fig.suptitle(f"{name} clusters: ellipses are the GMM's 1 and 2 standard deviations")
        figures[f"clusters_{name}"] = fig

    fig, ax = plt.subplots(figsize=(6, 4))
    per_seed = results.data["per_seed"]
    for i, name in enumerate(per_seed):
        for j, (key, label) in enumerate([("kmeans_ari", "k-means"), ("gmm_ari", "GMM")]):
            values = per_seed[name][key]
            x = np.full(len(values), 2 * i + j) + np.linspace(-0.15, 0.15, len(values))
            ax.plot(x, values, "o", ms=4, color=f"C{j}", label=label if i == 0 else None)
    ax.set_xticks([0, 1, 2, 3], [f"{name}\nk-means" if j == 0 else f"{name}\nGMM"
                                 for name in per_seed for j in (0, 1)])
    ax.set(ylabel="adjusted Rand index", ylim=(min(0, ax.get_ylim()[0]), 1.05),
           title="ARI against the true groups, one dot per data seed")
    ax.legend(fontsize=8)
    figures["ari"] = fig
    return figures


EXPERIMENT = register(Experiment(
    id="soft-vs-hard-clustering",
    title="Soft vs hard clustering: Gaussian mixtures where k-means fails",
    entries=("gaussian-mixtures", "k-means", "clustering-applications"),
    profiles={
        "quick": {"n_samples": 450, "n_seeds": 2, "n_init": 5, "confident": 0.9},
        "default": {"n_samples": 900, "n_seeds": 10, "n_init": 5, "confident": 0.9},
        "full": {"n_samples": 3000, "n_seeds": 30, "n_init": 10, "confident": 0.9},
    },
    compute=single_blas_thread(compute),
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
