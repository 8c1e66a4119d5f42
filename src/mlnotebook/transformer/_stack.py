"""N copies of a layer in a row, with the masks converted once and an optional final norm."""

from __future__ import annotations

import copy

import torch
from torch import nn

from mlnotebook.nn import LayerNorm
from mlnotebook.transformer._layers import (
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    decoder_masks,
)
from mlnotebook.transformer._masks import check_sequence, sdpa_mask


def _clones(layer: nn.Module, num_layers, cls) -> nn.ModuleList:
    if not isinstance(layer, cls):
        raise TypeError(f"the layer must be a {cls.__name__}, got {type(layer).__name__}")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
    return nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))


def _check_norm(norm) -> None:
    if norm is not None and not isinstance(norm, nn.Module):
        raise TypeError(f"norm must be a module (e.g. LayerNorm(d_model)) or None, got "
                        f"{type(norm).__name__}")


def _norm_from_torch(norm):
    if norm is None:
        return None
    if isinstance(norm, nn.LayerNorm):
        return LayerNorm.from_torch(norm)
    raise TypeError(f"the final norm must be a torch.nn.LayerNorm or None, got "
                    f"{type(norm).__name__}")


class TransformerEncoder(nn.Module):
    """A stack of ``num_layers`` encoder layers, as ``torch.nn.TransformerEncoder``.

    Parameters
    ----------
    encoder_layer : TransformerEncoderLayer
        Deep-copied ``num_layers`` times, so every layer starts with the same weights (as in
        torch; :class:`~mlnotebook.transformer.Transformer` re-initialises them).
    num_layers : int
    norm : nn.Module, optional
        Applied to the output of the last layer; a pre-norm stack needs one
        (``mlnotebook.nn.LayerNorm(d_model)``).

    Notes
    -----
    The masks (torch's convention, see :class:`TransformerEncoderLayer`) are checked and
    converted to the SDPA convention once, and the result is shared by all layers. torch's
    ``enable_nested_tensor`` and ``mask_check`` (inference fast path) have no counterpart.

    Examples
    --------
    >>> import torch
    >>> from mlnotebook.nn import LayerNorm
    >>> layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, norm_first=True)
    >>> encoder = TransformerEncoder(layer, num_layers=3, norm=LayerNorm(8))
    >>> encoder(torch.randn(2, 5, 8), is_causal=True).shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: nn.Module | None = None):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, TransformerEncoderLayer)
        _check_norm(norm)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src: torch.Tensor, mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None,
                is_causal: bool | None = None, *, need_weights: bool = False) -> torch.Tensor:
        """Encode ``src`` (B, L, d_model) through every layer; returns (B, L, d_model).

        ``need_weights=True`` keeps each layer's self-attention weights in
        ``layers[i].self_attn.attention_weights``.
        """
        first = self.layers[0]
        check_sequence("src", src, first.d_model)
        batch, length, _ = src.shape
        sdpa, causal = sdpa_mask(mask, src_key_padding_mask, bool(is_causal), batch=batch,
                                 heads=first.nhead, length=length, keys=length,
                                 dtype=src.dtype, device=src.device,
                                 names=("mask", "src_key_padding_mask"))
        x = src
        for layer in self.layers:
            x = layer.block(x, sdpa, causal, need_weights)                   # (B, L, d)
        return x if self.norm is None else self.norm(x)

    @classmethod
    def from_torch(cls, module: nn.TransformerEncoder) -> TransformerEncoder:
        """A copy of a ``torch.nn.TransformerEncoder`` of batch-first layers, weights cloned."""
        if not isinstance(module, nn.TransformerEncoder):
            raise TypeError(f"module must be a torch.nn.TransformerEncoder, got "
                            f"{type(module).__name__}")
        layers = [TransformerEncoderLayer.from_torch(layer) for layer in module.layers]
        ours = cls(layers[0], len(layers), norm=_norm_from_torch(module.norm))
        ours.layers = nn.ModuleList(layers)
        return ours


class TransformerDecoder(nn.Module):
    """A stack of ``num_layers`` decoder layers, as ``torch.nn.TransformerDecoder``.

    Parameters
    ----------
    decoder_layer : TransformerDecoderLayer
        Deep-copied ``num_layers`` times (same starting weights in every layer, as torch).
    num_layers : int
    norm : nn.Module, optional
        Applied to the output of the last layer.

    Notes
    -----
    Arguments and masks as ``torch.nn.TransformerDecoder.forward`` (torch's convention, see
    :class:`TransformerDecoderLayer`), converted once for all layers. ``tgt_is_causal=None``
    (torch's default, which then inspects ``tgt_mask``) means no extra causal mask: whatever
    ``tgt_mask`` says is applied. Every layer attends to the same ``memory``.

    Examples
    --------
    >>> import torch
    >>> layer = TransformerDecoderLayer(8, 2, dim_feedforward=16)
    >>> decoder = TransformerDecoder(layer, num_layers=2)
    >>> decoder(torch.randn(2, 4, 8), torch.randn(2, 6, 8), tgt_is_causal=True).shape
    torch.Size([2, 4, 8])
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: nn.Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, TransformerDecoderLayer)
        _check_norm(norm)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor,
                tgt_mask: torch.Tensor | None = None, memory_mask: torch.Tensor | None = None,
                tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False,
                *, need_weights: bool = False) -> torch.Tensor:
        """Decode ``tgt`` (B, T, d_model) against ``memory`` (B, S, d_model); returns (B, T, d).

        ``need_weights=True`` keeps each layer's weights in ``layers[i].self_attn`` and
        ``layers[i].multihead_attn`` (``.attention_weights``).
        """
        first = self.layers[0]
        self_mask, cross_mask = decoder_masks(
            first.nhead, first.d_model, tgt, memory, tgt_mask, memory_mask,
            tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal, memory_is_causal)
        x = tgt
        for layer in self.layers:
            x = layer.block(x, memory, self_mask, cross_mask, need_weights)  # (B, T, d)
        return x if self.norm is None else self.norm(x)

    @classmethod
    def from_torch(cls, module: nn.TransformerDecoder) -> TransformerDecoder:
        """A copy of a ``torch.nn.TransformerDecoder`` of batch-first layers, weights cloned."""
        if not isinstance(module, nn.TransformerDecoder):
            raise TypeError(f"module must be a torch.nn.TransformerDecoder, got "
                            f"{type(module).__name__}")
        layers = [TransformerDecoderLayer.from_torch(layer) for layer in module.layers]
        ours = cls(layers[0], len(layers), norm=_norm_from_torch(module.norm))
        ours.layers = nn.ModuleList(layers)
        return ours
