"""Attention against PyTorch's: SDPA forward, multi-head attention forward and backward.

On the CPU PyTorch runs SDPA as a fused flash-attention kernel that never stores the
(L, S) weights; ours computes them in cache-sized blocks with matrix products and an in-place
softmax, and keeps them when a backward pass (or the caller) needs them.
"""

from __future__ import annotations

import torch

from mlnotebook.attention import MultiHeadAttention, scaled_dot_product_attention
from mlnotebook.bench._base import BenchCase, benchmark


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


@benchmark(topic="attention", concept="scaled-dot-product-attention",
           reference="torch.nn.functional.scaled_dot_product_attention")
def sdpa_forward(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Forward only, no mask, float32: (batch 8, heads 8, L = S = 512, E = 64)."""
    b, h, length, e = (2, 2, 32, 16) if quick else (8, 8, 512, 64)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(b, h, length, e, generator=gen).to(device) for _ in range(3))

    def ours():
        with torch.no_grad():
            return scaled_dot_product_attention(q, k, v)

    def reference():
        with torch.no_grad():
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    return BenchCase(ours, reference, sync=_sync(device),
                     info={"shape (B, H, L, E)": [b, h, length, e], "dtype": "float32",
                           "GFLOP": round(4 * b * h * length * length * e / 1e9, 3),
                           "threads": torch.get_num_threads()})


def _mha_case(device: str, quick: bool, need_weights: bool) -> BenchCase:
    b, length, e, heads = (2, 64, 64, 4) if quick else (8, 512, 512, 8)
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(e, heads, batch_first=True, device=device)
    ours = MultiHeadAttention.from_torch(ref)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(b, length, e, generator=gen).to(device).requires_grad_()
    grad_y = torch.randn(b, length, e, generator=gen).to(device)
    ours_leaves = [x, *ours.parameters()]
    ref_leaves = [x, *ref.parameters()]

    def run_ours():
        y = ours(x, x, x, need_weights=need_weights)
        return torch.autograd.grad(y, ours_leaves, grad_y)

    def run_ref():
        y, _ = ref(x, x, x, need_weights=need_weights)
        return torch.autograd.grad(y, ref_leaves, grad_y)

    return BenchCase(run_ours, run_ref, sync=_sync(device),
                     info={"batch": b, "length": length, "embed": e, "heads": heads,
                           "dtype": "float32", "need_weights": need_weights,
                           "threads": torch.get_num_threads()})


@benchmark(topic="attention", concept="multi-head-attention",
           reference="torch.nn.MultiheadAttention(need_weights=False)")
def mha_forward_backward(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Self-attention forward + backward (inputs and weights), batch 8, L 512, E 512, 8 heads.

    With ``need_weights=False`` torch takes its fused SDPA kernel, forward and backward.
    """
    return _mha_case(device, quick, need_weights=False)


@benchmark(topic="attention", concept="multi-head-attention",
           reference="torch.nn.MultiheadAttention(need_weights=True)")
def mha_forward_backward_with_weights(device: str = "cpu", quick: bool = False) -> BenchCase:
    """The same, returning the weights: torch then forms them explicitly (and averages them)."""
    return _mha_case(device, quick, need_weights=True)
