"""Optimisers against torch.optim: same start, same gradients, parameters compared."""

from __future__ import annotations

import itertools

import torch

from mlnotebook.optim import SGD
from mlnotebook.verify._base import check


def _trajectory_diff(ours_cls, ref_cls, kwargs: dict, steps: int = 100, seed: int = 0) -> float:
    """Max |ours - reference| over parameters after ``steps`` steps on a float64 problem.

    The problem is a small least-squares fit with two parameter groups' worth of tensors, so
    the gradients change from step to step, as in training.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    w0 = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    b0 = torch.randn(3, generator=gen, dtype=torch.float64)
    finals = []
    for cls in (ours_cls, ref_cls):
        w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
        opt = cls([w, b], **kwargs)
        for _ in range(steps):
            opt.zero_grad()
            ((x @ w + b - y) ** 2).mean().backward()
            opt.step()
        finals.append(torch.cat([w.detach().ravel(), b.detach()]))
    return float((finals[0] - finals[1]).abs().max())


def _sgd_grid():
    for mu, tau, wd, nesterov, maximize in itertools.product(
        (0.0, 0.9), (0.0, 0.3), (0.0, 1e-2), (False, True), (False, True)
    ):
        if nesterov and (mu == 0 or tau != 0):
            continue  # torch refuses these combinations too
        yield dict(lr=0.05, momentum=mu, dampening=tau, weight_decay=wd,
                   nesterov=nesterov, maximize=maximize)


@check(topic="optim", concept="sgd", reference="torch.optim.SGD", tolerance=1e-10)
def sgd_matches_torch():
    """SGD over momentum x dampening x weight decay x nesterov x maximize, 100 steps."""
    return {_label(kw): _trajectory_diff(SGD, torch.optim.SGD, kw) for kw in _sgd_grid()}


def _label(kwargs: dict) -> str:
    """A short case name: numeric options that are set, then the flags that are on."""
    short = {"momentum": "mu", "dampening": "damp", "weight_decay": "wd", "lr": "lr"}
    parts = [f"{short.get(k, k)}={v:g}" for k, v in kwargs.items()
             if not isinstance(v, bool) and (v or k == "lr")]
    parts += [k for k, v in kwargs.items() if v is True]
    return " ".join(parts)
