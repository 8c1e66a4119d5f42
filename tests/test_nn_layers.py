"""mlnotebook.nn against torch.nn: values, gradients, running statistics, train and eval."""

import pytest
import torch

from mlnotebook import nn as mnn

# (id, our class, torch class, constructor kwargs, input shape)
NORM_SPECS = [
    ("bn1d", mnn.BatchNorm1d, torch.nn.BatchNorm1d, dict(num_features=6), (16, 6)),
    ("bn1d-seq", mnn.BatchNorm1d, torch.nn.BatchNorm1d, dict(num_features=6), (8, 6, 5)),
    ("bn1d-cma", mnn.BatchNorm1d, torch.nn.BatchNorm1d,
     dict(num_features=6, momentum=None), (16, 6)),
    ("bn1d-plain", mnn.BatchNorm1d, torch.nn.BatchNorm1d,
     dict(num_features=6, affine=False, eps=1e-3), (16, 6)),
    ("bn1d-nostats", mnn.BatchNorm1d, torch.nn.BatchNorm1d,
     dict(num_features=6, track_running_stats=False), (16, 6, 3)),
    ("bn2d", mnn.BatchNorm2d, torch.nn.BatchNorm2d, dict(num_features=4), (5, 4, 7, 3)),
    ("bn2d-mom", mnn.BatchNorm2d, torch.nn.BatchNorm2d,
     dict(num_features=4, momentum=0.3, eps=1e-4), (5, 4, 2, 9)),
    ("ln", mnn.LayerNorm, torch.nn.LayerNorm, dict(normalized_shape=8), (4, 5, 8)),
    ("ln-2d", mnn.LayerNorm, torch.nn.LayerNorm, dict(normalized_shape=(5, 8)), (4, 5, 8)),
    ("ln-nobias", mnn.LayerNorm, torch.nn.LayerNorm,
     dict(normalized_shape=8, bias=False), (3, 8)),
    ("ln-plain", mnn.LayerNorm, torch.nn.LayerNorm,
     dict(normalized_shape=8, elementwise_affine=False, eps=1e-3), (3, 8)),
]
TOL = {torch.float64: 1e-12, torch.float32: 1e-6}


