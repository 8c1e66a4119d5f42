"""Anomaly detection with a Gaussian mixture's density: fit on normal data, flag low density.

Digits: scikit-learn's bundled 8x8 digits, some digits called normal and the others
anomalies. A stratified part of the normal digits trains PCA (to a few dimensions) and then a
``GaussianMixture``; the held-out normal digits and all the anomalous ones are scored by
``-score_samples``, the negative log-density, and ROC AUC measures how well that ranks
anomalies above normal points. The sweep runs over the number of components and the four
covariance types; a k-means baseline scores a point by its squared distance to the nearest
centre. A 2-D data set (three Gaussian clusters, anomalies uniform over a box) shows the
density and the points a threshold at a low percentile of the training scores flags.
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

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def digits_split(normal_digits, pca_dims: int, train_fraction: float, seed: int):
    """PCA features of the digits: (train normal, test points, test labels 1 = anomaly).

    PCA is fitted on the normal training digits only, so the anomalies play no part in the
    features. Shapes: (n_train, pca_dims), (n_test, pca_dims), (n_test,).
    """
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    normal = np.isin(y, normal_digits)
    x_train, x_held = train_test_split(x[normal], train_size=train_fraction,
                                       stratify=y[normal], random_state=seed)
    pca = PCA(n_components=pca_dims, random_state=seed).fit(x_train)
    x_test = np.concatenate([x_held, x[~normal]])
    is_anomaly = np.concatenate([np.zeros(len(x_held), int), np.ones(int((~normal).sum()), int)])
    return pca.transform(x_train), pca.transform(x_test), is_anomaly


def toy_data(n_train: int, n_test: int, n_anomalies: int, rng: np.random.Generator):
    """2-D normal data from three Gaussians (one elongated) and anomalies uniform on a box.

    Returns (x_train (n_train, 2), x_test (n_test + n_anomalies, 2), is_anomaly).
    """
    means = np.array([[-3.0, -2.0], [3.0, -1.0], [0.0, 3.5]])
    scales = np.array([[[1.6, 0.0], [1.1, 0.5]],          # elongated along the diagonal
                       [[0.6, 0.0], [0.0, 0.6]],
                       [[1.0, 0.0], [0.0, 0.4]]])         # x = mean + z @ scale, z ~ N(0, I)

    def normal(n: int) -> np.ndarray:
        which = rng.choice(3, size=n, p=[0.45, 0.3, 0.25])
        z = rng.standard_normal((n, 2))
        return means[which] + np.einsum("nd,nde->ne", z, scales[which])

    x_train, x_normal = normal(n_train), normal(n_test)
    anomalies = rng.uniform(-8.0, 8.0, size=(n_anomalies, 2))
    is_anomaly = np.concatenate([np.zeros(n_test, int), np.ones(n_anomalies, int)])
    return x_train, np.concatenate([x_normal, anomalies]), is_anomaly


def fit_mixture(x, n_components: int, covariance_type: str, n_init: int, seed: int):
    """Our ``GaussianMixture`` fitted to ``x`` (n, d); a start that has not converged after
    200 iterations is kept all the same (its density is still a density)."""
    from mlnotebook.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(n_components, covariance_type=covariance_type, n_init=n_init,
                               max_iter=200, random_state=seed).fit(x)


def kmeans_scores(x_train, x_test, n_clusters: int, seed: int) -> np.ndarray:
    """Squared distance of each test point to its nearest k-means centre (higher = odder)."""
    from mlnotebook.cluster import KMeans

    km = KMeans(n_clusters, n_init=3, random_state=seed).fit(x_train)
    return km.transform(x_test).min(axis=1) ** 2


def _roc(is_anomaly, score) -> dict:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(is_anomaly, score)
    return {"fpr": fpr, "tpr": tpr}


def compute(ctx: RunContext) -> Results:
    from sklearn.metrics import roc_auc_score

    p = ctx.params
    ks, n_init = p["n_components"], p["n_init"]
    x_train, x_test, is_anomaly = digits_split(p["normal_digits"], p["pca_dims"],
                                               p["train_fraction"], ctx.seed)
    # Each score: a name and a function k -> anomaly scores of the test points.
    scorers = {cov: (lambda k, cov=cov: -fit_mixture(x_train, k, cov, n_init, ctx.seed)
                     .score_samples(x_test)) for cov in COVARIANCE_TYPES}
    scorers["k-means distance"] = lambda k: kmeans_scores(x_train, x_test, k, ctx.seed)
    total = len(ks) * len(scorers) + 1
    auc: dict[str, list[float]] = {name: [] for name in scorers}
    best: dict[str, tuple[float, int, dict]] = {}      # name -> (AUC, k, ROC curve)
    for i, (name, scorer) in enumerate(scorers.items()):
        for j, k in enumerate(ks):
            score = scorer(k)
            auc[name].append(float(roc_auc_score(is_anomaly, score)))
            if name not in best or auc[name][-1] > best[name][0]:
                best[name] = (auc[name][-1], k, _roc(is_anomaly, score))
            ctx.progress(i * len(ks) + j + 1, total)

    # The 2-D picture: threshold at a low percentile of the training log-densities.
    toy_train, toy_test, toy_anomaly = toy_data(p["toy_train"], p["toy_test"],
                                                p["toy_anomalies"], ctx.rng)
    toy = fit_mixture(toy_train, p["toy_components"], "full", n_init, ctx.seed)
    threshold = float(np.percentile(toy.score_samples(toy_train), p["threshold_percentile"]))
    toy_log_density = toy.score_samples(toy_test)
    flagged = toy_log_density < threshold
    grid = np.linspace(-8.0, 8.0, p["grid_points"])
    gx, gy = np.meshgrid(grid, grid)
    grid_density = toy.score_samples(np.column_stack([gx.ravel(), gy.ravel()]))
    toy_auc = float(roc_auc_score(toy_anomaly, -toy_log_density))
    false_alarm = float(flagged[toy_anomaly == 0].mean())
    detection = float(flagged[toy_anomaly == 1].mean())
    ctx.progress(total, total)

    gmm_best = max(COVARIANCE_TYPES, key=lambda c: best[c][0])
    metrics = {
        "n_train_normal": int(len(x_train)),
        "n_test_normal": int((is_anomaly == 0).sum()),
        "n_test_anomalies": int(is_anomaly.sum()),
        "best_auc": best[gmm_best][0],
        "best_covariance_type": gmm_best,
        "best_n_components": best[gmm_best][1],
        "kmeans_best_auc": best["k-means distance"][0],
        **{f"auc[{cov}, k={ks[0]}]": auc[cov][0] for cov in COVARIANCE_TYPES},
        "toy_auc": toy_auc,
        "toy_false_alarm_rate": false_alarm,
        "toy_detection_rate": detection,
    }
    rows = [[name, *[round(a, 4) for a in values], best[name][1]]
            for name, values in auc.items()]
    return Results(
        metrics=metrics,
        tables={"auc": Table(["score", *[f"k={k}" for k in ks], "best k"], rows),
                "toy_threshold": Table(
                    ["percentile of training scores", "threshold log p(x)",
                     "false-alarm rate (normal test)", "detection rate (anomalies)", "AUC"],
                    [[p["threshold_percentile"], round(threshold, 4), round(false_alarm, 4),
                      round(detection, 4), round(toy_auc, 4)]])},
        data={
            "n_components": list(ks), "auc": auc,
            "roc": {f"{name} (k={b[1]})": b[2] for name, b in best.items()},
            "toy": {"train": toy_train, "test": toy_test, "is_anomaly": toy_anomaly,
                    "flagged": flagged, "grid": grid, "log_density": grid_density.reshape(
                        gx.shape), "threshold": threshold,
                    "percentile": p["threshold_percentile"]},
        },
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    data = results.data
    ks = data["n_components"]
    fig_auc, ax = plt.subplots(figsize=(6.5, 4))
    for name, values in data["auc"].items():
        style = "k--" if name == "k-means distance" else "o-"
        ax.plot(ks, values, style, label=name)
    ax.set(xscale="log", xlabel="number of components (clusters)", ylabel="ROC AUC",
           title="Digits: anomaly ranking by GMM density")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.legend(fontsize=8, title="covariance type", title_fontsize=8)

    fig_roc, ax = plt.subplots(figsize=(5, 5))
    for label, curve in data["roc"].items():
        ax.plot(curve["fpr"], curve["tpr"], label=label)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8)
    ax.set(xlabel="false-positive rate (normal digits flagged)",
           ylabel="true-positive rate (anomalies flagged)",
           title="ROC curves, best k per score")
    ax.legend(fontsize=8, loc="lower right")

    toy = data["toy"]
    grid = np.asarray(toy["grid"])
    log_density = np.asarray(toy["log_density"], dtype=float)
    train, test = np.asarray(toy["train"]), np.asarray(toy["test"])
    is_anomaly = np.asarray(toy["is_anomaly"]).astype(bool)
    flagged = np.asarray(toy["flagged"]).astype(bool)
    fig_toy, ax = plt.subplots(figsize=(6.5, 6))
    filled = ax.contourf(grid, grid, np.maximum(log_density, toy["threshold"] - 12),
                         levels=20, cmap="Blues")
    ax.contour(grid, grid, log_density, levels=[toy["threshold"]], colors="crimson",
               linewidths=1.5, linestyles="solid")
    fig_toy.colorbar(filled, ax=ax, label="log p(x)")
    ax.scatter(*train.T, s=4, c="0.35", label="training (normal)")
    for anomaly, flag, marker, label in [
            (False, False, "o", "normal, passed"), (False, True, "o", "normal, flagged"),
            (True, False, "x", "anomaly, missed"), (True, True, "x", "anomaly, flagged")]:
        chosen = (is_anomaly == anomaly) & (flagged == flag)
        colour = "crimson" if flag else "seagreen"
        # an "x" has no face, so its colour is the face colour; an "o" is drawn hollow
        style = {"c": colour} if marker == "x" else {"facecolors": "none",
                                                      "edgecolors": colour}
        ax.scatter(*test[chosen].T, s=22, marker=marker, lw=1, **style,
                   label=f"{label} ({chosen.sum()})")
    ax.set(xlim=(grid[0], grid[-1]), ylim=(grid[0], grid[-1]), aspect="equal",
           title=f"GMM density; red line: the {toy['percentile']:g}% quantile of the "
                 "training log p(x)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3)
    return {"auc_vs_components": fig_auc, "roc": fig_roc, "density_2d": fig_toy}


EXPERIMENT = register(Experiment(
    id="gmm-anomaly-detection",
    title="Anomaly detection with Gaussian mixture densities",
    entries=("gaussian-mixtures", "clustering-applications"),
    profiles={
        "quick": {"normal_digits": [0, 1, 2, 3, 4], "pca_dims": 8, "train_fraction": 0.7,
                  "n_components": [1, 4], "n_init": 1, "toy_train": 300, "toy_test": 150,
                  "toy_anomalies": 30, "toy_components": 3, "threshold_percentile": 1.0,
                  "grid_points": 60},
        "default": {"normal_digits": [0, 1, 2, 3, 4], "pca_dims": 10, "train_fraction": 0.7,
                    "n_components": [1, 2, 4, 8, 16, 32], "n_init": 3, "toy_train": 600,
                    "toy_test": 300, "toy_anomalies": 60, "toy_components": 3,
                    "threshold_percentile": 1.0, "grid_points": 120},
        "full": {"normal_digits": [0, 1, 2, 3, 4], "pca_dims": 16, "train_fraction": 0.7,
                 "n_components": [1, 2, 4, 8, 16, 32], "n_init": 5, "toy_train": 2000,
                 "toy_test": 1000, "toy_anomalies": 200, "toy_components": 3,
                 "threshold_percentile": 1.0, "grid_points": 160},
    },
    compute=single_blas_thread(compute),
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
