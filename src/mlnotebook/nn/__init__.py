"""Layers from scratch that regularise and stabilise training: dropout and normalisation.

Every layer has PyTorch's constructor, buffers and numbers (see each docstring for the
conventions that usually bite: inverted dropout, biased vs unbiased variance, momentum), so
``from mlnotebook import nn`` can stand in for ``torch.nn`` for these names.
Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    "dropout": "_dropout",
    "Dropout": "_dropout",
    "batch_norm": "_batchnorm",
    "BatchNorm1d": "_batchnorm",
    "BatchNorm2d": "_batchnorm",
    "layer_norm": "_layernorm",
    "LayerNorm": "_layernorm",
    "l1_penalty": "_penalty",
    "l2_penalty": "_penalty",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
