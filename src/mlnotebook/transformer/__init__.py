"""The Transformer from scratch: layers, stacks, the encoder-decoder and a decoder-only LM.

Built from :mod:`mlnotebook.attention` (multi-head attention, sinusoidal positions) and
:mod:`mlnotebook.nn` (layer norm, dropout), with ``torch.nn.Transformer*``'s names, arguments
and masks, and ``from_torch`` constructors that copy torch's weights. Names are loaded on
first use (PEP 562).
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    # one block
    "PositionwiseFeedForward": "_layers",
    "TransformerEncoderLayer": "_layers",
    "TransformerDecoderLayer": "_layers",
    # stacks
    "TransformerEncoder": "_stack",
    "TransformerDecoder": "_stack",
    # models
    "Transformer": "_model",
    "TransformerLM": "_model",
    "TransformerState": "_model",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
