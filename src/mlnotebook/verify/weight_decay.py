"""Ridge, lasso, norm penalties and weight decay against scikit-learn and torch.optim."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import torch

from mlnotebook.verify._base import check

# (n_samples, n_features): tall, square-ish, and wide (more features than samples).
_SHAPES = [(200, 20), (40, 30), (30, 120)]


def regression_problem(n_samples: int, n_features: int, n_targets: int = 1, seed: int = 0):
    """Features with non-zero means and unequal scales, a sparse truth, noise: (X, Y, sw).

    ``Y`` has shape (n_samples, n_targets); ``sw`` are positive sample weights.
    """
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.5, 2.0, n_features)
    X = rng.standard_normal((n_samples, n_features)) * scales + rng.uniform(-1, 1, n_features)
    W = np.zeros((n_features, n_targets))
    support = rng.choice(n_features, max(1, n_features // 5), replace=False)
    W[support] = rng.standard_normal((support.size, n_targets))
    Y = X @ W + 0.5 * rng.standard_normal((n_samples, n_targets)) + 1.0
    return X, Y, rng.uniform(0.2, 3.0, n_samples)


@check(topic="regularisation", concept="weight-decay", reference="sklearn.linear_model.Ridge",
       tolerance=1e-10)
def ridge_matches_sklearn():
    """Coefficients and predictions per shape and alpha; each row is the worst of
    intercept or not x 1 or 3 targets x unit or random sample weights."""
    from sklearn.linear_model import Ridge as SkRidge

    from mlnotebook.linear_model import Ridge

    diffs = {}
    for (n, p), alpha in itertools.product(_SHAPES, (1e-2, 1.0, 100.0)):
        worst = 0.0
        for fit_intercept, targets, weighted in itertools.product((True, False), (1, 3),
                                                                  (False, True)):
            X, Y, sw = regression_problem(n, p, targets)
            y = Y[:, 0] if targets == 1 else Y
            sw = sw if weighted else None
            ours = Ridge(alpha, fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
            ref = SkRidge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y,
                                                                       sample_weight=sw)
            scale = max(1.0, float(np.abs(ref.coef_).max()))
            worst = max(worst, float(np.abs(ours.coef_ - ref.coef_).max()) / scale,
                        float(np.abs(ours.predict(X) - ref.predict(X)).max()))
        diffs[f"{n}x{p} alpha={alpha:g}"] = worst
    return diffs


def _lasso_pair(X, y, alpha, **kwargs):
    from sklearn.linear_model import Lasso as SkLasso

    from mlnotebook.linear_model import Lasso

    tight = dict(tol=1e-12, max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither may stop short of the tolerance
        ours = Lasso(alpha, **tight, **kwargs).fit(X, y)
        ref = SkLasso(alpha=alpha, **tight, **kwargs).fit(X, y)
    return ours, ref


def _lasso_cases():
    """(label, [(X, y, alpha, options), ...]): per shape and alpha, the four option pairs."""
    for (n, p), fraction in itertools.product(_SHAPES, (0.5, 0.1, 0.02)):
        X, Y, _ = regression_problem(n, p)
        y = Y[:, 0]
        runs = []
        for fit_intercept, positive in itertools.product((True, False), (False, True)):
            Xc = X - X.mean(axis=0) if fit_intercept else X
            yc = y - y.mean() if fit_intercept else y
            alpha = fraction * np.abs(Xc.T @ yc).max() / n      # a fraction of alpha_max
            runs.append((X, y, alpha, dict(fit_intercept=fit_intercept, positive=positive)))
        yield f"{n}x{p} alpha={fraction:g}*alpha_max", runs


@check(topic="regularisation", concept="weight-decay", reference="sklearn.linear_model.Lasso",
       tolerance=1e-8)
def lasso_matches_sklearn():
    """Coefficients and intercept at tol=1e-12 per shape and alpha; each row is the worst
    of intercept or not x positive or not."""
    diffs = {}
    for label, runs in _lasso_cases():
        worst = 0.0
        for X, y, alpha, kwargs in runs:
            ours, ref = _lasso_pair(X, y, alpha, **kwargs)
            worst = max(worst, float(np.abs(ours.coef_ - ref.coef_).max()),
                        abs(ours.intercept_ - ref.intercept_))
        diffs[label] = worst
    return diffs


@check(topic="regularisation", concept="weight-decay", reference="sklearn.linear_model.Lasso",
       tolerance=0.5)
def lasso_sparsity_matches_sklearn():
    """Features exactly zero in one fit and not in the other (want 0), summed over options."""
    counts = {}
    for label, runs in _lasso_cases():
        counts[label] = 0
        for X, y, alpha, kwargs in runs:
            ours, ref = _lasso_pair(X, y, alpha, **kwargs)
            counts[label] += int(np.sum((ours.coef_ == 0) != (ref.coef_ == 0)))
    return counts


@check(topic="regularisation", concept="weight-decay",
       reference="sklearn.linear_model.lasso_path", tolerance=1e-8)
def lasso_path_matches_sklearn():
    """The alpha grid and every coefficient along a 30-point path to alpha_max / 10."""
    from sklearn.linear_model import lasso_path as sk_lasso_path

    from mlnotebook.linear_model import lasso_path

    diffs = {}
    for n, p in _SHAPES:
        X, Y, _ = regression_problem(n, p)
        X, y = X - X.mean(axis=0), Y[:, 0] - Y[:, 0].mean()
        alphas, coefs, _ = lasso_path(X, y, eps=0.1, alphas=30, tol=1e-12,
                                      max_iter=100_000)
        ref_alphas, ref_coefs, _ = sk_lasso_path(X, y, eps=0.1, alphas=30, tol=1e-12,
                                                 max_iter=100_000)
        diffs[f"{n}x{p}"] = max(float(np.abs(alphas - ref_alphas).max()),
                                float(np.abs(coefs - ref_coefs).max()))
    return diffs


def _least_squares_problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    w0 = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    b0 = torch.randn(3, generator=gen, dtype=torch.float64)
    return x, y, w0, b0


def _train(make_opt, penalty=None, decoupled_wd: float = 0.0, steps: int = 100):
    """Final parameters after ``steps`` full-batch steps on a float64 least-squares fit.

    ``penalty(params)`` is added to the loss; ``decoupled_wd`` multiplies the parameters by
    ``1 - lr * decoupled_wd`` before each optimiser step (decay done by hand).
    """
    x, y, w0, b0 = _least_squares_problem()
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = make_opt([w, b])
    lr = opt.param_groups[0]["lr"]
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        if penalty is not None:
            loss = loss + penalty([w, b])
        loss.backward()
        if decoupled_wd:
            with torch.no_grad():
                for p in (w, b):
                    p.mul_(1 - lr * decoupled_wd)
        opt.step()
    return torch.cat([w.detach().ravel(), b.detach()])


@check(topic="regularisation", concept="weight-decay", reference="torch.optim.SGD",
       tolerance=1e-12)
def penalty_l2_with_sgd_matches_torch_weight_decay():
    """SGD on loss + l2_penalty(wd) vs torch SGD(weight_decay=wd) on the loss, 100 steps."""
    from mlnotebook.nn import l2_penalty
    from mlnotebook.optim import SGD

    diffs = {}
    for wd, momentum in itertools.product((0.01, 0.3), (0.0, 0.9)):
        ours = _train(lambda ps, mu=momentum: SGD(ps, lr=0.05, momentum=mu),
                      penalty=lambda ps, wd=wd: l2_penalty(ps, wd))
        ref = _train(lambda ps, wd=wd, mu=momentum: torch.optim.SGD(ps, lr=0.05, momentum=mu,
                                                                    weight_decay=wd))
        diffs[f"wd={wd:g} momentum={momentum:g}"] = float((ours - ref).abs().max())
    return diffs


@check(topic="regularisation", concept="weight-decay",
       reference="torch.linalg.vector_norm", tolerance=1e-12)
def penalty_values_and_gradients_match_torch():
    """l2 and l1 penalties and their autograd gradients vs norms and closed forms."""
    from mlnotebook.nn import l1_penalty, l2_penalty

    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
              for shape in ((4, 3), (3,), (2, 2, 2))]
    flat = torch.cat([p.detach().ravel() for p in params])
    diffs = {}
    for name, fn, value, grad in (
            ("l2", l2_penalty, lambda wd: wd / 2 * torch.linalg.vector_norm(flat) ** 2,
             lambda wd, p: wd * p),
            ("l1", l1_penalty, lambda wd: wd * torch.linalg.vector_norm(flat, ord=1),
             lambda wd, p: wd * torch.sign(p))):
        for wd in (0.0, 0.1, 3.0):
            out = fn(params, wd)
            grads = torch.autograd.grad(out, params)
            diff = abs(float(out.detach() - value(wd)))
            for p, g in zip(params, grads, strict=True):
                diff = max(diff, float((g - grad(wd, p.detach())).abs().max()))
            diffs[f"{name} wd={wd:g}"] = diff
    return diffs


@check(topic="regularisation", concept="weight-decay", reference="torch.optim.SGD",
       tolerance=1e-12)
def decay_equals_l2_for_plain_sgd():
    """Plain SGD: shrinking by (1 - lr wd) then stepping == SGD(weight_decay=wd), 100 steps."""
    from mlnotebook.optim import SGD

    diffs = {}
    for wd in (0.01, 0.3):
        decayed = _train(lambda ps: SGD(ps, lr=0.05), decoupled_wd=wd)
        coupled = _train(lambda ps, wd=wd: torch.optim.SGD(ps, lr=0.05, weight_decay=wd))
        diffs[f"wd={wd:g}"] = float((decayed - coupled).abs().max())
    return diffs


@check(topic="regularisation", concept="adamw", reference="torch.optim.AdamW",
       tolerance=1e-12)
def decay_adamw_is_shrink_then_adam_step():
    """AdamW == multiply by (1 - lr wd), then an Adam step without decay, 100 steps."""
    from mlnotebook.optim import Adam

    diffs = {}
    for wd in (0.01, 0.3):
        by_hand = _train(lambda ps: Adam(ps, lr=0.01), decoupled_wd=wd)
        ref = _train(lambda ps, wd=wd: torch.optim.AdamW(ps, lr=0.01, weight_decay=wd))
        diffs[f"wd={wd:g}"] = float((by_hand - ref).abs().max())
    return diffs


@check(topic="regularisation", concept="adamw", reference="torch.optim.Adam", tolerance=1e-12)
def decay_adam_weight_decay_is_an_l2_penalty():
    """Adam on loss + l2_penalty(wd) == torch Adam(weight_decay=wd): coupled, not decay."""
    from mlnotebook.nn import l2_penalty
    from mlnotebook.optim import Adam

    diffs = {}
    for wd in (0.01, 0.3):
        penalised = _train(lambda ps: Adam(ps, lr=0.01),
                           penalty=lambda ps, wd=wd: l2_penalty(ps, wd))
        ref = _train(lambda ps, wd=wd: torch.optim.Adam(ps, lr=0.01, weight_decay=wd))
        decoupled = _train(lambda ps, wd=wd: torch.optim.AdamW(ps, lr=0.01, weight_decay=wd))
        diffs[f"wd={wd:g}"] = float((penalised - ref).abs().max())
        # Not a no-op: the decoupled run must land elsewhere, or the check shows nothing.
        if float((decoupled - ref).abs().max()) < 1e-6:
            diffs[f"wd={wd:g} differs from AdamW"] = float("inf")
    return diffs
