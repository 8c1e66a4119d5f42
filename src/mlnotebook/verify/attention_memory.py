"""Memory-efficient attention against torch.nn.functional.scaled_dot_product_attention.

Values and gradients on the same inputs, over tile sizes that do and do not divide the
lengths, cross-attention (L != S), causal attention, boolean masks with fully masked rows,
broadcast batch and head dimensions, and a value width different from the key width.
torch 2.13 gives fully masked rows zeros, like mlnotebook, so every row is compared.
Gradients are those of sum(out * w), w a fixed ramp from -0.25 to 0.25 (gradients of
order 1, so the float32 tolerance is about ten units in the last place).
"""

from __future__ import annotations

import torch

from mlnotebook.attention import memory_efficient_attention
from mlnotebook.verify._base import check

# name: (query shape, key shape, value shape, options, block_size)
CASES = {
    "self, tiles divide L": ((2, 3, 32, 8), (2, 3, 32, 8), (2, 3, 32, 8), {}, 8),
    "self, tiles do not divide L": ((2, 3, 37, 8), (2, 3, 37, 8), (2, 3, 37, 8), {}, 8),
    "cross L < S, Ev != E": ((2, 2, 13, 6), (2, 2, 29, 6), (2, 2, 29, 11), {}, 5),
    "cross L > S": ((2, 2, 29, 6), (2, 2, 13, 6), (2, 2, 13, 6), {}, 4),
    "causal L = S": ((2, 3, 33, 8), (2, 3, 33, 8), (2, 3, 33, 8), {"is_causal": True}, 8),
    "causal L < S": ((2, 10, 8), (2, 23, 8), (2, 23, 8), {"is_causal": True}, 4),
    "causal L > S": ((2, 23, 8), (2, 10, 8), (2, 10, 8), {"is_causal": True}, 4),
    "bool mask, fully masked rows": ((2, 3, 19, 8), (2, 3, 21, 8), (2, 3, 21, 8),
                                     {"mask": (2, 1, 19, 21)}, 6),
    "key padding mask (B, 1, 1, S)": ((2, 3, 19, 8), (2, 3, 21, 8), (2, 3, 21, 8),
                                      {"mask": (2, 1, 1, 21)}, 6),
    "broadcast batch and heads": ((3, 1, 17, 8), (1, 4, 20, 8), (3, 4, 20, 5), {}, 7),
    "one tile, scale given": ((2, 9, 8), (2, 11, 8), (2, 11, 8), {"scale": 0.3}, 64),
}


def make_inputs(case: str | tuple, dtype: torch.dtype, seed: int = 0):
    """(query, key, value, kwargs) for ``case`` (a name in CASES or such a tuple), seeded.

    Masks drop about 40% of the keys, and a mask with batch and query dimensions hides
    every key from the first query of the first batch element.
    """
    q_shape, k_shape, v_shape, options, block = CASES[case] if isinstance(case, str) else case
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(shape, generator=gen, dtype=dtype)
               for shape in (q_shape, k_shape, v_shape))
    kwargs = dict(options, block_size=block)
    if "mask" in options:
        mask = torch.rand(options["mask"], generator=gen) > 0.4
        if mask.dim() > 2 and mask.shape[-2] > 1:
            mask[0, ..., 0, :] = False
        kwargs["mask"] = mask
    return q, k, v, kwargs


def torch_attention(q, k, v, mask=None, is_causal=False, scale=None, block_size=None):
    """torch's scaled_dot_product_attention under our argument names (block_size unused)."""
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                            is_causal=is_causal, scale=scale)


def _diffs(dtype: torch.dtype, gradients: bool) -> dict[str, float]:
    found = {}
    for case in CASES:
        q, k, v, kwargs = make_inputs(case, dtype)
        results = []
        for fn in (memory_efficient_attention, torch_attention):
            inputs = [x.clone().requires_grad_(gradients) for x in (q, k, v)]
            out = fn(*inputs, **kwargs)
            if gradients:
                ramp = torch.linspace(-0.25, 0.25, out.numel(), dtype=dtype)
                results.append(torch.autograd.grad(out, inputs, ramp.reshape(out.shape)))
            else:
                results.append((out,))
        found[case] = max(float((a - b).abs().max()) for a, b in zip(*results, strict=True))
    return found


@check(topic="attention", concept="memory-efficient-attention",
       reference="torch.nn.functional.scaled_dot_product_attention", tolerance=1e-12)
def mem_forward_float64():
    """Output, float64, every case."""
    return _diffs(torch.float64, gradients=False)


@check(topic="attention", concept="memory-efficient-attention",
       reference="torch.nn.functional.scaled_dot_product_attention", tolerance=1e-6)
def mem_forward_float32():
    """Output, float32, every case."""
    return _diffs(torch.float32, gradients=False)


@check(topic="attention", concept="memory-efficient-attention",
       reference="torch.nn.functional.scaled_dot_product_attention (autograd)",
       tolerance=1e-12)
def mem_gradients_float64():
    """Gradients for query, key and value (largest of the three), float64, every case."""
    return _diffs(torch.float64, gradients=True)


@check(topic="attention", concept="memory-efficient-attention",
       reference="torch.nn.functional.scaled_dot_product_attention (autograd)",
       tolerance=1e-6)
def mem_gradients_float32():
    """Gradients for query, key and value (largest of the three), float32, every case."""
    return _diffs(torch.float32, gradients=True)
