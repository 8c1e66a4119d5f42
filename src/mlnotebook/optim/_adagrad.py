"""Adagrad, written out as torch.optim.Adagrad defines it."""

from __future__ import annotations

import torch
from torch.optim import Optimizer

from mlnotebook.optim._base import (
    by_device_and_dtype,
    check_flag,
    check_number,
    evaluate_closure,
    new_step_counter,
    params_with_grads,
    use_foreach,
)


class Adagrad(Optimizer):
    r"""Adagrad: each coordinate's step is divided by the root of its summed squared gradients.

    The same update, arguments and defaults as :class:`torch.optim.Adagrad` (dense gradients
    only), so it is a drop-in replacement.

    .. code-block:: text

        input: lr, lr_decay eta, weight_decay lambda, initial_accumulator_value tau, eps,
               maximize
        s = tau                                        # per coordinate, set at construction
        for t = 1, 2, ...:
            g = grad f(theta)                          (negated if maximize)
            if lambda != 0: g = g + lambda * theta     # L2 in the gradient
            lr_t = lr / (1 + (t - 1) * eta)            # decayed learning rate
            s = s + g * g                              # sum of squares, never forgotten
            theta = theta - lr_t * g / (sqrt(s) + eps) # eps OUTSIDE the root

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimise, or dicts defining parameter groups.
    lr : float, default=1e-2
        Learning rate before decay.
    lr_decay : float, default=0
        Decay ``eta`` of the learning rate: step ``t`` uses ``lr / (1 + (t - 1) * eta)``.
    weight_decay : float, default=0
        L2 penalty added to the gradient.
    initial_accumulator_value : float, default=0
        Starting value ``tau`` of every coordinate of the sum of squared gradients.
    eps : float, default=1e-10
        Added to the root of the sum, outside the square root.
    foreach : bool or None, default=None
        Take the multi-tensor path; None means: when all parameters are on CUDA.
    maximize : bool, default=False
        Ascend the objective instead of descending.

    Notes
    -----
    The decayed rate is ``lr / (1 + (t - 1) * lr_decay)`` with the per-parameter step count
    ``t`` starting at 1, so the first step uses ``lr`` itself. ``eps`` is added after the
    square root: the denominator is ``sqrt(s) + eps``, not ``sqrt(s + eps)``.

    As in PyTorch, the state of every parameter (``state["step"]``, a scalar tensor, and
    ``state["sum"]``) is created at construction, filled with ``initial_accumulator_value``;
    state dicts can be exchanged with torch.optim.Adagrad. One deliberate difference: a
    parameter group's own ``initial_accumulator_value`` is honoured here, where PyTorch
    always uses the constructor's. Sparse gradients, which PyTorch's Adagrad accepts,
    raise a TypeError here.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = Adagrad([w], lr=0.1)
    >>> (w ** 2).sum().backward()
    >>> _ = opt.step()
    >>> w.detach()   # the first step moves every coordinate by lr: g / sqrt(g * g)
    tensor([ 0.9000, -1.9000])
    >>> opt.state[w]["sum"]   # g * g, with g = 2 * w
    tensor([ 4., 16.])
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False):
        check_number("lr", lr)
        check_number("lr_decay", lr_decay)
        check_number("weight_decay", weight_decay)
        check_number("initial_accumulator_value", initial_accumulator_value)
        check_number("eps", eps)
        check_flag("foreach", foreach, allow_none=True)
        check_flag("maximize", maximize)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)
        # Eager, as in PyTorch: the accumulator starts at tau, not at zero.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)

    def _init_state(self, p: torch.Tensor, group: dict) -> dict:
        """The parameter's state, made first if it has none."""
        state = self.state[p]
        if not state:
            state["step"] = new_step_counter()
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"],
                                           memory_format=torch.preserve_format)
        return state

    def _gather(self, group: dict) -> tuple[list, ...]:
        """Parameters with gradients, their gradients and their state.

        State is normally made in ``__init__``; it is made here for parameters that have
        none (added with ``add_param_group``, or missing from a loaded state dict).
        """
        params, grads = params_with_grads(group, type(self).__name__)
        sums, steps = [], []
        for p in params:
            state = self._init_state(p, group)
            sums.append(state["sum"])
            steps.append(state["step"])
        return params, grads, sums, steps

    @torch.no_grad()
    def step(self, closure=None):
        """Take one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lists = self._gather(group)
            if not lists[0]:
                continue
            update = (adagrad_foreach if use_foreach(group["foreach"], lists[0])
                      else adagrad_readable)
            update(*lists, lr=group["lr"], lr_decay=group["lr_decay"],
                   weight_decay=group["weight_decay"], eps=group["eps"],
                   maximize=group["maximize"])
        return loss


def adagrad_readable(params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps,
                     maximize) -> None:
    """The per-parameter loop: the docstring's pseudo-code, one tensor at a time."""
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        steps[i] += 1
        t = steps[i].item()
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        sums[i].addcmul_(g, g, value=1)
        std = sums[i].sqrt().add_(eps)
        p.addcdiv_(g, std, value=-lr_t)


def adagrad_foreach(params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps,
                    maximize) -> None:
    """The multi-tensor path: the same arithmetic, one ``_foreach`` call per line."""
    for p, g, s, t in by_device_and_dtype(params, grads, sums, steps):
        if maximize:
            g = torch._foreach_neg(g)
        torch._foreach_add_(t, 1)
        if weight_decay != 0:
            g = torch._foreach_add(g, p, alpha=weight_decay)
        lr_ts = [lr / (1 + (c.item() - 1) * lr_decay) for c in t]
        torch._foreach_addcmul_(s, g, g, 1)
        std = torch._foreach_sqrt(s)
        torch._foreach_add_(std, eps)
        torch._foreach_addcdiv_(p, g, std, [-lr_t for lr_t in lr_ts])
