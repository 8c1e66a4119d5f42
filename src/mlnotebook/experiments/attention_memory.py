"""Time and peak memory of attention against sequence length: naive, memory-efficient, torch.

Self-attention over one batch of 8 heads of width 64, for doubling lengths L. The naive
path materialises the (8, L, L) matrices of scores and weights, so its peak extra memory
grows as L^2; memory-efficient attention holds a few tiles and L floats per row, so its
memory grows as L; torch's fused kernel does the same in C++. All three do the same
O(L^2) arithmetic, so their times all grow as L^2. Peak extra memory is what torch's
allocator handed out during the call beyond the output (CUDA: max_memory_allocated; CPU:
the profiler's allocation records replayed into a running total). Above ``naive_max_length``
the naive path is not run: its memory is the two L x L float matrices it would hold,
which matches the measured value at the lengths where it runs.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mlnotebook.attention import memory_efficient_attention
from mlnotebook.attention._memory_efficient import DEFAULT_BLOCK_SIZE
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)

METHODS = ("naive", "memory-efficient", "torch")


def naive_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    scale: float | None = None) -> torch.Tensor:
    """softmax(Q K^T * scale) V, holding the full (..., L, S) scores and weights at once."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query * scale) @ key.transpose(-2, -1)                       # (..., L, S)
    return torch.softmax(scores, dim=-1) @ value                           # (..., L, Ev)


def naive_peak_bytes(heads: int, length: int, itemsize: int) -> int:
    """Analytic peak extra memory of :func:`naive_attention` for self-attention.

    The scores and the softmax weights, two (heads, L, L) matrices, are alive together;
    everything else is O(L).
    """
    return 2 * heads * length * length * itemsize


def peak_extra_bytes(fn: Callable[[], Any], device: str = "cpu") -> tuple[Any, int]:
    """Call ``fn()``; return its result and the peak bytes allocated during the call.

    The count is the peak of memory torch's allocator handed out while ``fn`` ran (what
    was allocated before is not counted), less the size of the result it returns (a
    tensor or a tuple of them): the working memory of the call. That assumes the result
    is alive at the peak, as it is for attention, whose output is allocated first or
    while the temporaries are still held. On CUDA it is read from
    ``torch.cuda.max_memory_allocated``. On the CPU torch keeps no such counter, so the
    call runs under ``torch.profiler.profile(profile_memory=True)`` and the profiler's
    allocation and free records are replayed in time order into a running total whose
    maximum is the peak. Memory a library allocates behind torch's back (e.g. BLAS
    scratch space) is not seen by either.
    """
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        result, peak = _cpu_peak(fn)
    return result, max(peak - _nbytes(result), 0)


def _cpu_peak(fn):
    from torch.profiler import ProfilerActivity, profile

    # Kineto prints two "USDT" lines per profiling session at its default log level; 6 is
    # above its highest level. It is read once, when kineto starts, and a user's own
    # setting wins.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    records = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
               if e.name() == "[memory]" and e.device_type().name == "CPU"]
    running = peak = 0
    for _, nbytes in sorted(records, key=lambda r: r[0]):  # stable: ties keep their order
        running += nbytes
        peak = max(peak, running)
    return result, peak


def _nbytes(result) -> int:
    if isinstance(result, torch.Tensor):
        return result.untyped_storage().nbytes()
    if isinstance(result, (tuple, list)):
        return sum(_nbytes(r) for r in result)
    return 0


def _methods(block_size: int) -> dict[str, Callable]:
    return {
        "naive": naive_attention,
        "memory-efficient": lambda q, k, v: memory_efficient_attention(
            q, k, v, block_size=block_size),
        "torch": torch.nn.functional.scaled_dot_product_attention,
    }


