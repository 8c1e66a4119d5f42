"""Memory-efficient attention's forward pass against torch's fused scaled_dot_product_attention.

Self-attention, batch 1, 8 heads of width 64, float32. Besides the time ratio each row
reports the peak extra memory (beyond inputs and output) of ours, of torch's kernel and of
the naive path that materialises the scores: measured where the naive path fits in memory
(L = 4096: 1 GiB), computed from its two (8, L, L) float matrices where it does not
(L = 16384: 16 GiB). Targets: ours at most 10% of the naive memory and at most twice
torch's time.
"""

from __future__ import annotations

import torch

from mlnotebook.attention import memory_efficient_attention
from mlnotebook.attention._memory_efficient import DEFAULT_BLOCK_SIZE
from mlnotebook.bench._base import BenchCase, benchmark
from mlnotebook.experiments.attention_memory import (
    naive_attention,
    naive_peak_bytes,
    peak_extra_bytes,
)

HEADS, DIM = 8, 64
NAIVE_MAX_LENGTH = 4096  # above this the naive path's memory is computed, not measured


def _case(length: int, device: str, quick: bool) -> BenchCase:
    length = 256 if quick else length
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, HEADS, length, DIM, generator=gen).to(device) for _ in range(3))

    def ours():
        return memory_efficient_attention(q, k, v)

    def reference():
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    mib = 2.0**20
    _, ours_bytes = peak_extra_bytes(ours, device)
    _, torch_bytes = peak_extra_bytes(reference, device)
    if length <= NAIVE_MAX_LENGTH:
        _, naive_bytes = peak_extra_bytes(lambda: naive_attention(q, k, v), device)
        how = "measured"
    else:
        naive_bytes = naive_peak_bytes(HEADS, length, q.element_size())
        how = "analytic: 2 x heads x L^2 x 4 bytes (scores and weights)"
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    # one call at L = 16384 takes seconds: a few interleaved repeats are enough
    max_repeats = 3 if length > NAIVE_MAX_LENGTH else 7
    return BenchCase(ours, reference, sync=sync, max_repeats=max_repeats, info={
        "L": length, "heads": HEADS, "head_dim": DIM, "dtype": "float32",
        "block_size": DEFAULT_BLOCK_SIZE, "threads": torch.get_num_threads(),
        "ours_peak_extra_MiB": round(ours_bytes / mib, 2),
        "torch_peak_extra_MiB": round(torch_bytes / mib, 2),
        "naive_peak_extra_MiB": round(naive_bytes / mib, 2),
        "naive_memory": how,
        "ours_over_naive_memory": round(ours_bytes / naive_bytes, 5),
    })


@benchmark(topic="attention", concept="memory-efficient-attention",
           reference="torch.nn.functional.scaled_dot_product_attention")
def mem_forward_4096(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Self-attention forward at L = 4096 (quick: 256), 8 heads of width 64."""
    return _case(4096, device, quick)


@benchmark(topic="attention", concept="memory-efficient-attention",
           reference="torch.nn.functional.scaled_dot_product_attention")
def mem_forward_16384(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Self-attention forward at L = 16384 (quick: 256), 8 heads of width 64."""
    return _case(16384, device, quick)
