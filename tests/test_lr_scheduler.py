"""mlnotebook.optim.lr_scheduler against torch.optim.lr_scheduler: values, state, errors."""

import math

import pytest
import torch
from torch.optim import lr_scheduler as tls

from mlnotebook.optim import SGD
from mlnotebook.optim import lr_scheduler as ours

BASE_LRS = (0.1, 0.03, 1.0)


def _noam(d_model, warmup, scale=1.0):
    """The paper's rate for step_num t >= 1, as a function of e = t - 1 (ours counts so)."""
    def factor(e):
        t = e + 1
        ramp = t * warmup ** -1.5 if warmup else math.inf
        return scale * d_model ** -0.5 * min(t ** -0.5, ramp)
    return factor


def _warmup_cosine_ref(opt, warmup_steps, total_steps, eta_min=0.0, warmup_start_factor=0.0):
    warm = tls.LinearLR(opt, start_factor=warmup_start_factor, total_iters=warmup_steps)
    cos = tls.CosineAnnealingLR(opt, T_max=total_steps - warmup_steps, eta_min=eta_min)
    return tls.SequentialLR(opt, [warm, cos], milestones=[warmup_steps])


# (ours, its kwargs, a factory for torch's counterpart, steps compared)
SPECS = {
    "step": (ours.StepLR, dict(step_size=7, gamma=0.5),
             lambda o: tls.StepLR(o, step_size=7, gamma=0.5), 50),
    "step-default-gamma": (ours.StepLR, dict(step_size=3),
                           lambda o: tls.StepLR(o, step_size=3), 50),
    "step-grow": (ours.StepLR, dict(step_size=10, gamma=1.5),
                  lambda o: tls.StepLR(o, step_size=10, gamma=1.5), 50),
    "exponential": (ours.ExponentialLR, dict(gamma=0.9),
                    lambda o: tls.ExponentialLR(o, gamma=0.9), 50),
    "cosine": (ours.CosineAnnealingLR, dict(T_max=50),
               lambda o: tls.CosineAnnealingLR(o, T_max=50), 51),
    "cosine-eta-min": (ours.CosineAnnealingLR, dict(T_max=20, eta_min=0.01),
                       lambda o: tls.CosineAnnealingLR(o, T_max=20, eta_min=0.01), 21),
    # Past T_max both follow the cosine back up (period 2 T_max).
    "cosine-past-T_max": (ours.CosineAnnealingLR, dict(T_max=9, eta_min=0.002),
                          lambda o: tls.CosineAnnealingLR(o, T_max=9, eta_min=0.002), 60),
    "warmup-cosine": (ours.WarmupCosineLR,
                      dict(warmup_steps=10, total_steps=50, warmup_start_factor=0.1),
                      lambda o: _warmup_cosine_ref(o, 10, 50, warmup_start_factor=0.1), 51),
    "warmup-cosine-eta-min": (ours.WarmupCosineLR,
                              dict(warmup_steps=5, total_steps=30, eta_min=0.005,
                                   warmup_start_factor=0.25),
                              lambda o: _warmup_cosine_ref(o, 5, 30, 0.005, 0.25), 31),
    "warmup-cosine-f=1": (ours.WarmupCosineLR,
                          dict(warmup_steps=4, total_steps=40, warmup_start_factor=1.0),
                          lambda o: _warmup_cosine_ref(o, 4, 40, 0.0, 1.0), 41),
    "inverse-sqrt": (ours.InverseSqrtLR, dict(d_model=64, warmup_steps=10),
                     lambda o: tls.LambdaLR(o, _noam(64, 10)), 50),
    "inverse-sqrt-scaled": (ours.InverseSqrtLR, dict(d_model=512, warmup_steps=4000, scale=2.0),
                            lambda o: tls.LambdaLR(o, _noam(512, 4000, 2.0)), 50),
    "inverse-sqrt-no-warmup": (ours.InverseSqrtLR, dict(d_model=16, warmup_steps=0),
                               lambda o: tls.LambdaLR(o, _noam(16, 0)), 50),
}


def _optimizer(base_lrs=BASE_LRS, cls=SGD):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in base_lrs]
    return cls(groups, momentum=0.9)


def _lr_sequence(sched, steps):
    """The rate each of ``steps`` optimiser steps used, shape (steps, groups)."""
    lrs = []
    for _ in range(steps):
        lrs.append([g["lr"] for g in sched.optimizer.param_groups])
        assert lrs[-1] == sched.get_last_lr()
        sched.optimizer.step()
        sched.step()
    return torch.tensor(lrs, dtype=torch.float64)


@pytest.mark.parametrize("name", SPECS)
def test_matches_torch_with_param_groups(name):
    cls, kwargs, reference, steps = SPECS[name]
    got = _lr_sequence(cls(_optimizer(), **kwargs), steps)
    want = _lr_sequence(reference(_optimizer()), steps)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", SPECS)
def test_works_with_torch_optimizers(name):
    cls, kwargs, _, steps = SPECS[name]
    got = _lr_sequence(cls(_optimizer(cls=torch.optim.SGD), **kwargs), steps)
    want = _lr_sequence(cls(_optimizer(), **kwargs), steps)
    assert torch.equal(got, want)


