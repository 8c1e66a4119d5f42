"""Positions for order-blind attention: sinusoidal, learned and rotary (RoPE) encodings."""

from __future__ import annotations

import math

import torch
from torch import nn


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _check_dropout(p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")


def _check_base(base) -> None:
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not (
            math.isfinite(base) and base > 1):
        raise ValueError(f"base must be a finite number > 1, got {base!r}")


def _angle_dtype(device: torch.device) -> torch.dtype:
    # Angles pos / base^(2i/d) are formed in float64 (float32 loses ~pos * 6e-8 rad);
    # MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _angles(positions: torch.Tensor, dim: int, base: float) -> torch.Tensor:
    """Angles ``pos / base^(2i / dim)`` for i < ceil(dim / 2): shape (L, ceil(dim / 2))."""
    two_i = torch.arange(0, dim, 2, dtype=positions.dtype, device=positions.device)
    return positions[:, None] / base ** (two_i / dim)                  # (L, ceil(d/2))


def sinusoidal_table(length: int, d_model: int, *, base: float = 10000.0, dtype=None,
                     device=None) -> torch.Tensor:
    """The sinusoidal position table of Vaswani et al. (2017).

    ``P[pos, 2i] = sin(pos / base^(2i / d_model))``, ``P[pos, 2i + 1] = cos(same angle)``,
    computed in float64 and then cast to ``dtype`` (default: torch's default dtype).

    Returns
    -------
    Tensor of shape (length, d_model)
    """
    _check_int("length", length, 0)
    _check_int("d_model", d_model, 1)
    _check_base(base)
    device = torch.device("cpu") if device is None else torch.device(device)
    pos = torch.arange(length, dtype=_angle_dtype(device), device=device)
    angle = _angles(pos, d_model, float(base))                         # (L, ceil(d/2))
    table = torch.stack((angle.sin(), angle.cos()), dim=-1)             # (L, ceil(d/2), 2)
    table = table.flatten(-2)[:, :d_model]                              # (L, d) sin, cos, ...
    return table.to(torch.get_default_dtype() if dtype is None else dtype)


def _check_input(x: torch.Tensor, d_model: int, max_len: int, offset: int) -> int:
    """Validate a (B, L, d_model) input; return L."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != d_model:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (B, L, d_model={d_model}), got {shape}")
    _check_int("offset", offset, 0)
    length = x.shape[1]
    if offset + length > max_len:
        raise ValueError(f"positions up to offset + L = {offset} + {length} = "
                         f"{offset + length} exceed max_len = {max_len}")
    return length


class PositionalEncoding(nn.Module):
    r"""Add the fixed sinusoidal position table to a batch of embeddings, then dropout.

    .. code-block:: text

        PE[pos, 2i]     = sin(pos / 10000^(2i / d_model))
        PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))
        y = dropout(x + PE[offset : offset + L])

    Parameters
    ----------
    d_model : int
        Embedding width.
    max_len : int, default=5000
        Longest sequence (with ``offset``) the stored table covers.
    dropout : float, default=0.0
        Dropout probability applied to the sum, as in the original Transformer.
    dtype, device : optional
        Of the stored table (``dtype`` defaults to torch's default dtype).

    Attributes
    ----------
    pe : buffer of shape (1, max_len, d_model)
        The table, computed once in float64 and stored in ``dtype``.

    Notes
    -----
    Interleaved layout, exactly the paper's: even columns are sines, odd columns cosines,
    column pair (2i, 2i + 1) turning at frequency ``10000^(-2i / d_model)``. An odd
    ``d_model`` is allowed: the formula is used as written, so the last column is a sine
    without a cosine partner. The table is added without scaling ``x``; the original
    Transformer multiplies token embeddings by ``sqrt(d_model)`` first, which is the
    embedding layer's job. The table is cast to ``x``'s dtype when they differ.

    Examples
    --------
    >>> import torch
    >>> pe = PositionalEncoding(d_model=4, max_len=16)
    >>> pe(torch.zeros(1, 3, 4))[0]       # position 0 is (0, 1, 0, 1)
    tensor([[ 0.0000,  1.0000,  0.0000,  1.0000],
            [ 0.8415,  0.5403,  0.0100,  0.9999],
            [ 0.9093, -0.4161,  0.0200,  0.9998]])
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, *,
                 dtype=None, device=None):
        super().__init__()
        _check_int("d_model", d_model, 1)
        _check_int("max_len", max_len, 1)
        _check_dropout(dropout)
        self.d_model, self.max_len = d_model, max_len
        self.dropout = nn.Dropout(dropout)
        table = sinusoidal_table(max_len, d_model, dtype=dtype, device=device)
        self.register_buffer("pe", table[None])                        # (1, max_len, d)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Return ``dropout(x + PE)`` for ``x`` of shape (B, L, d_model); same shape.

        ``offset`` is the position of ``x[:, 0]`` (for decoding one step at a time).
        """
        length = _check_input(x, self.d_model, self.max_len, offset)
        return self.dropout(x + self.pe[:, offset:offset + length].to(x.dtype))  # (B, L, d)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(nn.Module):
    r"""Add a trainable vector per position (BERT, GPT-2), then dropout.

    ``y = dropout(x + E[offset : offset + L])`` with ``E`` an ``nn.Embedding(max_len,
    d_model)`` looked up by position instead of by token.

    Parameters
    ----------
    max_len : int
        Number of positions with a vector; longer inputs raise a ValueError.
    d_model : int
        Embedding width.
    dropout : float, default=0.0
        Dropout probability applied to the sum.
    dtype, device : optional
        Of the embedding table.

    Attributes
    ----------
    embedding : nn.Embedding
        Weight of shape (max_len, d_model), initialised N(0, 0.02^2) as in GPT-2 and BERT
        (``nn.Embedding``'s own N(0, 1) would drown out the token embeddings).

    Examples
    --------
    >>> import torch
    >>> pos = LearnedPositionalEmbedding(max_len=8, d_model=4)
    >>> x = torch.zeros(2, 5, 4)
    >>> torch.equal(pos(x)[1], pos.embedding.weight[:5].detach())
    True
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0, *, dtype=None,
                 device=None):
        super().__init__()
        _check_int("max_len", max_len, 1)
        _check_int("d_model", d_model, 1)
        _check_dropout(dropout)
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(max_len, d_model, dtype=dtype, device=device)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Return ``dropout(x + E[positions])`` for ``x`` of shape (B, L, d_model)."""
        length = _check_input(x, self.d_model, self.max_len, offset)
        positions = torch.arange(offset, offset + length, device=x.device)    # (L,)
        return self.dropout(x + self.embedding(positions))             # (B, L, d)


class RotaryEmbedding(nn.Module):
    r"""Rotary position embedding (RoPE, Su et al. 2021) for queries and keys.

    Pair ``i`` of the vector at position ``m`` is rotated by the angle ``m theta_i``:

    .. code-block:: text

        theta_i = base^(-2i / head_dim),  i = 0 .. head_dim/2 - 1
        [x'_a]   [cos m theta_i   -sin m theta_i] [x_a]
        [x'_b] = [sin m theta_i    cos m theta_i] [x_b]

    with ``(a, b) = (2i, 2i + 1)`` (``interleaved=True``, the RoFormer paper's layout) or
    ``(a, b) = (i, i + head_dim/2)`` (``interleaved=False``, the "rotate half" layout of
    GPT-NeoX and Hugging Face Llama). Then ``rope(q, m) . rope(k, n)`` depends on ``m - n``
    only, and norms are unchanged.

    Parameters
    ----------
    head_dim : int
        Size of the last axis; even.
    base : float, default=10000.0
        Sets the slowest frequency; > 1.
    interleaved : bool, default=True
        Which coordinates form a pair (see above).

    Notes
    -----
    Apply it to queries and keys after the head split, before the scores; never to values.
    There are no parameters or buffers: cosines and sines are made for the positions asked
    for, with angles formed in float64 (float32 on MPS) and cast to the input's dtype. The
    angle ``m theta_i`` equals the sinusoidal encoding's angle at column 2i.

    Examples
    --------
    >>> import torch
    >>> rope = RotaryEmbedding(head_dim=2)
    >>> q = torch.tensor([[1.0, 0.0]]).expand(3, 2)    # the same vector at positions 0, 1, 2
    >>> rope(q)                                        # turned by 0, 1 and 2 radians
    tensor([[ 1.0000,  0.0000],
            [ 0.5403,  0.8415],
            [-0.4161,  0.9093]])
    """

    def __init__(self, head_dim: int, base: float = 10000.0, *, interleaved: bool = True):
        super().__init__()
        _check_int("head_dim", head_dim, 2)
        if head_dim % 2:
            raise ValueError(f"head_dim must be even (coordinates are rotated in pairs), "
                             f"got {head_dim}")
        _check_base(base)
        if not isinstance(interleaved, bool):
            raise TypeError(f"interleaved must be a bool, got {interleaved!r}")
        self.head_dim, self.base, self.interleaved = head_dim, float(base), interleaved

    def cos_sin(self, length: int, offset: int = 0, *, dtype=torch.float32,
                device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosines and sines of the angles for positions offset .. offset + length - 1.

        Returns two tensors of shape (length, head_dim / 2).
        """
        device = torch.device("cpu") if device is None else torch.device(device)
        pos = torch.arange(offset, offset + length, dtype=_angle_dtype(device), device=device)
        angle = _angles(pos, self.head_dim, self.base)                 # (L, d/2)
        return angle.cos().to(dtype), angle.sin().to(dtype)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Rotate ``x`` of shape (..., L, head_dim); row j is at position ``offset + j``."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != self.head_dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (..., L, head_dim={self.head_dim}),"
                             f" got {shape}")
        _check_int("offset", offset, 0)
        cos, sin = self.cos_sin(x.shape[-2], offset, dtype=x.dtype, device=x.device)
        if self.interleaved:
            a, b = x[..., 0::2], x[..., 1::2]                           # (..., L, d/2)
            turned = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
            return turned.flatten(-2)                                  # (..., L, d)
        half = self.head_dim // 2
        a, b = x[..., :half], x[..., half:]                             # (..., L, d/2)
        return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)  # (..., L, d)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base:g}, interleaved={self.interleaved}"
