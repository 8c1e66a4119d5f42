"""One Transformer block at a time: the position-wise FFN, the encoder layer, the decoder layer."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mlnotebook.attention import MultiHeadAttention
from mlnotebook.nn import Dropout, LayerNorm
from mlnotebook.transformer._masks import check_sequence, sdpa_mask

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be 'relu', 'gelu' or a callable, got "
                             f"{activation!r}")
        return _ACTIVATIONS[activation]
    if not callable(activation):
        raise TypeError(f"activation must be 'relu', 'gelu' or a callable, got "
                        f"{type(activation).__name__}")
    return activation


def _torch_activation(fn) -> str | Callable:
    """torch's ``activation`` attribute as our argument: a name when it is relu or exact gelu."""
    if fn is F.relu or isinstance(fn, nn.ReLU):
        return "relu"
    if fn is F.gelu or (isinstance(fn, nn.GELU) and fn.approximate == "none"):
        return "gelu"
    return fn


def check_layer_args(d_model, nhead, dim_feedforward, dropout, layer_norm_eps,
                     batch_first) -> None:
    """ValueError naming the argument for every bad constructor argument of a layer."""
    for name, value in (("d_model", d_model), ("nhead", nhead),
                        ("dim_feedforward", dim_feedforward)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if d_model % nhead:
        raise ValueError(f"d_model={d_model} must be divisible by nhead={nhead} (each head "
                         f"gets d_model / nhead features)")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
            0.0 <= dropout < 1.0):
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if isinstance(layer_norm_eps, bool) or not isinstance(layer_norm_eps, (int, float)) or not (
            math.isfinite(layer_norm_eps) and layer_norm_eps > 0):
        raise ValueError(f"layer_norm_eps must be a positive number, got {layer_norm_eps!r}")
    if batch_first is not True:
        raise ValueError(f"batch_first must be True: these layers take (batch, length, "
                         f"d_model) inputs, got batch_first={batch_first!r}")


def _check_torch_layer(module, cls) -> None:
    if not isinstance(module, cls):
        raise TypeError(f"module must be a torch.nn.{cls.__name__}, got "
                        f"{type(module).__name__}")
    if not module.self_attn.batch_first:
        raise ValueError("module must be built with batch_first=True (the weights do not "
                         "depend on it; rebuild torch's layer with batch_first=True)")


class PositionwiseFeedForward(nn.Module):
    r"""The same two-layer MLP applied to every position on its own.

    .. code-block:: text

        FFN(x) = linear2(dropout(activation(linear1(x))))   x: (B, L, d_model) -> same

    With ReLU this is the paper's :math:`\max(0, x W_1 + b_1) W_2 + b_2`. The dropout
    between the two linear maps is ``torch.nn.TransformerEncoderLayer``'s ``dropout``.

    Parameters
    ----------
    d_model : int
    dim_feedforward : int, default=2048
        Width of the hidden layer (the paper's d_ff = 4 d_model).
    dropout : float, default=0.1
    activation : {"relu", "gelu"} or callable, default="relu"
        ``"gelu"`` is the exact (erf) GELU, as torch's.
    bias : bool, default=True
    """

    def __init__(self, d_model: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", bias: bool = True, *, device=None,
                 dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.activation(self.linear1(x)))       # (B, L, d_ff)
        return self.linear2(hidden)                                   # (B, L, d_model)

    def _copy_from_torch(self, layer) -> None:
        with torch.no_grad():
            for ours, theirs in ((self.linear1, layer.linear1), (self.linear2, layer.linear2)):
                ours.weight.copy_(theirs.weight)
                if theirs.bias is not None:
                    ours.bias.copy_(theirs.bias)


