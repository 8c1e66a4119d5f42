"""Masks for attention: valid lengths to boolean masks, and a softmax over allowed keys only.

Convention used everywhere in ``mlnotebook.attention``: a boolean mask is ``True`` where a
query *may* attend to a key (as ``torch.nn.functional.scaled_dot_product_attention``), and a
row whose keys are all masked gets all-zero weights, never NaN.
"""

from __future__ import annotations

import itertools

import torch


def lengths_to_mask(valid_lens: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean key mask from valid lengths: position ``j`` is allowed when ``j < valid_len``.

    Parameters
    ----------
    valid_lens : Tensor of shape (B,) or (B, L_q), integer
        Number of real (non-padding) keys of each sequence, or of each query of each
        sequence (as in d2l's ``masked_softmax``). Values above ``max_len`` allow every key,
        values <= 0 allow none.
    max_len : int
        Number of key positions, the padded length S.

    Returns
    -------
    mask : Tensor of shape (B, max_len) or (B, L_q, max_len), bool
        ``True`` where attending is allowed, on the device of ``valid_lens``. For scores of
        shape (B, L_q, S) index a (B, S) mask as ``mask[:, None, :]``; for multi-head scores
        (B, H, L_q, S) as ``mask[:, None, None, :]``.

    Examples
    --------
    >>> import torch
    >>> lengths_to_mask(torch.tensor([1, 3]), 4)
    tensor([[ True, False, False, False],
            [ True,  True,  True, False]])
    """
    if not isinstance(valid_lens, torch.Tensor):
        raise TypeError(f"valid_lens must be a tensor, got {type(valid_lens).__name__}")
    if valid_lens.dtype.is_floating_point or valid_lens.dtype.is_complex or (
            valid_lens.dtype == torch.bool):
        raise TypeError(f"valid_lens must have an integer dtype, got {valid_lens.dtype}")
    if valid_lens.dim() not in (1, 2):
        raise ValueError(f"valid_lens must have shape (B,) or (B, L_q), got shape "
                         f"{tuple(valid_lens.shape)}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 0:
        raise ValueError(f"max_len must be a non-negative int, got {max_len!r}")
    positions = torch.arange(max_len, device=valid_lens.device)     # (S,)
    return positions < valid_lens.unsqueeze(-1)                     # (..., S)


def check_bool_mask(mask: torch.Tensor, target_shape: torch.Size, *, name: str = "mask",
                    target: str = "scores") -> None:
    """TypeError unless ``mask`` is a bool tensor; ValueError unless it broadcasts to the target."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a bool tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must have dtype torch.bool (True = may attend), got "
                        f"{mask.dtype}")
    check_broadcasts(mask, target_shape, name=name, target=target)


def broadcast_shape(*shapes) -> torch.Size | None:
    """The broadcast of ``shapes`` (NumPy rules), or None if they do not broadcast.

    A plain-Python ``torch.broadcast_shapes`` without its exception and overhead, which
    matter on small inputs.
    """
    result: list[int] = []
    for dims in itertools.zip_longest(*(reversed(tuple(s)) for s in shapes), fillvalue=1):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return torch.Size(reversed(result))


def check_broadcasts(mask: torch.Tensor, target_shape: torch.Size, *, name: str,
                     target: str) -> None:
    """ValueError naming both shapes unless ``mask`` broadcasts to exactly ``target_shape``."""
    if broadcast_shape(mask.shape, target_shape) != target_shape:
        raise ValueError(f"{name} of shape {tuple(mask.shape)} does not broadcast to the "
                         f"{target} shape {tuple(target_shape)}")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None,
                   dim: int = -1) -> torch.Tensor:
    r"""Softmax of ``scores`` along ``dim`` over the allowed positions only.

    .. code-block:: text

        s_j  = scores_j if mask_j else -inf
        c    = max(max_j s_j, lowest finite number)    # a fully masked row gives c finite
        e_j  = exp(s_j - c)                            # 0 where masked
        w_j  = e_j / max(sum_l e_l, 1)                 # sum >= 1 if any key is allowed

    Parameters
    ----------
    scores : Tensor of shape (..., S), floating point
        Attention scores; the softmax runs along ``dim`` (the keys).
    mask : Tensor of bool, broadcastable to ``scores.shape``, optional
        ``True`` where attending is allowed. None means every position is allowed and the
        result is ``torch.softmax(scores, dim)``.
    dim : int, default=-1
        The dimension that sums to one.

    Returns
    -------
    weights : Tensor of the shape of ``scores``
        Non-negative, exactly zero where masked; each row sums to one, except rows with no
        allowed position, which are all zero.

    Notes
    -----
    A row whose keys are all masked is 0/0 in the formula. Here it gives all-zero weights,
    and zero gradients, never NaN: ``torch.softmax`` on ``-inf`` scores gives NaN there
    (as does ``torch.nn.functional.scaled_dot_product_attention``), and d2l's
    ``masked_softmax``, which fills ``-1e6``, gives uniform weights over the masked keys.
    The row maximum is a detached constant: the softmax does not depend on it, so it needs
    no gradient. Masked positions get exactly zero gradient.

    Examples
    --------
    >>> import torch
    >>> scores = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    >>> mask = torch.tensor([[True, True, False], [False, False, False]])
    >>> masked_softmax(scores, mask)
    tensor([[0.2689, 0.7311, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    """
    if not isinstance(scores, torch.Tensor) or not scores.dtype.is_floating_point:
        raise TypeError(f"scores must be a floating-point tensor, got "
                        f"{getattr(scores, 'dtype', type(scores).__name__)}")
    if mask is None:
        return torch.softmax(scores, dim)
    check_bool_mask(mask, scores.shape)
    scores = scores.masked_fill(~mask, float("-inf"))
    lowest = torch.finfo(scores.dtype).min
    shift = scores.detach().amax(dim, keepdim=True).clamp_min(lowest)
    exps = torch.exp(scores - shift)                                # 0 where masked
    return exps / exps.sum(dim, keepdim=True).clamp_min(1.0)
