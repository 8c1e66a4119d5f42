"""Scaled dot-product attention, with the same arguments as PyTorch's and a hand-written backward.

The readable version of the same computation is :class:`DotProductAttention` (scores, masked
softmax, weighted sum, gradients by autograd); the tests hold the two equal. This one is the
fast path used by :class:`MultiHeadAttention`: it writes the scores into one buffer, turns
them into weights in place, and gives autograd the two-line gradient of attention instead of
the chain of temporaries autograd would keep.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from mlnotebook.attention._masking import broadcast_shape, check_broadcasts

# Scores are computed in blocks of whole (L, S) matrices, about this many elements (2 MB in
# float32) on the CPU, so the working set stays in cache and, when the weights need not be
# kept, one buffer is reused: a fresh (B, H, L, S) tensor costs more in page faults than the
# softmax does. On accelerators blocks are larger: there launching kernels is what costs.
_BLOCK_ELEMENTS = 1 << 19
_ACCELERATOR_BLOCK_FACTOR = 64


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None, is_causal: bool = False,
                                 dropout_p: float = 0.0, scale: float | None = None,
                                 generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Attention ``softmax(Q K^T * scale + M) V`` with the conventions of PyTorch's SDPA.

    .. code-block:: text

        scores = (Q * scale) @ K^T                # (..., L, S)
        scores += M (float mask)  or  scores[~M] = -inf (bool mask, causal mask)
        W = softmax(scores) over keys; rows with no allowed key: W = 0
        W = W * Bernoulli(1 - p) / (1 - p)        # only if dropout_p > 0
        out = W @ V                               # (..., L, Ev)

        backward, with dO the gradient of out and Delta_i = sum_e dO_ie out_ie:
        dV = W^T @ dO,  dW = dO @ V^T,  dscores = W * (dW - Delta),
        dQ = scale * dscores @ K,  dK = scale * dscores^T @ Q,  dM = dscores

    Parameters
    ----------
    query : Tensor of shape (..., L, E)
    key : Tensor of shape (..., S, E)
    value : Tensor of shape (..., S, Ev)
        The leading (batch, head) dimensions broadcast against each other, as in
        :func:`torch.matmul`; e.g. one key/value head can serve many query heads.
    mask : Tensor broadcastable to (..., L, S), optional
        Either bool, ``True`` where the query may attend to the key (PyTorch's SDPA
        convention, the opposite of ``torch.nn.MultiheadAttention``'s), or of the query's
        floating dtype, added to the scores (``-inf`` forbids); gradients flow into a float
        mask that requires them (e.g. a learned position bias).
    is_causal : bool, default=False
        Query ``i`` sees keys ``j <= i`` only: the lower-triangular (L, S) mask aligned to
        the top-left corner, as PyTorch (for L < S the last keys are never seen; a decoder
        with a key/value cache needs the bottom-right alignment, pass that as ``mask``).
        Cannot be combined with ``mask``.
    dropout_p : float, default=0.0
        Probability of dropping each attention weight (the rest are scaled by
        ``1 / (1 - dropout_p)``). Applied whenever non-zero: pass 0 at evaluation time.
    scale : float, optional
        Multiplies the scores; default ``1 / sqrt(E)``.
    generator : torch.Generator, optional
        Source of the dropout masks, on the inputs' device; default the global generator.

    Returns
    -------
    out : Tensor of shape (..., L, Ev)
        ``...`` is the broadcast of the inputs' (and the mask's) leading dimensions.

    Notes
    -----
    Equal, values and gradients, to :func:`torch.nn.functional.scaled_dot_product_attention`
    wherever PyTorch's result is finite. A query whose keys are all masked gets zero weights
    and a zero output (PyTorch gives NaN there), and zero gradients. The same dropout
    probability draws different masks than PyTorch's, from ``generator``.

    Gradients are first order only (the backward is written by hand and is not itself
    differentiable). The weights of the whole (..., L, S) matrix are kept for the backward
    pass; :func:`mlnotebook.attention.memory_efficient_attention` avoids that.

    Examples
    --------
    >>> import torch
    >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])           # (L=2, E=2)
    >>> k = torch.tensor([[10.0, 0.0], [0.0, 10.0]])         # (S=2, E=2)
    >>> v = torch.tensor([[1.0], [2.0]])                     # (S=2, Ev=1)
    >>> scaled_dot_product_attention(q, k, v).round(decimals=4)
    tensor([[1.0008],
            [1.9992]])
    >>> scaled_dot_product_attention(q, k, v, is_causal=True)  # query 0 sees key 0 only
    tensor([[1.0000],
            [1.9992]])
    """
    return attention(query, key, value, mask, is_causal, dropout_p, scale, generator)[0]


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              mask: torch.Tensor | None = None, is_causal: bool = False,
              dropout_p: float = 0.0, scale: float | None = None,
              generator: torch.Generator | None = None,
              need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`scaled_dot_product_attention` that also returns the weights when asked.

    Returns ``(out, weights)``; ``weights`` of shape (..., L, S) are the softmax before
    dropout, detached (read-only: autograd keeps the same tensor), or None unless
    ``need_weights``.
    """
    plan = _Plan.make(query, key, value, mask, is_causal, dropout_p, scale, generator)
    tracked = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (query, key, value, plan.additive))
    plan.keep_weights = need_weights or tracked
    out, weights = _Attention.apply(query, key, value, plan.additive, plan)
    return out, (weights if need_weights else None)


@dataclass
class _Plan:
    """Checked inputs turned into what the kernel needs: shapes, masks, blocks."""

    batch: torch.Size                  # broadcast leading dimensions of all inputs
    length: int                        # L, queries
    keys: int                          # S, keys
    scale: float
    hidden: torch.Tensor | None        # bool, True = may NOT attend (mask or causal)
    additive: torch.Tensor | None      # float mask added to the scores
    empty_rows: torch.Tensor | None    # bool (..., L, 1): rows with no allowed key
    dropout_p: float
    generator: torch.Generator | None
    device: torch.device
    keep_weights: bool = False

    @classmethod
    def make(cls, query, key, value, mask, is_causal, dropout_p, scale, generator) -> _Plan:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
            if t.dim() < 2:
                raise ValueError(f"{name} must have shape (..., length, features), got shape "
                                 f"{tuple(t.shape)}")
        if not query.dtype.is_floating_point or not (query.dtype == key.dtype == value.dtype):
            raise TypeError(f"query, key and value must share one floating dtype, got "
                            f"{query.dtype}, {key.dtype} and {value.dtype}")
        if query.shape[-1] != key.shape[-1]:
            raise ValueError(f"query of shape {tuple(query.shape)} and key of shape "
                             f"{tuple(key.shape)} must have the same last dimension E")
        if key.shape[-2] != value.shape[-2]:
            raise ValueError(f"key of shape {tuple(key.shape)} and value of shape "
                             f"{tuple(value.shape)} must have the same length S")
        batch = broadcast_shape(query.shape[:-2], key.shape[:-2], value.shape[:-2])
        if batch is None:
            raise ValueError(f"the leading dimensions of query {tuple(query.shape)}, key "
                             f"{tuple(key.shape)} and value {tuple(value.shape)} do not "
                             f"broadcast")
        if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float)) or not (
                0.0 <= dropout_p < 1.0):
            raise ValueError(f"dropout_p must be a number in [0, 1), got {dropout_p!r}")
        if scale is None:
            scale = 1.0 / math.sqrt(query.shape[-1])
        elif isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (
                math.isfinite(scale)):
            raise ValueError(f"scale must be a finite number or None, got {scale!r}")
        length, keys = query.shape[-2], key.shape[-2]
        hidden = additive = empty_rows = None
        if is_causal and mask is not None:
            raise ValueError("mask and is_causal=True cannot be combined; put the causal "
                             "pattern into the mask")
        if is_causal:
            hidden = torch.ones(length, keys, dtype=torch.bool, device=query.device).triu_(1)
        elif mask is not None:
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"mask must be a tensor, got {type(mask).__name__}")
            if mask.dtype != torch.bool and mask.dtype != query.dtype:
                raise TypeError(f"mask must be bool (True = may attend) or of the query's "
                                f"dtype {query.dtype}, got {mask.dtype}")
            check_broadcasts(mask, torch.Size((*batch, length, keys)), name="mask",
                             target="attention weights (..., L, S)")
            mask = mask.reshape((1,) * max(0, 2 - mask.dim()) + tuple(mask.shape))
            if mask.dtype == torch.bool:
                hidden = ~mask
                empty_rows = hidden.all(-1, keepdim=True)
            else:
                additive = mask
                empty_rows = (mask == float("-inf")).all(-1, keepdim=True)
        return cls(batch, length, keys, float(scale), hidden, additive, empty_rows,
                   float(dropout_p), generator, query.device)

    def blocks(self) -> list[tuple[slice, ...]]:
        """Index tuples cutting the batch into blocks of about ``_BLOCK_ELEMENTS`` scores.

        The trailing batch dimensions that fit stay whole, the next one is cut into steps,
        the ones before it are taken one index at a time: for (B, H, L, S) scores with
        L = S = 512 the blocks are (1, 2, L, S).
        """
        limit = _BLOCK_ELEMENTS
        if self.device.type != "cpu":
            limit *= _ACCELERATOR_BLOCK_FACTOR
        whole = self.length * max(1, self.keys)          # scores per block so far
        cut = len(self.batch)                            # dimensions [cut:] are whole
        while cut > 0 and whole * self.batch[cut - 1] <= limit:
            whole *= self.batch[cut - 1]
            cut -= 1
        if cut == 0:
            return [()]
        step = max(1, limit // whole)
        outer = itertools.product(*(range(n) for n in self.batch[: cut - 1]))
        return [tuple(slice(j, j + 1) for j in index) + (slice(i, i + step),)
                for index in outer for i in range(0, self.batch[cut - 1], step)]

    def take(self, t: torch.Tensor, block: tuple[slice, ...]) -> torch.Tensor:
        """The part of ``t`` that meets ``block``; ``t``'s batch axes align to the right."""
        offset = len(self.batch) - (t.dim() - 2)
        index = tuple(part if t.shape[d - offset] == self.batch[d] > 1 else slice(None)
                      for d, part in enumerate(block) if d >= offset)
        return t[index] if index else t


