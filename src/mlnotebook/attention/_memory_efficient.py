"""Exact attention in linear memory: the online softmax over tiles of queries and keys.

Forward and backward both walk over (query tile, key tile) pairs and never hold more than
one tile of scores per batch element, so the L x S score matrix is never stored. The
backward pass recomputes each tile of probabilities from Q, K and the per-row
log-sum-exp saved by the forward pass (FlashAttention-2's recipe), so training is linear
in memory too. The loops over tiles are the algorithm; everything inside a tile is one
batched tensor expression over the batch and head dimensions.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch.autograd.function import once_differentiable

# Chosen by measurement on the CPU (forward, 8 heads of width 64, L = 4096 and 16384):
# 128 and 512 were within the run-to-run noise of 256, which was usually fastest; 64 was
# 1.6 times slower (per-tile overhead) and 1024 1.4 times slower (tiles leave the cache).
DEFAULT_BLOCK_SIZE = 256


def memory_efficient_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                               mask: torch.Tensor | None = None, is_causal: bool = False,
                               scale: float | None = None,
                               block_size: int = DEFAULT_BLOCK_SIZE) -> torch.Tensor:
    r"""Exact scaled dot-product attention computed tile by tile with the online softmax.

    Returns ``softmax(query @ key^T * scale, masked) @ value``, the same as
    :func:`torch.nn.functional.scaled_dot_product_attention` (up to rounding), without ever
    storing the ``L x S`` matrix of scores or weights.

    .. code-block:: text

        for each tile of queries Q_i (block_size rows):
            m = -inf, l = 0, o = 0                     # per row: running max, sum, output
            for each tile of keys and values K_j, V_j (block_size rows):
                S = Q_i K_j^T * scale, masked entries = -inf          # (block, block)
                m' = max(m, rowmax(S))
                P = exp(S - m'),  a = exp(m - m')      # a rescales the old sums to m'
                l = a l + rowsum(P),   o = a o + P V_j,   m = m'
            O_i = o / l                                # 0 where l = 0 (no allowed key)
            lse_i = m + log(l)                         # saved for the backward pass

    Parameters
    ----------
    query : Tensor of shape (..., L, E)
    key : Tensor of shape (..., S, E)
    value : Tensor of shape (..., S, Ev)
        Floating point, one dtype and device. The leading (batch, head) dimensions
        broadcast against each other, as in torch.
    mask : bool Tensor of shape broadcastable to (..., L, S), optional
        At least two dimensions (as in torch); ``True`` marks the keys a query may attend
        to (torch's boolean ``attn_mask``).
        Only the tile a step needs is sliced from it, but a dense mask is itself
        ``L * S`` bytes: for causal attention use ``is_causal`` instead, which needs none.
    is_causal : bool, default=False
        Query ``i`` sees keys ``j <= i``, aligned to the top-left corner as in torch (when
        ``L != S`` that is not the bottom-right alignment a decoder with a cache wants).
        The tiles above the diagonal are skipped, not computed and masked.
    scale : float, optional
        Multiplies the scores; default ``1 / sqrt(E)``.
    block_size : int, default=256
        Rows per tile of queries and of keys. Any positive integer; it need not divide
        L or S. Larger tiles mean fewer Python steps but more memory per step.

    Returns
    -------
    Tensor of shape (..., L, Ev)
        The attention output, in the dtype of ``query``. ``...`` is the broadcast of the
        inputs' leading dimensions.

    Notes
    -----
    *Fully masked rows.* A query with no allowed key gets the zero vector (and zero
    gradients), mlnotebook's masked-softmax convention. torch 2.13, which this project
    pins, returns zeros there too; older torch versions returned NaN.

    *Memory.* Beyond its inputs and output the forward pass holds a few tiles of shape
    (..., block_size, block_size) and the log-sum-exp, L floats per row: O(L + block^2)
    per batch element instead of the O(L * S) of the materialised scores. The backward
    pass saves only query, key, value, mask, the output and the log-sum-exp, and
    recomputes each tile of probabilities; besides the gradients themselves it holds
    ``D = rowsum(dO * O)`` (L floats per row) and a few tiles.

    *Precision.* float16 and bfloat16 inputs are accumulated in float32; float32 and
    float64 are accumulated in their own dtype. The summation order differs from the
    naive formula, so results agree to rounding, not bit for bit.

    Examples
    --------
    >>> import torch
    >>> from mlnotebook.attention import memory_efficient_attention
    >>> gen = torch.Generator().manual_seed(0)
    >>> q, k, v = (torch.randn(2, 4, 100, 16, generator=gen, dtype=torch.float64)
    ...            for _ in range(3))
    >>> out = memory_efficient_attention(q, k, v, is_causal=True, block_size=32)
    >>> ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    >>> out.shape, bool((out - ref).abs().max() < 1e-12)
    (torch.Size([2, 4, 100, 16]), True)
    """
    _check_inputs(query, key, value, mask, is_causal, scale, block_size)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    return _MemoryEfficientAttention.apply(query, key, value, mask, is_causal, scale,
                                           block_size)


class _MemoryEfficientAttention(torch.autograd.Function):
    """Forward by tiles; backward by recomputing each tile of probabilities."""

    @staticmethod
    def forward(ctx, query, key, value, mask, is_causal, scale, block):
        out, lse = _forward(query, key, value, mask, is_causal, scale, block)
        ctx.save_for_backward(query, key, value, mask, out, lse)
        ctx.options = (is_causal, scale, block)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        query, key, value, mask, out, lse = ctx.saved_tensors
        is_causal, scale, block = ctx.options
        grads = _backward(grad_out, query, key, value, mask, out, lse, is_causal, scale,
                          block, ctx.needs_input_grad[:3])
        return (*grads, None, None, None, None)


def _forward(query, key, value, mask, is_causal, scale, block):
    """Output (..., L, Ev) in the input dtype and log-sum-exp (..., L) in the accumulator's."""
    acc = _accumulator_dtype(query.dtype)
    batch = _batch_shape(query, key, value)
    L, S, Ev = query.shape[-2], key.shape[-2], value.shape[-1]
    out = query.new_empty(*batch, L, Ev)
    lse = query.new_empty(*batch, L, dtype=acc)
    # A transposed copy of the keys, tile by tile (the size of ``key`` in all): on the CPU
    # a contiguous (E, nk) operand made the score product faster than a transposed view
    # (up to 1.8 times for one 256-row tile in isolation), and than slices of a single
    # (E, S) copy, whose long row stride defeats the cache.
    key_t = [key[..., j0:j1, :].to(acc).transpose(-2, -1).contiguous()    # (*, E, nk)
             for j0, j1 in _tiles(0, S, block)]
    for i0, i1 in _tiles(0, L, block):
        n = i1 - i0
        q = (query[..., i0:i1, :].to(acc) * scale).expand(*batch, n, -1)  # (*B, n, E)
        m = q.new_full((*batch, n, 1), -math.inf)                          # running max
        l = q.new_zeros(*batch, n, 1)                                      # running sum
        o = q.new_zeros(*batch, n, Ev)                                     # running output
        for j, (j0, j1) in enumerate(_tiles(0, S, block)):
            if is_causal and j0 >= i1:
                break  # this and all later key tiles lie above the diagonal
            s = q @ key_t[j]                                               # (*B, n, nk)
            allowed = _allowed(mask, is_causal, i0, i1, j0, j1, query.device)
            if allowed is not None:
                s.masked_fill_(~allowed, -math.inf)
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))             # (*B, n, 1)
            # Rows that have seen no allowed key yet have m_new = -inf; shifting by 0
            # instead keeps exp(-inf - shift) = 0 rather than exp(nan).
            shift = m_new.masked_fill(m_new == -math.inf, 0.0)
            p = s.sub_(shift).exp_()                                       # (*B, n, nk)
            alpha = (m - shift).exp_()                                     # (*B, n, 1)
            l.mul_(alpha).add_(p.sum(-1, keepdim=True))
            o.mul_(alpha).add_(p @ value[..., j0:j1, :].to(acc))
            m = m_new
        out[..., i0:i1, :] = o / l.masked_fill(l == 0, 1.0)   # o = 0 where l = 0
        lse[..., i0:i1] = (m + l.log()).squeeze(-1)           # -inf where l = 0
    return out, lse


