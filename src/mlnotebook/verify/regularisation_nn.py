"""Dropout and normalisation layers against torch.nn, float64, ten training steps then eval."""

from __future__ import annotations

import torch

from mlnotebook import nn as mnn
from mlnotebook.verify._base import check


def _norm_diff(ours_cls, ref_cls, kwargs: dict, shape: tuple, steps: int = 10) -> float:
    """Max |ours - torch| over outputs, input and parameter gradients of ``steps`` training
    steps, the buffers after them, and an eval-mode forward and backward."""
    torch.manual_seed(0)
    ref = ref_cls(**kwargs, dtype=torch.float64)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()
    ours = ours_cls.from_torch(ref)
    gen = torch.Generator().manual_seed(1)
    diffs = []
    for step in range(steps + 1):
        if step == steps:
            ours.eval()
            ref.eval()
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * (1 + step) + step
        g = torch.randn(shape, generator=gen, dtype=torch.float64)
        outs = []
        for module in (ours, ref):
            xr = x.clone().requires_grad_()
            y = module(xr)
            y.backward(g)
            outs.append([y.detach(), xr.grad] + [p.grad.clone() for p in module.parameters()])
            module.zero_grad()
        diffs += [float((a - b).abs().max()) for a, b in zip(*outs, strict=True)]
    for a, b in zip(ours.buffers(), ref.buffers(), strict=True):
        diffs.append(float((a.double() - b.double()).abs().max()))
    return max(diffs)


@check(topic="regularisation", concept="dropout", reference="torch.nn.Dropout",
       tolerance=1e-12)
def dropout_matches_torch():
    """Same global seed, same mask and scaling: outputs compared for several p."""
    x = torch.randn(300, 40, dtype=torch.float64)
    diffs = {}
    for p in (0.1, 0.3, 0.5, 0.9):
        torch.manual_seed(5)
        ref = torch.nn.Dropout(p)(x)
        torch.manual_seed(5)
        diffs[f"p={p}"] = float((mnn.Dropout(p)(x) - ref).abs().max())
    return diffs


@check(topic="regularisation", concept="batch-normalisation",
       reference="torch.nn.BatchNorm1d", tolerance=1e-12)
def batchnorm1d_matches_torch():
    """(N, C) and (N, C, L) inputs; momentum, cumulative average, no affine, no running stats."""
    cases = {
        "(32,8)": ({}, (32, 8)),
        "(8,8,6)": ({}, (8, 8, 6)),
        "momentum=None": ({"momentum": None}, (32, 8)),
        "affine=False": ({"affine": False, "eps": 1e-3}, (32, 8)),
        "track_running_stats=False": ({"track_running_stats": False}, (8, 8, 6)),
    }
    return {name: _norm_diff(mnn.BatchNorm1d, torch.nn.BatchNorm1d, {"num_features": 8, **kw},
                             shape) for name, (kw, shape) in cases.items()}


@check(topic="regularisation", concept="batch-normalisation",
       reference="torch.nn.BatchNorm2d", tolerance=1e-12)
def batchnorm2d_matches_torch():
    """(N, C, H, W) inputs with the default and a larger momentum."""
    cases = {"(6,4,5,7)": ({}, (6, 4, 5, 7)), "momentum=0.5": ({"momentum": 0.5}, (3, 4, 8, 8))}
    return {name: _norm_diff(mnn.BatchNorm2d, torch.nn.BatchNorm2d, {"num_features": 4, **kw},
                             shape) for name, (kw, shape) in cases.items()}


@check(topic="regularisation", concept="layer-normalisation", reference="torch.nn.LayerNorm",
       tolerance=1e-12)
def layernorm_matches_torch():
    """One and two normalised dimensions, without bias, without affine parameters."""
    cases = {
        "shape=16": ({"normalized_shape": 16}, (4, 7, 16)),
        "shape=(7,16)": ({"normalized_shape": (7, 16)}, (4, 7, 16)),
        "bias=False": ({"normalized_shape": 16, "bias": False}, (5, 16)),
        "elementwise_affine=False": ({"normalized_shape": 16, "elementwise_affine": False},
                                     (5, 16)),
    }
    return {name: _norm_diff(mnn.LayerNorm, torch.nn.LayerNorm, kw, shape)
            for name, (kw, shape) in cases.items()}
