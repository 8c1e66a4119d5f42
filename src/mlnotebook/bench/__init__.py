"""`mlnb bench`: our implementations timed against the production libraries."""

from mlnotebook.bench._base import (
    BenchCase,
    Benchmark,
    BenchResult,
    all_benchmarks,
    benchmark,
    run_benchmark,
    time_interleaved,
)

__all__ = [
    "BenchCase",
    "BenchResult",
    "Benchmark",
    "all_benchmarks",
    "benchmark",
    "run_benchmark",
    "time_interleaved",
]
