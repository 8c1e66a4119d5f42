"""PyTorch's transformer mask arguments turned into the one mask our attention takes.

``torch.nn.Transformer*`` layers take up to three things per attention: an ``attn_mask``
(L, S) or (B * H, L, S), a ``key_padding_mask`` (B, S), both ``True`` = NOT allowed when
bool or added to the scores when float, and an ``is_causal`` flag. Our
:class:`~mlnotebook.attention.MultiHeadAttention` takes one SDPA-style mask (bool ``True`` =
MAY attend, or float added) broadcastable to (B, H, L, S), plus ``is_causal``. The layers
and stacks convert once with :func:`sdpa_mask`, then every layer reuses the result.
"""

from __future__ import annotations

import torch


def check_sequence(name: str, x, d_model: int, batch: int | None = None) -> None:
    """ValueError/TypeError unless ``x`` is a floating (B, L, d_model) tensor with L >= 1."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (batch, length, d_model={d_model}) (batch "
                         f"first), got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): a sequence needs at "
                         f"least one position")
    if batch is not None and x.shape[0] != batch:
        raise ValueError(f"{name} has batch size {x.shape[0]}, expected {batch} (the batch "
                         f"size of the other input)")


def _mask_dtype(name: str, mask: torch.Tensor) -> None:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.dtype.is_floating_point:
        raise TypeError(f"{name} must be bool (True = not allowed) or floating (added to the "
                        f"scores), got {mask.dtype}")


def sdpa_mask(attn_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
              is_causal: bool, *, batch: int, heads: int, length: int, keys: int,
              dtype: torch.dtype, device: torch.device,
              names: tuple[str, str] = ("attn_mask", "key_padding_mask"),
              ) -> tuple[torch.Tensor | None, bool]:
    """Merge torch's masks into ``(mask, causal)`` for :class:`MultiHeadAttention`.

    Parameters
    ----------
    attn_mask : Tensor of shape (L, S) or (B * H, L, S), optional
        Bool (``True`` = query may NOT attend to key) or float (added to the scores).
    key_padding_mask : Tensor of shape (B, S), optional
        Bool (``True`` = padding, never attended to) or float (added to every query's row).
    is_causal : bool
        Query ``i`` sees keys ``j <= i`` only (top-left aligned).
    batch, heads, length, keys : int
        B, H, L and S.
    dtype, device
        Of the queries: float masks are cast to ``dtype``.
    names : (str, str)
        The caller's argument names, used in error messages.

    Returns
    -------
    mask : Tensor broadcastable to (B, H, L, S), or None
        Bool ``True`` = MAY attend when every part is bool (parts combined with ``&``);
        otherwise float, the sum of the float parts and ``-inf`` where a bool part forbids.
    causal : bool
        True only when ``is_causal`` is the sole constraint, so attention can build the
        triangle itself; otherwise the triangle is already inside ``mask``.

    Notes
    -----
    PyTorch calls ``is_causal`` a *hint* that ``attn_mask`` is causal and needs the mask as
    well; here the flag alone suffices, and with a mask both apply, which is torch's result
    whenever the hint is true.
    """
    attn_name, padding_name = names
    parts = []                                  # bool True = may attend, or float added
    if attn_mask is not None:
        _mask_dtype(attn_name, attn_mask)
        if attn_mask.shape == (length, keys):
            part = attn_mask                                                   # (L, S)
        elif attn_mask.shape == (batch * heads, length, keys):
            part = attn_mask.view(batch, heads, length, keys)                  # (B, H, L, S)
        else:
            raise ValueError(f"{attn_name} must have shape (L, S) = ({length}, {keys}) or "
                             f"(B * nhead, L, S) = ({batch * heads}, {length}, {keys}), got "
                             f"shape {tuple(attn_mask.shape)}")
        parts.append(~part if part.dtype == torch.bool else part.to(dtype))
    if key_padding_mask is not None:
        _mask_dtype(padding_name, key_padding_mask)
        if key_padding_mask.shape != (batch, keys):
            raise ValueError(f"{padding_name} must have shape (B, S) = ({batch}, {keys}), got "
                             f"shape {tuple(key_padding_mask.shape)}")
        part = key_padding_mask[:, None, None, :]                              # (B, 1, 1, S)
        parts.append(~part if part.dtype == torch.bool else part.to(dtype))
    if not parts:
        return None, bool(is_causal)
    if is_causal:
        parts.append(torch.ones(length, keys, dtype=torch.bool, device=device).tril())
    if all(p.dtype == torch.bool for p in parts):
        mask = parts[0]
        for p in parts[1:]:
            mask = mask & p                                   # broadcasts to (B?, H?, L, S)
        return mask, False
    mask = None
    for p in parts:
        if p.dtype == torch.bool:
            p = torch.zeros(p.shape, dtype=dtype, device=device).masked_fill_(~p,
                                                                              float("-inf"))
        mask = p if mask is None else mask + p
    return mask, False
