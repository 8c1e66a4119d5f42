"""Attention against PyTorch: masked softmax, SDPA, dot-product attention, multi-head attention.

Every check runs in float64 and compares values and gradients (with respect to the inputs,
and for multi-head attention every weight) on the same random inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlnotebook.attention import (
    DotProductAttention,
    MultiHeadAttention,
    masked_softmax,
    scaled_dot_product_attention,
)
from mlnotebook.verify._base import check

DTYPE = torch.float64


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DTYPE)


def _max_diff(ours, ref) -> float:
    """Max |ours - ref| over matching tensors (None pairs, e.g. unused gradients, skipped)."""
    diffs = [float((a - b).abs().max()) for a, b in zip(ours, ref, strict=True)
             if a is not None and a.numel()]
    return max(diffs, default=0.0)


def _values_and_grads(fn, inputs: list[torch.Tensor], seed: int = 1) -> list[torch.Tensor]:
    """``fn(*inputs)`` and the gradients of <out, G> for a fixed random G."""
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = fn(*inputs)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    wrt = [t for t in inputs if t.requires_grad]
    grads = torch.autograd.grad((out * weight).sum(), wrt)
    return [out.detach(), *grads]


@check(topic="attention", concept="masked-softmax", reference="torch.softmax",
       tolerance=1e-12)
def masked_softmax_matches_torch_softmax():
    """Unmasked rows against torch.softmax; partly masked rows against softmax on -inf scores.

    Rows with no allowed key are left out: torch.softmax gives NaN there, we give zeros.
    """
    gen = torch.Generator().manual_seed(0)
    scores = _randn(gen, 4, 6, 9)
    partial = torch.rand(4, 6, 9, generator=gen) < 0.6
    partial[..., 0] = True                                       # every row keeps one key

    def ref_masked(s, mask=partial, dim=-1):
        return torch.softmax(s.masked_fill(~mask, float("-inf")), dim)

    cases = {  # name: (ours, reference, scores)
        "no mask": (lambda s: masked_softmax(s), lambda s: torch.softmax(s, -1), scores),
        "all allowed": (lambda s: masked_softmax(s, torch.ones(9, dtype=torch.bool)),
                        lambda s: torch.softmax(s, -1), scores),
        "partly masked": (lambda s: masked_softmax(s, partial), ref_masked, scores),
        "partly masked, dim=1": (lambda s: masked_softmax(s, partial.transpose(1, 2), dim=1),
                                 lambda s: ref_masked(s, partial.transpose(1, 2), 1),
                                 scores.transpose(1, 2)),
    }
    return {name: _max_diff(_values_and_grads(ours, [s]), _values_and_grads(ref, [s]))
            for name, (ours, ref, s) in cases.items()}


def _sdpa_cases(gen: torch.Generator) -> dict[str, tuple]:
    """name: (query, key, value, keyword arguments), every shape convention torch accepts."""
    q, k, v = _randn(gen, 2, 3, 5, 4), _randn(gen, 2, 3, 7, 4), _randn(gen, 2, 3, 7, 6)
    q_self, k_self = _randn(gen, 2, 3, 7, 4), _randn(gen, 2, 3, 7, 4)
    bool_mask = torch.rand(2, 1, 5, 7, generator=gen) < 0.7
    bool_mask[..., 0] = True
    float_mask = _randn(gen, 5, 7)
    float_mask[1, 3:] = float("-inf")
    return {
        "no mask": (q, k, v, {}),
        "bool mask (B, 1, L, S)": (q, k, v, {"mask": bool_mask}),
        "float mask (L, S) with -inf": (q, k, v, {"mask": float_mask}),
        "causal L = S": (q_self, k_self, v, {"is_causal": True}),
        "causal cross L < S": (q, k, v, {"is_causal": True}),
        "cross L != S, scale 0.3": (q, k, v, {"scale": 0.3}),
        "broadcast heads (one k/v head)": (q, k[:, :1], v[:, :1], {}),
        "unbatched (L, E)": (q[0, 0], k[0, 0], v[0, 0], {}),
        # 600 x 900 scores per head exceed one block: the blocked loop runs head by head
        "6 blocks, causal (2, 3, 600, 900)": (_randn(gen, 2, 3, 600, 4),
                                              _randn(gen, 2, 3, 900, 4),
                                              _randn(gen, 2, 3, 900, 3), {"is_causal": True}),
    }


@check(topic="attention", concept="scaled-dot-product-attention",
       reference="torch.nn.functional.scaled_dot_product_attention", tolerance=1e-12)
def sdpa_matches_torch():
    """Values and gradients (query, key, value, and a float mask) over the mask conventions."""
    gen = torch.Generator().manual_seed(0)
    found = {}
    for name, (q, k, v, kwargs) in _sdpa_cases(gen).items():
        mask = kwargs.get("mask")
        inputs = [q, k, v] + ([mask] if mask is not None else [])
        rest = {key: val for key, val in kwargs.items() if key != "mask"}

        def ours(*t, rest=rest):
            return scaled_dot_product_attention(*t[:3], *t[3:], **rest)

        def ref(*t, rest=rest):
            return F.scaled_dot_product_attention(*t[:3], attn_mask=t[3] if t[3:] else None,
                                                  **rest)

        found[name] = _max_diff(_values_and_grads(ours, inputs),
                                _values_and_grads(ref, inputs))
    return found


@check(topic="attention", concept="dot-product-attention",
       reference="torch.nn.functional.scaled_dot_product_attention", tolerance=1e-12)
def dot_product_attention_matches_torch_sdpa():
    """DotProductAttention, plain (scale 1) and scaled, bool masks, values and gradients."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = _randn(gen, 3, 5, 4), _randn(gen, 3, 8, 4), _randn(gen, 3, 8, 2)
    valid = torch.tensor([3, 8, 5])
    mask = (torch.arange(8) < valid[:, None])[:, None, :]      # (B, 1, S) key padding
    found = {}
    for scale in (1.0, None):
        for masked in (False, True):
            m = mask if masked else None
            attn = DotProductAttention(scale=scale)
            ours = _values_and_grads(lambda *t, m=m, attn=attn: attn(*t, m), [q, k, v])
            ref = _values_and_grads(lambda *t, m=m, s=scale: F.scaled_dot_product_attention(
                *t, attn_mask=m, scale=s), [q, k, v])
            name = "plain (scale=1)" if scale else "scaled"
            found[name + (", padding mask" if masked else "")] = _max_diff(ours, ref)
    return found


