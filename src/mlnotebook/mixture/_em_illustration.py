"""EM you can read in one go: the two-coins problem and a 1-D mixture of two Gaussians.

Both functions spell out the E step and the M step and record the log-likelihood of the
observed data before every M step, so the monotone rise EM guarantees can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

# Do & Batzoglou (2008), Figure 1: heads in five sets of ten tosses.
DO_BATZOGLOU_HEADS = (5, 9, 8, 4, 7)


@dataclass(frozen=True)
class EMTrace:
    """What an EM run did.

    Attributes
    ----------
    params : ndarray of shape (n_iter + 1, n_params)
        Parameters before the first iteration (row 0) and after each M step.
    log_likelihood : ndarray of shape (n_iter,)
        Observed-data log-likelihood at the parameters of row ``t``, computed in the E step
        of iteration ``t``; by the EM argument it never decreases.
    responsibilities : ndarray of shape (n_observations, 2)
        The last E step's posterior over the hidden label of each observation.
    """

    params: np.ndarray
    log_likelihood: np.ndarray
    responsibilities: np.ndarray


def _check_n_iter(n_iter) -> int:
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    return int(n_iter)


def two_coins_em(heads=DO_BATZOGLOU_HEADS, tosses: int = 10, theta_init=(0.6, 0.5),
                 n_iter: int = 10) -> EMTrace:
    r"""Estimate two coins' head probabilities when we are not told which coin was tossed.

    Each set of ``tosses`` flips used coin A or coin B, each with probability 1/2 (fixed, as
    in Do & Batzoglou). With heads :math:`h_i`:

    .. code-block:: text

        E step: w_iA = p(coin A | h_i) = theta_A^h (1-theta_A)^(n-h)
                       / [theta_A^h (1-theta_A)^(n-h) + theta_B^h (1-theta_B)^(n-h)]
        M step: theta_A = sum_i w_iA h_i / sum_i w_iA n     (expected heads / expected tosses)
                theta_B likewise with w_iB = 1 - w_iA

    Parameters
    ----------
    heads : array-like of int, shape (n_sets,)
        Heads in each set, ``0 <= h <= tosses``.
    tosses : int, default=10
        Flips per set.
    theta_init : (float, float), default=(0.6, 0.5)
        Starting head probabilities of A and B, in (0, 1).
    n_iter : int, default=10

    Returns
    -------
    EMTrace
        ``params`` columns are ``(theta_A, theta_B)``. The log-likelihood includes the
        binomial coefficients and the 1/2 prior of each coin.

    Examples
    --------
    >>> trace = two_coins_em()
    >>> [round(float(t), 2) for t in trace.params[-1]]       # the paper's answer
    [0.8, 0.52]
    """
    n_iter = _check_n_iter(n_iter)
    h = np.asarray(heads, dtype=np.float64)
    if h.ndim != 1 or h.size == 0 or np.any(h < 0) or np.any(h > tosses) \
            or np.any(h != np.round(h)):
        raise ValueError(f"heads must be a 1-D list of integers in [0, tosses={tosses}], "
                         f"got {heads!r}")
    theta = np.asarray(theta_init, dtype=np.float64)
    if theta.shape != (2,) or np.any(theta <= 0) or np.any(theta >= 1):
        raise ValueError(f"theta_init must be two probabilities in (0, 1), got {theta_init!r}")
    log_binom = gammaln(tosses + 1) - gammaln(h + 1) - gammaln(tosses - h + 1)   # (n_sets,)
    history, log_lik = [theta], []
    for _ in range(n_iter):
        # E step: log p(h_i, coin) for both coins, then normalise over the coin
        log_joint = (np.log(0.5) + log_binom[:, None] + h[:, None] * np.log(theta)
                     + (tosses - h)[:, None] * np.log1p(-theta))                # (n_sets, 2)
        log_evidence = logsumexp(log_joint, axis=1)                             # (n_sets,)
        w = np.exp(log_joint - log_evidence[:, None])
        log_lik.append(float(log_evidence.sum()))
        # M step: expected heads over expected tosses, per coin
        theta = (w * h[:, None]).sum(axis=0) / (w.sum(axis=0) * tosses)
        history.append(theta)
    return EMTrace(np.array(history), np.array(log_lik), w)


def gaussian_1d_em(x, means_init=(-1.0, 1.0), sigmas_init=(1.0, 1.0), weight_init=0.5,
                   n_iter: int = 50) -> EMTrace:
    r"""Fit a mixture of two 1-D Gaussians, with every quantity written out.

    .. code-block:: text

        E step: r_i = pi N(x_i | mu_1, s_1^2) / [pi N(x_i | mu_1, s_1^2)
                                                 + (1 - pi) N(x_i | mu_2, s_2^2)]
        M step: N_1 = sum r_i,  N_2 = n - N_1,  pi = N_1 / n
                mu_1 = sum r_i x_i / N_1,  s_1^2 = sum r_i (x_i - mu_1)^2 / N_1   (biased)
                mu_2, s_2^2 likewise with weights 1 - r_i

    No variance floor is added, so a component that collapses onto one point gives an
    infinite likelihood; start from sensible values.

    Parameters
    ----------
    x : array-like of shape (n,)
    means_init, sigmas_init : (float, float)
        Starting means and standard deviations (> 0).
    weight_init : float, default=0.5
        Starting weight of the first component, in (0, 1).
    n_iter : int, default=50

    Returns
    -------
    EMTrace
        ``params`` columns are ``(pi, mu_1, mu_2, sigma_1, sigma_2)``.
    """
    n_iter = _check_n_iter(n_iter)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError("x must be a finite 1-D array with at least two values")
    mu = np.asarray(means_init, dtype=np.float64)
    sd = np.asarray(sigmas_init, dtype=np.float64)
    if mu.shape != (2,) or sd.shape != (2,) or np.any(sd <= 0):
        raise ValueError("means_init and sigmas_init must each hold two values, sigmas > 0")
    if not 0 < weight_init < 1:
        raise ValueError(f"weight_init must be in (0, 1), got {weight_init!r}")
    pi = np.array([weight_init, 1.0 - weight_init])
    history, log_lik = [np.concatenate([[pi[0]], mu, sd])], []
    for _ in range(n_iter):
        # E step: log pi_k + log N(x_i | mu_k, sd_k^2), normalised over k in log space
        z = (x[:, None] - mu) / sd                                              # (n, 2)
        log_joint = np.log(pi) - 0.5 * z**2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
        log_evidence = logsumexp(log_joint, axis=1)                             # (n,)
        r = np.exp(log_joint - log_evidence[:, None])
        log_lik.append(float(log_evidence.sum()))
        # M step: weighted counts, means and (biased) variances
        nk = r.sum(axis=0)
        pi = nk / x.size
        mu = (r * x[:, None]).sum(axis=0) / nk
        sd = np.sqrt((r * (x[:, None] - mu) ** 2).sum(axis=0) / nk)
        history.append(np.concatenate([[pi[0]], mu, sd]))
    return EMTrace(np.array(history), np.array(log_lik), r)
