"""Adagrad, RMSprop and Adadelta against their torch.optim namesakes: values, state, errors.

One spec per optimiser; every check below runs over all three.
"""

from __future__ import annotations

import functools
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from mlnotebook.optim import Adadelta, Adagrad, RMSprop


def _grid(**axes) -> list[dict]:
    """Every combination of the given values, as keyword-argument dicts."""
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


@dataclass(frozen=True, eq=False)
class Spec:
    ours: type
    ref: type
    grid: list[dict]      # every on/off option crossed with the others and with foreach
    rich: dict            # every option on (bar maximize), for the one-configuration checks
    toy: dict             # arguments for the hand-computed first step
    first_step: Callable  # (theta, g) -> theta after one step with ``toy``
    lazy: bool            # state made on a parameter's first step, not at construction
    bad: list[tuple[dict, type, str]]

    def __str__(self) -> str:
        return self.ours.__name__


SPECS = [
    Spec(
        ours=Adagrad, ref=torch.optim.Adagrad,
        grid=_grid(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1],
                   initial_accumulator_value=[0.0, 0.5], maximize=[False, True],
                   foreach=[False, True]),
        rich=dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5),
        toy=dict(lr=0.1),
        first_step=lambda w, g: w - 0.1 * g / (g.abs() + 1e-10),
        lazy=False,
        bad=[(dict(lr=-1.0), ValueError, "lr must be >= 0, got -1.0"),
             (dict(lr=float("nan")), ValueError, "lr must be >= 0, got nan"),
             (dict(lr_decay=-0.1), ValueError, "lr_decay must be >= 0, got -0.1"),
             (dict(weight_decay=-1), ValueError, "weight_decay must be >= 0, got -1"),
             (dict(initial_accumulator_value=-1), ValueError,
              "initial_accumulator_value must be >= 0, got -1"),
             (dict(eps=-1e-10), ValueError, "eps must be >= 0"),
             (dict(lr="0.1"), TypeError, "lr must be a number"),
             (dict(foreach="yes"), TypeError, "foreach must be a bool or None"),
             (dict(maximize=1), TypeError, "maximize must be a bool")],
    ),
    Spec(
        ours=RMSprop, ref=torch.optim.RMSprop,
        grid=_grid(lr=[0.01], alpha=[0.9], weight_decay=[0.0, 0.1], momentum=[0.0, 0.9],
                   centered=[False, True], maximize=[False, True], foreach=[False, True]),
        rich=dict(lr=0.01, alpha=0.5, weight_decay=0.1, momentum=0.9, centered=True),
        toy=dict(lr=0.01),
        first_step=lambda w, g: w - 0.01 * g / ((0.01 * g * g).sqrt() + 1e-8),
        lazy=True,
        bad=[(dict(lr=-1.0), ValueError, "lr must be >= 0, got -1.0"),
             (dict(alpha=-0.5), ValueError, "alpha must be >= 0, got -0.5"),
             (dict(eps=-1.0), ValueError, "eps must be >= 0, got -1.0"),
             (dict(weight_decay=-1), ValueError, "weight_decay must be >= 0, got -1"),
             (dict(momentum=-0.9), ValueError, "momentum must be >= 0, got -0.9"),
             (dict(alpha=None), TypeError, "alpha must be a number"),
             (dict(centered="no"), TypeError, "centered must be a bool"),
             (dict(foreach=0), TypeError, "foreach must be a bool or None")],
    ),
    Spec(
        ours=Adadelta, ref=torch.optim.Adadelta,
        grid=_grid(lr=[0.5], rho=[0.9, 0.5], weight_decay=[0.0, 0.1],
                   maximize=[False, True], foreach=[False, True]),
        rich=dict(lr=0.5, rho=0.5, weight_decay=0.1),
        toy=dict(),
        first_step=lambda w, g: w - (1e-6) ** 0.5 / (0.1 * g * g + 1e-6).sqrt() * g,
        lazy=True,
        bad=[(dict(lr=-1.0), ValueError, "lr must be >= 0, got -1.0"),
             (dict(rho=1.5), ValueError, r"rho must be >= 0 and <= 1, got 1.5"),
             (dict(rho=-0.1), ValueError, r"rho must be >= 0 and <= 1, got -0.1"),
             (dict(eps=float("nan")), ValueError, "eps must be >= 0, got nan"),
             (dict(weight_decay=-1), ValueError, "weight_decay must be >= 0, got -1"),
             (dict(rho="0.9"), TypeError, "rho must be a number"),
             (dict(maximize=None), TypeError, "maximize must be a bool")],
    ),
]

