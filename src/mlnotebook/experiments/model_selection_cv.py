"""Choosing model complexity by K-fold cross-validation, not by training error.

Same data as the polynomial-degree experiment (y = sin(pi x) + noise, few training points,
a large fresh test set used only to judge). ``GridSearchCV`` scores every polynomial degree
by shuffled K-fold cross-validation on the training set alone; the CV estimate of each
candidate's error (mean and spread over folds) is set against its error on the held-out test
set. Picking by training error always lands on the most complex candidate. Over many
independent training sets, the CV choice is compared with the training-error choice and with
the (unattainable) test-set oracle. A second part tunes the ridge penalty of a
high-degree polynomial with ``validation_curve``, again over many training sets. NumPy
only, so it runs on the CPU.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mlnotebook.evaluation import GridSearchCV, KFold, validation_curve
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    register,
    single_blas_thread,
)
from mlnotebook.experiments.polynomial_degree import make_data, mse, polynomial_regression
from mlnotebook.preprocessing import PolynomialFeatures

RULES = ("cross-validation", "training error", "test oracle")


class StandardisedRidge(RegressorMixin, BaseEstimator):
    """Ridge regression on standardised features, with an unpenalised intercept.

    Each column is centred and divided by its (biased) standard deviation on the training
    data, then ``w = (Z^T Z + alpha I)^{-1} Z^T (y - mean(y))`` and the intercept is
    ``mean(y)``. This is ``StandardScaler`` followed by ``Ridge(alpha)`` in scikit-learn,
    solved directly because this experiment fits it thousands of times.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, X, y):
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        self.mean_, self.scale_ = X.mean(axis=0), X.std(axis=0)
        Z = (X - self.mean_) / self.scale_  # (n, p)
        self.intercept_ = y.mean()
        gram = Z.T @ Z + self.alpha * np.eye(Z.shape[1])
        self.coef_ = np.linalg.solve(gram, Z.T @ (y - self.intercept_))
        return self

    def predict(self, X):
        check_is_fitted(self, "coef_")
        return (np.asarray(X, dtype=float) - self.mean_) / self.scale_ @ self.coef_ + (
            self.intercept_)


def ridge_polynomial(degree: int, alpha: float = 1.0) -> Pipeline:
    """Monomials x..x^degree, standardised, then ridge regression with an intercept."""
    return Pipeline([("poly", PolynomialFeatures(degree, include_bias=False)),
                     ("ridge", StandardisedRidge(alpha))])


def select_degree(X, y, X_test, y_test, degrees, folds: int, seed: int) -> dict:
    """Grid-search the degree by K-fold CV; also each degree's training and test MSE."""
    search = GridSearchCV(polynomial_regression(0), {"poly__degree": degrees},
                          scoring="neg_mean_squared_error",
                          cv=KFold(folds, shuffle=True, random_state=seed)).fit(X, y)
    res = search.cv_results_
    fold_mse = -np.stack([res[f"split{k}_test_score"] for k in range(folds)], axis=1)
    train_mse, test_mse = [], []
    for d in degrees:
        model = polynomial_regression(d).fit(X, y)
        train_mse.append(mse(model, X, y))
        test_mse.append(mse(model, X_test, y_test))
    train_mse, test_mse = np.array(train_mse), np.array(test_mse)
    chosen = {
        "cross-validation": search.best_params_["poly__degree"],
        # ties (several interpolating fits at ~0) go to the most complex, as a fit would
        "training error": degrees[len(degrees) - 1 - int(np.argmin(train_mse[::-1]))],
        "test oracle": degrees[int(np.argmin(test_mse))],
    }
    return {"fold_mse": fold_mse, "cv_mse": -res["mean_test_score"],
            "cv_std": res["std_test_score"], "train_mse": train_mse, "test_mse": test_mse,
            "chosen": chosen, "cv_estimate_of_choice": -search.best_score_}


