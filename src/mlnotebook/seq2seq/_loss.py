"""Cross-entropy over the real tokens of padded target sequences."""

from __future__ import annotations

import torch

from mlnotebook.attention import lengths_to_mask

_REDUCTIONS = ("mean", "sum", "none")


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                         valid_lens: torch.Tensor | None = None, *, pad_id: int | None = None,
                         reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    r"""Token-level cross-entropy that ignores padding.

    .. code-block:: text

        logp      = log_softmax(logits)                              # (B, T, V)
        loss_bt   = -(1 - eps) logp[b, t, y_bt] - eps * mean_v logp[b, t, v]
        mask_bt   = t < valid_lens[b]        (or  y_bt != pad_id)
        "mean"    = sum_bt mask_bt loss_bt / sum_bt mask_bt          # per real token
        "sum"     = sum_bt mask_bt loss_bt

    Parameters
    ----------
    logits : Tensor of shape (B, T, V), floating point
    targets : LongTensor of shape (B, T)
        Next-token ids; entries at padded positions are ignored (any value is allowed there
        when ``valid_lens`` is given).
    valid_lens : LongTensor of shape (B,), optional
        Number of real target tokens per sequence (``<eos>`` included). Give this or
        ``pad_id``, not both.
    pad_id : int, optional
        Positions whose target is ``pad_id`` are padding.
    reduction : {"mean", "sum", "none"}, default="mean"
        "mean" divides by the number of real tokens, not by ``B * T`` nor per sequence;
        "none" returns (B, T) with zeros at padding.
    label_smoothing : float in [0, 1), default=0.0
        Mix of the uniform distribution over all V classes into the target, as
        ``torch.nn.functional.cross_entropy``.

    Returns
    -------
    loss : Tensor, scalar or (B, T) for ``reduction="none"``

    Notes
    -----
    With ``pad_id`` this equals ``torch.nn.functional.cross_entropy(logits.transpose(1, 2),
    targets, ignore_index=pad_id, reduction=reduction, label_smoothing=eps)`` (a verify row
    holds it to float64 rounding). A batch with no real token gives NaN for "mean", as
    torch does (0 / 0).

    Examples
    --------
    >>> import torch
    >>> logits = torch.zeros(1, 3, 4)                  # uniform over 4 classes
    >>> targets = torch.tensor([[1, 2, 0]])            # last position is padding
    >>> float(masked_cross_entropy(logits, targets, torch.tensor([2])))   # log 4
    1.3862943649291992
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or (
            not logits.dtype.is_floating_point):
        raise ValueError(f"logits must be a floating-point (B, T, V) tensor, got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    B, T, V = logits.shape
    if not isinstance(targets, torch.Tensor) or targets.shape != (B, T) or (
            targets.dtype not in (torch.int64, torch.int32)):
        raise ValueError(f"targets must be an integer tensor of shape ({B}, {T}), got "
                         f"{getattr(targets, 'shape', type(targets).__name__)}")
    if (valid_lens is None) == (pad_id is None):
        raise ValueError("give exactly one of valid_lens and pad_id to mark the padding")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if valid_lens is not None:
        if not isinstance(valid_lens, torch.Tensor) or valid_lens.shape != (B,):
            raise ValueError(f"valid_lens must be a tensor of shape ({B},), got "
                             f"{getattr(valid_lens, 'shape', type(valid_lens).__name__)}")
        mask = lengths_to_mask(valid_lens, T)                      # (B, T)
    else:
        mask = targets != pad_id                                   # (B, T)
    safe = targets.masked_fill(~mask, 0)
    if bool(((safe < 0) | (safe >= V)).any()):
        raise ValueError(f"targets at real positions must be class ids in [0, {V})")

    logp = torch.log_softmax(logits, dim=-1)                       # (B, T, V)
    loss = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)        # (B, T)
    if label_smoothing:
        loss = (1 - label_smoothing) * loss - label_smoothing * logp.mean(-1)
    loss = loss.masked_fill(~mask, 0.0)
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / mask.sum()
