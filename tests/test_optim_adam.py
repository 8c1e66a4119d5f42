"""mlnotebook.optim.Adam and AdamW against torch.optim: values, paths, state, errors."""

import io
import itertools

import pytest
import torch

from mlnotebook.optim import Adam, AdamW

ADAM_GRID = [
    dict(lr=lr, betas=betas, weight_decay=wd, amsgrad=ams, maximize=mx,
         decoupled_weight_decay=dec)
    for lr, betas, wd, ams, mx, dec in itertools.product(
        (1e-2,), ((0.9, 0.999), (0.5, 0.9)), (0.0, 0.1), (False, True), (False, True),
        (False, True))
]
ADAMW_GRID = [
    {k: v for k, v in kw.items() if k != "decoupled_weight_decay"}
    for kw in ADAM_GRID if kw["decoupled_weight_decay"]
]
CASES = [(Adam, torch.optim.Adam, kw) for kw in ADAM_GRID] + [
    (AdamW, torch.optim.AdamW, kw) for kw in ADAMW_GRID]


def _ids(case):
    cls, _, kw = case
    return cls.__name__ + "-" + "-".join(f"{v}" for v in kw.values())


def _problem(dtype, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 4, generator=gen, dtype=dtype)
    y = torch.randn(32, 2, generator=gen, dtype=dtype)
    w = torch.randn(4, 2, generator=gen, dtype=dtype)
    return x, y, w


def _run(cls, kwargs, dtype=torch.float64, steps=100, groups=False):
    x, y, w0 = _problem(dtype)
    w = w0.clone().requires_grad_()
    b = torch.zeros(2, dtype=dtype, requires_grad=True)
    params = [{"params": [w]}, {"params": [b], "lr": 0.003}] if groups else [w, b]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        ((x @ w + b - y) ** 2).mean().backward()
        opt.step()
    return torch.cat([w.detach().ravel(), b.detach()]), opt


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("foreach", [False, True])
def test_matches_torch_float64_after_100_steps(case, foreach):
    ours_cls, ref_cls, kwargs = case
    ours, _ = _run(ours_cls, {**kwargs, "foreach": foreach})
    ref, _ = _run(ref_cls, kwargs)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", CASES[::5], ids=_ids)
def test_foreach_equals_readable_including_state(case):
    cls, _, kwargs = case
    fast, fast_opt = _run(cls, {**kwargs, "foreach": True}, groups=True)
    slow, slow_opt = _run(cls, {**kwargs, "foreach": False}, groups=True)
    torch.testing.assert_close(fast, slow, rtol=0, atol=0)
    for a, b in zip(fast_opt.state.values(), slow_opt.state.values(), strict=True):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_float32_with_param_groups(cls):
    ref_cls = getattr(torch.optim, cls.__name__)
    ours, _ = _run(cls, dict(lr=0.01, amsgrad=True), torch.float32, groups=True)
    ref, _ = _run(ref_cls, dict(lr=0.01, amsgrad=True), torch.float32, groups=True)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_defaults_match_torch(cls):
    w = torch.zeros(1, requires_grad=True)
    ours, ref = cls([w]).defaults, getattr(torch.optim, cls.__name__)([w]).defaults
    for key, value in ours.items():
        assert ref[key] == value, key


def _saved(opt) -> dict:
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize(("writer", "reader"), [(Adam, Adam), (torch.optim.Adam, Adam),
                                                (Adam, torch.optim.Adam)])
def test_state_dict_resume_after_restart(writer, reader):
    x, y, w0 = _problem(torch.float64)
    kwargs = dict(lr=0.05, amsgrad=True, weight_decay=0.01)

    def steps(opt, w, n):
        for _ in range(n):
            opt.zero_grad()
            ((x @ w - y) ** 2).mean().backward()
            opt.step()

    straight = w0.clone().requires_grad_()
    steps(writer([straight], **kwargs), straight, 10)

    first = w0.clone().requires_grad_()
    opt = writer([first], **kwargs)
    steps(opt, first, 4)
    resumed = first.detach().clone().requires_grad_()
    opt2 = reader([resumed], **kwargs)
    opt2.load_state_dict(_saved(opt))
    steps(opt2, resumed, 6)
    torch.testing.assert_close(resumed, straight, rtol=0, atol=1e-12)


def test_parameters_without_gradients_are_skipped():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    (a**2).sum().backward()
    opt.step()
    assert b not in opt.state and torch.equal(b, torch.ones(2))
    assert opt.state[a]["step"].item() == 1


def test_closure_loss_is_returned_and_loss_falls():
    w = torch.tensor([3.0, -2.0], requires_grad=True)
    opt = AdamW([w], lr=0.3, weight_decay=0.0)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(100):
        last = opt.step(closure).item()
    assert last < first * 1e-2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(lr=-1e-3), ValueError, "lr must be >= 0, got -0.001"),
        (dict(eps=-1.0), ValueError, "eps must be >= 0"),
        (dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be >= 0 and < 1, got 1.0"),
        (dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be >= 0 and < 1"),
        (dict(betas=0.9), TypeError, "betas must be a pair"),
        (dict(weight_decay=float("nan")), ValueError, "weight_decay must be >= 0"),
        (dict(amsgrad="yes"), TypeError, "amsgrad must be a bool"),
        (dict(foreach=1), TypeError, "foreach must be a bool or None"),
    ],
)
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_bad_hyperparameters_raise(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls([torch.zeros(1, requires_grad=True)], **kwargs)


def test_sparse_gradients_are_refused():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match="Adam does not support sparse gradients"):
        Adam(emb.parameters()).step()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"])
def test_cuda_default_path_matches_torch(name):
    import mlnotebook.optim as ours

    gen = torch.Generator().manual_seed(0)
    w0 = torch.randn(64, 32, generator=gen, dtype=torch.float64)
    x = torch.randn(128, 64, generator=gen, dtype=torch.float64).cuda()
    finals = []
    for cls in (getattr(ours, name), getattr(torch.optim, name)):
        w = w0.clone().cuda().requires_grad_()
        opt = cls([w], lr=1e-2)
        for _ in range(20):
            opt.zero_grad()
            (x @ w).square().mean().backward()
            opt.step()
        finals.append(w.detach())
    torch.testing.assert_close(finals[0], finals[1], rtol=0, atol=1e-10)