class TransformerEncoderLayer(nn.Module):
    r"""Self-attention then a position-wise FFN, each with a residual and layer norm.

    .. code-block:: text

        post-norm (norm_first=False, the paper):
            x = norm1(x + dropout1(self_attn(x, x, x)))
            x = norm2(x + dropout2(ffn(x)))
        pre-norm (norm_first=True):
            x = x + dropout1(self_attn(h, h, h)),  h = norm1(x)
            x = x + dropout2(ffn(norm2(x)))

    Same arguments, masks and numbers as ``torch.nn.TransformerEncoderLayer`` with
    ``batch_first=True``, built from :class:`mlnotebook.attention.MultiHeadAttention`,
    :class:`mlnotebook.nn.LayerNorm` and :class:`mlnotebook.nn.Dropout`.

    Parameters
    ----------
    d_model : int
        Width of every position's vector.
    nhead : int
        Number of attention heads; must divide ``d_model``.
    dim_feedforward : int, default=2048
    dropout : float, default=0.1
        On the attention weights, inside the FFN, and on each sublayer's output before the
        residual addition.
    activation : {"relu", "gelu"} or callable, default="relu"
    layer_norm_eps : float, default=1e-5
    batch_first : bool, default=True
        Only True is accepted (torch's default is False); inputs are (B, L, d_model).
    norm_first : bool, default=False
        Pre-norm instead of the paper's post-norm. A pre-norm stack needs a final layer norm
        (``TransformerEncoder(..., norm=LayerNorm(d_model))``).
    bias : bool, default=True
        Biases of the linear maps and the layer norms.

    Attributes
    ----------
    self_attn : MultiHeadAttention
        After a call with ``need_weights=True``, ``self_attn.attention_weights`` holds the
        (B, H, L, L) weights, detached; None otherwise.
    feed_forward : PositionwiseFeedForward
    norm1, norm2 : mlnotebook.nn.LayerNorm
    dropout1, dropout2 : mlnotebook.nn.Dropout

    Notes
    -----
    Masks take **torch's** convention, not our attention's, so code written for torch runs
    unchanged: a bool ``src_mask`` (L, L) or (B * nhead, L, L) is ``True`` where a query may
    NOT attend, a float one is added to the scores; a bool ``src_key_padding_mask`` (B, L) is
    ``True`` at padding; ``is_causal=True`` hides the future (for torch a hint that
    ``src_mask`` is causal; here it works alone too). They are merged once into the
    SDPA-style mask (``True`` = may attend) of :class:`MultiHeadAttention`.

    A query whose keys are all masked gets a zero attention output here where torch gives
    NaN. Outputs at padding positions are computed but meaningless.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> layer = TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> x = torch.randn(3, 5, 8)                                  # (B, L, d_model)
    >>> pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] * 5])
    >>> layer(x, src_key_padding_mask=pad).shape
    torch.Size([3, 5, 8])
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_layer_args(d_model, nhead, dim_feedforward, dropout, layer_norm_eps, batch_first)
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.nhead, self.norm_first = d_model, nhead, bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            **factory)
        self.feed_forward = PositionwiseFeedForward(d_model, dim_feedforward, dropout,
                                                    activation, bias, **factory)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None, is_causal: bool = False,
                *, need_weights: bool = False) -> torch.Tensor:
        """Encode ``src`` (B, L, d_model); returns (B, L, d_model). Masks: see Notes."""
        check_sequence("src", src, self.d_model)
        batch, length, _ = src.shape
        mask, causal = sdpa_mask(src_mask, src_key_padding_mask, is_causal, batch=batch,
                                 heads=self.nhead, length=length, keys=length,
                                 dtype=src.dtype, device=src.device,
                                 names=("src_mask", "src_key_padding_mask"))
        return self.block(src, mask, causal, need_weights)

    def block(self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool,
              need_weights: bool = False) -> torch.Tensor:
        """The layer on a checked input with a mask already in the SDPA convention."""
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), mask, causal, need_weights)
            return x + self.dropout2(self.feed_forward(self.norm2(x)))    # (B, L, d)
        x = self.norm1(x + self._self_attention(x, mask, causal, need_weights))
        return self.norm2(x + self.dropout2(self.feed_forward(x)))          # (B, L, d)

    def _self_attention(self, x, mask, causal, need_weights) -> torch.Tensor:
        out = self.self_attn(x, x, x, mask, causal, need_weights=need_weights)  # (B, L, d)
        return self.dropout1(out)

    @classmethod
    def from_torch(cls, module: nn.TransformerEncoderLayer) -> TransformerEncoderLayer:
        """A copy of a batch-first ``torch.nn.TransformerEncoderLayer``, weights cloned.

        Options (norm_first, activation, eps, dropout, bias, dtype, device) are read from the
        module; ``relu`` and exact ``gelu`` map to their names, any other activation is
        reused as is. ValueError for ``batch_first=False``.
        """
        _check_torch_layer(module, nn.TransformerEncoderLayer)
        weight = module.linear1.weight
        ours = cls(module.self_attn.embed_dim, module.self_attn.num_heads,
                   dim_feedforward=module.linear1.out_features, dropout=module.dropout.p,
                   activation=_torch_activation(module.activation),
                   layer_norm_eps=module.norm1.eps, norm_first=module.norm_first,
                   bias=module.linear1.bias is not None, device=weight.device,
                   dtype=weight.dtype)
        ours.self_attn = MultiHeadAttention.from_torch(module.self_attn)
        ours.feed_forward._copy_from_torch(module)
        ours.norm1 = LayerNorm.from_torch(module.norm1)
        ours.norm2 = LayerNorm.from_torch(module.norm2)
        return ours


class TransformerDecoderLayer(nn.Module):
    r"""Causal self-attention, cross-attention to the encoder's memory, then a position-wise FFN.

    .. code-block:: text

        post-norm (norm_first=False, the paper):
            x = norm1(x + dropout1(self_attn(x, x, x)))               # causal via tgt_mask
            x = norm2(x + dropout2(multihead_attn(x, memory, memory)))
            x = norm3(x + dropout3(ffn(x)))
        pre-norm (norm_first=True):
            x = x + dropout1(self_attn(h, h, h)),  h = norm1(x)
            x = x + dropout2(multihead_attn(norm2(x), memory, memory))
            x = x + dropout3(ffn(norm3(x)))

    Same arguments, masks and numbers as ``torch.nn.TransformerDecoderLayer`` with
    ``batch_first=True`` (see :class:`TransformerEncoderLayer` for the arguments).

    Attributes
    ----------
    self_attn, multihead_attn : MultiHeadAttention
        Self- and cross-attention; after a call with ``need_weights=True`` their
        ``attention_weights`` hold (B, H, T, T) and (B, H, T, S), detached.
    feed_forward : PositionwiseFeedForward
    norm1, norm2, norm3 : mlnotebook.nn.LayerNorm
    dropout1, dropout2, dropout3 : mlnotebook.nn.Dropout

    Notes
    -----
    The self-attention is only causal if asked: pass ``tgt_is_causal=True`` (or a causal
    ``tgt_mask``, e.g. ``torch.nn.Transformer.generate_square_subsequent_mask(T)``), as in
    torch. Masks follow torch's convention (bool ``True`` = NOT allowed / padding, float
    added): ``tgt_mask`` (T, T) or (B * nhead, T, T), ``memory_mask`` (T, S) or
    (B * nhead, T, S), ``tgt_key_padding_mask`` (B, T), ``memory_key_padding_mask`` (B, S);
    each attention's masks are merged once into the SDPA convention of
    :class:`MultiHeadAttention`.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> layer = TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> tgt, memory = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    >>> y = layer(tgt, memory, tgt_is_causal=True, need_weights=True)
    >>> y.shape, layer.multihead_attn.attention_weights.shape
    (torch.Size([2, 4, 8]), torch.Size([2, 2, 4, 6]))
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        check_layer_args(d_model, nhead, dim_feedforward, dropout, layer_norm_eps, batch_first)
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.nhead, self.norm_first = d_model, nhead, bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            **factory)
        self.multihead_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 **factory)
        self.feed_forward = PositionwiseFeedForward(d_model, dim_feedforward, dropout,
                                                    activation, bias, **factory)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor,
                tgt_mask: torch.Tensor | None = None, memory_mask: torch.Tensor | None = None,
                tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False,
                *, need_weights: bool = False) -> torch.Tensor:
        """Decode ``tgt`` (B, T, d_model) against ``memory`` (B, S, d_model); returns (B, T, d)."""
        self_mask, cross_mask = decoder_masks(
            self.nhead, self.d_model, tgt, memory, tgt_mask, memory_mask,
            tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal, memory_is_causal)
        return self.block(tgt, memory, self_mask, cross_mask, need_weights)

    def block(self, x: torch.Tensor, memory: torch.Tensor,
              self_mask: tuple[torch.Tensor | None, bool],
              cross_mask: tuple[torch.Tensor | None, bool],
              need_weights: bool = False) -> torch.Tensor:
        """The layer on checked inputs with ``(mask, causal)`` pairs in the SDPA convention."""
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), *self_mask, need_weights)
            x = x + self._cross_attention(self.norm2(x), memory, *cross_mask, need_weights)
            return x + self.dropout3(self.feed_forward(self.norm3(x)))     # (B, T, d)
        x = self.norm1(x + self._self_attention(x, *self_mask, need_weights))
        x = self.norm2(x + self._cross_attention(x, memory, *cross_mask, need_weights))
        return self.norm3(x + self.dropout3(self.feed_forward(x)))          # (B, T, d)

    def _self_attention(self, x, mask, causal, need_weights) -> torch.Tensor:
        out = self.self_attn(x, x, x, mask, causal, need_weights=need_weights)  # (B, T, d)
        return self.dropout1(out)

    def _cross_attention(self, x, memory, mask, causal, need_weights) -> torch.Tensor:
        out = self.multihead_attn(x, memory, memory, mask, causal,
                                  need_weights=need_weights)                # (B, T, d)
        return self.dropout2(out)

    @classmethod
    def from_torch(cls, module: nn.TransformerDecoderLayer) -> TransformerDecoderLayer:
        """A copy of a batch-first ``torch.nn.TransformerDecoderLayer``, weights cloned.

        As :meth:`TransformerEncoderLayer.from_torch`.
        """
        _check_torch_layer(module, nn.TransformerDecoderLayer)
        weight = module.linear1.weight
        ours = cls(module.self_attn.embed_dim, module.self_attn.num_heads,
                   dim_feedforward=module.linear1.out_features, dropout=module.dropout.p,
                   activation=_torch_activation(module.activation),
                   layer_norm_eps=module.norm1.eps, norm_first=module.norm_first,
                   bias=module.linear1.bias is not None, device=weight.device,
                   dtype=weight.dtype)
        ours.self_attn = MultiHeadAttention.from_torch(module.self_attn)
        ours.multihead_attn = MultiHeadAttention.from_torch(module.multihead_attn)
        ours.feed_forward._copy_from_torch(module)
        for name in ("norm1", "norm2", "norm3"):
            setattr(ours, name, LayerNorm.from_torch(getattr(module, name)))
        return ours


def decoder_masks(nhead, d_model, tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                  memory_key_padding_mask, tgt_is_causal, memory_is_causal):
    """Check a decoder's inputs; return the ``(mask, causal)`` pairs of its two attentions."""
    check_sequence("tgt", tgt, d_model)
    batch, length, _ = tgt.shape
    check_sequence("memory", memory, d_model, batch=batch)
    keys = memory.shape[1]
    common = {"batch": batch, "heads": nhead, "length": length, "dtype": tgt.dtype,
              "device": tgt.device}
    self_mask = sdpa_mask(tgt_mask, tgt_key_padding_mask, bool(tgt_is_causal), keys=length,
                          names=("tgt_mask", "tgt_key_padding_mask"), **common)
    cross_mask = sdpa_mask(memory_mask, memory_key_padding_mask, bool(memory_is_causal),
                           keys=keys, names=("memory_mask", "memory_key_padding_mask"),
                           **common)
    return self_mask, cross_mask