GRID_CASES = [pytest.param(spec, kw, id=f"{spec}-" + "-".join(f"{k}={v}" for k, v in kw.items()))
              for spec in SPECS for kw in spec.grid]
READABLE_CASES = [case for case in GRID_CASES if case.values[1]["foreach"] is False]
BAD_CASES = [pytest.param(spec, kw, err, match, id=f"{spec}-{match}")
             for spec in SPECS for kw, err, match in spec.bad]
EXACT = dict(rtol=0, atol=0)


class LeastSquares:
    """mean((x @ w + b - y)**2) on fixed random data; ``fresh()`` gives new leaf copies of (w, b).

    With ``extra`` a third parameter of another dtype joins, so that the multi-tensor path
    has to split its lists by dtype. ``train`` sets the gradients in closed form, which is
    several times faster than autograd and keeps the whole file quick.
    """

    def __init__(self, dtype: torch.dtype, extra: bool = False):
        gen = torch.Generator().manual_seed(1)
        self.x = torch.randn(32, 4, generator=gen, dtype=dtype)
        self.y = torch.randn(32, 2, generator=gen, dtype=dtype)
        self.init = [torch.randn(4, 2, generator=gen, dtype=dtype),
                     torch.randn(2, generator=gen, dtype=dtype)]
        if extra:
            other = torch.float32 if dtype == torch.float64 else torch.float64
            self.init.append(torch.randn(3, generator=gen, dtype=other))

    def fresh(self) -> list[torch.Tensor]:
        return [t.clone().requires_grad_() for t in self.init]

    def _residual(self, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # x @ w written as a broadcast sum: on tiny matrices BLAS can spend milliseconds
        # waking its threads, which made this file ten times slower on a busy machine
        return (self.x[:, :, None] * w).sum(1) + b - self.y   # (32, 2)

    def loss(self, params: list[torch.Tensor]) -> torch.Tensor:
        w, b = params[:2]
        loss = (self._residual(w, b) ** 2).mean()
        for extra in params[2:]:
            loss = loss + ((extra.to(w.dtype) - 1) ** 2).sum()
        return loss

    def set_grads(self, params: list[torch.Tensor]) -> None:
        """What ``self.loss(params).backward()`` gives, written out."""
        w, b = params[:2]
        with torch.no_grad():
            dr = self._residual(w, b) * (2 / self.y.numel())   # (32, 2)
            w.grad = (self.x[:, :, None] * dr[:, None, :]).sum(0)   # x.T @ dr, (4, 2)
            b.grad = dr.sum(0)
            for extra in params[2:]:
                extra.grad = 2 * (extra - 1)

    def train(self, opt: torch.optim.Optimizer, params: list[torch.Tensor], steps: int) -> None:
        for _ in range(steps):
            self.set_grads(params)
            opt.step()


def _flat(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.detach().ravel().double() for p in params])


def _assert_same_state(ours: torch.optim.Optimizer, ref: torch.optim.Optimizer, **tol) -> None:
    """Same state keys per parameter, and the same values to within ``tol``."""
    a, b = ours.state_dict()["state"], ref.state_dict()["state"]
    assert a.keys() == b.keys()
    for i in a:
        assert a[i].keys() == b[i].keys(), i
        for key in a[i]:
            torch.testing.assert_close(a[i][key], b[i][key], **tol, msg=f"param {i}, {key}")