def _median_time(fn: Callable[[], Any], repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _slope(lengths, values) -> float | None:
    """Least-squares slope of log(value) against log(L): the exponent of the growth."""
    pairs = [(math.log(n), math.log(v)) for n, v in zip(lengths, values, strict=True)
             if v is not None and v > 0]
    if len(pairs) < 2:
        return None
    x, y = np.array(pairs).T
    return float(np.polyfit(x, y, 1)[0])


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    heads, dim, repeats = p["heads"], p["dim"], p["repeats"]
    gen = torch.Generator().manual_seed(ctx.seed)
    methods = _methods(p["block_size"])
    rows, seconds, mib, measured = [], {m: [] for m in METHODS}, {m: [] for m in METHODS}, []
    for step, length in enumerate(p["lengths"]):
        q, k, v = (torch.randn(1, heads, length, dim, generator=gen).to(ctx.device)
                   for _ in range(3))
        run_naive = length <= p["naive_max_length"]
        outputs = {}
        with one_cpu_thread(ctx.device):
            for name, fn in methods.items():
                if name == "naive" and not run_naive:
                    seconds[name].append(None)
                    mib[name].append(naive_peak_bytes(heads, length, q.element_size()) / 2**20)
                    continue
                call = functools.partial(fn, q, k, v)
                outputs[name], extra = peak_extra_bytes(call, ctx.device)  # also a warm-up
                seconds[name].append(_median_time(call, repeats, ctx.device))
                mib[name].append(extra / 2**20)
        measured.append(run_naive)
        diff = float((outputs["memory-efficient"] - outputs["torch"]).abs().max())
        rows.append([length, *(seconds[m][-1] for m in METHODS), *(mib[m][-1] for m in METHODS),
                     mib["memory-efficient"][-1] / mib["naive"][-1],
                     "measured" if run_naive else "analytic", diff])
        ctx.progress(step + 1, len(p["lengths"]))
    lengths = list(p["lengths"])
    metrics = {}
    for m in METHODS:
        metrics[f"time_slope[{m}]"] = _slope(lengths, seconds[m])
        metrics[f"memory_slope[{m}]"] = _slope(
            [n for n, ok in zip(lengths, measured, strict=True) if ok or m != "naive"],
            [x for x, ok in zip(mib[m], measured, strict=True) if ok or m != "naive"])
    metrics[f"memory ours / naive at L={lengths[-1]}"] = rows[-1][7]
    metrics[f"time ours / torch at L={lengths[-1]}"] = (seconds["memory-efficient"][-1]
                                                        / seconds["torch"][-1])
    metrics["max |ours - torch|"] = max(r[-1] for r in rows)
    columns = ["L", "naive time (s)", "ours time (s)", "torch time (s)",
               "naive peak extra (MiB)", "ours peak extra (MiB)", "torch peak extra (MiB)",
               "ours / naive memory", "naive memory", "max |ours - torch|"]
    return Results(
        metrics=metrics,
        tables={"scaling": Table(columns, rows)},
        data={"lengths": lengths, "seconds": seconds, "mib": mib, "naive_measured": measured,
              "heads": heads, "dim": dim, "block_size": p["block_size"],
              "device": ctx.device},
    )


STYLE = {"naive": dict(color="C3", marker="s"),
         "memory-efficient": dict(color="C0", marker="o"),
         "torch": dict(color="C2", marker="^")}


def _finish(ax, lengths, anchor):
    """Guide lines of slope 1 and 2 through ``anchor`` at the smallest length; ticks at
    the measured lengths; legend and grid."""
    from matplotlib.ticker import NullLocator

    x = np.array([lengths[0], lengths[-1]], dtype=float)
    for e, ls, text in ((1, ":", "slope 1: grows as $L$"), (2, "--", "slope 2: grows as $L^2$")):
        ax.plot(x, anchor * (x / x[0]) ** e, ls=ls, lw=1, color="0.55", label=text)
    ax.set_xticks(lengths, [f"{n:g}" for n in lengths])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.legend(fontsize=9)
    ax.grid(True, which="both", alpha=0.3)


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    lengths = np.array(d["lengths"], dtype=float)
    where = f"{d['heads']} heads of width {d['dim']}, batch 1, float32, " + (
        "one CPU thread" if d["device"] == "cpu" else d["device"])

    fig_time, ax = plt.subplots(figsize=(7, 4.8))
    for m in METHODS:
        pts = [(n, t) for n, t in zip(lengths, d["seconds"][m], strict=True) if t is not None]
        if pts:
            ax.loglog(*zip(*pts, strict=True), label=m, **STYLE[m])
    first = [t for t in (d["seconds"][m][0] for m in METHODS) if t is not None]
    ax.set(xlabel="sequence length L (queries = keys)", ylabel="time per forward call (s)",
           title="Forward time: all three do $O(L^2)$ work, so all grow as $L^2$\n"
                 f"({where})")
    _finish(ax, lengths, min(first))

    fig_mem, ax = plt.subplots(figsize=(7, 4.8))
    for m in METHODS:
        ax.loglog(lengths, d["mib"][m], label=m, **STYLE[m])
    analytic = [(n, b) for n, b, ok in zip(lengths, d["mib"]["naive"], d["naive_measured"],
                                             strict=True) if not ok]
    if analytic:
        ax.loglog(*zip(*analytic, strict=True), ls="none", marker="s", mfc="white",
                  color="C3", ms=9, label="naive (computed, not run)")
    ax.set(xlabel="sequence length L (queries = keys)", ylabel="peak extra memory (MiB)",
           title="Peak memory beyond inputs and output: naive $O(L^2)$, tiled $O(L)$\n"
                 f"(block size {d['block_size']}; {where})")
    _finish(ax, lengths, d["mib"]["memory-efficient"][0])
    return {"time": fig_time, "memory": fig_mem}


EXPERIMENT = register(Experiment(
    id="attention-memory",
    title="Attention time and memory against sequence length: naive, tiled, torch",
    entries=("memory-efficient-attention", "scaled-dot-product-attention"),
    profiles={
        "quick": {"lengths": [256, 512, 1024], "naive_max_length": 1024, "repeats": 2,
                  "heads": 8, "dim": 64, "block_size": DEFAULT_BLOCK_SIZE},
        "default": {"lengths": [256, 512, 1024, 2048, 4096], "naive_max_length": 4096,
                    "repeats": 3, "heads": 8, "dim": 64, "block_size": DEFAULT_BLOCK_SIZE},
        "full": {"lengths": [256, 512, 1024, 2048, 4096, 8192, 16384],
                 "naive_max_length": 8192, "repeats": 1, "heads": 8, "dim": 64,
                 "block_size": DEFAULT_BLOCK_SIZE},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