@pytest.mark.parametrize("name", SPECS)
def test_state_dict_round_trip_resumes_the_sequence(name):
    cls, kwargs, _, steps = SPECS[name]
    whole = _lr_sequence(cls(_optimizer(), **kwargs), steps)
    first = cls(_optimizer(), **kwargs)
    head = _lr_sequence(first, steps // 2)
    saved_opt, saved_sched = first.optimizer.state_dict(), first.state_dict()
    opt = _optimizer()
    second = cls(opt, **kwargs)
    opt.load_state_dict(saved_opt)
    second.load_state_dict(saved_sched)
    tail = _lr_sequence(second, steps - steps // 2)
    assert torch.equal(torch.cat([head, tail]), whole)


@pytest.mark.parametrize(
    ("sched", "expected"),
    [  # hand-computed, base rate 1
        (lambda o: ours.StepLR(o, step_size=2, gamma=0.5), [1, 1, 0.5, 0.5, 0.25, 0.25]),
        (lambda o: ours.ExponentialLR(o, gamma=0.5), [1, 0.5, 0.25, 0.125, 0.0625, 0.03125]),
        (lambda o: ours.CosineAnnealingLR(o, T_max=2, eta_min=0.5),
         [1, 0.75, 0.5, 0.75, 1, 0.75]),
        (lambda o: ours.WarmupCosineLR(o, warmup_steps=2, total_steps=4, eta_min=0.5,
                                       warmup_start_factor=0.5),
         [0.5, 0.75, 1, 0.75, 0.5, 0.5]),
        (lambda o: ours.WarmupCosineLR(o, warmup_steps=0, total_steps=2),
         [1, 0.5, 0, 0, 0, 0]),
        # d_model=4, w=4: 0.5 * min(t^-0.5, t/8) for t = 1..6
        (lambda o: ours.InverseSqrtLR(o, d_model=4, warmup_steps=4),
         [1 / 16, 2 / 16, 3 / 16, 0.25, 0.5 / math.sqrt(5), 0.5 / math.sqrt(6)]),
    ],
)
def test_hand_computed_values(sched, expected):
    got = _lr_sequence(sched(_optimizer(base_lrs=(1.0,))), len(expected))
    torch.testing.assert_close(got[:, 0], torch.tensor(expected, dtype=torch.float64),
                               rtol=0, atol=1e-15)


def test_noam_starts_at_step_one_and_peaks_at_warmup_steps():
    sched = ours.InverseSqrtLR(_optimizer(base_lrs=(1.0,)), d_model=512, warmup_steps=40)
    lrs = _lr_sequence(sched, 80)[:, 0]
    assert lrs[0] == pytest.approx(512 ** -0.5 * 40 ** -1.5)  # step_num 1, not 0
    assert int(lrs.argmax()) == 39  # the 40th optimiser step
    assert lrs[39] == pytest.approx((512 * 40) ** -0.5)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda o: ours.StepLR(o, step_size=0), ValueError, "step_size must be >= 1, got 0"),
        (lambda o: ours.StepLR(o, step_size=-3), ValueError, "step_size must be >= 1, got -3"),
        (lambda o: ours.StepLR(o, step_size=2.5), TypeError, "step_size must be an int"),
        (lambda o: ours.StepLR(o, step_size=True), TypeError, "step_size must be an int"),
        (lambda o: ours.StepLR(o, step_size=2, gamma=0), ValueError, r"gamma .*got 0"),
        (lambda o: ours.StepLR(o, step_size=2, gamma="0.1"), TypeError, "gamma must be a number"),
        (lambda o: ours.ExponentialLR(o, gamma=-0.5), ValueError, r"gamma .*got -0.5"),
        (lambda o: ours.ExponentialLR(o, gamma=float("nan")), ValueError, "gamma .*got nan"),
        (lambda o: ours.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be >= 1, got 0"),
        (lambda o: ours.CosineAnnealingLR(o, T_max=10, eta_min=-1e-3), ValueError,
         r"eta_min .*got -0.001"),
        (lambda o: ours.WarmupCosineLR(o, warmup_steps=-1, total_steps=10), ValueError,
         "warmup_steps must be >= 0, got -1"),
        (lambda o: ours.WarmupCosineLR(o, warmup_steps=10, total_steps=10), ValueError,
         "total_steps must be > warmup_steps=10, got 10"),
        (lambda o: ours.WarmupCosineLR(o, 2, 10, warmup_start_factor=1.5), ValueError,
         r"warmup_start_factor must be in \[0, 1\], got 1.5"),
        (lambda o: ours.InverseSqrtLR(o, d_model=0), ValueError, "d_model must be >= 1, got 0"),
        (lambda o: ours.InverseSqrtLR(o, d_model=8, warmup_steps=-5), ValueError,
         "warmup_steps must be >= 0, got -5"),
        (lambda o: ours.InverseSqrtLR(o, d_model=8, scale=0.0), ValueError, r"scale .*got 0"),
        (lambda o: ours.InverseSqrtLR(o, d_model=512.0), TypeError, "d_model must be an int"),
        (lambda o: ours.StepLR([torch.zeros(1)], step_size=1), TypeError, "not an Optimizer"),
    ],
)
def test_bad_arguments_raise(make, error, match):
    opt = _optimizer()
    with pytest.raises(error, match=match):
        make(opt)
    assert [g["lr"] for g in opt.param_groups] == list(BASE_LRS)  # left untouched
