"""Masked softmax, scoring, SDPA and multi-head attention against PyTorch: values and gradients."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import mlnotebook.attention._sdpa as sdpa_module
from mlnotebook.attention import (
    AdditiveAttention,
    DotProductAttention,
    MultiHeadAttention,
    dot_product_scores,
    lengths_to_mask,
    masked_softmax,
    scaled_dot_product_attention,
    scaled_dot_product_scores,
)
from mlnotebook.verify.attention import mha_grads_by_torch_name

# absolute tolerance; float32 also allows 1e-6 relative (gradients of size ~3 differ in ulps)
TOL = {torch.float64: 1e-12, torch.float32: 1e-6}
RTOL = {torch.float64: 0.0, torch.float32: 1e-6}
DTYPES = [torch.float64, torch.float32]


def _randn(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _leaves(*tensors):
    return [t.detach().clone().requires_grad_() for t in tensors]


def _value_and_grads(fn, inputs, seed=7):
    """``fn(*inputs)`` and the gradients of <out, G> w.r.t. every input, G fixed and random."""
    inputs = _leaves(*inputs)
    out = fn(*inputs)
    weight = _randn(*out.shape, dtype=out.dtype, seed=seed)
    return [out.detach(), *torch.autograd.grad((out * weight).sum(), inputs)]


def _assert_all_close(ours, ref, dtype):
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL[dtype], atol=TOL[dtype])


# ---------------------------------------------------------------------------------------------
# lengths_to_mask and masked_softmax


def test_lengths_to_mask_per_sequence_and_per_query():
    assert lengths_to_mask(torch.tensor([0, 2, 5]), 3).tolist() == [
        [False, False, False], [True, True, False], [True, True, True]]
    per_query = lengths_to_mask(torch.tensor([[1, 2], [3, 0]]), 3)
    assert per_query.shape == (2, 2, 3) and per_query.dtype == torch.bool
    assert per_query.tolist() == [[[True, False, False], [True, True, False]],
                                  [[True, True, True], [False, False, False]]]


@pytest.mark.parametrize(("args", "error", "match"), [
    ((torch.tensor([1.0, 2.0]), 3), TypeError, "integer dtype"),
    ((torch.ones(2, 2, 2, dtype=torch.long), 3), ValueError, r"\(B,\) or \(B, L_q\).*\(2, 2, 2\)"),
    ((torch.tensor([1, 2]), -1), ValueError, "max_len must be a non-negative int"),
    (([1, 2], 3), TypeError, "valid_lens must be a tensor"),
])
def test_lengths_to_mask_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        lengths_to_mask(*args)


def _partial_mask(shape, seed=1):
    mask = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < 0.6
    mask[..., 0] = True
    return mask


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["no mask", "all allowed", "partly masked", "broadcast mask",
                                  "dim=0"])
def test_masked_softmax_matches_torch_softmax(dtype, case):
    scores = _randn(3, 4, 6, dtype=dtype)
    partial = _partial_mask((3, 4, 6))
    dim, mask = -1, None
    if case == "all allowed":
        mask = torch.ones(6, dtype=torch.bool)
    elif case == "partly masked":
        mask = partial
    elif case == "broadcast mask":
        mask = partial[:, :1, :]                                        # (B, 1, S)
    elif case == "dim=0":
        dim, mask = 0, _partial_mask((3, 4, 6))
        mask[0] = True                                                  # along dim 0 now

    def ref(s):
        filled = s if mask is None else s.masked_fill(~mask, float("-inf"))
        return torch.softmax(filled, dim)

    _assert_all_close(_value_and_grads(lambda s: masked_softmax(s, mask, dim), [scores]),
                      _value_and_grads(ref, [scores]), dtype)


def test_fully_masked_row_gives_zeros_and_zero_gradients_where_torch_softmax_gives_nan():
    scores = _randn(2, 5).requires_grad_()
    mask = torch.tensor([[True, False, True, False, False], [False] * 5])
    weights = masked_softmax(scores, mask)
    assert weights[1].tolist() == [0.0] * 5
    assert torch.equal(weights[0] == 0, ~mask[0])                # masked keys: exactly zero
    torch.testing.assert_close(weights[0].sum(), torch.tensor(1.0, dtype=torch.float64))
    (weights * _randn(2, 5, seed=3)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert scores.grad[1].tolist() == [0.0] * 5 and (scores.grad[0][~mask[0]] == 0).all()
    assert torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)[1].isnan().all()


def test_masked_softmax_gradcheck_with_partly_and_fully_masked_rows():
    scores = _randn(3, 4, 5).requires_grad_()
    mask = _partial_mask((3, 4, 5))
    mask[1, 2] = False                                           # one fully masked row
    assert gradcheck(lambda s: masked_softmax(s, mask), (scores,))
    assert gradcheck(lambda s: masked_softmax(s, mask[:, :1], dim=-1), (scores,))


@pytest.mark.parametrize(("mask", "error", "match"), [
    (torch.ones(3, 4, 5), TypeError, "torch.bool"),
    (torch.ones(2, 5, dtype=torch.bool), ValueError, r"\(2, 5\).*\(3, 4, 5\)"),
    (torch.ones(1, 3, 4, 5, 1, dtype=torch.bool), ValueError, r"\(1, 3, 4, 5, 1\)"),
])
def test_masked_softmax_rejects_bad_masks(mask, error, match):
    with pytest.raises(error, match=match):
        masked_softmax(torch.zeros(3, 4, 5), mask)


# ---------------------------------------------------------------------------------------------
# scoring functions, DotProductAttention, AdditiveAttention


def test_dot_product_scores_by_hand_and_scaled_default():
    q, k = _randn(2, 3, 4), _randn(2, 5, 4, seed=1)
    torch.testing.assert_close(dot_product_scores(q, k), torch.einsum("bld,bsd->bls", q, k),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(scaled_dot_product_scores(q, k),
                               dot_product_scores(q, k) / 2.0, rtol=0, atol=1e-12)
    torch.testing.assert_close(scaled_dot_product_scores(q, k, scale=0.1),
                               dot_product_scores(q, k) * 0.1, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 5, 3\)"):
        dot_product_scores(q, k[..., :3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [None, 1.0])
@pytest.mark.parametrize("masked", [False, True])
def test_dot_product_attention_matches_torch_sdpa(dtype, scale, masked):
    q, k, v = _randn(2, 3, 4, dtype=dtype), _randn(2, 6, 4, dtype=dtype, seed=1), \
        _randn(2, 6, 5, dtype=dtype, seed=2)
    mask = lengths_to_mask(torch.tensor([2, 6]), 6)[:, None, :] if masked else None
    attn = DotProductAttention(scale=scale)
    ours = _value_and_grads(lambda *t: attn(*t, mask), [q, k, v])
    ref = _value_and_grads(lambda *t: F.scaled_dot_product_attention(
        *t, attn_mask=mask, scale=scale), [q, k, v])
    _assert_all_close(ours, ref, dtype)
    assert attn.attention_weights.shape == (2, 3, 6) and not attn.attention_weights.requires_grad
    if masked:
        assert (attn.attention_weights[0, :, 2:] == 0).all()


def _additive_by_hand(attn, q, k, v, mask):
    """The additive score pair by pair, in Python loops, then a softmax on -inf scores."""
    W_q, W_k, w_v = attn.W_q.weight, attn.W_k.weight, attn.w_v.weight[0]
    b = attn.W_q.bias if attn.W_q.bias is not None else torch.zeros_like(w_v)
    scores = torch.stack([
        torch.stack([
            torch.stack([w_v @ torch.tanh(W_q @ q[n, i] + b + W_k @ k[n, j])
                         for j in range(k.shape[1])])
            for i in range(q.shape[1])])
        for n in range(q.shape[0])])                                       # (B, L, S)
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
def test_additive_attention_matches_the_formula(dtype, bias):
    torch.manual_seed(0)
    attn = AdditiveAttention(query_dim=3, key_dim=5, num_hiddens=7, bias=bias).to(dtype)
    q, k, v = _randn(2, 4, 3, dtype=dtype), _randn(2, 6, 5, dtype=dtype, seed=1), \
        _randn(2, 6, 2, dtype=dtype, seed=2)
    mask = lengths_to_mask(torch.tensor([3, 6]), 6)[:, None, :]
    params = list(attn.parameters())

    def grads(fn):
        inputs = _leaves(q, k, v)
        out = fn(*inputs)
        g = torch.autograd.grad((out * _randn(*out.shape, dtype=dtype, seed=9)).sum(),
                                inputs + params)
        return [out.detach(), *g]

    _assert_all_close(grads(lambda *t: attn(*t, mask)),
                      grads(lambda *t: _additive_by_hand(attn, *t, mask)), dtype)
    assert attn.attention_weights.shape == (2, 4, 6)
    assert (attn.attention_weights[0, :, 3:] == 0).all()


def test_additive_attention_gradcheck_inputs_and_weights():
    torch.manual_seed(0)
    attn = AdditiveAttention(3, 2, 4, bias=True).double()
    q, k, v = _leaves(_randn(2, 3, 3), _randn(2, 4, 2, seed=1), _randn(2, 4, 2, seed=2))
    mask = torch.tensor([[True, True, False, False], [False] * 4])[:, None, :]
    names = [n for n, _ in attn.named_parameters()]
    weights = _leaves(*attn.parameters())

    def fn(q, k, v, *w):
        return torch.func.functional_call(attn, dict(zip(names, w, strict=True)),
                                          (q, k, v, mask))

    assert gradcheck(fn, (q, k, v, *weights))


def test_additive_score_without_bias_is_odd():
    torch.manual_seed(0)
    attn = AdditiveAttention(3, 5, 8).double()
    q, k, v = _randn(1, 2, 3), _randn(1, 4, 5, seed=1), _randn(1, 4, 1, seed=2)
    attn(q, k, v)
    plus = attn.attention_weights
    attn(-q, -k, v)
    # scores flip sign, so the weights of the mirrored inputs are softmax(-scores)
    log_ratio = (plus.log() + attn.attention_weights.log())
    torch.testing.assert_close(log_ratio - log_ratio[..., :1], torch.zeros_like(log_ratio),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: AdditiveAttention(0, 2, 3), ValueError, "query_dim must be a positive int"),
    (lambda: AdditiveAttention(2, 2, 3, dropout=1.0), ValueError, "dropout"),
    (lambda: DotProductAttention(dropout=-0.1), ValueError, "dropout"),
    (lambda: AdditiveAttention(2, 3, 4)(torch.ones(1, 2, 3), torch.ones(1, 4, 3),
                                        torch.ones(1, 4, 1)), ValueError,
     r"queries must have shape \(\.\.\., length, 2\).*\(1, 2, 3\)"),
    (lambda: DotProductAttention()(torch.ones(1, 2, 3), torch.ones(1, 4, 3),
                                   torch.ones(1, 5, 1)), ValueError, r"\(1, 4, 3\).*\(1, 5, 1\)"),
])
def test_scoring_layers_reject_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention


def _sdpa_case(name, dtype):
    """(query, key, value, our kwargs); torch gets the same with mask renamed attn_mask."""
    q, k, v = (_randn(2, 3, 5, 4, dtype=dtype), _randn(2, 3, 7, 4, dtype=dtype, seed=1),
               _randn(2, 3, 7, 6, dtype=dtype, seed=2))
    bool_mask = _partial_mask((2, 1, 5, 7))
    float_mask = _randn(5, 7, dtype=dtype, seed=3)
    float_mask[2, 4:] = float("-inf")
    return {
        "no mask": (q, k, v, {}),
        "bool mask (B, 1, L, S)": (q, k, v, {"mask": bool_mask}),
        "bool key mask (1, S)": (q, k, v, {"mask": bool_mask[0, 0, :1]}),
        "float mask with -inf": (q, k, v, {"mask": float_mask}),
        "causal L = S": (q[:, :, :5], k[:, :, :5], v[:, :, :5], {"is_causal": True}),
        "causal L < S": (q, k, v, {"is_causal": True}),
        "causal L > S": (k, q, v[:, :, :5], {"is_causal": True}),
        "scale 0.3": (q, k, v, {"scale": 0.3}),
        "one key/value head for 3 query heads": (q, k[:, :1], v[:, :1], {}),
        "keys shared across the batch": (q, k[0], v[0], {}),
        "unbatched (L, E)": (q[0, 0], k[0, 0], v[0, 0], {}),
    }[name]


SDPA_CASES = ["no mask", "bool mask (B, 1, L, S)", "bool key mask (1, S)",
              "float mask with -inf", "causal L = S", "causal L < S", "causal L > S",
              "scale 0.3", "one key/value head for 3 query heads",
              "keys shared across the batch", "unbatched (L, E)"]


@pytest.fixture(params=["one block", "many blocks"])
def blocks(request, monkeypatch):
    """Run with the default block size, and with blocks of a single (L, S) score matrix."""
    if request.param == "many blocks":
        monkeypatch.setattr(sdpa_module, "_BLOCK_ELEMENTS", 1)
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SDPA_CASES)
def test_sdpa_matches_torch_values_and_gradients(dtype, name, blocks):
    q, k, v, kwargs = _sdpa_case(name, dtype)
    mask = kwargs.pop("mask", None)
    inputs = [q, k, v] + ([mask] if mask is not None and mask.is_floating_point() else [])

    def ours(*t):
        return scaled_dot_product_attention(*t[:3], t[3] if len(t) > 3 else mask, **kwargs)

    def ref(*t):
        return F.scaled_dot_product_attention(*t[:3], attn_mask=t[3] if len(t) > 3 else mask,
                                              **kwargs)

    _assert_all_close(_value_and_grads(ours, inputs), _value_and_grads(ref, inputs), dtype)


@pytest.mark.parametrize("name", ["bool mask (B, 1, L, S)", "causal L < S", "scale 0.3"])
def test_sdpa_equals_the_readable_dot_product_attention(name, blocks):
    q, k, v, kwargs = _sdpa_case(name, torch.float64)
    mask = kwargs.pop("mask", None)
    if kwargs.pop("is_causal", False):
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    readable = DotProductAttention(scale=kwargs.get("scale"))
    _assert_all_close(
        _value_and_grads(lambda *t: scaled_dot_product_attention(*t, mask, **kwargs), [q, k, v]),
        _value_and_grads(lambda *t: readable(*t, mask), [q, k, v]), torch.float64)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_queries_give_zero_output_and_zero_gradients(kind, blocks):
    q, k, v = _leaves(_randn(2, 2, 4, 3), _randn(2, 2, 5, 3, seed=1), _randn(2, 2, 5, 2, seed=2))
    allowed = _partial_mask((2, 1, 4, 5))
    allowed[0, 0, 1] = False                                  # query 1 of batch 0 sees nothing
    allowed[1, 0, 3] = False
    mask = allowed if kind == "bool" else torch.zeros(allowed.shape, dtype=torch.float64) \
        .masked_fill(~allowed, float("-inf"))
    out = scaled_dot_product_attention(q, k, v, mask)
    assert out[0, :, 1].abs().max() == 0 and out[1, :, 3].abs().max() == 0
    (out * _randn(*out.shape, seed=5)).sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert q.grad[0, :, 1].abs().max() == 0
    # wherever PyTorch's own result is finite the two agree (PyTorch >= 2.5 gives zeros too)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    finite = torch.isfinite(ref)
    torch.testing.assert_close(out[finite], ref[finite], rtol=0, atol=1e-12)


def test_sdpa_without_autograd_equals_the_autograd_path(blocks):
    q, k, v, _ = _sdpa_case("bool mask (B, 1, L, S)", torch.float64)
    mask = _partial_mask((2, 1, 5, 7))
    with torch.no_grad():
        fast = scaled_dot_product_attention(q, k, v, mask)
    tracked = scaled_dot_product_attention(*_leaves(q, k, v), mask)
    torch.testing.assert_close(fast, tracked.detach(), rtol=0, atol=0)


def test_sdpa_weights_are_the_masked_softmax_of_the_scores():
    q, k, v = _randn(2, 3, 4), _randn(2, 6, 4, seed=1), _randn(2, 6, 2, seed=2)
    mask = _partial_mask((2, 3, 6))
    out, weights = sdpa_module.attention(q, k, v, mask, need_weights=True)
    torch.testing.assert_close(weights, masked_softmax(scaled_dot_product_scores(q, k), mask),
                               rtol=0, atol=1e-15)
    torch.testing.assert_close(out, weights @ v, rtol=0, atol=1e-15)
    assert sdpa_module.attention(q, k, v, mask)[1] is None


def test_sdpa_dropout_is_reproducible_and_equals_the_formula(blocks):
    q, k, v = _randn(2, 3, 4), _randn(2, 6, 4, seed=1), _randn(2, 6, 2, seed=2)
    p = 0.4

    def run():
        return scaled_dot_product_attention(q, k, v, dropout_p=p,
                                            generator=torch.Generator().manual_seed(3))

    torch.testing.assert_close(run(), run(), rtol=0, atol=0)
    if blocks == "one block":            # a single block draws one mask of the weights' shape
        weights = torch.softmax(scaled_dot_product_scores(q, k), -1)
        keep = torch.empty_like(weights).bernoulli_(1 - p, generator=torch.Generator()
                                                    .manual_seed(3))
        torch.testing.assert_close(run(), (weights * keep / (1 - p)) @ v, rtol=0, atol=1e-15)
    assert not torch.allclose(run(), scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("case", ["bool mask", "causal", "float mask", "dropout",
                                  "broadcast heads"])
def test_sdpa_gradcheck(case, blocks):
    q, k, v = _leaves(_randn(2, 2, 3, 3), _randn(2, 2, 4, 3, seed=1), _randn(2, 2, 4, 2, seed=2))
    if case == "bool mask":
        mask = _partial_mask((2, 1, 3, 4))
        mask[0, 0, 1] = False
        assert gradcheck(lambda *t: scaled_dot_product_attention(*t, mask), (q, k, v))
    elif case == "causal":
        assert gradcheck(lambda *t: scaled_dot_product_attention(*t, is_causal=True),
                         (q, k, v))
    elif case == "float mask":
        mask = _leaves(_randn(3, 4, seed=4))[0]
        assert gradcheck(scaled_dot_product_attention, (q, k, v, mask))
    elif case == "dropout":
        assert gradcheck(lambda *t: scaled_dot_product_attention(
            *t, dropout_p=0.3, generator=torch.Generator().manual_seed(0)), (q, k, v))
    else:
        assert gradcheck(scaled_dot_product_attention, (q, k[:, :1], v[:1]))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"mask": torch.ones(3, 4, dtype=torch.bool), "is_causal": True}, ValueError,
     "mask and is_causal"),
    ({"mask": torch.ones(3, 4, dtype=torch.long)}, TypeError, "bool .* or of the query's dtype"),
    ({"mask": torch.ones(3, 4, dtype=torch.float32)}, TypeError, "torch.float64"),
    ({"mask": torch.ones(3, 5, dtype=torch.bool)}, ValueError, r"\(3, 5\).*\(2, 3, 4\)"),
    ({"key": torch.ones(2, 4, 5, dtype=torch.float64)}, ValueError,
     r"query of shape \(2, 3, 2\) and key of shape \(2, 4, 5\)"),
    ({"value": torch.ones(2, 5, 1, dtype=torch.float64)}, ValueError,
     r"key of shape \(2, 4, 2\) and value of shape \(2, 5, 1\)"),
    ({"key": torch.ones(3, 4, 2, dtype=torch.float64)}, ValueError, "do not broadcast"),
    ({"query": torch.ones(2, dtype=torch.float64)}, ValueError, r"query must have shape"),
    ({"value": torch.ones(2, 4, 1)}, TypeError, "share one floating dtype"),
    ({"dropout_p": 1.0}, ValueError, r"dropout_p must be a number in \[0, 1\)"),
    ({"scale": float("inf")}, ValueError, "scale must be a finite number"),
])
def test_sdpa_rejects_bad_input(kwargs, error, match):
    args = {"query": torch.ones(2, 3, 2, dtype=torch.float64),
            "key": torch.ones(2, 4, 2, dtype=torch.float64),
            "value": torch.ones(2, 4, 1, dtype=torch.float64), **kwargs}
    with pytest.raises(error, match=match):
        scaled_dot_product_attention(**args)


# ---------------------------------------------------------------------------------------------
# MultiHeadAttention


def _mha_pair(dtype, bias=True, kdim=None, vdim=None):
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(8, 2, bias=bias, kdim=kdim, vdim=vdim, batch_first=True,
                                      dtype=dtype).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return MultiHeadAttention.from_torch(ref).eval(), ref


def _mha_case(name, dtype):
    """(module pair, query, key, value, our kwargs, torch's kwargs)."""
    x, memory = _randn(3, 5, 8, dtype=dtype), _randn(3, 7, 8, dtype=dtype, seed=1)
    padding = lengths_to_mask(torch.tensor([7, 4, 6]), 7)            # True = real key
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)              # torch: True = hidden
    float_mask = _randn(5, 7, dtype=dtype, seed=2)
    per_head = _partial_mask((3, 2, 5, 7))
    if name == "kdim=3, vdim=6":
        pair = _mha_pair(dtype, kdim=3, vdim=6)
        return (*pair, x, _randn(3, 7, 3, dtype=dtype, seed=3),
                _randn(3, 7, 6, dtype=dtype, seed=4), {}, {})
    pair = _mha_pair(dtype, bias=name != "no bias")
    return {
        "self-attention": (*pair, x, x, x, {}, {}),
        "causal self-attention": (*pair, x, x, x, {"is_causal": True},
                                  {"attn_mask": causal, "is_causal": True}),
        "cross-attention with key padding": (
            *pair, x, memory, memory, {"mask": padding[:, None, None, :]},
            {"key_padding_mask": ~padding}),
        "float attn_mask": (*pair, x, memory, memory, {"mask": float_mask},
                            {"attn_mask": float_mask}),
        "per-head mask and key padding": (
            *pair, x, memory, memory, {"mask": per_head & padding[:, None, None, :]},
            {"attn_mask": ~per_head.reshape(6, 5, 7), "key_padding_mask": ~padding}),
        "no bias": (*pair, x, x, x, {}, {}),
    }[name]


