"""Optimiser step time against torch.optim's fastest mode for the same algorithm."""

from __future__ import annotations

import torch

from mlnotebook.bench._base import BenchCase, benchmark
from mlnotebook.optim import SGD


def _params(total: int, count: int, device: str) -> list[torch.Tensor]:
    """``count`` float32 tensors of about ``total`` elements in all, with gradients set."""
    gen = torch.Generator().manual_seed(0)
    sizes = [total // count] * count
    params = []
    for n in sizes:
        p = torch.randn(n, generator=gen).to(device).requires_grad_()
        p.grad = torch.randn(n, generator=gen).to(device)
        params.append(p)
    return params


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


@benchmark(topic="optim", concept="sgd", reference="torch.optim.SGD(foreach=True)")
def sgd_momentum_step(device: str = "cpu", quick: bool = False) -> BenchCase:
    """One SGD-with-momentum step over 10M float32 parameters in 80 tensors (1M if quick)."""
    total, count = (1_000_000, 80) if quick else (10_000_000, 80)
    ours_p, ref_p = _params(total, count, device), _params(total, count, device)
    ours = SGD(ours_p, lr=1e-3, momentum=0.9)
    ref = torch.optim.SGD(ref_p, lr=1e-3, momentum=0.9, foreach=True)
    # read grad + param + buffer, write param + buffer: 5 float32 per element
    return BenchCase(ours.step, ref.step, sync=_sync(device), bytes_moved=5 * 4 * total,
                     info={"parameters": total, "tensors": count})
