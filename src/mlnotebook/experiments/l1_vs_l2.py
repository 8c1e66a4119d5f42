"""L1 against L2: the lasso sets coefficients exactly to zero, ridge only shrinks them.

Data: n samples of p Gaussian features with correlation 0.3^|i - j| between features i and
j, of which only k carry signal (coefficients of decreasing size and alternating sign at
random positions), plus unit noise. Both estimators come from ``mlnotebook.linear_model``
with an intercept, scikit-learn's scalings: ridge minimises ||y - Xw||^2 + alpha ||w||^2,
the lasso (1/2n) ||y - Xw||^2 + alpha ||w||_1.

Shown: (1) both regularisation paths against the shrinkage ||w(alpha)||_1 / ||w_OLS||_1,
(2) the number of exact zeros along each path, (3) the support recovered at alphas chosen
without cross-validation: the lasso's "universal" alpha = sigma_hat sqrt(2 log p / n) and
ridge's Hoerl-Kennard-Baldwin alpha = p sigma_hat^2 / ||w_OLS||^2, with sigma_hat from the
least-squares residuals, and (4) the orthonormal-design picture, where both have closed forms
in the least-squares coefficient b: ridge b / (1 + alpha), the lasso soft thresholding
sign(b) max(|b| - n alpha, 0); the fitted models are checked against them. NumPy only.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from mlnotebook.experiments._base import Experiment, Results, RunContext, Table, register
from mlnotebook.linear_model import Lasso, Ridge, lasso_path, soft_threshold


def sparse_truth(rng: np.random.Generator, p: int, k: int) -> np.ndarray:
    """k non-zero coefficients from 3 down to 1 in size, alternating in sign, at random places."""
    w = np.zeros(p)
    sizes = np.linspace(3.0, 1.0, k) * np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
    w[rng.choice(p, k, replace=False)] = sizes
    return w


def sample(rng: np.random.Generator, n: int, w: np.ndarray, correlation: float,
           noise: float) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): Gaussian rows with corr(x_i, x_j) = correlation^|i - j|, y = 1 + X w + noise."""
    p = len(w)
    lags = np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    root = np.linalg.cholesky(correlation ** lags)                   # (p, p)
    X = rng.standard_normal((n, p)) @ root.T
    return X, X @ w + 1.0 + noise * rng.standard_normal(n)


def l1_shrinkage(coefs: np.ndarray, w_ols: np.ndarray) -> np.ndarray:
    """||w||_1 / ||w_OLS||_1 for each column of ``coefs`` (p, n_alphas): 0 = all shrunk."""
    return np.abs(coefs).sum(axis=0) / np.abs(w_ols).sum()


def support_row(name, alpha, w, truth, X_test, y_test, intercept):
    nonzero, true = w != 0, truth != 0
    mse = float(np.mean((X_test @ w + intercept - y_test) ** 2))
    return [name, alpha, int(np.sum(~nonzero)), int(np.sum(nonzero & true)),
            int(np.sum(nonzero & ~true)), int(np.sum(~nonzero & true)), mse]


def orthonormal_check(rng, n: int, p: int, ridge_alpha: float, threshold: float) -> dict:
    """Fit ridge and lasso on a design with orthonormal columns; compare with closed forms.

    Returns the least-squares coefficients b, both fits, the formulas' values, and the
    largest difference between fit and formula for each.
    """
    Q = np.linalg.qr(rng.standard_normal((n, p)))[0]                   # (n, p), Q^T Q = I
    b_true = np.linspace(-3.0, 3.0, p)
    y = Q @ b_true + 0.3 * rng.standard_normal(n)
    b = Q.T @ y                                                        # least squares
    ridge = Ridge(alpha=ridge_alpha, fit_intercept=False).fit(Q, y).coef_
    lasso = Lasso(alpha=threshold / n, fit_intercept=False, tol=1e-12,
                  max_iter=10_000).fit(Q, y).coef_
    return {"b": b, "ridge": ridge, "lasso": lasso,
            "ridge_formula": b / (1 + ridge_alpha),
            "lasso_formula": soft_threshold(b, threshold),
            "ridge_error": float(np.abs(ridge - b / (1 + ridge_alpha)).max()),
            "lasso_error": float(np.abs(lasso - soft_threshold(b, threshold)).max()),
            "ridge_alpha": ridge_alpha, "threshold": threshold}