def _mha_pair(kdim=None, vdim=None, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(8, 2, bias=bias, kdim=kdim, vdim=vdim, batch_first=True,
                                      dtype=DTYPE).eval()
    with torch.no_grad():                                       # non-zero biases
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return MultiHeadAttention.from_torch(ref).eval(), ref


def mha_grads_by_torch_name(ours: MultiHeadAttention, ref: torch.nn.MultiheadAttention,
                            ) -> list[tuple[torch.Tensor | None, torch.Tensor | None]]:
    """(our gradient, torch's gradient) for every torch parameter, packed the torch way."""
    def cat(*params):
        if params[0] is None or params[0].grad is None:
            return None
        return torch.cat([p.grad for p in params])

    pairs = []
    if ref.in_proj_weight is not None:
        pairs.append((cat(ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight),
                      ref.in_proj_weight.grad))
    else:
        pairs += [(ours.q_proj.weight.grad, ref.q_proj_weight.grad),
                  (ours.k_proj.weight.grad, ref.k_proj_weight.grad),
                  (ours.v_proj.weight.grad, ref.v_proj_weight.grad)]
    if ref.in_proj_bias is not None:
        pairs.append((cat(ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias),
                      ref.in_proj_bias.grad))
        pairs.append((ours.out_proj.bias.grad, ref.out_proj.bias.grad))
    pairs.append((ours.out_proj.weight.grad, ref.out_proj.weight.grad))
    return pairs


def mha_difference(ours, ref, query, key, value, our_kwargs, ref_kwargs) -> float:
    """Max difference of outputs and of gradients w.r.t. inputs and every weight."""
    inputs = {id(t): t.detach().clone().requires_grad_() for t in (query, key, value)}
    q, k, v = (inputs[id(t)] for t in (query, key, value))
    leaves = list(inputs.values())
    gen = torch.Generator().manual_seed(1)
    outs, grads = [], []
    for module, call in ((ours, lambda: ours(q, k, v, **our_kwargs)),
                         (ref, lambda: ref(q, k, v, **ref_kwargs)[0])):
        module.zero_grad()
        out = call()
        if not outs:
            weight = torch.randn(out.shape, generator=gen, dtype=out.dtype)
        grads.append(torch.autograd.grad((out * weight).sum(), leaves, retain_graph=True))
        (out * weight).sum().backward()
        outs.append(out.detach())
    params = mha_grads_by_torch_name(ours, ref)
    return max(_max_diff([outs[0]], [outs[1]]), _max_diff(grads[0], grads[1]),
               _max_diff([a for a, _ in params], [b for _, b in params]))


@check(topic="attention", concept="multi-head-attention",
       reference="torch.nn.MultiheadAttention", tolerance=1e-12)
def multihead_attention_matches_torch():
    """Self, causal, cross, kdim/vdim and key-padding cases; outputs and all gradients."""
    gen = torch.Generator().manual_seed(0)
    x, memory = _randn(gen, 3, 5, 8), _randn(gen, 3, 7, 8)
    padding = torch.tensor([[False] * 7, [False] * 4 + [True] * 3, [False] * 6 + [True]])
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)           # torch: True = NOT allowed
    found = {}
    ours, ref = _mha_pair()
    found["self-attention"] = mha_difference(ours, ref, x, x, x, {}, {})
    found["causal self-attention"] = mha_difference(
        ours, ref, x, x, x, {"is_causal": True}, {"attn_mask": causal, "is_causal": True})
    found["cross-attention L != S, key padding"] = mha_difference(
        ours, ref, x, memory, memory, {"mask": ~padding[:, None, None, :]},
        {"key_padding_mask": padding})
    ours, ref = _mha_pair(kdim=3, vdim=6)
    found["kdim=3, vdim=6"] = mha_difference(
        ours, ref, x, _randn(gen, 3, 7, 3), _randn(gen, 3, 7, 6), {}, {})
    ours, ref = _mha_pair(bias=False)
    found["no bias"] = mha_difference(ours, ref, x, x, x, {}, {})
    return found