def _save_and_load(opt: torch.optim.Optimizer) -> dict:
    """The state dict as after a restart: through torch.save and torch.load(weights_only)."""
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@functools.cache
def _trained(cls: type, kwargs: tuple[tuple[str, object], ...]):
    """Parameters and optimiser after 100 float64 steps; shared by the grid's two checks."""
    problem = LeastSquares(torch.float64)
    params = problem.fresh()
    opt = cls(params, **dict(kwargs))
    problem.train(opt, params, 100)
    return params, opt


@pytest.mark.parametrize(("spec", "kwargs"), GRID_CASES)
def test_matches_torch_float64(spec, kwargs):
    # Both our paths against torch's per-parameter loop, which is one run per combination;
    # torch's foreach path is compared in the float32 test.
    ours_p, ours = _trained(spec.ours, tuple(kwargs.items()))
    ref_p, ref = _trained(spec.ref, tuple({**kwargs, "foreach": False}.items()))
    torch.testing.assert_close(_flat(ours_p), _flat(ref_p), rtol=0, atol=1e-10)
    _assert_same_state(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("spec", "kwargs"), READABLE_CASES)
def test_foreach_path_equals_readable_path(spec, kwargs):
    loop_p, loop = _trained(spec.ours, tuple(kwargs.items()))
    multi_p, multi = _trained(spec.ours, tuple({**kwargs, "foreach": True}.items()))
    for a, b in zip(loop_p, multi_p, strict=True):
        torch.testing.assert_close(a, b, **EXACT)
    _assert_same_state(loop, multi, **EXACT)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_foreach_path_splits_by_dtype(spec):
    problem = LeastSquares(torch.float64, extra=True)   # a float32 tensor among float64 ones
    loop_p, multi_p = problem.fresh(), problem.fresh()
    loop = spec.ours(loop_p, **spec.rich, foreach=False)
    multi = spec.ours(multi_p, **spec.rich, foreach=True)
    problem.train(loop, loop_p, 30)
    problem.train(multi, multi_p, 30)
    for a, b in zip(loop_p, multi_p, strict=True):
        torch.testing.assert_close(a, b, **EXACT)
    _assert_same_state(loop, multi, **EXACT)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("foreach", [False, True])
def test_matches_torch_float32_with_param_groups(spec, foreach):
    problem = LeastSquares(torch.float32)

    def run(cls):
        w, b = problem.fresh()
        # the second group overrides the learning rate
        opt = cls([{"params": [w]}, {"params": [b], "lr": spec.rich["lr"] * 3}],
                  **spec.rich, foreach=foreach)
        problem.train(opt, [w, b], 100)
        return _flat([w, b])

    torch.testing.assert_close(run(spec.ours), run(spec.ref), rtol=0, atol=1e-6)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_hand_computed_first_step(spec):
    w0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    w = w0.clone().requires_grad_()
    opt = spec.ours([w], **spec.toy)
    (w**2).sum().backward()
    opt.step()
    torch.testing.assert_close(w.detach(), spec.first_step(w0, 2 * w0), rtol=1e-14, atol=0)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_defaults_match_torch(spec):
    w = torch.zeros(1, requires_grad=True)
    ours, ref = spec.ours([w]).defaults, spec.ref([w]).defaults
    for key, value in ours.items():
        assert ref[key] == value, key


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_state_dict_round_trip_resumes_identically(spec):
    problem = LeastSquares(torch.float64)
    straight_p = problem.fresh()
    problem.train(spec.ours(straight_p, **spec.rich), straight_p, 10)

    first_p = problem.fresh()
    first = spec.ours(first_p, **spec.rich)
    problem.train(first, first_p, 5)
    saved = _save_and_load(first)
    resumed_p = [p.detach().clone().requires_grad_() for p in first_p]
    resumed = spec.ours(resumed_p, **spec.rich)
    resumed.load_state_dict(saved)
    problem.train(resumed, resumed_p, 5)
    problem.train(first, first_p, 5)

    for a, b, c in zip(resumed_p, straight_p, first_p, strict=True):
        torch.testing.assert_close(a, b, **EXACT)
        torch.testing.assert_close(a, c, **EXACT)
    _assert_same_state(resumed, first, **EXACT)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
