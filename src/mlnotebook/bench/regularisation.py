"""Normalisation layers, forward plus backward, against torch.nn's fused kernels.

Each call runs the layer in training mode and asks autograd for the gradients of the input
and of the affine parameters, as one training step would. Sizes are typical of an MLP, a
CNN and a Transformer block.
"""

from __future__ import annotations

import torch

from mlnotebook import nn as mnn
from mlnotebook.bench._base import BenchCase, benchmark


def _fwd_bwd_case(ours: torch.nn.Module, ref: torch.nn.Module, shape: tuple,
                  device: str) -> BenchCase:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device).requires_grad_()
    g = torch.randn(shape, generator=gen).to(device)

    def step(module):
        def call():
            y = module(x)
            return torch.autograd.grad(y, [x, *module.parameters()], g)
        return call

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return BenchCase(ours=step(ours.to(device)), reference=step(ref.to(device)), sync=sync,
                     info={"shape": list(shape), "threads": torch.get_num_threads()})


@benchmark(topic="regularisation", concept="batch-normalisation",
           reference="torch.nn.BatchNorm1d")
def batchnorm1d_fwd_bwd(device="cpu", quick=False):
    shape = (64, 32) if quick else (4096, 1024)
    return _fwd_bwd_case(mnn.BatchNorm1d(shape[1]), torch.nn.BatchNorm1d(shape[1]), shape,
                         device)


@benchmark(topic="regularisation", concept="batch-normalisation",
           reference="torch.nn.BatchNorm2d")
def batchnorm2d_fwd_bwd(device="cpu", quick=False):
    shape = (4, 8, 8, 8) if quick else (32, 64, 32, 32)
    return _fwd_bwd_case(mnn.BatchNorm2d(shape[1]), torch.nn.BatchNorm2d(shape[1]), shape,
                         device)


@benchmark(topic="regularisation", concept="layer-normalisation",
           reference="torch.nn.LayerNorm")
def layernorm_fwd_bwd(device="cpu", quick=False):
    shape = (4, 8, 32) if quick else (32, 128, 512)
    return _fwd_bwd_case(mnn.LayerNorm(shape[-1]), torch.nn.LayerNorm(shape[-1]), shape,
                         device)
