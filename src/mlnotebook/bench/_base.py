"""Benchmarks: ours against the reference, in one process, interleaved, medians of repeats.

A benchmark function is registered with :func:`benchmark` in a module of
``mlnotebook.bench``. It builds its inputs and returns a :class:`BenchCase` holding two
zero-argument callables that do the same work; :func:`run_benchmark` times them in
alternating order (so drift in machine load hits both alike) and reports the ratio of
medians ours / reference: below 1 means we are faster.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlnotebook._registry import import_public_submodules


@dataclass
class BenchCase:
    """Two callables doing the same work, plus what the report should say about them.

    ``sync`` is called after each call before the clock stops (e.g. CUDA synchronise).
    ``bytes_moved``, when given, turns times into achieved bandwidth in the report.
    ``max_repeats`` caps the repeats for cases whose single call takes seconds.
    """

    ours: Callable[[], Any]
    reference: Callable[[], Any]
    sync: Callable[[], None] = lambda: None
    bytes_moved: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    max_repeats: int | None = None


@dataclass(frozen=True)
class Benchmark:
    name: str
    topic: str
    concept: str
    reference: str
    setup: Callable[..., BenchCase]


@dataclass(frozen=True)
class BenchResult:
    topic: str
    name: str
    concept: str
    reference: str
    ours_s: float
    reference_s: float
    repeats: int
    info: dict[str, Any]

    @property
    def ratio(self) -> float:
        return self.ours_s / self.reference_s

    def as_dict(self) -> dict:
        return {**self.__dict__, "ratio": self.ratio}


_BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(*, topic: str, concept: str, reference: str):
    """Register the decorated ``setup(device, quick) -> BenchCase`` function."""

    def decorate(fn):
        name = f"{topic}.{fn.__name__}"
        if name in _BENCHMARKS and _BENCHMARKS[name].setup is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _BENCHMARKS[name] = Benchmark(name, topic, concept, reference, fn)
        return fn

    return decorate


def all_benchmarks(topic: str | None = None) -> list[Benchmark]:
    """Registered benchmarks, optionally only one topic's, in name order."""
    import_public_submodules("mlnotebook.bench")
    return [b for _, b in sorted(_BENCHMARKS.items()) if topic is None or b.topic == topic]


def time_interleaved(case: BenchCase, repeats: int, warmup: int = 1) -> tuple[list, list]:
    """Per-call seconds of ours and of the reference, alternating which goes first."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")

    def once(fn) -> float:
        t0 = time.perf_counter()
        fn()
        case.sync()
        return time.perf_counter() - t0

    for _ in range(warmup):
        once(case.ours)
        once(case.reference)
    ours, ref = [], []
    for i in range(repeats):
        if i % 2 == 0:
            ours.append(once(case.ours))
            ref.append(once(case.reference))
        else:
            ref.append(once(case.reference))
            ours.append(once(case.ours))
    return ours, ref


def run_benchmark(bench: Benchmark, *, device: str = "cpu", quick: bool = False,
                  repeats: int = 15) -> BenchResult:
    """Set up and time one benchmark; medians of ``repeats`` interleaved calls each."""
    case = bench.setup(device=device, quick=quick)
    if case.max_repeats is not None:
        repeats = min(repeats, case.max_repeats)
    ours, ref = time_interleaved(case, repeats)
    info = dict(case.info)
    ours_med, ref_med = statistics.median(ours), statistics.median(ref)
    if case.bytes_moved:
        info["ours_GB_per_s"] = round(case.bytes_moved / ours_med / 1e9, 2)
        info["reference_GB_per_s"] = round(case.bytes_moved / ref_med / 1e9, 2)
    info["device"] = device
    return BenchResult(bench.topic, bench.name, bench.concept, bench.reference,
                       ours_med, ref_med, repeats, info)
