"""Mini-batch and bisecting k-means against scikit-learn with the same integer random_state.

Each case fits ours and scikit-learn's estimator on the same data with the same arguments
and returns ``max(relative inertia difference, max |centre difference| / max |x|)
+ (number of differing labels) + |n_steps_ difference|`` (the last only for mini-batch):
any label or step-count difference alone exceeds the tolerance. Equality here means the
same random numbers were drawn in the same order (batches, seeding, reassignments, splits).
"""

from __future__ import annotations

import numpy as np

from mlnotebook.verify._base import check

SEED = 3


def _data(dtype) -> np.ndarray:
    """5,000 points in 8 dimensions around 10 centres."""
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=5000, centers=10, n_features=8, random_state=0)[0].astype(
        dtype)


def _discrepancy(ours, ref, X) -> float:
    inertia = abs(ours.inertia_ - ref.inertia_) / ref.inertia_
    centres = np.abs(ours.cluster_centers_ - ref.cluster_centers_).max() / np.abs(X).max()
    steps = abs(getattr(ours, "n_steps_", 0) - getattr(ref, "n_steps_", 0))
    return max(float(inertia), float(centres)) + int((ours.labels_ != ref.labels_).sum()) + steps


def _minibatch_cases(dtype) -> dict[str, float]:
    from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans

    from mlnotebook.cluster import MiniBatchKMeans

    X = _data(dtype)
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.2, 3.0, len(X)).astype(dtype)
    init = X[rng.choice(len(X), 12, replace=False)]
    cases = {
        "init array": ({"init": init}, None),
        "init array, weighted": ({"init": init}, sw),
        "k-means++": ({}, None),
        "random, n_init=3, weighted": ({"init": "random"}, sw),
        "tol=1e-3": ({"tol": 1e-3}, None),
        "batch 100, reassignment 0.2": ({"batch_size": 100, "reassignment_ratio": 0.2}, None),
        "no early stop, 2 passes": ({"max_no_improvement": None, "max_iter": 2}, None),
    }
    out = {}
    for label, (kwargs, weights) in cases.items():
        ours = MiniBatchKMeans(12, random_state=SEED, **kwargs).fit(X, sample_weight=weights)
        ref = SkMiniBatchKMeans(12, random_state=SEED, **kwargs).fit(X, sample_weight=weights)
        out[label] = _discrepancy(ours, ref, X)
    return out


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.MiniBatchKMeans", tolerance=1e-9)
def minibatch_matches_sklearn_float64():
    """float64 fit: labels and n_steps_ equal; inertia and centres to relative 1e-9."""
    return _minibatch_cases(np.float64)


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.MiniBatchKMeans", tolerance=1e-5)
def minibatch_matches_sklearn_float32():
    """float32 fit: labels and n_steps_ equal; inertia and centres to relative 1e-5.

    Per-cluster batch sums are added in a different order than scikit-learn's per-sample
    loop, so float32 centres agree to float32 rounding only.
    """
    return _minibatch_cases(np.float32)


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.MiniBatchKMeans.partial_fit", tolerance=1e-9)
def minibatch_partial_fit_matches_sklearn():
    """20 weighted partial_fit calls of 250 rows: centres, last batch's labels and inertia."""
    from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans

    from mlnotebook.cluster import MiniBatchKMeans

    X = _data(np.float64)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    out = {}
    for init in ("k-means++", "random"):
        ours = MiniBatchKMeans(12, init=init, batch_size=200, random_state=SEED)
        ref = SkMiniBatchKMeans(12, init=init, batch_size=200, random_state=SEED)
        for lo in range(0, len(X), 250):
            ours.partial_fit(X[lo:lo + 250], sample_weight=sw[lo:lo + 250])
            ref.partial_fit(X[lo:lo + 250], sample_weight=sw[lo:lo + 250])
        out[init] = _discrepancy(ours, ref, X)
    return out


def _bisecting_cases(dtype) -> dict[str, float]:
    from sklearn.cluster import BisectingKMeans as SkBisectingKMeans

    from mlnotebook.cluster import BisectingKMeans

    X = _data(dtype)
    sw = np.random.default_rng(0).uniform(0.2, 3.0, len(X)).astype(dtype)
    out = {}
    for init in ("random", "k-means++"):
        for strategy in ("biggest_inertia", "largest_cluster"):
            for n_init, weights in ((1, None), (3, sw)):
                kwargs = {"init": init, "bisecting_strategy": strategy, "n_init": n_init,
                          "random_state": SEED}
                ours = BisectingKMeans(9, **kwargs).fit(X, sample_weight=weights)
                ref = SkBisectingKMeans(9, **kwargs).fit(X, sample_weight=weights)
                label = f"{init}, {strategy}, n_init={n_init}" + (
                    ", weighted" if weights is not None else "")
                out[label] = _discrepancy(ours, ref, X)
    return out


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.BisectingKMeans", tolerance=1e-9)
def bisecting_matches_sklearn_float64():
    """float64: labels equal; inertia and centres to relative 1e-9 (same random_state)."""
    return _bisecting_cases(np.float64)


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.BisectingKMeans", tolerance=1e-5)
def bisecting_matches_sklearn_float32():
    """float32: labels equal; inertia and centres to relative 1e-5."""
    return _bisecting_cases(np.float32)


@check(topic="cluster", concept="k-means-variants",
       reference="sklearn.cluster.BisectingKMeans.predict", tolerance=0.5)
def bisecting_predict_matches_sklearn():
    """Number of differing tree-walk predictions on 2,000 shifted points (0 = same)."""
    from sklearn.cluster import BisectingKMeans as SkBisectingKMeans

    from mlnotebook.cluster import BisectingKMeans

    X = _data(np.float64)
    X_new = X[:2000] + np.random.default_rng(2).normal(0, 1.0, (2000, X.shape[1]))
    out = {}
    for strategy in ("biggest_inertia", "largest_cluster"):
        ours = BisectingKMeans(9, bisecting_strategy=strategy, random_state=SEED).fit(X)
        ref = SkBisectingKMeans(9, bisecting_strategy=strategy, random_state=SEED).fit(X)
        out[strategy] = float((ours.predict(X_new) != ref.predict(X_new)).sum())
    return out
