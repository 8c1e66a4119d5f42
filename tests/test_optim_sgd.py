"""mlnotebook.optim.SGD against torch.optim.SGD: values, options, state, errors."""

import io
import itertools

import pytest
import torch

from mlnotebook.optim import SGD

GRID = [
    dict(lr=lr, momentum=mu, dampening=tau, weight_decay=wd, nesterov=nest, maximize=mx)
    for lr, mu, tau, wd, nest, mx in itertools.product(
        (0.01, 0.1), (0.0, 0.9), (0.0, 0.5), (0.0, 0.1), (False, True), (False, True))
    if not (nest and (mu == 0 or tau != 0))
]


def _run(cls, kwargs, dtype, steps=30, groups=False):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=gen, dtype=dtype)
    y = torch.randn(32, 2, generator=gen, dtype=dtype)
    w = torch.randn(4, 2, generator=gen, dtype=dtype).requires_grad_()
    b = torch.zeros(2, dtype=dtype).requires_grad_()
    params = [{"params": [w]}, {"params": [b], "lr": 0.02}] if groups else [w, b]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
    return torch.cat([w.detach().ravel(), b.detach()])


@pytest.mark.parametrize("kwargs", GRID, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_matches_torch_float64(kwargs):
    ours, ref = _run(SGD, kwargs, torch.float64), _run(torch.optim.SGD, kwargs, torch.float64)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("groups", [False, True])
def test_matches_torch_float32_with_param_groups(groups):
    kw = dict(lr=0.05, momentum=0.9, nesterov=True)
    ours = _run(SGD, kw, torch.float32, groups=groups)
    ref = _run(torch.optim.SGD, kw, torch.float32, groups=groups)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def test_defaults_match_torch():
    w = torch.zeros(1, requires_grad=True)
    ours, ref = SGD([w]).defaults, torch.optim.SGD([w]).defaults
    for key, value in ours.items():
        assert ref[key] == value, key


def test_loss_goes_down_and_closure_is_used():
    w = torch.tensor([3.0, -2.0], requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.5)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(50):
        last = opt.step(closure).item()
    assert last < first * 1e-3


def test_state_dict_round_trip_resumes_identically():
    torch.manual_seed(0)
    target = torch.randn(5)
    w1 = torch.zeros(5, requires_grad=True)
    opt1 = SGD([w1], lr=0.1, momentum=0.9)

    def step(opt, w):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()

    for _ in range(5):
        step(opt1, w1)
    w2 = w1.detach().clone().requires_grad_()
    opt2 = SGD([w2], lr=0.1, momentum=0.9)
    # as after a restart: the state goes through torch.save / torch.load(weights_only=True)
    buffer = io.BytesIO()
    torch.save(opt1.state_dict(), buffer)
    buffer.seek(0)
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(5):
        step(opt1, w1)
        step(opt2, w2)
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(lr=-1.0), ValueError, "lr must be >= 0, got -1.0"),
        (dict(lr=float("nan")), ValueError, "lr must be >= 0"),
        (dict(momentum=-0.1), ValueError, "momentum must be >= 0"),
        (dict(weight_decay=-1), ValueError, "weight_decay must be >= 0"),
        (dict(dampening=-1), ValueError, "dampening must be >= 0"),
        (dict(lr="0.1"), TypeError, "lr must be a number"),
        (dict(momentum=0.0, nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
        (dict(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening == 0"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        SGD([torch.zeros(1, requires_grad=True)], **kwargs)


def test_sparse_gradients_are_refused():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match="sparse gradients"):
        SGD(emb.parameters(), lr=0.1).step()


@pytest.mark.parametrize("kwargs", GRID[::3], ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_foreach_path_equals_readable_path(kwargs):
    ours = _run(SGD, {**kwargs, "foreach": True}, torch.float64, groups=True)
    readable = _run(SGD, {**kwargs, "foreach": False}, torch.float64, groups=True)
    torch.testing.assert_close(ours, readable, rtol=0, atol=0)


def test_foreach_path_leaves_gradients_alone():
    w = torch.ones(3, requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9, nesterov=True, foreach=True)
    for _ in range(2):
        opt.zero_grad()
        (w**2).sum().backward()
        grad = w.grad.clone()
        opt.step()
        torch.testing.assert_close(w.grad, grad, rtol=0, atol=0)