class _Attention(torch.autograd.Function):
    """Blocked forward that keeps the weights, and the backward of the docstring above."""

    @staticmethod
    def forward(ctx, query, key, value, additive, plan: _Plan):
        keys, out_features = plan.keys, value.shape[-1]
        out = query.new_empty((*plan.batch, plan.length, out_features))   # (..., L, Ev)
        weights = query.new_empty((*plan.batch, plan.length, keys)) if plan.keep_weights else None
        dropped = plan.dropout_p > 0
        keep = (torch.empty((*plan.batch, plan.length, keys), dtype=torch.bool,
                            device=query.device) if dropped and plan.keep_weights else None)
        buffer = None
        for block in plan.blocks():
            q, k, v = (plan.take(t, block) for t in (query, key, value))
            out_block = plan.take(out, block)
            block_batch = out_block.shape[:-2]
            if weights is not None:
                w = plan.take(weights, block)                          # (b, ..., L, S)
            else:
                shape = (*block_batch, plan.length, keys)
                if buffer is None:                                     # the largest block
                    buffer = query.new_empty(math.prod(shape))
                w = buffer[: math.prod(shape)].view(shape)
            q = q.expand((*block_batch, plan.length, q.shape[-1]))
            torch.matmul(q * plan.scale, k.transpose(-2, -1), out=w)   # (b, ..., L, S)
            _softmax_(w, plan, block)
            if dropped:
                kept = torch.empty_like(w).bernoulli_(1 - plan.dropout_p,
                                                      generator=plan.generator)
                if keep is not None:
                    plan.take(keep, block).copy_(kept)
                w = w * kept.mul_(1 / (1 - plan.dropout_p))
            torch.matmul(w, v, out=out_block)                           # (b, ..., L, Ev)
        if weights is not None:
            ctx.mark_non_differentiable(weights)
            ctx.save_for_backward(query, key, value, additive, out, weights, keep)
        ctx.plan = plan
        return out, weights

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, _grad_weights):
        query, key, value, additive, out, weights, keep = ctx.saved_tensors
        plan = ctx.plan
        need_q, need_k, need_v, need_mask = ctx.needs_input_grad[:4]
        grads = [_new_grad(t, plan) if need else None
                 for t, need in ((query, need_q), (key, need_k), (value, need_v),
                                 (additive, need_mask))]
        # sum_j dW_ij W_ij, the softmax's correction term, equals dO_i . out_i (also with
        # dropout, since dW * W = d(dropped W) * dropped W): no (L, S) product needed
        delta = (grad_out * out).sum(-1, keepdim=True)                  # (..., L, 1)
        rescale = 1 / (1 - plan.dropout_p)
        for block in plan.blocks():
            q, k, v = (plan.take(t, block) for t in (query, key, value))
            w, g = plan.take(weights, block), plan.take(grad_out, block)
            q = q.expand((*w.shape[:-2], plan.length, q.shape[-1]))
            used = w if keep is None else w * plan.take(keep, block) * rescale  # dropped
            if need_v:
                _store(grads[2], plan, block, used.transpose(-2, -1), g)       # W^T dO
            d_w = torch.matmul(g, v.transpose(-2, -1))                  # (b, ..., L, S)
            if keep is not None:
                d_w.mul_(plan.take(keep, block)).mul_(rescale)
            d_scores = d_w.sub_(plan.take(delta, block)).mul_(w)     # W (dW - Delta)
            if need_mask:
                _store(grads[3], plan, block, d_scores)
            if need_q:
                _store(grads[0], plan, block, d_scores, k)
            if need_k:
                _store(grads[1], plan, block, d_scores.transpose(-2, -1), q)
        for grad in grads[:2]:
            if grad is not None:
                grad.mul_(plan.scale)
        return (*grads, None)