MHA_CASES = ["self-attention", "causal self-attention", "cross-attention with key padding",
             "float attn_mask", "per-head mask and key padding", "kdim=3, vdim=6", "no bias"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", MHA_CASES)
def test_mha_matches_torch_outputs_and_every_gradient(dtype, name):
    ours, ref, query, key, value, our_kwargs, ref_kwargs = _mha_case(name, dtype)
    distinct = {id(t): t for t in (query, key, value)}
    leaves = dict(zip(distinct, _leaves(*distinct.values()), strict=True))
    q, k, v = (leaves[id(t)] for t in (query, key, value))
    weight = _randn(3, 5, 8, dtype=dtype, seed=9)
    results = []
    for module, call in ((ours, lambda: ours(q, k, v, **our_kwargs)),
                         (ref, lambda: ref(q, k, v, **ref_kwargs)[0])):
        module.zero_grad()
        out = call()
        grads = torch.autograd.grad((out * weight).sum(), list(leaves.values()),
                                    retain_graph=True)
        (out * weight).sum().backward()
        results.append([out.detach(), *grads])
    _assert_all_close(results[0], results[1], dtype)
    params = mha_grads_by_torch_name(ours, ref)
    assert len(params) == len(list(ref.parameters()))
    _assert_all_close([a for a, _ in params], [b for _, b in params], dtype)


def test_mha_per_head_weights_match_torch():
    ours, ref, x, memory, _, our_kwargs, ref_kwargs = _mha_case(
        "cross-attention with key padding", torch.float64)
    ours(x, memory, memory, **our_kwargs)
    _, per_head = ref(x, memory, memory, **ref_kwargs, average_attn_weights=False)
    _, averaged = ref(x, memory, memory, **ref_kwargs)
    torch.testing.assert_close(ours.attention_weights, per_head, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.attention_weights.mean(1), averaged, rtol=0, atol=1e-12)
    ours(x, memory, memory, need_weights=False)
    assert ours.attention_weights is None


def test_causal_self_attention_never_looks_ahead():
    torch.manual_seed(0)
    mha = MultiHeadAttention(embed_dim=8, num_heads=2).double()
    x = _leaves(_randn(2, 6, 8))[0]
    y = mha(x, x, x, is_causal=True)
    y[:, 2].sum().backward()                          # output at position 2 ...
    assert x.grad[:, 3:].abs().max() == 0             # ... depends on no later input
    assert x.grad[:, :3].abs().min() > 0
    assert (mha.attention_weights.triu(1) == 0).all()
    torch.testing.assert_close(mha.attention_weights.sum(-1),
                               torch.ones(2, 2, 6, dtype=torch.float64), rtol=0, atol=1e-12)


def test_mha_gradcheck_inputs_and_weights():
    torch.manual_seed(0)
    mha = MultiHeadAttention(4, 2, kdim=3, vdim=2).double()
    x, m = _leaves(_randn(2, 3, 4), _randn(2, 5, 3, seed=1))
    mem_v = _leaves(_randn(2, 5, 2, seed=2))[0]
    names = [n for n, _ in mha.named_parameters()]
    mask = lengths_to_mask(torch.tensor([5, 2]), 5)[:, None, None, :]

    def fn(x, m, v, *w):
        return torch.func.functional_call(mha, dict(zip(names, w, strict=True)),
                                          (x, m, v), {"mask": mask})

    assert gradcheck(fn, (x, m, mem_v, *_leaves(*mha.parameters())))


def test_mha_dropout_only_in_training_mode():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, dropout=0.5).double()
    x = _randn(2, 4, 8)
    mha.eval()
    evaluated = mha(x, x, x)
    torch.testing.assert_close(mha(x, x, x), evaluated, rtol=0, atol=0)
    mha.train()
    assert not torch.allclose(mha(x, x, x), evaluated)