def test_state_dicts_are_interchangeable_with_torch(spec, direction):
    src_cls, dst_cls = (spec.ref, spec.ours) if direction == "torch-to-ours" else (
        spec.ours, spec.ref)
    problem = LeastSquares(torch.float64)
    src_p = problem.fresh()
    src = src_cls(src_p, **spec.rich)
    problem.train(src, src_p, 5)
    saved = _save_and_load(src)
    dst_p = [p.detach().clone().requires_grad_() for p in src_p]
    dst = dst_cls(dst_p, **spec.rich)
    dst.load_state_dict(saved)
    problem.train(src, src_p, 5)
    problem.train(dst, dst_p, 5)
    for a, b in zip(dst_p, src_p, strict=True):
        torch.testing.assert_close(a, b, **EXACT)
    _assert_same_state(dst, src, **EXACT)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_step_returns_the_closures_loss(spec):
    problem = LeastSquares(torch.float64)

    def losses(cls):
        params = problem.fresh()
        opt = cls(params, **spec.rich)

        def closure():
            opt.zero_grad()
            loss = problem.loss(params)
            loss.backward()
            return loss

        return torch.stack([opt.step(closure) for _ in range(30)])

    ours = losses(spec.ours)
    torch.testing.assert_close(ours, losses(spec.ref), **EXACT)
    assert ours[-1] < ours[0]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_params_without_grad_are_skipped(spec):
    def run(cls):
        used = torch.tensor([1.0, -2.0], requires_grad=True)
        unused = torch.ones(3, requires_grad=True)
        opt = cls([used, unused], **spec.rich)
        for _ in range(3):
            opt.zero_grad()
            (used**2).sum().backward()
            opt.step()
        assert unused.grad is None
        torch.testing.assert_close(unused.detach(), torch.ones(3), **EXACT)
        return opt, unused

    ours, unused = run(spec.ours)
    ref, _ = run(spec.ref)
    if spec.lazy:
        assert unused not in ours.state
    else:  # made at construction, and left as made
        assert ours.state[unused]["step"].item() == 0
    _assert_same_state(ours, ref, **EXACT)


def test_adagrad_honours_each_groups_initial_accumulator_value():
    # torch.optim.Adagrad uses the constructor's value for every group; we use the group's.
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    opt = Adagrad([{"params": [a]}, {"params": [b], "initial_accumulator_value": 2.0}],
                  initial_accumulator_value=0.5)
    torch.testing.assert_close(opt.state[a]["sum"], torch.full((2,), 0.5), **EXACT)
    torch.testing.assert_close(opt.state[b]["sum"], torch.full((3,), 2.0), **EXACT)


@pytest.mark.parametrize(("spec", "kwargs", "error", "match"), BAD_CASES)
def test_bad_hyperparameters_raise(spec, kwargs, error, match):
    with pytest.raises(error, match=match):
        spec.ours([torch.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_sparse_gradients_are_refused(spec):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = spec.ours(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match=f"{spec} does not support sparse gradients"):
        opt.step()


def test_closed_form_gradients_match_autograd():
    problem = LeastSquares(torch.float64, extra=True)
    auto, closed = problem.fresh(), problem.fresh()
    problem.loss(auto).backward()
    problem.set_grads(closed)
    for a, c in zip(auto, closed, strict=True):
        torch.testing.assert_close(a.grad, c.grad, rtol=1e-12, atol=1e-14)
