"""Colour quantisation: repaint a photograph with k colours found by k-means and mini-batch k-means.

Every pixel of scikit-learn's bundled sample photograph ``china.jpg`` (427 x 640, shipped with
the package) is a point in RGB space, scaled to [0, 1]. A clustering of the colours into k
groups gives a palette of k centres, and each pixel is repainted with its nearest centre: the
image becomes k colours plus an index per pixel (log2 k bits instead of 24). Both our KMeans
(Lloyd, k-means++ seeding) and our MiniBatchKMeans (Sculley's updates on batches) learn the
palette from the same seeded random subsample of pixels, then label every pixel. The error is
the mean squared difference per colour channel over all pixels, and the PSNR is
10 log10(1 / error) since colours lie in [0, 1]. Fit times depend on the machine.
"""

from __future__ import annotations

import math
import time

import numpy as np

from mlnotebook.experiments._base import Experiment, Results, RunContext, Table, register

METHODS = ("KMeans", "MiniBatchKMeans")


def load_pixels(step: int) -> tuple[np.ndarray, tuple[int, int]]:
    """china.jpg, every ``step``-th row and column, as (n_pixels, 3) floats in [0, 1].

    Returns the pixels in row-major order and the (height, width) of the downscaled image.
    """
    from sklearn.datasets import load_sample_image

    image = load_sample_image("china.jpg")[::step, ::step]           # (h, w, 3) uint8
    height, width = image.shape[:2]
    return image.reshape(-1, 3).astype(np.float64) / 255.0, (height, width)