def _backward(grad_out, query, key, value, mask, out, lse, is_causal, scale, block, needed):
    """Gradients for query, key and value (None where not needed), tile by tile.

    With P = exp(S - lse) recomputed per tile and D = rowsum(dO * O):
    dV = P^T dO,  dP = dO V^T,  dS = P * (dP - D),  dQ = dS K * scale,  dK = dS^T Q * scale.
    """
    acc = _accumulator_dtype(query.dtype)
    batch = _batch_shape(query, key, value)
    L, S, E, Ev = query.shape[-2], key.shape[-2], query.shape[-1], value.shape[-1]
    d_out = grad_out.to(acc)
    delta = (d_out * out.to(acc)).sum(-1, keepdim=True)                    # (*B, L, 1)
    # Rows with no allowed key have lse = -inf; +inf makes their P exactly 0.
    lse = lse.masked_fill(lse == -math.inf, math.inf).unsqueeze(-1)        # (*B, L, 1)
    dq = query.new_zeros(*batch, L, E, dtype=acc)
    dk = query.new_zeros(*batch, S, E, dtype=acc)
    dv = query.new_zeros(*batch, S, Ev, dtype=acc)
    for j0, j1 in _tiles(0, S, block):
        k = key[..., j0:j1, :].to(acc)                                     # (*, nk, E)
        k_t = k.transpose(-2, -1).contiguous()                             # (*, E, nk)
        v_t = value[..., j0:j1, :].to(acc).transpose(-2, -1).contiguous()  # (*, Ev, nk)
        for i0, i1 in _tiles(j0 if is_causal else 0, L, block):
            n = i1 - i0
            q = (query[..., i0:i1, :].to(acc) * scale).expand(*batch, n, -1)  # (*B, n, E)
            s = q @ k_t                                                    # (*B, n, nk)
            allowed = _allowed(mask, is_causal, i0, i1, j0, j1, query.device)
            if allowed is not None:
                s.masked_fill_(~allowed, -math.inf)
            p = s.sub_(lse[..., i0:i1, :]).exp_()                          # (*B, n, nk)
            d_o = d_out[..., i0:i1, :]                                     # (*B, n, Ev)
            dv[..., j0:j1, :] += p.transpose(-2, -1) @ d_o
            ds = (d_o @ v_t).sub_(delta[..., i0:i1, :]).mul_(p)            # (*B, n, nk)
            dq[..., i0:i1, :] += (ds @ k).mul_(scale)
            dk[..., j0:j1, :] += ds.transpose(-2, -1) @ q
    grads = []
    for grad, x, need in ((dq, query, needed[0]), (dk, key, needed[1]), (dv, value, needed[2])):
        grads.append(grad.sum_to_size(x.shape).to(x.dtype) if need else None)
    return grads