def ridge_curve(X, y, X_test, y_test, alphas, degree: int, folds: int, seed: int) -> dict:
    """Training, K-fold CV and test MSE of a ridge-penalised polynomial for every alpha."""
    cv = KFold(folds, shuffle=True, random_state=seed)
    train_scores, cv_scores = validation_curve(
        ridge_polynomial(degree), X, y, param_name="ridge__alpha", param_range=alphas, cv=cv,
        scoring="neg_mean_squared_error")  # each (n_alphas, folds)
    test_mse = np.array([mse(ridge_polynomial(degree, a).fit(X, y), X_test, y_test)
                         for a in alphas])
    cv_mse = -cv_scores.mean(axis=1)
    return {"train_mse": -train_scores.mean(axis=1), "cv_mse": cv_mse, "test_mse": test_mse,
            "chosen": int(np.argmin(cv_mse))}


@single_blas_thread
def compute(ctx: RunContext) -> Results:
    p = ctx.params
    rng = ctx.rng
    degrees = list(range(p["max_degree"] + 1))
    alphas = np.logspace(*p["alpha_range"], p["n_alphas"])
    noise, folds = p["noise"], p["folds"]
    X_test, y_test = make_data(rng, p["n_test"], noise)
    total = p["repeats"] + 1

    # One training set in detail.
    X, y = make_data(rng, p["n_train"], noise)
    one = select_degree(X, y, X_test, y_test, degrees, folds, int(rng.integers(2**31)))
    ctx.progress(1, total)

    # Many training sets: which degree each rule picks and what that costs on the test set;
    # and the ridge penalty of a high-degree polynomial chosen by a validation curve.
    picks = {rule: [] for rule in RULES}
    costs = {rule: [] for rule in RULES}
    ridge = {"train_mse": [], "cv_mse": [], "test_mse": [], "chosen": []}
    for r in range(p["repeats"]):
        Xr, yr = make_data(rng, p["n_train"], noise)
        sel = select_degree(Xr, yr, X_test, y_test, degrees, folds, int(rng.integers(2**31)))
        for rule in RULES:
            picks[rule].append(sel["chosen"][rule])
            costs[rule].append(float(sel["test_mse"][sel["chosen"][rule]]))
        curve = ridge_curve(Xr, yr, X_test, y_test, alphas, p["ridge_degree"], folds,
                            int(rng.integers(2**31)))
        for key, value in curve.items():
            ridge[key].append(value)
        ctx.progress(r + 2, total)
    ridge = {key: np.asarray(value) for key, value in ridge.items()}  # (repeats, n_alphas)

    chosen = one["chosen"]
    metrics = {f"degree[{rule}]": d for rule, d in chosen.items()}
    metrics.update({f"test_mse[{rule}]": float(one["test_mse"][d]) for rule, d in chosen.items()})
    metrics["cv_estimate_of_chosen"] = float(one["cv_estimate_of_choice"])
    for rule in RULES:
        metrics[f"repeats_mean_test_mse[{rule}]"] = float(np.mean(costs[rule]))
        metrics[f"repeats_median_degree[{rule}]"] = float(np.median(picks[rule]))
    rows = np.arange(p["repeats"])
    ridge_costs = {"cv-chosen alpha": ridge["test_mse"][rows, ridge["chosen"]],
                   "smallest alpha": ridge["test_mse"][:, 0],
                   "test-oracle alpha": ridge["test_mse"].min(axis=1)}
    metrics["ridge_median_chosen_alpha"] = float(np.median(alphas[ridge["chosen"]]))
    for name, cost in ridge_costs.items():
        metrics[f"ridge_median_test_mse[{name}]"] = float(np.median(cost))

    table = [[d, float(one["train_mse"][j]), float(one["cv_mse"][j]), float(one["cv_std"][j]),
              float(one["test_mse"][j])] for j, d in enumerate(degrees)]
    return Results(
        metrics=metrics,
        tables={"degree_selection": Table(
            ["degree", "training MSE", "CV MSE (mean over folds)", "CV std over folds",
             "test MSE"], table)},
        data={"degrees": degrees, "folds": folds, "noise": noise, "n_train": p["n_train"],
              "one": one, "picks": picks, "costs": costs, "alphas": alphas,
              "ridge_degree": p["ridge_degree"], "ridge": ridge},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    degrees = np.asarray(d["degrees"])
    one = d["one"]
    fold_mse = np.asarray(one["fold_mse"], dtype=float)
    floor = d["noise"] ** 2
    colours = dict(zip(RULES, ("C2", "C0", "C3"), strict=True))

    fig_cv, ax = plt.subplots(figsize=(8, 4.8))
    for k in range(fold_mse.shape[1]):
        ax.plot(degrees, fold_mse[:, k], ".", color="C2", alpha=0.35,
                label="single folds" if k == 0 else None)
    ax.errorbar(degrees, one["cv_mse"], yerr=one["cv_std"], fmt="o-", color="C2", capsize=3,
                label=f"{d['folds']}-fold CV estimate (mean, std over folds)")
    ax.plot(degrees, one["test_mse"], "s-", color="C3", label="held-out test error")
    ax.plot(degrees, np.maximum(one["train_mse"], 1e-6), "^-", color="C0",
            label="training error")
    ax.axhline(floor, color="0.4", ls=":", label="noise variance")
    for rule, deg in one["chosen"].items():
        ax.axvline(deg, color=colours[rule], ls="--", lw=1)
    ax.set_yscale("log")
    ax.set(xlabel="polynomial degree", ylabel="mean squared error",
           title="Cross-validation tracks the test error; training error always wants more")
    ax.legend(fontsize=8, loc="upper left")

    fig_rep, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.28
    for i, rule in enumerate(RULES):
        counts = np.bincount(np.asarray(d["picks"][rule], dtype=int), minlength=len(degrees))
        ax1.bar(degrees + (i - 1) * width, counts, width, color=colours[rule], label=rule)
    ax1.set(xlabel="chosen degree", ylabel="training sets",
            title=f"Degree chosen, over {len(d['picks'][RULES[0]])} training sets")
    ax1.legend(fontsize=8)
    ax2.boxplot([d["costs"][rule] for rule in RULES], tick_labels=list(RULES))
    ax2.set_yscale("log")
    ax2.axhline(floor, color="0.4", ls=":")
    ax2.set(ylabel="test MSE of the chosen model", title="What each choice costs")

    fig_ridge, ax = plt.subplots(figsize=(7.5, 4.5))
    alphas = np.asarray(d["alphas"])
    ridge = {key: np.asarray(value) for key, value in d["ridge"].items()}
    for name, key, colour in (("training", "train_mse", "C0"), ("CV", "cv_mse", "C2"),
                              ("held-out test", "test_mse", "C3")):
        q25, med, q75 = np.quantile(ridge[key], [0.25, 0.5, 0.75], axis=0)
        ax.plot(alphas, med, "o-", color=colour, label=f"{name} error")
        ax.fill_between(alphas, q25, q75, color=colour, alpha=0.15)
    chosen = alphas[ridge["chosen"]]
    ax.axvline(np.median(chosen), color="C2", ls="--", lw=1, label="median alpha chosen by CV")
    ax.axhline(floor, color="0.4", ls=":", label="noise variance")
    ax.set(xscale="log", yscale="log", xlabel="ridge penalty alpha", ylabel="mean squared error",
           title=f"Validation curve of a degree-{d['ridge_degree']} ridge polynomial "
                 f"(median, quartiles over {len(chosen)} training sets)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    return {"cv_vs_test": fig_cv, "choices": fig_rep, "ridge_validation_curve": fig_ridge}


EXPERIMENT = register(Experiment(
    id="model-selection-cv",
    title="Model selection by K-fold cross-validation",
    entries=("model-selection", "cross-validation"),
    profiles={
        "quick": {"n_train": 30, "n_test": 500, "noise": 0.3, "max_degree": 10, "folds": 5,
                  "repeats": 3, "ridge_degree": 10, "alpha_range": [-6, 2], "n_alphas": 5},
        "default": {"n_train": 30, "n_test": 2000, "noise": 0.3, "max_degree": 12, "folds": 5,
                    "repeats": 25, "ridge_degree": 12, "alpha_range": [-6, 2], "n_alphas": 9},
        "full": {"n_train": 30, "n_test": 10000, "noise": 0.3, "max_degree": 14, "folds": 10,
                 "repeats": 200, "ridge_degree": 14, "alpha_range": [-10, 3], "n_alphas": 27},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
