"""Simulated shifts with known answers: Gaussian inputs that move, class proportions that move."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

DOMAINS = ("source", "target")


def _check_count(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


@dataclass(frozen=True)
class CovariateShiftProblem:
    """1-D regression whose inputs move between domains while ``E[y | x]`` stays put.

    .. code-block:: text

        source: x ~ N(source_mean, scale^2)     target: x ~ N(target_mean, scale^2)
        both:   y = sin(frequency * x) + noise * eps,   eps ~ N(0, 1)

    A straight line cannot follow the sine, so the best line depends on where the inputs lie:
    the line fitted to source data is not the best line for the target. That is the setting
    (a misspecified model) in which importance weighting changes the answer; a model that
    could fit ``E[y | x]`` everywhere would need no correction.

    The two input densities share their variance, so the log density ratio is linear,

    .. code-block:: text

        log q(x)/p(x) = (m_q - m_p) x / s^2 - (m_q^2 - m_p^2) / (2 s^2),

    and a logistic-regression domain classifier can represent it exactly.
    """

    source_mean: float = 0.0
    target_mean: float = 1.0
    scale: float = 1.0
    noise: float = 0.3
    frequency: float = 1.5

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale!r}")
        if not self.noise >= 0:
            raise ValueError(f"noise must be >= 0, got {self.noise!r}")

    def regression_function(self, x) -> np.ndarray:
        """``E[y | x] = sin(frequency * x)``, the same in both domains; x of any shape."""
        return np.sin(self.frequency * np.asarray(x, dtype=np.float64))

    def input_density(self, x, domain: str) -> np.ndarray:
        """The Gaussian density of the inputs of ``domain`` ("source" or "target") at ``x``."""
        mean = self._mean(domain)
        z = (np.asarray(x, dtype=np.float64) - mean) / self.scale
        return np.exp(-0.5 * z**2) / (self.scale * np.sqrt(2 * np.pi))

    def density_ratio(self, X) -> np.ndarray:
        """The true importance weight ``q(x) / p(x)`` for ``X`` of shape (n, 1); shape (n,)."""
        x = np.asarray(X, dtype=np.float64)[:, 0]
        a, b, s2 = self.source_mean, self.target_mean, self.scale**2
        return np.exp((b - a) * x / s2 - (b**2 - a**2) / (2 * s2))

    def sample(self, n: int, domain: str, random_state) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws from ``domain``: X of shape (n, 1) and y of shape (n,).

        ``random_state`` is an int seed or a ``numpy.random.Generator``.
        """
        n = _check_count(n, "n")
        rng = np.random.default_rng(random_state)
        x = rng.normal(self._mean(domain), self.scale, size=n)
        y = self.regression_function(x) + self.noise * rng.normal(size=n)
        return x[:, None], y

    def _mean(self, domain: str) -> float:
        if domain not in DOMAINS:
            raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
        return self.source_mean if domain == "source" else self.target_mean


@dataclass(frozen=True)
class LabelShiftProblem:
    """``n_classes`` Gaussian classes in the plane whose proportions change, ``p(x | y)`` not.

    .. code-block:: text

        class means  m_k = radius * (cos(2 pi k / K), sin(2 pi k / K)),   k = 0..K-1
        x | y = k    ~ N(m_k, scale^2 I_2)          (the same in source and target)
        y            ~ Categorical(prior)           (the prior is what shifts)

    Neighbouring classes overlap, so no classifier is perfect and the prior matters for
    the best decision.
    """

    n_classes: int = 5
    radius: float = 1.5
    scale: float = 1.0

    def __post_init__(self):
        _check_count(self.n_classes, "n_classes")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale!r}")

    @property
    def means(self) -> np.ndarray:
        """Class means, shape (n_classes, 2)."""
        angle = 2 * np.pi * np.arange(self.n_classes) / self.n_classes
        return self.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    def check_prior(self, prior, name: str = "prior") -> np.ndarray:
        """``prior`` as a float64 probability vector of length n_classes, or a ValueError."""
        prior = np.asarray(prior, dtype=np.float64)
        if prior.shape != (self.n_classes,):
            raise ValueError(f"{name} must have shape ({self.n_classes},), got {prior.shape}")
        if not np.all(np.isfinite(prior)) or np.any(prior < 0) or abs(prior.sum() - 1) > 1e-9:
            raise ValueError(f"{name} must be non-negative and sum to 1, got {prior}")
        return prior

    def sample(self, n: int, prior, random_state) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws with class proportions ``prior``: X (n, 2) and y (n,) in 0..K-1.

        ``random_state`` is an int seed or a ``numpy.random.Generator``.
        """
        n = _check_count(n, "n")
        prior = self.check_prior(prior)
        rng = np.random.default_rng(random_state)
        y = rng.choice(self.n_classes, size=n, p=prior)
        X = self.means[y] + self.scale * rng.normal(size=(n, 2))
        return X, y

    def posterior(self, X, prior) -> np.ndarray:
        """The Bayes posterior ``P(y = k | x)`` under class proportions ``prior``; (n, K)."""
        prior = self.check_prior(prior)
        X = np.asarray(X, dtype=np.float64)
        sq = ((X[:, None, :] - self.means[None, :, :]) ** 2).sum(axis=2)   # (n, K)
        with np.errstate(divide="ignore"):                                # log 0 = -inf
            logits = np.log(prior) - sq / (2 * self.scale**2)
        return np.exp(log_softmax(logits, axis=1))