def _tiles(start: int, stop: int, block: int):
    """(first, past-the-end) of consecutive tiles of ``block`` rows in [start, stop)."""
    for first in range(start, stop, block):
        yield first, min(first + block, stop)


def _allowed(mask, is_causal, i0, i1, j0, j1, device):
    """Bool tile (..., i1 - i0, j1 - j0) of allowed scores, or None when all are allowed."""
    if mask is not None:
        rows = slice(i0, i1) if mask.shape[-2] != 1 else slice(None)
        cols = slice(j0, j1) if mask.shape[-1] != 1 else slice(None)
        return mask[..., rows, cols]
    if is_causal and j1 - 1 > i0:  # the tile crosses the diagonal
        i = torch.arange(i0, i1, device=device).unsqueeze(-1)              # (n, 1)
        j = torch.arange(j0, j1, device=device)                            # (nk,)
        return j <= i                                                      # (n, nk)
    return None


def _accumulator_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _batch_shape(query, key, value) -> torch.Size:
    return torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])


def _check_inputs(query, key, value, mask, is_causal, scale, block_size):
    """Raise TypeError or ValueError, naming the argument and the shapes, for bad input."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating point tensor, got dtype {x.dtype}")
        if x.dim() < 2:
            raise ValueError(f"{name} must have shape (..., length, features), got shape "
                             f"{tuple(x.shape)}")
    shapes = (f"query shape {tuple(query.shape)}, key shape {tuple(key.shape)}, "
              f"value shape {tuple(value.shape)}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"query, key and value must have one dtype, got {query.dtype}, "
                        f"{key.dtype} and {value.dtype}")
    if not query.device == key.device == value.device:
        raise ValueError(f"query, key and value must be on one device, got {query.device}, "
                         f"{key.device} and {value.device}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"query and key must have the same last dimension E, got {shapes}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value must have the same length S (dimension -2), got "
                         f"{shapes}")
    try:
        batch = _batch_shape(query, key, value)
    except RuntimeError:
        raise ValueError(f"the leading dimensions of query, key and value do not broadcast: "
                         f"{shapes}") from None
    if not isinstance(is_causal, bool):
        raise TypeError(f"is_causal must be a bool, got {type(is_causal).__name__}")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
        raise TypeError(f"scale must be a real number or None, got {type(scale).__name__}")
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
        raise TypeError(f"block_size must be an int, got {type(block_size).__name__}")
    if block_size <= 0:
        raise ValueError(f"block_size must be > 0, got {block_size}")
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = attend), got dtype {mask.dtype}")
    if is_causal:
        raise ValueError("pass either mask or is_causal=True, not both")
    if mask.device != query.device:
        raise ValueError(f"mask is on {mask.device} but query is on {query.device}")
    target = (*batch, query.shape[-2], key.shape[-2])
    try:
        fits = mask.dim() >= 2 and torch.broadcast_shapes(mask.shape, target) == target
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"(..., L, S) = {target} ({shapes})")