def _assert_close(ours, ref, tol):
    """max |ours - ref| <= tol * max(1, max |ref|): the tolerance is relative to the tensor's
    scale, since a float32 sum of many terms is only accurate relative to their size."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    scale = max(1.0, ref.abs().max().item())
    diff = (ours - ref).abs().max().item()
    assert diff <= tol * scale, f"max diff {diff:.3g} > {tol:g} * {scale:.3g}"


def _pair(spec, dtype, seed=0):
    _, ours_cls, ref_cls, kwargs, _ = spec
    torch.manual_seed(seed)
    ref = ref_cls(**kwargs, dtype=dtype)
    with torch.no_grad():  # non-trivial affine parameters, so their gradients matter
        for p in ref.parameters():
            p.normal_()
    ours = ours_cls.from_torch(ref)
    return ours, ref


def _step(module, x, g):
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(g)
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    module.zero_grad()
    return y.detach(), x.grad, grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("spec", NORM_SPECS, ids=[s[0] for s in NORM_SPECS])
def test_ten_training_steps_then_eval_match_torch(spec, dtype):
    ours, ref = _pair(spec, dtype)
    gen = torch.Generator().manual_seed(1)
    for step in range(10):
        # shifted, scaled inputs: the statistics and the running averages are not trivial
        x = (torch.randn(spec[4], generator=gen, dtype=dtype) * (1 + step) + step)
        g = torch.randn(spec[4], generator=gen, dtype=dtype)
        (y1, gx1, gp1), (y2, gx2, gp2) = _step(ours, x, g), _step(ref, x, g)
        _assert_close(y1, y2, TOL[dtype])
        _assert_close(gx1, gx2, TOL[dtype])
        assert gp1.keys() == gp2.keys()
        for name in gp1:
            _assert_close(gp1[name], gp2[name], TOL[dtype])
    for (n1, b1), (n2, b2) in zip(ours.named_buffers(), ref.named_buffers(), strict=True):
        assert n1 == n2
        if n1 == "num_batches_tracked":
            assert b1.item() == b2.item() == 10
        else:
            _assert_close(b1, b2, TOL[dtype])
    ours.eval()
    ref.eval()
    x = torch.randn(spec[4], generator=gen, dtype=dtype)
    g = torch.randn(spec[4], generator=gen, dtype=dtype)
    for a, b in zip(_step(ours, x, g)[:2], _step(ref, x, g)[:2], strict=True):
        _assert_close(a, b, TOL[dtype])


@pytest.mark.parametrize("spec", NORM_SPECS, ids=[s[0] for s in NORM_SPECS])
def test_state_dict_is_interchangeable_with_torch(spec):
    ours, ref = _pair(spec, torch.float64)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref2 = spec[2](**spec[3], dtype=torch.float64)
    ref2.load_state_dict(ours.state_dict())
    for a, b in zip(ref2.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_batch_norm_running_variance_is_unbiased_and_batch_variance_biased():
    # by hand: one channel, batch [0, 2] -> mean 1, biased var 1, unbiased var 2
    bn = mnn.BatchNorm1d(1, momentum=1.0, affine=False, eps=0.0).double()
    y = bn(torch.tensor([[0.0], [2.0]], dtype=torch.float64))
    assert torch.equal(y.ravel(), torch.tensor([-1.0, 1.0], dtype=torch.float64))
    assert bn.running_mean.item() == 1.0 and bn.running_var.item() == 2.0
    assert bn.num_batches_tracked.item() == 1


def test_batch_norm_without_running_stats_uses_the_batch_in_eval_too():
    bn = mnn.BatchNorm1d(3, track_running_stats=False).double().eval()
    x = torch.randn(10, 3, dtype=torch.float64) * 5 + 2
    y = bn(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3, dtype=torch.float64), rtol=0,
                               atol=1e-12)


def test_layer_norm_works_on_a_batch_of_one_and_on_non_contiguous_input():
    ours, ref = _pair(NORM_SPECS[7], torch.float64)
    x = torch.randn(8, 5, 4, dtype=torch.float64).transpose(0, 2)  # (4, 5, 8), strided
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x[:1]), ref(x[:1]), rtol=1e-12, atol=1e-12)


def test_batch_norm_on_channels_last_input_matches_torch():
    ours, ref = _pair(NORM_SPECS[5], torch.float64)
    x = torch.randn(5, 4, 7, 3, dtype=torch.float64).to(memory_format=torch.channels_last)
    g = torch.randn(5, 4, 7, 3, dtype=torch.float64)
    for a, b in zip(_step(ours, x, g)[:2], _step(ref, x, g)[:2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_a_layer_used_twice_before_backward_gets_both_gradients():
    ours, ref = _pair(NORM_SPECS[0], torch.float64)
    x1, x2 = torch.randn(2, 16, 6, dtype=torch.float64)
    grads = []
    for module in (ours, ref):
        (module(x1).square().sum() + module(x2).sin().sum()).backward()
        grads.append(module.weight.grad)
    torch.testing.assert_close(*grads, rtol=1e-12, atol=1e-12)


def test_double_backward_is_refused_rather_than_wrong():
    ln = mnn.LayerNorm(4).double()
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(ln(x).pow(3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|does not require grad"):
        gx.sum().backward()


# dropout


def test_dropout_draws_the_same_mask_as_torch_from_the_same_seed():
    x = torch.randn(200, 30)
    for p in (0.1, 0.5, 0.9):
        torch.manual_seed(3)
        ref = torch.nn.Dropout(p)(x)
        torch.manual_seed(3)
        assert torch.equal(mnn.Dropout(p)(x), ref)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_keeps_one_minus_p_and_preserves_the_mean(p):
    x = torch.ones(400_000, dtype=torch.float64)
    y = mnn.Dropout(p, generator=torch.Generator().manual_seed(0))(x)
    kept = (y != 0).double().mean().item()
    # binomial standard error at n = 400,000 is at most 8e-4; 5 of them is a loose bound
    assert abs(kept - (1 - p)) < 4e-3
    assert torch.all((y == 0) | (y == 1 / (1 - p)))
    assert abs(y.mean().item() - 1.0) < 4e-3 / (1 - p)


def test_dropout_gradient_is_the_scaled_mask_and_eval_is_identity():
    layer = mnn.Dropout(0.25, generator=torch.Generator().manual_seed(1))
    x = torch.randn(50, 8, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    mask = (y != 0).float()
    torch.testing.assert_close(x.grad, mask / 0.75)
    layer.eval()
    assert layer(x) is x
    assert mnn.Dropout(0.0)(x) is x


def test_dropout_generator_makes_it_reproducible():
    x = torch.randn(100)
    a = mnn.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    b = mnn.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


# bad input

BAD = [
    (lambda: mnn.Dropout(1.0), ValueError, r"p must be in \[0, 1\)"),
    (lambda: mnn.Dropout(-0.1), ValueError, r"p must be in \[0, 1\)"),
    (lambda: mnn.Dropout("0.5"), TypeError, "p must be a float"),
    (lambda: mnn.BatchNorm1d(3)(torch.randn(4, 3, 2, 2)), ValueError,
     r"BatchNorm1d expects x of shape \(N, C\) or \(N, C, L\), got a 4-d"),
    (lambda: mnn.BatchNorm2d(3)(torch.randn(4, 3)), ValueError,
     r"BatchNorm2d expects x of shape \(N, C, H, W\)"),
    (lambda: mnn.BatchNorm1d(3)(torch.randn(4, 5)), ValueError, "5 channels.*num_features is 3"),
    (lambda: mnn.BatchNorm1d(3)(torch.randn(1, 3)), ValueError, "at least 2"),
    (lambda: mnn.BatchNorm1d(3)(torch.randn(4, 3, dtype=torch.float64)), TypeError,
     "x has dtype torch.float64 but the layer's parameters and buffers are torch.float32"),
    (lambda: mnn.BatchNorm1d(0), ValueError, "num_features must be a positive int"),
    (lambda: mnn.BatchNorm1d(3, momentum=1.5), ValueError, "momentum must be in"),
    (lambda: mnn.LayerNorm(4)(torch.randn(3, 5)), ValueError,
     r"normalized_shape \(4,\) does not match.*\(3, 5\)"),
    (lambda: mnn.LayerNorm((2, 4))(torch.randn(4)), ValueError, "does not match"),
    (lambda: mnn.LayerNorm(()), ValueError, "non-empty sequence of positive ints"),
    (lambda: mnn.LayerNorm("4"), ValueError, "non-empty sequence of positive ints"),
    (lambda: mnn.LayerNorm(4.5), TypeError, "normalized_shape must be an int"),
    (lambda: mnn.LayerNorm(4, eps=0), ValueError, "eps must be > 0"),
]


@pytest.mark.parametrize("make, error, message", BAD)
def test_bad_input_is_refused_with_a_clear_message(make, error, message):
    with pytest.raises(error, match=message):
        make()
