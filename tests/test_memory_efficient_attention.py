"""memory_efficient_attention against torch and the naive formula: values, gradients, errors,
and the memory it holds."""

import math

import pytest
import torch

from mlnotebook.attention import memory_efficient_attention
from mlnotebook.bench.attention_memory import mem_forward_4096
from mlnotebook.experiments import get_experiment
from mlnotebook.experiments._base import RunContext
from mlnotebook.experiments.attention_memory import (
    naive_attention,
    naive_peak_bytes,
    peak_extra_bytes,
)
from mlnotebook.verify import all_checks
from mlnotebook.verify._base import run_check
from mlnotebook.verify.attention_memory import CASES, make_inputs, torch_attention

TOL = {torch.float64: 1e-12, torch.float32: 1e-6}

# Beyond the verify table: extreme tile sizes, masks of two dimensions, no batch dimensions.
EXTRA = {
    "block 1": ((2, 2, 9, 4), (2, 2, 11, 4), (2, 2, 11, 4), {}, 1),
    "block larger than L and S": ((2, 2, 9, 4), (2, 2, 11, 4), (2, 2, 11, 4), {}, 1000),
    "2-D mask (L, S)": ((2, 2, 13, 4), (2, 2, 17, 4), (2, 2, 17, 6), {"mask": (13, 17)}, 4),
    "key padding mask (1, S)": ((2, 2, 13, 4), (2, 2, 17, 4), (2, 2, 17, 4),
                                {"mask": (1, 17)}, 4),
    "no batch dims": ((13, 4), (17, 4), (17, 5), {"is_causal": True}, 4),
}
ALL = {**CASES, **EXTRA}


def _inputs(name, dtype):
    return make_inputs(ALL[name], dtype, seed=1)