def _softmax_(scores: torch.Tensor, plan: _Plan, block: tuple) -> None:
    """Masked softmax over the last axis, in place; rows with no allowed key become zero."""
    if plan.hidden is not None:
        scores.masked_fill_(plan.take(plan.hidden, block), float("-inf"))
    if plan.additive is not None:
        scores.add_(plan.take(plan.additive, block))
    torch.softmax(scores, -1, out=scores)
    if plan.empty_rows is not None:
        scores.masked_fill_(plan.take(plan.empty_rows, block), 0.0)


def _new_grad(t: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """Gradient storage for input ``t``: filled block by block if ``t`` spans the batch,
    else zeros that the blocks add into."""
    return t.new_empty(t.shape) if t.shape[:-2] == plan.batch else torch.zeros_like(t)


def _store(grad: torch.Tensor, plan: _Plan, block: tuple, a: torch.Tensor,
           b: torch.Tensor | None = None) -> None:
    """Put a block's gradient ``a @ b`` (or ``a``) into ``grad``, summed over the axes along
    which the input was broadcast."""
    target = plan.take(grad, block)
    if grad.shape[:-2] != plan.batch:
        target.add_((a if b is None else a @ b).sum_to_size(target.shape))
    elif b is None:
        target.copy_(a)
    else:
        torch.matmul(a, b, out=target)
