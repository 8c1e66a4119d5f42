"""Pieces every optimiser here shares: argument checks, closures, state, the fast-path choice.

Each optimiser has exactly two code paths: a readable loop over parameters that mirrors
its docstring (the ground truth), and a multi-tensor path built from ``torch._foreach_*``
ops that does the same arithmetic on whole lists of tensors at once. Like torch.optim,
``foreach=None`` picks the multi-tensor path when every parameter is on a CUDA device,
where it saves kernel launches; on the CPU the per-parameter loop is as fast or faster,
because each tensor's update stays in cache while its few passes over memory run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

import torch


def check_number(name: str, value, *, low: float = 0.0, high: float | None = None,
                 high_inclusive: bool = False) -> None:
    """Raise TypeError unless ``value`` is a real number, ValueError unless it is in range.

    The range is ``low <= value`` and, when ``high`` is given, ``value < high`` (or
    ``<= high`` with ``high_inclusive``). NaN is always out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    ok = value >= low and not math.isnan(value)
    if high is not None:
        ok = ok and (value <= high if high_inclusive else value < high)
    if not ok:
        upper = "" if high is None else (f" and <= {high:g}" if high_inclusive
                                         else f" and < {high:g}")
        raise ValueError(f"{name} must be >= {low:g}{upper}, got {value}")


def check_flag(name: str, value, *, allow_none: bool = False) -> None:
    """Raise TypeError unless ``value`` is a bool (or None when allowed)."""
    if not (isinstance(value, bool) or (allow_none and value is None)):
        kind = "a bool or None" if allow_none else "a bool"
        raise TypeError(f"{name} must be {kind}, got {value!r}")


def evaluate_closure(closure: Callable[[], torch.Tensor] | None):
    """Call ``closure`` with gradients enabled (``step`` itself runs under no_grad)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def params_with_grads(group: dict, optimiser: str) -> tuple[list, list]:
    """The group's parameters that have a gradient, and those gradients (dense only)."""
    params, grads = [], []
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise TypeError(f"{optimiser} does not support sparse gradients; got one for a "
                            f"parameter of shape {tuple(p.shape)}")
        params.append(p)
        grads.append(p.grad)
    return params, grads


def new_step_counter() -> torch.Tensor:
    """A scalar step counter as torch.optim keeps it, so state dicts are interchangeable."""
    dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return torch.tensor(0.0, dtype=dtype)


def use_foreach(foreach: bool | None, tensors: Sequence[torch.Tensor]) -> bool:
    """Whether to take the multi-tensor path (see the module docstring for the default)."""
    if foreach is None:
        return bool(tensors) and all(t.is_cuda for t in tensors)
    return foreach


def by_device_and_dtype(*lists: list) -> list[tuple[list, ...]]:
    """Split parallel lists into runs that share the first list's device and dtype.

    ``torch._foreach_*`` ops want every tensor of one call on one device with one dtype.
    Entries that are not tensors (e.g. missing state) are carried along unchanged.
    """
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, t in enumerate(lists[0]):
        groups[(t.device, t.dtype)].append(i)
    return [tuple([lst[i] for i in idx] for lst in lists) for idx in groups.values()]