def naive(q, k, v, mask=None, is_causal=False, scale=None, block_size=None):
    """The formula with the full score matrix; rows with no allowed key give 0."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.transpose(-2, -1)) * scale                                   # (..., L, S)
    allowed = torch.ones(s.shape[-2:], dtype=torch.bool).tril() if is_causal else mask
    if allowed is None:
        return s.softmax(-1) @ v
    empty = ~allowed.any(-1, keepdim=True)
    s = s.masked_fill(~allowed, -math.inf).masked_fill(empty, 0.0)
    return s.softmax(-1).masked_fill(empty, 0.0) @ v


def _grads(fn, q, k, v, kwargs):
    inputs = [x.clone().requires_grad_() for x in (q, k, v)]
    out = fn(*inputs, **kwargs)
    ramp = torch.linspace(-0.25, 0.25, out.numel(), dtype=out.dtype).reshape(out.shape)
    return out.detach(), torch.autograd.grad(out, inputs, ramp)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(ALL))
def test_values_and_gradients_match_torch_and_naive(name, dtype):
    q, k, v, kwargs = _inputs(name, dtype)
    out, grads = _grads(memory_efficient_attention, q, k, v, kwargs)
    for reference in (torch_attention, naive):
        ref_out, ref_grads = _grads(reference, q, k, v, kwargs)
        torch.testing.assert_close(out, ref_out, rtol=0, atol=TOL[dtype])
        for g, r in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g, r, rtol=0, atol=TOL[dtype])
    assert out.dtype == dtype and grads[2].shape == v.shape


def test_fully_masked_rows_give_exact_zeros_and_zero_gradients():
    q, k, v, kwargs = _inputs("bool mask, fully masked rows", torch.float64)
    empty = ~kwargs["mask"].any(-1)                                          # (2, 1, L)
    assert empty.any()
    out, (dq, _, _) = _grads(memory_efficient_attention, q, k, v, kwargs)
    rows = empty.expand(out.shape[:-1])
    assert torch.all(out[rows] == 0) and torch.all(dq[rows] == 0)
    assert torch.all(out[~rows].abs().sum(-1) > 0)


@pytest.mark.parametrize("name", ["causal L < S", "cross L > S", "bool mask, fully masked rows",
                                  "broadcast batch and heads", "no batch dims"])
def test_gradcheck(name):
    q_shape, k_shape, v_shape, options, _ = ALL[name]
    small = tuple((*s[:-2], min(s[-2], 6), min(s[-1], 3)) for s in (q_shape, k_shape, v_shape))
    if "mask" in options:
        options = dict(options, mask=(*options["mask"][:-2], small[0][-2], small[1][-2]))
    q, k, v, kwargs = make_inputs((*small, options, 4), torch.float64)
    if "mask" in kwargs:
        kwargs["mask"][..., 1, :] = False                                   # an empty row
    inputs = tuple(x.requires_grad_() for x in (q, k, v))
    assert torch.autograd.gradcheck(
        lambda *qkv: memory_efficient_attention(*qkv, **kwargs), inputs)


def test_block_size_does_not_change_the_result():
    q, k, v, kwargs = _inputs("causal L = S", torch.float64)
    outs = [memory_efficient_attention(q, k, v, is_causal=True, block_size=b)
            for b in (1, 3, 8, 33, 100)]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=0, atol=1e-13)


def test_only_requested_gradients_and_no_grad_mode():
    q, k, v, _ = _inputs("cross L < S, Ev != E", torch.float64)
    q.requires_grad_()
    out = memory_efficient_attention(q, k, v, block_size=4)
    (dq,) = torch.autograd.grad(out.sum(), q)
    ref_q = q.detach().clone().requires_grad_()
    (ref,) = torch.autograd.grad(torch_attention(ref_q, k, v).sum(), ref_q)
    torch.testing.assert_close(dq, ref, rtol=0, atol=1e-12)
    with torch.no_grad():
        assert memory_efficient_attention(q, k, v).grad_fn is None


def test_half_precision_is_accumulated_in_float32():
    q, k, v, kwargs = _inputs("causal L = S", torch.float64)
    out = memory_efficient_attention(q.half(), k.half(), v.half(), **kwargs)
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.double(), torch_attention(q, k, v, **kwargs), rtol=0,
                               atol=5e-3)


def test_saves_only_inputs_output_and_log_sum_exp_for_backward():
    L = S = 64
    q, k, v = (torch.randn(2, 3, n, 8, dtype=torch.float64, requires_grad=True)
               for n in (L, S, S))
    sizes = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t,
                                                  lambda t: t):
        out = memory_efficient_attention(q, k, v, block_size=16)
    assert sorted(sizes) == sorted([q.numel(), k.numel(), v.numel(), out.numel(), 2 * 3 * L])
    assert max(sizes) < L * S


BAD = [
    (dict(block_size=0), ValueError, r"block_size must be > 0, got 0"),
    (dict(block_size=-3), ValueError, r"block_size must be > 0, got -3"),
    (dict(block_size=2.0), TypeError, r"block_size must be an int, got float"),
    (dict(block_size=True), TypeError, r"block_size must be an int, got bool"),
    (dict(key=torch.randn(2, 7, 5)), ValueError,
     r"same last dimension E, got query shape \(2, 5, 4\), key shape \(2, 7, 5\)"),
    (dict(value=torch.randn(2, 6, 3)), ValueError,
     r"same length S \(dimension -2\), got .*key shape \(2, 7, 4\), value shape \(2, 6, 3\)"),
    (dict(query=torch.randn(3, 5, 4)), ValueError,
     r"do not broadcast: query shape \(3, 5, 4\), key shape \(2, 7, 4\)"),
    (dict(query=torch.randn(4)), ValueError, r"query must have shape \(\.\.\., length, "
                                             r"features\), got shape \(4,\)"),
    (dict(key=torch.ones(2, 7, 4, dtype=torch.long)), TypeError,
     r"key must be a floating point tensor, got dtype torch.int64"),
    (dict(value=torch.randn(2, 7, 3, dtype=torch.float64)), TypeError,
     r"one dtype, got torch.float32, torch.float32 and torch.float64"),
    (dict(query=[[1.0]]), TypeError, r"query must be a torch.Tensor, got list"),
    (dict(mask=torch.ones(5, 7)), TypeError,
     r"mask must be a bool tensor \(True = attend\), got dtype torch.float32"),
    (dict(mask=torch.ones(5, 6, dtype=torch.bool)), ValueError,
     r"mask of shape \(5, 6\) does not broadcast to \(\.\.\., L, S\) = \(2, 5, 7\)"),
    (dict(mask=torch.ones(3, 5, 7, dtype=torch.bool)), ValueError,
     r"mask of shape \(3, 5, 7\) does not broadcast to \(\.\.\., L, S\) = \(2, 5, 7\)"),
    (dict(mask=torch.ones(5, 7, dtype=torch.bool), is_causal=True), ValueError,
     r"either mask or is_causal=True, not both"),
    (dict(mask=torch.ones(7, dtype=torch.bool)), ValueError,
     r"mask of shape \(7,\) does not broadcast to \(\.\.\., L, S\) = \(2, 5, 7\)"),
    (dict(mask=[[True]]), TypeError, r"mask must be a bool torch.Tensor or None, got list"),
    (dict(is_causal=1), TypeError, r"is_causal must be a bool, got int"),
    (dict(scale="0.5"), TypeError, r"scale must be a real number or None, got str"),
]


@pytest.mark.parametrize(("override", "error", "match"), BAD)
def test_bad_input_is_named(override, error, match):
    args = dict(query=torch.randn(2, 5, 4), key=torch.randn(2, 7, 4),
                value=torch.randn(2, 7, 4))
    args.update(override)
    with pytest.raises(error, match=match):
        memory_efficient_attention(**args)


def test_peak_extra_bytes_sees_known_allocations():
    def work():
        result = torch.ones(250_000)          # 1 MB, returned: not extra
        a = torch.empty(1_000_000)            # 4 MB, freed before the 8 MB one is made
        del a
        b = torch.empty(2_000_000)            # 8 MB: the peak of extra memory
        del b
        return result

    result, extra = peak_extra_bytes(work)
    assert result.numel() == 250_000
    assert extra == 8_000_000


def test_memory_grows_linearly_for_ours_and_quadratically_for_naive():
    extra = {}
    for length in (512, 1024):
        q, k, v = (torch.randn(1, 4, length, 16) for _ in range(3))
        _, extra["naive", length] = peak_extra_bytes(lambda q=q, k=k, v=v:
                                                     naive_attention(q, k, v))
        _, extra["ours", length] = peak_extra_bytes(
            lambda q=q, k=k, v=v: memory_efficient_attention(q, k, v, block_size=128))
        assert extra["naive", length] == naive_peak_bytes(4, length, 4)
    assert extra["ours", 1024] < 0.1 * extra["naive", 1024]
    assert extra["ours", 1024] <= 2.1 * extra["ours", 512]


def test_checks_pass():
    checks = [c for c in all_checks("attention") if c.name.startswith("attention.mem_")]
    assert len(checks) == 4
    rows = [row for c in checks for row in run_check(c)]
    assert rows and all(row.passed for row in rows), [r for r in rows if not r.passed]


def test_benchmark_quick_case_agrees_and_reports_memory():
    case = mem_forward_4096(quick=True)
    torch.testing.assert_close(case.ours(), case.reference(), rtol=0, atol=1e-6)
    assert case.info["L"] == 256 and case.info["naive_memory"] == "measured"
    assert case.info["ours_peak_extra_MiB"] > 0 and case.info["naive_peak_extra_MiB"] == 4.0


def test_experiment_on_small_lengths_shows_the_slopes():
    exp = get_experiment("attention-memory")
    params = dict(exp.profiles["quick"], lengths=[128, 256, 512], heads=2, dim=16,
                  repeats=1, block_size=64, naive_max_length=256)
    res = exp.compute(RunContext(params=params, seed=0))
    rows = res.tables["scaling"].rows
    assert [r[0] for r in rows] == [128, 256, 512]
    assert [r[8] for r in rows] == ["measured", "measured", "analytic"]
    assert rows[-1][1] is None                                   # naive not run at 512
    assert res.metrics["memory_slope[naive]"] == pytest.approx(2, abs=0.01)
    assert res.metrics["memory_slope[memory-efficient]"] < 1.2
    assert res.metrics["max |ours - torch|"] < 1e-5
    figures = exp.plot(res)
    assert sorted(figures) == ["memory", "time"]
