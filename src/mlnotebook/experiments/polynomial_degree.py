"""Underfitting, good fit and overfitting: polynomial regression of increasing degree.

A smooth target, y = sin(pi x) + noise with x uniform on [-1, 1], is observed at a few
training points; polynomials of degree 0..D are fitted by least squares
(``PolynomialFeatures`` followed by ``numpy.linalg.lstsq``) and scored by mean
squared error on the training points and on a large fresh test set. The training error can
only fall with the degree; the test error falls while the model learns the shape, then
rises as the extra coefficients fit the noise. Errors are summarised over many independent
training sets (median and quartiles: a single unlucky high-degree fit can be enormous), and
learning curves show how more data cure overfitting but not underfitting. NumPy only, so it
runs on the CPU whatever the device.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mlnotebook.evaluation import ShuffleSplit, learning_curve
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    register,
    single_blas_thread,
)
from mlnotebook.preprocessing import PolynomialFeatures


def target(x: np.ndarray) -> np.ndarray:
    """The noiseless regression function, sin(pi x)."""
    return np.sin(np.pi * x)


def make_data(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points with x ~ U[-1, 1] and y = sin(pi x) + N(0, noise^2): X (n, 1), y (n,)."""
    x = rng.uniform(-1.0, 1.0, size=n)
    return x[:, None], target(x) + noise * rng.standard_normal(n)


class LeastSquares(RegressorMixin, BaseEstimator):
    """Ordinary least squares without an intercept, solved by ``numpy.linalg.lstsq``.

    ``lstsq`` (SVD, cut-off at machine precision) returns the minimum-norm solution, so a
    polynomial with as many coefficients as points interpolates them exactly, which is the
    point of the overfitting picture. Inputs stay in [-1, 1], where monomials up to degree
    about 15 are conditioned well enough for that (condition numbers up to ~1e10).
    """

    def fit(self, X, y):
        self.coef_ = np.linalg.lstsq(np.asarray(X, dtype=float), np.asarray(y, dtype=float),
                                     rcond=None)[0]
        return self

    def predict(self, X):
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=float) @ self.coef_


def polynomial_regression(degree: int) -> Pipeline:
    """Least squares on the columns [1, x, ..., x^degree]; the bias column is the intercept."""
    return Pipeline([("poly", PolynomialFeatures(degree)), ("linear", LeastSquares())])


def mse(model, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((model.predict(X) - y) ** 2))


def error_against_degree(rng, degrees, *, n_train, n_test, noise, repeats):
    """Training and test MSE, shape (repeats, n_degrees), each row a fresh training set."""
    X_test, y_test = make_data(rng, n_test, noise)
    train_err = np.empty((repeats, len(degrees)))
    test_err = np.empty((repeats, len(degrees)))
    for r in range(repeats):
        X, y = make_data(rng, n_train, noise)
        for j, d in enumerate(degrees):
            model = polynomial_regression(d).fit(X, y)
            train_err[r, j], test_err[r, j] = mse(model, X, y), mse(model, X_test, y_test)
    return train_err, test_err