def compute(ctx: RunContext) -> Results:
    p_ = ctx.params
    n, p, k = p_["n_samples"], p_["n_features"], p_["n_informative"]
    rng = ctx.rng
    with threadpool_limits(1):
        w_true = sparse_truth(rng, p, k)
        X, y = sample(rng, n, w_true, p_["correlation"], p_["noise"])
        X_test, y_test = sample(rng, p_["n_test"], w_true, p_["correlation"], p_["noise"])

        ols = Ridge(alpha=0.0).fit(X, y)
        residual = y - ols.predict(X)
        sigma_hat = float(np.sqrt(residual @ residual / (n - p - 1)))

        # Paths on centred data (what the fits with an intercept solve).
        Xc, yc = X - X.mean(axis=0), y - y.mean()
        lasso_alphas, lasso_coefs, _ = lasso_path(Xc, yc, alphas=p_["n_alphas"], eps=1e-4,
                                                  tol=1e-10, max_iter=100_000)
        ridge_alphas = np.geomspace(1e-3, 1e5, p_["n_alphas"])
        ridge_coefs = np.stack([Ridge(alpha=a).fit(X, y).coef_ for a in ridge_alphas],
                               axis=1)                                 # (p, n_alphas)
        ctx.progress(1, 3)

        alpha_lasso = float(sigma_hat * np.sqrt(2 * np.log(p) / n))
        alpha_ridge = p * sigma_hat**2 / float(ols.coef_ @ ols.coef_)
        lasso = Lasso(alpha=alpha_lasso, tol=1e-10, max_iter=100_000).fit(X, y)
        ridge = Ridge(alpha=alpha_ridge).fit(X, y)
        rows = [support_row("least squares", 0.0, ols.coef_, w_true, X_test, y_test,
                            ols.intercept_),
                support_row("ridge (HKB alpha)", alpha_ridge, ridge.coef_, w_true, X_test,
                            y_test, ridge.intercept_),
                support_row("lasso (universal alpha)", alpha_lasso, lasso.coef_, w_true,
                            X_test, y_test, lasso.intercept_)]
        ctx.progress(2, 3)
        ortho = orthonormal_check(rng, p_["ortho_n"], p_["ortho_p"], ridge_alpha=1.0,
                                  threshold=1.0)
    ctx.progress(3, 3)

    lasso_zeros = (lasso_coefs == 0).sum(axis=0)
    ridge_zeros = (ridge_coefs == 0).sum(axis=0)
    metrics = {
        "sigma_hat": sigma_hat,
        "lasso_alpha": alpha_lasso, "ridge_alpha": alpha_ridge,
        "lasso_exact_zeros": rows[2][2], "ridge_exact_zeros": rows[1][2],
        "lasso_true_positives": rows[2][3], "lasso_false_positives": rows[2][4],
        "lasso_false_negatives": rows[2][5],
        "test_mse[least squares]": rows[0][6], "test_mse[ridge]": rows[1][6],
        "test_mse[lasso]": rows[2][6],
        "ridge_path_exact_zeros_max": int(ridge_zeros.max()),
        "lasso_path_exact_zeros_at_smallest_alpha": int(lasso_zeros[-1]),
        "orthonormal_ridge_formula_error": ortho["ridge_error"],
        "orthonormal_lasso_formula_error": ortho["lasso_error"],
    }
    return Results(
        metrics=metrics,
        tables={"support": Table(
            ["model", "alpha", "exact zeros", "true positives", "false positives",
             "false negatives", "test MSE"], rows)},
        data={"w_true": w_true, "w_ols": ols.coef_,
              "lasso": {"alphas": lasso_alphas, "coefs": lasso_coefs, "zeros": lasso_zeros,
                        "shrinkage": l1_shrinkage(lasso_coefs, ols.coef_),
                        "chosen": alpha_lasso, "chosen_coef": lasso.coef_},
              "ridge": {"alphas": ridge_alphas, "coefs": ridge_coefs, "zeros": ridge_zeros,
                        "shrinkage": l1_shrinkage(ridge_coefs, ols.coef_),
                        "chosen": alpha_ridge, "chosen_coef": ridge.coef_},
              "orthonormal": ortho, "n_features": p},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    true = np.asarray(d["w_true"]) != 0
    figures = {}

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True)
    for ax, name in zip(axes, ("ridge", "lasso"), strict=True):
        path = d[name]
        s = np.asarray(path["shrinkage"])
        coefs = np.asarray(path["coefs"])
        for j in np.flatnonzero(~true):
            ax.plot(s, coefs[j], color="0.75", lw=0.8)
        for j in np.flatnonzero(true):
            ax.plot(s, coefs[j], lw=1.8)
        chosen = float(np.abs(path["chosen_coef"]).sum() / np.abs(d["w_ols"]).sum())
        ax.axvline(chosen, color="k", ls=":", lw=1)
        ax.axhline(0, color="k", lw=0.5)
        ax.set(xlabel="shrinkage ||w(alpha)||_1 / ||w_OLS||_1", xlim=(0, 1.02),
               title=f"{name}: coefficient paths (colour: truly non-zero)")
    axes[0].set_ylabel("coefficient")
    figures["paths"] = fig

    fig, ax = plt.subplots(figsize=(7, 4.3))
    for name, style in (("lasso", "-"), ("ridge", "--")):
        ax.step(d[name]["shrinkage"], d[name]["zeros"], style, where="post", label=name)
    ax.axhline(d["n_features"] - true.sum(), color="0.5", ls=":",
               label="number of truly zero coefficients")
    ax.set(xlabel="shrinkage ||w(alpha)||_1 / ||w_OLS||_1",
           ylabel="coefficients exactly 0", title="Exact zeros along the path")
    ax.legend(fontsize=8)
    figures["zeros"] = fig

    fig, ax = plt.subplots(figsize=(9, 4.3))
    idx = np.arange(len(d["w_true"]))
    ax.stem(idx, d["w_true"], linefmt="k-", markerfmt="ko", basefmt=" ", label="true")
    ax.plot(idx - 0.2, d["ridge"]["chosen_coef"], "s", ms=4, label="ridge (HKB alpha)")
    ax.plot(idx + 0.2, d["lasso"]["chosen_coef"], "^", ms=4, label="lasso (universal alpha)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="feature", ylabel="coefficient",
           title="Recovered coefficients: the lasso's zeros are exact")
    ax.legend(fontsize=8)
    figures["support"] = fig

    o = d["orthonormal"]
    fig, ax = plt.subplots(figsize=(6, 5))
    grid = np.linspace(-3.5, 3.5, 281)
    ax.plot(grid, grid, color="0.6", ls=":", label="least squares: w = b")
    ax.plot(grid, grid / (1 + o["ridge_alpha"]), label=f"ridge: b / (1 + {o['ridge_alpha']:g})")
    ax.plot(grid, soft_threshold(grid, o["threshold"]),
            label=f"lasso: soft threshold at {o['threshold']:g}")
    ax.plot(o["b"], o["ridge"], "o", color="C0", ms=5, mfc="none", label="ridge fits")
    ax.plot(o["b"], o["lasso"], "o", color="C1", ms=5, mfc="none", label="lasso fits")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="least-squares coefficient b", ylabel="penalised coefficient",
           title="Orthonormal design: proportional vs soft shrinkage")
    ax.legend(fontsize=8)
    figures["orthonormal"] = fig
    return figures


_COMMON = {"n_informative": 5, "correlation": 0.3, "noise": 1.0, "ortho_n": 60,
           "ortho_p": 15}

EXPERIMENT = register(Experiment(
    id="l1-vs-l2",
    title="L1 vs L2: sparsity of lasso and ridge",
    entries=("weight-decay",),
    profiles={
        "quick": {**_COMMON, "n_samples": 100, "n_features": 30, "n_test": 1000,
                  "n_alphas": 30},
        "default": {**_COMMON, "n_samples": 200, "n_features": 50, "n_test": 5000,
                    "n_alphas": 80},
        "full": {**_COMMON, "n_samples": 500, "n_features": 100, "n_test": 20000,
                 "n_alphas": 150},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
