"""Scoring functions and the attention layers built on them (d2l style, autograd throughout).

Attention is two steps: *score* every key against every query, then normalise the scores
over the keys with a (masked) softmax and average the values with those weights. The layers
here keep ``attention_weights`` after each call, for plotting.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mlnotebook.attention._masking import masked_softmax


def _check_pair(queries: torch.Tensor, keys: torch.Tensor) -> None:
    for name, t in (("queries", queries), ("keys", keys)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., length, features), got shape "
                             f"{tuple(t.shape)}")
    if queries.shape[-1] != keys.shape[-1]:
        raise ValueError(f"queries of shape {tuple(queries.shape)} and keys of shape "
                         f"{tuple(keys.shape)} must have the same last dimension d")


def dot_product_scores(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Scores ``a(q, k) = q . k`` for every query-key pair.

    Parameters
    ----------
    queries : Tensor of shape (..., L, d)
    keys : Tensor of shape (..., S, d)
        Leading dimensions broadcast as in :func:`torch.matmul`.

    Returns
    -------
    scores : Tensor of shape (..., L, S)

    Examples
    --------
    >>> import torch
    >>> dot_product_scores(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
    tensor([[11.,  1.]])
    """
    _check_pair(queries, keys)
    return queries @ keys.transpose(-2, -1)                        # (..., L, S)


def scaled_dot_product_scores(queries: torch.Tensor, keys: torch.Tensor,
                              scale: float | None = None) -> torch.Tensor:
    """Scores ``a(q, k) = q . k * scale``, by default ``scale = 1 / sqrt(d)``.

    With unit-variance entries, ``q . k`` has variance ``d``; the default scale brings it
    back to one, so the softmax does not saturate as the dimension grows.

    Parameters
    ----------
    queries : Tensor of shape (..., L, d)
    keys : Tensor of shape (..., S, d)
    scale : float, optional
        Default ``1 / sqrt(d)``, as PyTorch's scaled_dot_product_attention.

    Returns
    -------
    scores : Tensor of shape (..., L, S)

    Examples
    --------
    >>> import torch
    >>> scaled_dot_product_scores(torch.ones(1, 4), torch.ones(2, 4))
    tensor([[2., 2.]])
    """
    _check_pair(queries, keys)
    if scale is None:
        scale = 1.0 / math.sqrt(queries.shape[-1])
    return dot_product_scores(queries, keys) * scale               # (..., L, S)


