"""Optimisers against torch.optim: same start, same gradients, parameters compared."""

from __future__ import annotations

import itertools

import torch

from mlnotebook.optim import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
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


def _grid(**options) -> list[dict]:
    """Every combination of the given option values, as keyword dicts."""
    names = list(options)
    combos = itertools.product(*options.values())
    return [dict(zip(names, values, strict=True)) for values in combos]


def _compare(ours_cls, kwargs_list) -> dict[str, float]:
    ref_cls = getattr(torch.optim, ours_cls.__name__)
    return {_label(kw): _trajectory_diff(ours_cls, ref_cls, kw) for kw in kwargs_list}


@check(topic="optim", concept="adam", reference="torch.optim.Adam", tolerance=1e-10)
def adam_matches_torch():
    """Adam over betas x weight decay (L2 or decoupled) x amsgrad x maximize, 100 steps."""
    grid = _grid(lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0.0, 0.1],
                 decoupled_weight_decay=[False, True], amsgrad=[False, True],
                 maximize=[False, True])
    return _compare(Adam, [kw for kw in grid
                           if kw["weight_decay"] or not kw["decoupled_weight_decay"]])


@check(topic="optim", concept="adamw", reference="torch.optim.AdamW", tolerance=1e-10)
def adamw_matches_torch():
    """AdamW over weight decay x amsgrad x maximize, 100 steps."""
    return _compare(AdamW, _grid(lr=[0.01], weight_decay=[0.0, 0.1], amsgrad=[False, True],
                                 maximize=[False, True]))


@check(topic="optim", concept="adagrad", reference="torch.optim.Adagrad", tolerance=1e-10)
def adagrad_matches_torch():
    """Adagrad over lr decay x weight decay x initial accumulator x maximize, 100 steps."""
    return _compare(Adagrad, _grid(lr=[0.1], lr_decay=[0.0, 0.01], weight_decay=[0.0, 0.1],
                                   initial_accumulator_value=[0.0, 0.5],
                                   maximize=[False, True]))


@check(topic="optim", concept="rmsprop", reference="torch.optim.RMSprop", tolerance=1e-10)
def rmsprop_matches_torch():
    """RMSprop over alpha x weight decay x momentum x centred x maximize, 100 steps."""
    return _compare(RMSprop, _grid(lr=[0.01], alpha=[0.99, 0.9], weight_decay=[0.0, 0.1],
                                   momentum=[0.0, 0.9], centered=[False, True],
                                   maximize=[False, True]))


@check(topic="optim", concept="adadelta", reference="torch.optim.Adadelta", tolerance=1e-10)
def adadelta_matches_torch():
    """Adadelta over lr x rho x weight decay x maximize, 100 steps."""
    return _compare(Adadelta, _grid(lr=[1.0, 0.5], rho=[0.9, 0.5], weight_decay=[0.0, 0.1],
                                    maximize=[False, True]))


def _label(kwargs: dict) -> str:
    """A short case name: numeric options that are set, then the flags that are on."""
    short = {"momentum": "mu", "dampening": "damp", "weight_decay": "wd", "lr": "lr",
             "lr_decay": "lr_decay", "initial_accumulator_value": "acc0"}
    parts = []
    for k, v in kwargs.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, tuple):
            parts.append(f"{k}=({', '.join(f'{x:g}' for x in v)})")
        elif v or k == "lr":
            parts.append(f"{short.get(k, k)}={v:g}")
    parts += [k.replace("decoupled_weight_decay", "decoupled") for k, v in kwargs.items()
              if v is True]
    return " ".join(parts)
