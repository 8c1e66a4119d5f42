"""l2_penalty and l1_penalty: values, gradients, the SGD equivalence, bad input."""

import math

import pytest
import torch

from mlnotebook.nn import l1_penalty, l2_penalty
from mlnotebook.optim import SGD, Adam


def _params(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, dtype=dtype, requires_grad=True)
            for shape in ((4, 3), (3,), (2, 1, 2))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("wd", [0.0, 0.1, 2.5])
@pytest.mark.parametrize(
    ("penalty", "value", "grad"),
    [(l2_penalty, lambda wd, flat: wd / 2 * (flat**2).sum(), lambda wd, p: wd * p),
     (l1_penalty, lambda wd, flat: wd * flat.abs().sum(), lambda wd, p: wd * torch.sign(p))],
    ids=["l2", "l1"])
def test_value_and_gradient(penalty, value, grad, wd, dtype):
    params = _params(dtype)
    flat = torch.cat([p.detach().ravel() for p in params])
    out = penalty(params, wd)
    assert out.shape == () and out.dtype == dtype
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-13, atol=0)
    torch.testing.assert_close(out.detach(), value(wd, flat), **tol)
    for p, g in zip(params, torch.autograd.grad(out, params), strict=True):
        torch.testing.assert_close(g, grad(wd, p.detach()), **tol)


def test_hand_computed_values():
    w = torch.tensor([3.0, -4.0, 0.0], requires_grad=True)
    assert l2_penalty([w], 0.1).item() == pytest.approx(0.05 * 25)
    assert l1_penalty([w], 0.1).item() == pytest.approx(0.7)
    l1_penalty(w, 1.0).backward()
    assert w.grad.tolist() == [1.0, -1.0, 0.0]           # subgradient 0 at exactly zero


def test_accepts_a_single_tensor_and_a_generator():
    model = torch.nn.Linear(3, 2)
    total = sum((p.detach() ** 2).sum() for p in model.parameters())
    assert l2_penalty(model.parameters(), 2.0).item() == pytest.approx(total.item())
    assert l2_penalty(model.weight, 2.0).item() == pytest.approx(
        (model.weight.detach() ** 2).sum().item())


def _least_squares(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    w0 = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    return x, y, w0


def _trajectory(make_opt, wd_penalty=0.0, steps=50):
    x, y, w0 = _least_squares()
    w = w0.clone().requires_grad_()
    opt = make_opt([w])
    path = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        if wd_penalty:
            loss = loss + l2_penalty([w], wd_penalty)
        loss.backward()
        opt.step()
        path.append(w.detach().clone())
    return torch.stack(path)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("wd", [0.01, 0.5])
def test_l2_penalty_with_sgd_is_torch_sgd_weight_decay(wd, momentum):
    ours = _trajectory(lambda ps: SGD(ps, lr=0.05, momentum=momentum), wd_penalty=wd)
    ref = _trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=momentum,
                                                 weight_decay=wd))
    # Equal up to rounding: torch adds wd * w in one fused multiply-add, autograd in two.
    assert (ours - ref).abs().max().item() <= 1e-14
    plain = _trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=momentum))
    assert (ours - plain).abs().max().item() > 1e-4       # the penalty did something


def test_l2_penalty_with_adam_is_adam_weight_decay_not_adamw():
    ours = _trajectory(lambda ps: Adam(ps, lr=0.01), wd_penalty=0.3)
    coupled = _trajectory(lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.3))
    decoupled = _trajectory(lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.3))
    assert (ours - coupled).abs().max().item() <= 1e-14
    assert (ours - decoupled).abs().max().item() > 1e-3


@pytest.mark.parametrize("penalty", [l1_penalty, l2_penalty])
@pytest.mark.parametrize(
    ("params", "wd", "error", "match"),
    [([torch.ones(2)], -0.1, ValueError, "weight_decay must be a finite number >= 0"),
     ([torch.ones(2)], math.nan, ValueError, "weight_decay must be a finite number >= 0"),
     ([torch.ones(2)], math.inf, ValueError, "weight_decay must be a finite number >= 0"),
     ([torch.ones(2)], True, TypeError, "weight_decay must be a number"),
     ([torch.ones(2)], "0.1", TypeError, "weight_decay must be a number"),
     ([], 0.1, ValueError, "params is empty"),
     (iter([]), 0.1, ValueError, "params is empty"),
     ([torch.ones(2), [1.0, 2.0]], 0.1, TypeError, r"params\[1\] must be a tensor"),
     ([torch.ones(2, dtype=torch.long)], 0.1, TypeError,
      r"params\[0\] must be a floating-point tensor"),
     (3.0, 0.1, TypeError, "params must be a tensor or an iterable of tensors")])
def test_bad_input(penalty, params, wd, error, match):
    with pytest.raises(error, match=match):
        penalty(params, wd)
