"""The Transformer from scratch: layers, stacks, the encoder-decoder and a decoder-only LM.

Built from :mod:`mlnotebook.attention` (multi-head attention, sinusoidal positions) and
:mod:`mlnotebook.nn` (layer norm, dropout), with ``torch.nn.Transformer*``'s names, arguments
and masks, and ``from_torch`` constructors that copy torch's weights. Names are loaded on
first use (PEP 562).
"""

from __future__ import annotations

import importlib

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

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'mlnotebook.transformer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
