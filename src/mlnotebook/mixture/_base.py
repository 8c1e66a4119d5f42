"""The EM loop as a template: the base class owns the loop, a subclass owns the maths.

A mixture model fitted by expectation-maximisation only has to say how to

- initialise its parameters from hard or soft responsibilities (``_initialize``),
- run the E step: from the current parameters, the mean log-likelihood of the data and the
  *expected sufficient statistics* under the responsibilities (``_e_step``),
- run the M step: new parameters from those statistics (``_m_step``),
- score points: the log of each component's weighted density (``_estimate_weighted_log_prob``),

and :class:`BaseMixture` does the rest: parameter checks, ``n_init`` restarts keeping the
best lower bound, the convergence test, warm starts, and a final E step so that
``fit_predict(X)`` equals ``fit(X).predict(X)``.
"""

from __future__ import annotations

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def initial_responsibilities(X: np.ndarray, n_components: int, init_params: str,
                             random_state: np.random.RandomState) -> np.ndarray:
    """Starting responsibilities, shape (n_samples, n_components), rows summing to 1.

    ``"kmeans"``: one-hot labels of :class:`sklearn.cluster.KMeans` (``n_init=1``, seeded from
    ``random_state``). ``"k-means++"``: one-hot at the k-means++ seeds only (each seed is the
    whole of its component). ``"random"``: uniform draws normalised per row.
    ``"random_from_data"``: one-hot at ``n_components`` distinct random points. These are
    scikit-learn's four choices and draw from ``random_state`` in the same order.
    """
    n_samples = X.shape[0]
    resp = np.zeros((n_samples, n_components))
    if init_params == "kmeans":
        from sklearn.cluster import KMeans

        labels = KMeans(n_clusters=n_components, n_init=1,
                        random_state=random_state).fit(X).labels_
        resp[np.arange(n_samples), labels] = 1.0
    elif init_params == "k-means++":
        from sklearn.cluster import kmeans_plusplus

        _, indices = kmeans_plusplus(X, n_components, random_state=random_state)
        resp[indices, np.arange(n_components)] = 1.0
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    else:  # "random_from_data"
        indices = random_state.choice(n_samples, size=n_components, replace=False)
        resp[indices, np.arange(n_components)] = 1.0
    return resp


class BaseMixture(DensityMixin, BaseEstimator, metaclass=ABCMeta):
    """EM for mixture models: the loop, restarts, convergence and prediction.

    The loop, for each of ``n_init`` starts (one start when warm-starting a fitted model)::

        initialise parameters (from responsibilities, or user-given values)
        for n_iter = 1 .. max_iter:
            lower_bound, stats = E step(X)        # with the parameters before the M step
            parameters = M step(stats)
            if |lower_bound - previous| < tol: converged, stop
        keep this start if its last lower bound is the best so far

    then one more E step labels the data with the kept parameters. ``lower_bound`` is the
    mean log-likelihood per sample, so ``tol`` is on that scale, not the total.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
    }

    # -- what a subclass provides ------------------------------------------------------------
    @abstractmethod
    def _check_initial_parameters(self, X: np.ndarray) -> None:
        """Validate user-given initial parameters against ``X``; store validated copies."""

    @abstractmethod
    def _needs_responsibilities(self) -> bool:
        """Whether initialisation needs starting responsibilities (not all values given)."""

    @abstractmethod
    def _initialize(self, X: np.ndarray, resp: np.ndarray | None) -> None:
        """Set the parameters from starting responsibilities and user-given values."""

    @abstractmethod
    def _e_step(self, X: np.ndarray):
        """Return ``(mean log-likelihood of X, expected sufficient statistics)``."""

    @abstractmethod
    def _m_step(self, stats) -> None:
        """Set the parameters that maximise the expected complete-data log-likelihood."""

    @abstractmethod
    def _estimate_weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        """``log pi_k + log p(x_i | component k)``, shape (n_samples, n_components)."""

    @abstractmethod
    def _get_parameters(self) -> tuple:
        ...

    @abstractmethod
    def _set_parameters(self, params: tuple) -> None:
        ...

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Estimate the parameters with EM, keeping the best of ``n_init`` starts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit, then label ``X`` with the most responsible component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Equal to ``fit(X).predict(X)``: a final E step uses the kept parameters.
        """
        self._validate_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(f"n_components={self.n_components} must be <= n_samples="
                             f"{X.shape[0]}")
        self._check_initial_parameters(X)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        best_bound, best_params, best_n_iter, best_bounds = -np.inf, None, 0, []
        self.converged_ = False
        for _ in range(n_init):
            if do_init:
                resp = None
                if self._needs_responsibilities():
                    resp = initial_responsibilities(X, self.n_components, self.init_params,
                                                    random_state)
                self._initialize(X, resp)
            bound = -np.inf if do_init else self.lower_bound_
            bounds, converged = [], False
            for _ in range(self.max_iter):
                previous = bound
                bound, stats = self._e_step(X)
                self._m_step(stats)
                bounds.append(bound)
                if abs(bound - previous) < self.tol:
                    converged = True
                    break
            if best_params is None or bound > best_bound or self.max_iter == 0:
                best_bound, best_params, best_n_iter = bound, self._get_parameters(), len(bounds)
                best_bounds, self.converged_ = bounds, converged

        if not self.converged_ and self.max_iter > 0:
            warnings.warn("Best performing initialisation did not converge: raise max_iter "
                          "or tol, try other initial parameters, or check for degenerate "
                          "data.", ConvergenceWarning, stacklevel=2)
        self._set_parameters(best_params)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = best_bound if self.max_iter > 0 else -np.inf
        self.lower_bounds_ = best_bounds
        return self._estimate_weighted_log_prob(X).argmax(axis=1)

    # -- using a fitted model ----------------------------------------------------------------
    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def score_samples(self, X) -> np.ndarray:
        """Log-density ``log p(x_i)`` of each sample under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return logsumexp(self._estimate_weighted_log_prob(self._validated(X)), axis=1)

    def score(self, X, y=None) -> float:
        """Mean log-density per sample, ``mean_i log p(x_i)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X) -> np.ndarray:
        """Index of the most responsible component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._estimate_weighted_log_prob(self._validated(X)).argmax(axis=1)

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities ``p(component k | x_i)``; rows sum to 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        weighted = self._estimate_weighted_log_prob(self._validated(X))
        return np.exp(weighted - logsumexp(weighted, axis=1, keepdims=True))