@single_blas_thread
def compute(ctx: RunContext) -> Results:
    p = ctx.params
    rng = ctx.rng
    degrees = list(range(p["max_degree"] + 1))
    noise = p["noise"]

    # One training set, its fitted curves drawn over a fine grid.
    X, y = make_data(rng, p["n_train"], noise)
    grid = np.linspace(-1, 1, 400)

    train_err, test_err = error_against_degree(rng, degrees, n_train=p["n_train"],
                                               n_test=p["n_test"], noise=noise,
                                               repeats=p["repeats"])
    ctx.progress(1, 3)
    train_med, test_med = np.median(train_err, axis=0), np.median(test_err, axis=0)
    best = degrees[int(np.argmin(test_med))]
    shown = {"underfit": p["low_degree"], "good_fit": best, "overfit": p["high_degree"]}
    curves = {}
    for label, d in shown.items():
        model = polynomial_regression(d).fit(X, y)
        curves[label] = {"degree": d, "y": model.predict(grid[:, None])}

    # Learning curves from a large pool: many random training sets of growing size.
    X_pool, y_pool = make_data(rng, p["pool"], noise)
    splitter = ShuffleSplit(n_splits=p["lc_splits"], test_size=p["lc_test"],
                            random_state=int(rng.integers(2**31)))
    learning = {}
    for label, d in (("underfit", p["low_degree"]), ("overfit", p["lc_high_degree"])):
        sizes, tr, te = learning_curve(polynomial_regression(d), X_pool, y_pool,
                                       train_sizes=np.asarray(p["lc_sizes"]), cv=splitter,
                                       scoring="neg_mean_squared_error")
        learning[label] = {"degree": d, "sizes": sizes, "train_mse": np.median(-tr, axis=1),
                           "test_mse": np.median(-te, axis=1)}
    ctx.progress(2, 3)

    rows = [[d, float(train_med[j]), float(test_med[j]),
             float(np.quantile(test_err[:, j], 0.25)), float(np.quantile(test_err[:, j], 0.75))]
            for j, d in enumerate(degrees)]
    metrics = {"best_degree": best, "noise_variance": noise**2}
    for label, d in shown.items():
        metrics[f"degree[{label}]"] = d
        metrics[f"train_mse[{label}]"] = float(train_med[d])
        metrics[f"test_mse[{label}]"] = float(test_med[d])
    for label, lc in learning.items():
        metrics[f"learning_curve_final_test_mse[{label}]"] = float(lc["test_mse"][-1])
        metrics[f"learning_curve_final_gap[{label}]"] = float(lc["test_mse"][-1]
                                                              - lc["train_mse"][-1])
    ctx.progress(3, 3)
    return Results(
        metrics=metrics,
        tables={"error_by_degree": Table(
            ["degree", "median train MSE", "median test MSE", "test MSE q25", "test MSE q75"],
            rows)},
        data={"degrees": degrees, "noise": noise, "n_train": p["n_train"],
              "train_err": train_err, "test_err": test_err,
              "x": X[:, 0], "y": y, "grid": grid, "truth": target(grid), "curves": curves,
              "learning": learning},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    degrees = np.asarray(d["degrees"])
    train_err, test_err = np.asarray(d["train_err"]), np.asarray(d["test_err"])
    floor = d["noise"] ** 2

    fig_err, ax = plt.subplots(figsize=(7.5, 4.5))
    shown_floor = 1e-4  # interpolating fits have training error ~1e-20; draw them here
    for name, err, colour in (("training", train_err, "C0"), ("test", test_err, "C3")):
        q25, med, q75 = np.maximum(np.quantile(err, [0.25, 0.5, 0.75], axis=0), shown_floor)
        ax.semilogy(degrees, med, "o-", color=colour, label=f"{name} error (median)")
        ax.fill_between(degrees, q25, q75, color=colour, alpha=0.2)
    ax.text(0.01, 0.02, f"values below {shown_floor:g} are drawn at {shown_floor:g}",
            transform=ax.transAxes, fontsize=7, color="0.4")
    ax.axhline(floor, color="0.4", ls=":", label="noise variance (best possible test MSE)")
    best = results.metrics["best_degree"]
    ax.axvline(best, color="0.6", ls="--")
    ax.text(best + 0.1, ax.get_ylim()[1] * 0.5, "best test error", fontsize=8, color="0.4")
    ax.set(xlabel="polynomial degree", ylabel="mean squared error",
           title=f"Training vs test error ({d['n_train']} training points, band = quartiles "
                 f"over {len(train_err)} training sets)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)

    fig_fit, ax = plt.subplots(figsize=(7.5, 4.5))
    grid = np.asarray(d["grid"])
    ax.plot(grid, d["truth"], "k--", lw=1.5, label="true function sin(pi x)")
    ax.plot(d["x"], d["y"], "ko", ms=5, label="training points")
    for (label, curve), colour in zip(d["curves"].items(), ("C0", "C2", "C3"), strict=True):
        ax.plot(grid, curve["y"], color=colour,
                label=f"degree {curve['degree']} ({label.replace('_', ' ')})")
    spread = np.ptp(d["y"])
    ax.set(xlabel="x", ylabel="y", ylim=(min(d["y"]) - 0.5 * spread, max(d["y"]) + 0.5 * spread),
           title="Fitted polynomials: too rigid, about right, too flexible")
    ax.legend(fontsize=8)

    fig_lc, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (label, lc) in zip(axes, d["learning"].items(), strict=True):
        ax.loglog(lc["sizes"], lc["train_mse"], "o-", color="C0", label="training error")
        ax.loglog(lc["sizes"], lc["test_mse"], "o-", color="C3", label="test error")
        ax.axhline(floor, color="0.4", ls=":", label="noise variance")
        ax.set(xlabel="training-set size", title=f"degree {lc['degree']} ({label})")
    axes[0].set_ylabel("mean squared error (median over splits)")
    axes[0].legend(fontsize=8)
    fig_lc.suptitle("Learning curves: more data closes an overfitting gap, not an underfit")
    return {"error_by_degree": fig_err, "fits": fig_fit, "learning_curves": fig_lc}


EXPERIMENT = register(Experiment(
    id="polynomial-degree",
    title="Polynomial degree: underfitting, good fit, overfitting",
    entries=("generalisation-error", "underfitting-overfitting"),
    profiles={
        "quick": {"n_train": 15, "n_test": 500, "noise": 0.3, "max_degree": 12, "repeats": 10,
                  "low_degree": 1, "high_degree": 12, "lc_high_degree": 10, "pool": 300,
                  "lc_test": 100, "lc_splits": 4, "lc_sizes": [12, 20, 40, 80, 150]},
        "default": {"n_train": 15, "n_test": 2000, "noise": 0.3, "max_degree": 14,
                    "repeats": 100, "low_degree": 1, "high_degree": 14, "lc_high_degree": 10,
                    "pool": 1000, "lc_test": 300, "lc_splits": 30,
                    "lc_sizes": [12, 15, 20, 30, 50, 80, 130, 200, 400, 700]},
        "full": {"n_train": 15, "n_test": 10000, "noise": 0.3, "max_degree": 14,
                 "repeats": 500, "low_degree": 1, "high_degree": 14, "lc_high_degree": 10,
                 "pool": 3000, "lc_test": 1000, "lc_splits": 100,
                 "lc_sizes": [12, 15, 20, 30, 50, 80, 130, 200, 400, 700, 1200, 2000]},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
