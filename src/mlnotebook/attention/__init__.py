"""Attention from scratch: pooling, scoring, masking, multi-head, positions, linear memory.

Names are loaded on first use (PEP 562), so ``import mlnotebook.attention`` stays cheap and
each module is imported only when one of its names is asked for.
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

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

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
