"""Learning-rate schedules against torch.optim.lr_scheduler: the rates of every step.

Each check steps ours and torch's counterpart side by side, with an optimiser of three
parameter groups (base rates 0.1, 0.03 and 1), and returns the largest difference between
the rates the optimiser steps used, per case.
"""

from __future__ import annotations

import math

import torch
from torch.optim import lr_scheduler as tls

from mlnotebook.optim import SGD
from mlnotebook.optim import lr_scheduler as ours
from mlnotebook.verify._base import check

_BASE_LRS = (0.1, 0.03, 1.0)


def _rates(make_scheduler, steps: int) -> list[list[float]]:
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in _BASE_LRS]
    opt = SGD(groups, momentum=0.9)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append([group["lr"] for group in opt.param_groups])
        opt.step()
        sched.step()
    return rates


def _max_diff(make_ours, make_ref, steps: int) -> float:
    pairs = zip(_rates(make_ours, steps), _rates(make_ref, steps), strict=True)
    return max(abs(a - b) for row_a, row_b in pairs for a, b in zip(row_a, row_b, strict=True))


@check(topic="optim", concept="learning-rate-schedules",
       reference="torch.optim.lr_scheduler.StepLR", tolerance=1e-12)
def schedule_step_lr_matches_torch():
    """StepLR over step_size x gamma, 100 steps."""
    return {f"step_size={s} gamma={g:g}": _max_diff(
        lambda o, s=s, g=g: ours.StepLR(o, step_size=s, gamma=g),
        lambda o, s=s, g=g: tls.StepLR(o, step_size=s, gamma=g), 100)
        for s in (1, 7, 30) for g in (0.1, 0.5, 1.05)}


@check(topic="optim", concept="learning-rate-schedules",
       reference="torch.optim.lr_scheduler.ExponentialLR", tolerance=1e-12)
def schedule_exponential_lr_matches_torch():
    """ExponentialLR for decaying and growing gamma, 100 steps."""
    return {f"gamma={g:g}": _max_diff(lambda o, g=g: ours.ExponentialLR(o, gamma=g),
                                      lambda o, g=g: tls.ExponentialLR(o, gamma=g), 100)
            for g in (0.5, 0.95, 0.999, 1.01)}


@check(topic="optim", concept="learning-rate-schedules",
       reference="torch.optim.lr_scheduler.CosineAnnealingLR", tolerance=1e-12)
def schedule_cosine_annealing_lr_matches_torch():
    """CosineAnnealingLR over T_max x eta_min, for 3 T_max steps (past T_max the rate rises)."""
    return {f"T_max={t} eta_min={m:g}": _max_diff(
        lambda o, t=t, m=m: ours.CosineAnnealingLR(o, T_max=t, eta_min=m),
        lambda o, t=t, m=m: tls.CosineAnnealingLR(o, T_max=t, eta_min=m), 3 * t + 1)
        for t in (1, 10, 100) for m in (0.0, 1e-3)}


@check(topic="optim", concept="learning-rate-schedules",
       reference="torch.optim.lr_scheduler.SequentialLR([LinearLR, CosineAnnealingLR])",
       tolerance=1e-12)
def schedule_warmup_cosine_lr_matches_torch():
    """WarmupCosineLR up to total_steps, where torch's chained pair coincides with it."""
    def reference(opt, w, total, eta_min, f):
        warm = tls.LinearLR(opt, start_factor=f, total_iters=w)
        cosine = tls.CosineAnnealingLR(opt, T_max=total - w, eta_min=eta_min)
        return tls.SequentialLR(opt, [warm, cosine], milestones=[w])

    cases = {}
    for args in ((10, 100, 0.0, 0.01), (25, 60, 1e-3, 0.5), (1, 50, 0.0, 0.1)):
        w, total, eta_min, f = args
        cases[f"warmup={w} total={total} eta_min={eta_min:g} start={f:g}"] = _max_diff(
            lambda o, a=args: ours.WarmupCosineLR(o, *a[:3], warmup_start_factor=a[3]),
            lambda o, a=args: reference(o, *a), total + 1)
    return cases


@check(topic="optim", concept="learning-rate-schedules",
       reference="torch.optim.lr_scheduler.LambdaLR(noam)", tolerance=1e-12)
def schedule_inverse_sqrt_lr_matches_torch():
    """InverseSqrtLR against LambdaLR with the Noam formula at step_num = e + 1."""
    def noam(d_model, warmup, scale):
        def factor(e):
            t = e + 1
            ramp = t * warmup ** -1.5 if warmup else math.inf
            return scale * d_model ** -0.5 * min(t ** -0.5, ramp)
        return factor

    cases = {}
    for (d, w, scale), steps in (((512, 4000, 1.0), 6000), ((64, 50, 2.0), 200),
                                 ((16, 0, 1.0), 100)):
        cases[f"d_model={d} warmup={w} scale={scale:g}"] = _max_diff(
            lambda o, a=(d, w, scale): ours.InverseSqrtLR(o, *a),
            lambda o, a=(d, w, scale): tls.LambdaLR(o, noam(*a)), steps)
    return cases