def make_estimator(method: str, n_clusters: int, seed: int, params: dict):
    """One of our estimators, k-means++ seeding with one start, seeded by ``seed``."""
    from mlnotebook import cluster

    if method == "KMeans":
        return cluster.KMeans(n_clusters, init="k-means++", n_init=1,
                              max_iter=params["max_iter"], tol=params["tol"],
                              random_state=seed)
    if method == "MiniBatchKMeans":
        return cluster.MiniBatchKMeans(n_clusters, init="k-means++", n_init=1,
                                       batch_size=params["batch_size"], random_state=seed)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def quantise(estimator, fit_pixels: np.ndarray, pixels: np.ndarray) -> dict:
    """Fit ``estimator`` on ``fit_pixels``, label every pixel, and measure the damage.

    Returns the palette (k, 3), the labels (n_pixels,), the estimator's ``n_iter_``
    (Lloyd passes for KMeans, passes over the data for MiniBatchKMeans), the fit and
    labelling times in seconds, the mean squared error per channel over all pixels, and the
    PSNR in dB.
    """
    started = time.perf_counter()
    estimator.fit(fit_pixels)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    labels = estimator.predict(pixels)
    predict_s = time.perf_counter() - started
    palette = estimator.cluster_centers_
    mse = float(np.mean((pixels - palette[labels]) ** 2))
    return {"palette": palette, "labels": labels, "n_iter": int(estimator.n_iter_),
            "fit_s": fit_s, "predict_s": predict_s,
            "mse": mse, "psnr": 10 * math.log10(1 / mse) if mse > 0 else math.inf}


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    pixels, (height, width) = load_pixels(p["step"])
    n_fit = min(p["fit_pixels"], len(pixels))
    fit_pixels = pixels[ctx.rng.choice(len(pixels), n_fit, replace=False)]
    show = p["display_step"]
    shown_shape = (len(range(0, height, show)), len(range(0, width, show)))

    def shown(per_pixel: np.ndarray) -> np.ndarray:
        """The displayed (every ``show``-th) rows and columns of a per-pixel array."""
        return per_pixel.reshape(height, width, *per_pixel.shape[1:])[::show, ::show]

    rows, metrics, curves, images = [], {}, {m: {} for m in p["methods"]}, {}
    total, done = len(p["methods"]) * len(p["ks"]), 0
    for k in p["ks"]:
        for method in p["methods"]:
            run = quantise(make_estimator(method, k, ctx.seed, p), fit_pixels, pixels)
            rows.append([method, k, round(math.log2(k), 3), run["mse"], run["psnr"],
                         run["n_iter"], round(run["fit_s"], 4), round(run["predict_s"], 4)])
            for name in ("mse", "psnr", "fit_s"):
                metrics[f"{name}[{method}, k={k}]"] = run[name]
                curves[method].setdefault(name, []).append(run[name])
            if k in p["shown_ks"]:
                images[f"{method}, k={k}"] = {"palette": run["palette"],
                                              "labels": shown(run["labels"])}
            done += 1
            ctx.progress(done, total)
    if len(p["methods"]) == 2:
        ratios = [b / a for a, b in zip(*(curves[m]["mse"] for m in p["methods"]), strict=True)]
        metrics[f"max_mse_ratio[{p['methods'][1]} / {p['methods'][0]}]"] = max(ratios)
    original = np.round(shown(pixels) * 255).astype(np.uint8)          # (h', w', 3)
    return Results(
        metrics=metrics,
        tables={"quantisation": Table(
            ["method", "k", "bits per pixel", "mean squared error per channel", "PSNR (dB)",
             "n_iter_", "fit s (machine-dependent)", "label all pixels s"], rows)},
        data={"ks": list(p["ks"]), "methods": list(p["methods"]), "curves": curves,
              "image_shape": [height, width], "shown_shape": list(shown_shape),
              "n_pixels": len(pixels), "n_fit_pixels": n_fit, "original": original,
              "images": images},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    data = results.data
    methods, ks = data["methods"], data["ks"]
    shown_ks = sorted({int(label.rsplit("=", 1)[1]) for label in data["images"]})
    figures = {}

    fig = plt.figure(figsize=(2.6 * (len(shown_ks) + 1), 2.1 * len(methods) + 0.6))
    grid = fig.add_gridspec(len(methods), len(shown_ks) + 1, wspace=0.04, hspace=0.15)
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(np.asarray(data["original"], dtype=np.uint8))
    ax.set_title("original (24 bits per pixel)", fontsize=9)
    ax.axis("off")
    for row, method in enumerate(methods):
        for col, k in enumerate(shown_ks, start=1):
            image = data["images"][f"{method}, k={k}"]
            palette = np.asarray(image["palette"], dtype=float)
            ax = fig.add_subplot(grid[row, col])
            ax.imshow(np.clip(palette[np.asarray(image["labels"])], 0, 1))
            ax.set_title(f"{method}, k={k}", fontsize=9)
            ax.axis("off")
    fig.suptitle(f"china.jpg repainted with k colours (palettes learned from "
                 f"{data['n_fit_pixels']:,} of {data['n_pixels']:,} pixels)", fontsize=10)
    figures["images"] = fig

    fig, (ax_err, ax_time) = plt.subplots(1, 2, figsize=(10, 4))
    for method in methods:
        curve = data["curves"][method]
        ax_err.loglog(ks, curve["mse"], "o-", label=method)
        ax_time.loglog(ks, curve["fit_s"], "o-", label=method)
    ax_err.set(xlabel="k (number of colours)", ylabel="mean squared error per channel",
               title="Quantisation error on all pixels")
    ax_time.set(xlabel="k (number of colours)", ylabel="fit time (s, machine-dependent)",
                title="Time to learn the palette")
    for ax in (ax_err, ax_time):
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    figures["error_and_time"] = fig
    return figures


EXPERIMENT = register(Experiment(
    id="colour-quantisation",
    title="Colour quantisation of a photograph with k-means and mini-batch k-means",
    entries=("k-means-variants", "clustering-applications"),
    profiles={
        # image every 8th pixel (54 x 80), palettes from 2,000 of its 4,320 pixels
        "quick": {"step": 8, "fit_pixels": 2_000, "ks": [2, 4, 8], "shown_ks": [2, 8],
                  "display_step": 1, "methods": list(METHODS), "max_iter": 100,
                  "tol": 1e-4, "batch_size": 256},
        # the full image (427 x 640), palettes from 100,000 pixels, shown at half size
        "default": {"step": 1, "fit_pixels": 100_000, "ks": [4, 8, 16, 32, 64],
                    "shown_ks": [4, 16, 64], "display_step": 2, "methods": list(METHODS),
                    "max_iter": 300, "tol": 1e-4, "batch_size": 1024},
        # the full image, palettes from all of its pixels
        "full": {"step": 1, "fit_pixels": 273_280, "ks": [2, 4, 8, 16, 32, 64, 128],
                 "shown_ks": [4, 16, 64], "display_step": 1, "methods": list(METHODS),
                 "max_iter": 300, "tol": 1e-4, "batch_size": 1024},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split()),
))
