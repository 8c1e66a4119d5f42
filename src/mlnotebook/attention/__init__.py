"""Attention from scratch: pooling, scoring, masking, multi-head, positions, linear memory.

Names are loaded on first use (PEP 562), so ``import mlnotebook.attention`` stays cheap and
each module is imported only when one of its names is asked for.
"""

from __future__ import annotations

import importlib

_WHERE = {
    # masking and scoring
    "lengths_to_mask": "_masking",
    "masked_softmax": "_masking",
    "dot_product_scores": "_scoring",
    "scaled_dot_product_scores": "_scoring",
    "DotProductAttention": "_scoring",
    "AdditiveAttention": "_scoring",
    "scaled_dot_product_attention": "_sdpa",
    "MultiHeadAttention": "_multihead",
    # positions
    "PositionalEncoding": "_positional",
    "LearnedPositionalEmbedding": "_positional",
    "RotaryEmbedding": "_positional",
    # attention pooling as kernel regression
    "NadarayaWatson": "_nadaraya_watson",
    "ParametricNadarayaWatson": "_nadaraya_watson",
    # exact attention in linear memory
    "memory_efficient_attention": "_memory_efficient",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'mlnotebook.attention' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