def test_mha_initialisation_follows_torch():
    mha = MultiHeadAttention(64, 4)
    bound = math.sqrt(6 / (4 * 64))
    for proj in (mha.q_proj, mha.k_proj, mha.v_proj):
        assert proj.weight.abs().max() <= bound and proj.weight.abs().max() > 0.9 * bound
        assert (proj.bias == 0).all()
    assert (mha.out_proj.bias == 0).all()


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: MultiHeadAttention(10, 3), ValueError, "embed_dim=10 must be divisible by"),
    (lambda: MultiHeadAttention(8, 0), ValueError, "num_heads must be a positive int"),
    (lambda: MultiHeadAttention(8, 2, dropout=1.5), ValueError, "dropout"),
    (lambda: MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2)), ValueError,
     "batch_first must be True"),
    (lambda: MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(
        8, 2, batch_first=True, add_bias_kv=True)), ValueError, "bias_k/bias_v"),
    (lambda: MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(
        8, 2, batch_first=True, add_zero_attn=True)), ValueError, "add_zero_attn"),
    (lambda: MultiHeadAttention.from_torch(torch.nn.Linear(2, 2)), TypeError,
     "MultiheadAttention"),
    (lambda: MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), torch.ones(2, 4, 6),
                                      torch.ones(2, 4, 8)), ValueError,
     r"key must have shape \(batch, length, 8\).*\(2, 4, 6\)"),
    (lambda: MultiHeadAttention(8, 2)(torch.ones(5, 8), torch.ones(5, 8), torch.ones(5, 8)),
     ValueError, r"query must have shape \(batch, length, 8\)"),
    (lambda: MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), torch.ones(3, 4, 8),
                                      torch.ones(3, 4, 8)), ValueError, "same batch size"),
    (lambda: MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), torch.ones(2, 5, 8),
                                      torch.ones(2, 5, 8), mask=torch.ones(5, 4, dtype=bool)),
     ValueError, r"mask of shape \(5, 4\).*\(2, 2, 5, 5\)"),
])
def test_mha_rejects_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------------------------------------
# the attention-scoring experiment


def test_attention_scoring_experiment_learns_and_masks_padding():
    from mlnotebook.experiments import get_experiment
    from mlnotebook.experiments._base import RunContext

    exp = get_experiment("attention-scoring")
    params = {**exp.profiles["quick"], "steps": 60, "test_size": 200}
    results = exp.compute(RunContext(params=params, seed=0))
    rows = {row[0]: row for row in results.tables["retrieval"].rows}
    assert rows["additive + bias in tanh"][3] > 0.9
    assert rows["dot product (W q) . k"][3] > 0.7
    assert abs(rows["additive (d2l, no bias)"][3] - results.metrics["chance"]) < 0.1
    assert all(row[5] == 0.0 for row in rows.values())            # padding weights are zero
    assert set(exp.plot(results)) == {"attention_weights", "accuracy"}
