"""Nadaraya-Watson kernel regression: attention pooling with a fixed or a learned kernel."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6 has it as a method
    def validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

KERNELS = ("gaussian", "boxcar", "epanechnikov", "constant")

# Query rows per block in predict, so memory stays near _BLOCK_CELLS floats of weights.
_BLOCK_CELLS = 1 << 22


def kernel_weights(sq_dist: np.ndarray, kernel: str, bandwidth: float) -> np.ndarray:
    """Attention weights from squared distances: each row sums to one.

    Parameters
    ----------
    sq_dist : ndarray of shape (n_queries, n_keys)
        Squared Euclidean distances ``||q - k||^2`` (not yet divided by the bandwidth).
    kernel : {"gaussian", "boxcar", "epanechnikov", "constant"}
    bandwidth : float
        The width ``h > 0``.

    Returns
    -------
    ndarray of shape (n_queries, n_keys)
        ``K(||q - k|| / h)`` normalised over the keys. A row whose kernel values are all zero
        (a compact kernel, query farther than ``h`` from every key) gets equal weight on its
        nearest keys instead (see :class:`NadarayaWatson`).
    """
    nearest = sq_dist.min(axis=1, keepdims=True)                        # (Q, 1)
    if kernel == "gaussian":
        # Log-sum-exp: subtract the largest score (the nearest key) before exponentiating,
        # so far-away queries never underflow to 0 / 0.
        w = np.exp(-0.5 * ((sq_dist - nearest) / bandwidth**2))         # (Q, K)
    elif kernel == "constant":
        w = np.ones_like(sq_dist)
    else:
        u2 = sq_dist / bandwidth**2                                     # (||q - k|| / h)^2
        w = (u2 <= 1.0).astype(sq_dist.dtype) if kernel == "boxcar" else np.maximum(0.0, 1 - u2)
    total = w.sum(axis=1, keepdims=True)                                # (Q, 1)
    empty = total[:, 0] == 0
    if empty.any():
        w[empty] = sq_dist[empty] == nearest[empty]                     # ties share equally
        total[empty] = w[empty].sum(axis=1, keepdims=True)
    return w / total


class NadarayaWatson(RegressorMixin, BaseEstimator):
    r"""Nadaraya-Watson (local constant) kernel regression, a scikit-learn regressor.

    The prediction at a query ``x`` is an attention-weighted average of the training targets:

    .. code-block:: text

        f(x) = sum_i alpha_i(x) y_i,   alpha_i(x) = K(||x - x_i|| / h) / sum_j K(||x - x_j|| / h)

    query = test input, keys = training inputs, values = training targets.

    Parameters
    ----------
    kernel : {"gaussian", "boxcar", "epanechnikov", "constant"}, default="gaussian"
        Radial kernel ``K(u)`` of the scaled distance ``u = ||x - x_i|| / h``:
        gaussian ``exp(-u^2 / 2)``, boxcar ``1 if u <= 1 else 0``, epanechnikov
        ``max(0, 1 - u^2)``, constant ``1`` (every query gets the mean of ``y``).
        Normalising constants cancel in the ratio and are left out.
    bandwidth : float, default=1.0
        The width ``h > 0``. For the gaussian it is the standard deviation of the kernel,
        as in statsmodels' ``KernelReg(..., reg_type="lc", bw=[h] * d)``.

    Attributes
    ----------
    X_train_ : ndarray of shape (n_samples, n_features)
        The training inputs (the keys).
    y_train_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The training targets (the values).
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    ``X`` is 2-D as everywhere in scikit-learn: one feature is ``x.reshape(-1, 1)``. Several
    features use the Euclidean distance, so the gaussian kernel is the product of one
    gaussian per feature (statsmodels' product kernel) while boxcar and epanechnikov are
    balls, not boxes. Scale the features first if their units differ.

    Empty windows: when every kernel value of a query is zero (boxcar or epanechnikov, query
    farther than ``h`` from all training points) the query is given the mean target of its
    nearest training point(s) rather than NaN. That is what the estimate tends to when the
    window is widened just enough to reach the data, and what the gaussian gives far from
    the data too.

    "Fitting" only stores the data; each prediction costs O(n_samples) per query. Weights
    are computed for blocks of queries, so memory stays bounded for large query sets.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> y = np.array([0.0, 1.0, 4.0])
    >>> model = NadarayaWatson(kernel="boxcar", bandwidth=1.0).fit(X, y)
    >>> model.predict([[1.0], [10.0]])   # mean of all three; far away: the nearest target
    array([1.66666667, 4.        ])
    >>> model.attention_weights([[0.2]]).round(3)
    array([[0.5, 0.5, 0. ]])
    """

    def __init__(self, kernel: str = "gaussian", bandwidth: float = 1.0):
        self.kernel = kernel
        self.bandwidth = bandwidth

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True                           # y may be 2-D
        return tags

    def _more_tags(self):  # the same for scikit-learn < 1.6
        return {"multi_output": True}

    def _check_params(self) -> None:
        if not isinstance(self.kernel, str) or self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}; got {self.kernel!r}")
        h = self.bandwidth
        if isinstance(h, bool) or not isinstance(h, (int, float, np.integer, np.floating)):
            raise TypeError(f"bandwidth must be a positive number, got {h!r}")
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"bandwidth must be a finite number > 0, got {h!r}")

    def fit(self, X, y):
        """Store the training data after validating it and the parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True,
                             dtype=np.float64)
        self.X_train_ = X
        self.y_train_ = y
        return self

    def _queries(self, X) -> np.ndarray:
        check_is_fitted(self)
        self._check_params()
        return validate_data(self, X, reset=False, dtype=np.float64)

    def attention_weights(self, X) -> np.ndarray:
        """The attention matrix: how much each training target counts for each query.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        ndarray of shape (n_queries, n_samples)
            Non-negative, every row sums to one; ``predict(X) == weights @ y_train_``.
        """
        X = self._queries(X)
        return kernel_weights(cdist(X, self.X_train_, "sqeuclidean"), self.kernel,
                              float(self.bandwidth))

    def predict(self, X) -> np.ndarray:
        """Kernel-weighted averages of the training targets.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        ndarray of shape (n_queries,) or (n_queries, n_outputs)
        """
        X = self._queries(X)
        rows = max(1, _BLOCK_CELLS // max(1, self.X_train_.shape[0]))
        out = [kernel_weights(cdist(X[s:s + rows], self.X_train_, "sqeuclidean"),
                              self.kernel, float(self.bandwidth)) @ self.y_train_
               for s in range(0, X.shape[0], rows)]
        return np.concatenate(out, axis=0)


class ParametricNadarayaWatson(nn.Module):
    r"""Gaussian attention pooling whose inverse bandwidth ``w`` is learned (as in d2l).

    .. code-block:: text

        scores[q, i]  = -((x_q - x_i) w)^2 / 2        (summed over features)
        alpha[q, :]   = softmax(scores[q, :])          (masked keys get weight 0)
        f(x_q)        = sum_i alpha[q, i] y_i

    so ``w = 1 / h`` of the gaussian :class:`NadarayaWatson`.

    Parameters
    ----------
    w : float, default=1.0
        Initial value of the learnable scalar. ``w = 0`` is a stationary point (all weights
        equal, zero gradient), so start away from it.
    dtype, device : optional
        Of the parameter, as for ``torch.nn.Linear``.

    Attributes
    ----------
    w : nn.Parameter of shape ()
        The learned inverse bandwidth.
    x_train_, y_train_ : Tensor
        Keys and values stored by :meth:`fit`, used by :meth:`predict`.
    loss_history_ : Tensor of shape (epochs,)
        Leave-one-out training loss before each step of :meth:`fit`.
    w_history_ : Tensor of shape (epochs + 1,)
        ``w`` before each step and after the last one.

    Notes
    -----
    :meth:`fit` trains on leave-one-out scores: the training input ``x_i`` is a query that
    may attend to every training key except its own. Letting a point see itself rewards
    ``w -> infinity`` (each point copies its own target, zero training loss, a useless
    model); leaving it out makes the loss an honest estimate of the error on new inputs.

    Examples
    --------
    >>> import torch
    >>> x = torch.linspace(0, 5, 50, dtype=torch.float64)
    >>> y = 2 * torch.sin(x) + x ** 0.8
    >>> model = ParametricNadarayaWatson(w=0.2, dtype=torch.float64)
    >>> _ = model.fit(x, y, epochs=50, lr=2.0)
    >>> bool(model.loss_history_[-1] < model.loss_history_[0]), model.bandwidth < 5
    (True, True)
    """

    def __init__(self, w: float = 1.0, *, dtype=None, device=None):
        super().__init__()
        if not math.isfinite(float(w)):
            raise ValueError(f"w must be a finite number, got {w!r}")
        self.w = nn.Parameter(torch.tensor(float(w), dtype=dtype, device=device))

    @property
    def bandwidth(self) -> float:
        """The learned gaussian bandwidth ``h = 1 / |w|`` (inf when ``w == 0``)."""
        w = abs(float(self.w.detach()))
        return math.inf if w == 0 else 1.0 / w

    def attention_weights(self, queries: torch.Tensor, keys: torch.Tensor,
                          mask: torch.Tensor | None = None) -> torch.Tensor:
        """Softmax weights of shape (Q, K) for queries (Q,) or (Q, D) and keys (K,) or (K, D).

        ``mask`` (Q, K) of bools marks the keys each query may attend to (True = keep);
        every row must keep at least one key.
        """
        q = queries[:, None] if queries.dim() == 1 else queries         # (Q, D)
        k = keys[:, None] if keys.dim() == 1 else keys                  # (K, D)
        if q.dim() != 2 or k.dim() != 2 or q.shape[1] != k.shape[1]:
            raise ValueError(f"queries and keys must be (Q,) and (K,) or (Q, D) and (K, D); "
                             f"got queries {tuple(queries.shape)}, keys {tuple(keys.shape)}")
        diff = (q[:, None, :] - k[None, :, :]) * self.w                 # (Q, K, D)
        scores = -0.5 * diff.pow(2).sum(-1)                             # (Q, K)
        if mask is not None:
            if mask.shape != scores.shape or mask.dtype != torch.bool:
                raise ValueError(f"mask must be a bool tensor of shape {tuple(scores.shape)} "
                                 f"(queries x keys), got {mask.dtype} {tuple(mask.shape)}")
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1)                            # (Q, K)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pool ``values`` (K,) or (K, V) with the attention weights: (Q,) or (Q, V)."""
        if values.shape[0] != keys.shape[0]:
            raise ValueError(f"keys and values need the same length, got keys "
                             f"{tuple(keys.shape)}, values {tuple(values.shape)}")
        return self.attention_weights(queries, keys, mask) @ values

    def fit(self, x, y, *, epochs: int = 200, lr: float = 1.0):
        """Learn ``w`` by full-batch gradient descent on the leave-one-out squared error.

        The loss is ``mean_i (f_{-i}(x_i) - y_i)^2 / 2``, where ``f_{-i}`` pools every
        training pair except the i-th.

        Parameters
        ----------
        x : tensor-like of shape (n,) or (n, D)
            Training inputs, used as queries and as keys; n >= 2.
        y : tensor-like of shape (n,) or (n, V)
            Training targets (the values).
        epochs : int, default=200
            Gradient steps.
        lr : float, default=1.0
            Learning rate of :class:`mlnotebook.optim.SGD`.

        Returns
        -------
        self
        """
        from mlnotebook.optim import SGD

        x = torch.as_tensor(x, dtype=self.w.dtype, device=self.w.device)
        y = torch.as_tensor(y, dtype=self.w.dtype, device=self.w.device)
        if x.dim() not in (1, 2) or y.dim() not in (1, 2) or x.shape[0] != y.shape[0] \
                or x.shape[0] < 2:
            raise ValueError(f"x and y must hold the same number n >= 2 of samples, as (n,) "
                             f"or (n, D); got x {tuple(x.shape)}, y {tuple(y.shape)}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
        n = x.shape[0]
        others = ~torch.eye(n, dtype=torch.bool, device=x.device)     # (n, n) leave one out
        opt = SGD(self.parameters(), lr=lr)
        losses, ws = [], [self.w.detach().clone()]
        for _ in range(epochs):
            opt.zero_grad()
            loss = 0.5 * (self(x, x, y, mask=others) - y).pow(2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            ws.append(self.w.detach().clone())
        self.loss_history_ = torch.stack(losses) if losses else x.new_empty(0)
        self.w_history_ = torch.stack(ws)
        self.x_train_, self.y_train_ = x, y
        return self

    @torch.no_grad()
    def predict(self, x) -> torch.Tensor:
        """Pool the stored training targets for queries x of shape (Q,) or (Q, D)."""
        if not hasattr(self, "x_train_"):
            raise RuntimeError("this ParametricNadarayaWatson is not fitted yet; call fit")
        x = torch.as_tensor(x, dtype=self.w.dtype, device=self.w.device)
        return self(x, self.x_train_, self.y_train_)
