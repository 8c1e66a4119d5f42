"""Distribution-shift corrections against known answers.

No production library implements domain-classifier weights or BBSE, so the references are
the quantities the methods estimate, computed independently: the analytic density ratio of
two Gaussians, the true class weights q/p of a population with a known confusion matrix,
and Bayes' rule with scipy's Gaussian densities. Exact identities get a float64 tolerance;
estimates from samples get a statistical tolerance stated in the check's docstring.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import multivariate_normal, norm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from mlnotebook.shift import (
    BlackBoxShiftEstimator,
    DomainClassifierWeights,
    LabelShiftProblem,
    adjust_proba,
    bbse_weights,
)
from mlnotebook.verify._base import check


class GaussianBayesDomainClassifier(ClassifierMixin, BaseEstimator):
    """The Bayes-optimal source (0) vs target (1) classifier for two known Gaussians.

    ``fit`` only counts the two samples, whose proportions are the class prior of the pooled
    sample; ``predict_proba`` applies Bayes' rule with scipy's densities:
    ``P(1 | x) = n_1 q(x) / (n_1 q(x) + n_0 p(x))``. Given to :class:`DomainClassifierWeights`
    it isolates the odds-to-ratio formula from any estimation error.
    """

    def __init__(self, mean_source=None, mean_target=None, scale: float = 1.0):
        self.mean_source = mean_source
        self.mean_target = mean_target
        self.scale = scale

    def fit(self, X, z):
        z = np.asarray(z)
        self.classes_ = np.array([0, 1])
        self.class_count_ = np.array([np.sum(z == 0), np.sum(z == 1)], dtype=np.float64)
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float64)
        cov = self.scale**2 * np.eye(X.shape[1])
        log_p = multivariate_normal(self.mean_source, cov).logpdf(X)
        log_q = multivariate_normal(self.mean_target, cov).logpdf(X)
        log_odds = np.log(self.class_count_[1] / self.class_count_[0]) + log_q - log_p
        target = expit(log_odds)
        return np.stack([expit(-log_odds), target], axis=1)


def gaussian_density_ratio(X, mean_source, mean_target, scale: float = 1.0) -> np.ndarray:
    """``q(x) / p(x)`` for ``N(mean_target, s^2 I)`` over ``N(mean_source, s^2 I)``; (n,)."""
    a, b = np.asarray(mean_source, dtype=np.float64), np.asarray(mean_target, dtype=np.float64)
    return np.exp((X @ (b - a) - (b @ b - a @ a) / 2) / scale**2)


_GAUSSIAN_CASES = {  # name: (mean_source, mean_target, n_train, n_test)
    "d=1 shift=0.5": ([0.0], [0.5], 20000, 20000),
    "d=1 shift=1": ([0.0], [1.0], 20000, 20000),
    "d=2 shift=(1,-0.5)": ([0.0, 0.0], [1.0, -0.5], 20000, 20000),
    "d=2 shift=(1,-0.5) n_test=n_train/4": ([0.0, 0.0], [1.0, -0.5], 20000, 5000),
}


@check(topic="regularisation", concept="distribution-shift",
       reference="analytic q(x)/p(x) (scipy.stats.multivariate_normal Bayes odds)",
       tolerance=1e-12)
def shift_weights_from_exact_domain_odds():
    """Max relative error of w(x) when the domain classifier's odds are exact.

    Checks the odds-to-ratio formula, the n_train / n_test factor included (the last case
    has four times more source than target inputs).
    """
    out = {}
    for case, (a, b, n_train, n_test) in _GAUSSIAN_CASES.items():
        rng = np.random.default_rng(0)
        X_train = rng.normal(size=(n_train, len(a))) + a
        X_test = rng.normal(size=(n_test, len(a))) + b
        dcw = DomainClassifierWeights(GaussianBayesDomainClassifier(a, b)).fit(X_train, X_test)
        w = dcw.weights(X_train)
        out[case] = float(np.max(np.abs(w / gaussian_density_ratio(X_train, a, b) - 1)))
    return out


@check(topic="regularisation", concept="distribution-shift",
       reference="analytic Gaussian q(x)/p(x)", tolerance=0.05)
def shift_domain_classifier_density_ratio():
    """Mean relative error ``mean|w_hat - w| / mean w`` over the source sample, seed 0.

    Logistic regression fitted to 20,000 source inputs against 20,000 (or 5,000) target
    inputs; the log ratio of these Gaussians is linear, so only estimation error remains.
    Statistical tolerance 0.05: over seeds 0-9 the error stayed below 0.035 (the largest
    errors in the case with only 5,000 target inputs).
    """
    out = {}
    for case, (a, b, n_train, n_test) in _GAUSSIAN_CASES.items():
        rng = np.random.default_rng(0)
        X_train = rng.normal(size=(n_train, len(a))) + a
        X_test = rng.normal(size=(n_test, len(a))) + b
        w_hat = DomainClassifierWeights().fit(X_train, X_test).weights(X_train)
        w = gaussian_density_ratio(X_train, a, b)
        out[case] = float(np.mean(np.abs(w_hat - w)) / np.mean(w))
    return out


def population_confusion(n_classes: int, spacing: float) -> np.ndarray:
    """``P(f(x) = i | y = j)`` for 1-D classes ``N(j * spacing, 1)`` and the nearest-mean rule.

    The rule predicts ``i`` on ``[(i - 1/2) spacing, (i + 1/2) spacing)`` (the ends open),
    so each entry is a difference of two normal CDFs. Columns sum to one; shape (K, K).
    """
    edges = spacing * (np.arange(n_classes + 1) - 0.5)
    edges[0], edges[-1] = -np.inf, np.inf
    means = spacing * np.arange(n_classes)
    cdf = norm.cdf(edges[:, None] - means[None, :])                    # (K + 1, K)
    return np.diff(cdf, axis=0)


_PRIOR_CASES = {  # name: (source prior, target prior, spacing)
    "K=2": ([0.5, 0.5], [0.9, 0.1], 1.0),
    "K=3": ([0.2, 0.3, 0.5], [0.6, 0.3, 0.1], 1.5),
    "K=5 uniform->skewed": ([0.2] * 5, [0.4, 0.3, 0.15, 0.1, 0.05], 2.0),
    "K=10 a class vanishes": (np.full(10, 0.1), np.r_[0.0, np.full(9, 1 / 9)], 2.0),
}


@check(topic="regularisation", concept="distribution-shift",
       reference="true q(y)/p(y); population C from scipy.stats.norm.cdf", tolerance=1e-12)
def shift_bbse_population_weights():
    """Max |w - q/p| when BBSE is given the population C and mu = (C / p) q exactly."""
    out = {}
    for case, (p, q, spacing) in _PRIOR_CASES.items():
        p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
        given_y = population_confusion(len(p), spacing)                 # P(f = i | y = j)
        w = bbse_weights(given_y * p, given_y @ q)
        out[case] = float(np.max(np.abs(w - q / p)))
    return out


@check(topic="regularisation", concept="distribution-shift",
       reference="true target prior q(y)", tolerance=0.03)
def shift_bbse_from_samples():
    """max_k |q_hat_k - q_k| from 20,000 validation and 20,000 target predictions, seed 0.

    Five Gaussian classes (mlnotebook.shift.LabelShiftProblem), logistic regression trained
    on 2,000 balanced source points as the black box, target prior proportional to 2^-k.
    Statistical tolerance 0.03: over seeds 0-9 the error stayed below 0.018.
    """
    problem = LabelShiftProblem(n_classes=5)
    p = np.full(5, 0.2)
    q = 0.5 ** np.arange(5)
    q /= q.sum()
    rng = np.random.default_rng(0)
    X_train, y_train = problem.sample(2000, p, rng)
    X_val, y_val = problem.sample(20000, p, rng)
    X_target, _ = problem.sample(20000, q, rng)
    classifier = LogisticRegression().fit(X_train, y_train)
    bbse = BlackBoxShiftEstimator(5).fit(y_val, classifier.predict(X_val),
                                         classifier.predict(X_target))
    return float(np.max(np.abs(bbse.target_prior_ - q)))


@check(topic="regularisation", concept="distribution-shift",
       reference="Bayes' rule under q(y), scipy.stats.multivariate_normal",
       tolerance=1e-12)
def shift_adjust_proba_matches_bayes():
    """Max |adjust_proba(p(y|x), q/p) - q(y|x)| with exact source and target posteriors."""
    problem = LabelShiftProblem(n_classes=4, radius=1.0)
    X, _ = problem.sample(500, np.full(4, 0.25), 0)
    out = {}
    for case, (p, q) in {"uniform->skewed": ([0.25] * 4, [0.7, 0.1, 0.1, 0.1]),
                         "skewed->other": ([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])}.items():
        p, q = np.asarray(p), np.asarray(q)
        densities = np.stack([multivariate_normal(m, np.eye(2)).pdf(X)
                              for m in problem.means], axis=1)            # (n, K)
        source = densities * p / (densities * p).sum(axis=1, keepdims=True)
        target = densities * q / (densities * q).sum(axis=1, keepdims=True)
        out[case] = float(np.max(np.abs(adjust_proba(source, q / p) - target)))
    return out