class DotProductAttention(nn.Module):
    r"""Dot-product attention ``softmax(Q K^T * scale) V``, written as its three steps.

    .. code-block:: text

        scores  = Q @ K^T * scale                 # (..., L, S)
        weights = masked_softmax(scores, mask)    # over keys; masked keys get 0
        out     = dropout(weights) @ V            # (..., L, Dv)

    Parameters
    ----------
    dropout : float, default=0.0
        Dropout on the attention weights (training mode only).
    scale : float, optional
        Default ``1 / sqrt(d)`` (scaled dot-product attention, as d2l and PyTorch);
        ``scale=1.0`` gives the plain dot product of Luong et al.

    Attributes
    ----------
    attention_weights : Tensor of shape (..., L, S) or None
        The weights of the last call, before dropout, detached.

    Notes
    -----
    This is the readable reference, differentiated by autograd.
    :func:`mlnotebook.attention.scaled_dot_product_attention` computes the same in blocks
    with a hand-written backward; the tests hold the two equal. A query whose keys are all
    masked gets zero weights and a zero output (see :func:`masked_softmax`).

    Examples
    --------
    >>> import torch
    >>> attn = DotProductAttention()
    >>> q, k, v = torch.ones(2, 1, 4), torch.ones(2, 3, 4), torch.arange(6.0).view(2, 3, 1)
    >>> mask = torch.tensor([[True, True, False], [True, True, True]])[:, None, :]
    >>> attn(q, k, v, mask).squeeze()          # mean of the allowed values
    tensor([0.5000, 4.0000])
    >>> attn.attention_weights.squeeze(1)
    tensor([[0.5000, 0.5000, 0.0000],
            [0.3333, 0.3333, 0.3333]])
    """

    def __init__(self, dropout: float = 0.0, *, scale: float | None = None):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.dropout = nn.Dropout(dropout)
        self.scale = scale
        self.attention_weights: torch.Tensor | None = None

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend ``queries`` (..., L, d) to ``keys`` (..., S, d); average ``values`` (..., S, Dv).

        ``mask`` is bool, broadcastable to (..., L, S), ``True`` = may attend. Returns
        (..., L, Dv).
        """
        _check_pair(queries, keys)
        _check_values(keys, values)
        scores = scaled_dot_product_scores(queries, keys, self.scale)  # (..., L, S)
        weights = masked_softmax(scores, mask)
        self.attention_weights = weights.detach()
        return self.dropout(weights) @ values                          # (..., L, Dv)


class AdditiveAttention(nn.Module):
    r"""Additive (Bahdanau, "concat") attention: ``a(q, k) = w_v^T tanh(W_q q + W_k k)``.

    .. code-block:: text

        features = tanh(W_q q_i + W_k k_j)        # (..., L, S, h), every pair
        scores   = features @ w_v                  # (..., L, S)
        weights  = masked_softmax(scores, mask)    # over keys
        out      = dropout(weights) @ V            # (..., L, Dv)

    Parameters
    ----------
    query_dim : int
        Size d_q of a query.
    key_dim : int
        Size d_k of a key; need not equal ``query_dim``.
    num_hiddens : int
        Size h of the hidden layer the two are projected into.
    dropout : float, default=0.0
        Dropout on the attention weights (training mode only).
    bias : bool, default=False
        Add a learned bias b inside the tanh, ``tanh(W_q q + b + W_k k)`` (held by ``W_q``).
        d2l and Bahdanau et al. have none.

    Attributes
    ----------
    W_q : nn.Linear(query_dim, num_hiddens, bias=bias)
    W_k : nn.Linear(key_dim, num_hiddens, bias=False)
    w_v : nn.Linear(num_hiddens, 1, bias=False)
    attention_weights : Tensor of shape (..., L, S) or None
        The weights of the last call, before dropout, detached.

    Notes
    -----
    By default there are no biases, as in d2l; a bias after ``w_v`` would shift every score
    of a row alike and cancel in the softmax. Without the bias inside the tanh the score is
    odd, ``a(-q, -k) = -a(q, k)``: mirroring a query and its keys reverses the ranking of
    the keys. On data that are symmetric in this way (if ``k`` matches ``q``, ``-k``
    matches ``-q``) a key ranked first for one query is ranked last for its mirror, so
    matching cannot be learned; the ``attention-scoring`` experiment shows it stuck at
    chance where ``bias=True`` learns.

    The (..., L, S, h) tensor of pairwise features is the price of the method: memory grows
    as L * S * h, where dot products need L * S.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> attn = AdditiveAttention(query_dim=3, key_dim=5, num_hiddens=8)
    >>> q, k, v = torch.randn(2, 4, 3), torch.randn(2, 6, 5), torch.randn(2, 6, 7)
    >>> attn(q, k, v).shape, attn.attention_weights.shape
    (torch.Size([2, 4, 7]), torch.Size([2, 4, 6]))
    """

    def __init__(self, query_dim: int, key_dim: int, num_hiddens: int, dropout: float = 0.0,
                 *, bias: bool = False, device=None, dtype=None):
        super().__init__()
        for name, size in (("query_dim", query_dim), ("key_dim", key_dim),
                           ("num_hiddens", num_hiddens)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        factory = {"device": device, "dtype": dtype}
        self.W_q = nn.Linear(query_dim, num_hiddens, bias=bias, **factory)
        self.W_k = nn.Linear(key_dim, num_hiddens, bias=False, **factory)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False, **factory)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights: torch.Tensor | None = None

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend ``queries`` (..., L, d_q) to ``keys`` (..., S, d_k); average ``values``.

        ``values`` has shape (..., S, Dv); ``mask`` is bool, broadcastable to (..., L, S),
        ``True`` = may attend. Returns (..., L, Dv).
        """
        for name, t, size in (("queries", queries, self.W_q.in_features),
                              ("keys", keys, self.W_k.in_features)):
            if not isinstance(t, torch.Tensor) or t.dim() < 2 or t.shape[-1] != size:
                raise ValueError(f"{name} must have shape (..., length, {size}), got shape "
                                 f"{tuple(getattr(t, 'shape', ()))}")
        _check_values(keys, values)
        q = self.W_q(queries).unsqueeze(-2)                           # (..., L, 1, h)
        k = self.W_k(keys).unsqueeze(-3)                              # (..., 1, S, h)
        features = torch.tanh(q + k)                                  # (..., L, S, h)
        scores = self.w_v(features).squeeze(-1)                       # (..., L, S)
        weights = masked_softmax(scores, mask)
        self.attention_weights = weights.detach()
        return self.dropout(weights) @ values                         # (..., L, Dv)


def _check_values(keys: torch.Tensor, values: torch.Tensor) -> None:
    if not isinstance(values, torch.Tensor) or values.dim() < 2:
        raise ValueError(f"values must have shape (..., length, features), got "
                         f"{tuple(getattr(values, 'shape', ()))}")
    if keys.shape[-2] != values.shape[-2]:
        raise ValueError(f"keys of shape {tuple(keys.shape)} and values of shape "
                         f"{tuple(values.shape)} must have the same length S")
