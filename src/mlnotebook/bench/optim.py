"""Optimiser step time against torch.optim's fastest mode for the same algorithm.

An optimiser step is memory-bound: it reads and writes every parameter, gradient and state
tensor a few times and does little arithmetic. So besides the time ratio each row reports
the bandwidth achieved (the bytes a single fused pass must move / step time) next to a
measured copy bandwidth, the practical ceiling.
"""

from __future__ import annotations

import functools
import statistics
import time

import torch

from mlnotebook.bench._base import BenchCase, benchmark
from mlnotebook.optim import SGD, Adagrad, Adam, AdamW, RMSprop


def _params(total: int, count: int, device: str) -> list[torch.Tensor]:
    """``count`` float32 tensors of about ``total`` elements in all, with gradients set."""
    gen = torch.Generator().manual_seed(0)
    params = []
    for _ in range(count):
        p = torch.randn(total // count, generator=gen).to(device).requires_grad_()
        p.grad = torch.randn(total // count, generator=gen).to(device)
        params.append(p)
    return params


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


@functools.cache
def copy_bandwidth(total: int, device: str) -> float:
    """Measured bytes/s of ``dst.copy_(src)`` on ``total`` float32 (8 bytes per element)."""
    src = torch.randn(total, device=device)
    dst = torch.empty_like(src)
    sync = _sync(device)
    times = []
    for _ in range(11):
        t0 = time.perf_counter()
        dst.copy_(src)
        sync()
        times.append(time.perf_counter() - t0)
    return 8 * total / statistics.median(times[1:])


def _fastest_torch(name: str, device: str) -> dict:
    """torch.optim's fastest mode: fused where it exists for the device, else foreach."""
    fused = {"SGD", "Adam", "AdamW", "Adagrad"}
    if name in fused and (device == "cpu" or device.startswith("cuda")):
        return {"fused": True}
    return {"foreach": True}


def _case(ours_cls, kwargs: dict, floats_per_element: int, device: str, quick: bool,
          mode: dict | None = None):
    total, count = (1_000_000, 80) if quick else (10_000_000, 80)
    ref_cls = getattr(torch.optim, ours_cls.__name__)
    mode = mode or _fastest_torch(ours_cls.__name__, device)
    ours = ours_cls(_params(total, count, device), **kwargs)
    ref = ref_cls(_params(total, count, device), **kwargs, **mode)
    copy = copy_bandwidth(total, device)
    path = "foreach" if device.startswith("cuda") else "per-parameter"
    return BenchCase(
        ours.step, ref.step, sync=_sync(device),
        bytes_moved=floats_per_element * 4 * total,
        info={"parameters": total, "tensors": count, "ours": path,
              "torch": next(iter(mode)), "copy_GB_per_s": round(copy / 1e9, 2)},
    )


@benchmark(topic="optim", concept="sgd", reference="torch.optim.SGD (fastest mode)")
def sgd_momentum_step(device: str = "cpu", quick: bool = False) -> BenchCase:
    """One SGD-with-momentum step: read p, g, buffer; write p, buffer (5 floats/element)."""
    return _case(SGD, dict(lr=1e-3, momentum=0.9), 5, device, quick)


@benchmark(topic="optim", concept="adam", reference="torch.optim.Adam (fastest mode)")
def adam_step(device: str = "cpu", quick: bool = False) -> BenchCase:
    """One Adam step: read p, g, m, v; write p, m, v (7 floats/element)."""
    return _case(Adam, dict(lr=1e-3), 7, device, quick)


@benchmark(topic="optim", concept="adamw", reference="torch.optim.AdamW (fastest mode)")
def adamw_step(device: str = "cpu", quick: bool = False) -> BenchCase:
    """One AdamW step: read p, g, m, v; write p, m, v (7 floats/element)."""
    return _case(AdamW, dict(lr=1e-3), 7, device, quick)


@benchmark(topic="optim", concept="rmsprop", reference="torch.optim.RMSprop (fastest mode)")
def rmsprop_step(device: str = "cpu", quick: bool = False) -> BenchCase:
    """One RMSprop step: read p, g, square_avg; write p, square_avg (5 floats/element)."""
    return _case(RMSprop, dict(lr=1e-3), 5, device, quick)


@benchmark(topic="optim", concept="adagrad", reference="torch.optim.Adagrad (fastest mode)")
def adagrad_step(device: str = "cpu", quick: bool = False) -> BenchCase:
    """One Adagrad step: read p, g, sum; write p, sum (5 floats/element)."""
    return _case(Adagrad, dict(lr=1e-3), 5, device, quick)


# The same steps against torch's multi-tensor (foreach) mode, the fastest torch offers
# without a hand-written kernel: the like-for-like comparison for tensor-level code.
@benchmark(topic="optim", concept="sgd", reference="torch.optim.SGD(foreach=True)")
def sgd_momentum_step_vs_foreach(device: str = "cpu", quick: bool = False) -> BenchCase:
    return _case(SGD, dict(lr=1e-3, momentum=0.9), 5, device, quick, {"foreach": True})


@benchmark(topic="optim", concept="adam", reference="torch.optim.Adam(foreach=True)")
def adam_step_vs_foreach(device: str = "cpu", quick: bool = False) -> BenchCase:
    return _case(Adam, dict(lr=1e-3), 7, device, quick, {"foreach": True})


@benchmark(topic="optim", concept="adamw", reference="torch.optim.AdamW(foreach=True)")
def adamw_step_vs_foreach(device: str = "cpu", quick: bool = False) -> BenchCase:
    return _case(AdamW, dict(lr=1e-3), 7, device, quick, {"foreach": True})


@benchmark(topic="optim", concept="adagrad", reference="torch.optim.Adagrad(foreach=True)")
def adagrad_step_vs_foreach(device: str = "cpu", quick: bool = False) -> BenchCase:
    return _case(Adagrad, dict(lr=1e-3), 5, device, quick, {"foreach": True})
