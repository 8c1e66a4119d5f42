"""Adadelta, written out as torch.optim.Adadelta defines it."""

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


class Adadelta(Optimizer):
    r"""Adadelta: the step's units come from a running RMS of past steps over one of gradients.

    The same update, arguments and defaults as :class:`torch.optim.Adadelta`, so it is a
    drop-in replacement.

    .. code-block:: text

        input: lr, rho, eps, weight_decay lambda, maximize
        v = 0, u = 0
        for t = 1, 2, ...:
            g = grad f(theta)                          (negated if maximize)
            if lambda != 0: g = g + lambda * theta     # L2 in the gradient
            v = rho * v + (1 - rho) * g * g            # mean square of gradients
            delta = sqrt(u + eps) / sqrt(v + eps) * g  # eps INSIDE both roots
            u = rho * u + (1 - rho) * delta * delta    # mean square of steps
            theta = theta - lr * delta

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimise, or dicts defining parameter groups.
    lr : float, default=1.0
        Factor on the step ``delta`` before it is applied.
    rho : float, default=0.9
        Decay rate of both running averages, in [0, 1].
    eps : float, default=1e-6
        Added to both mean squares inside their square roots.
    weight_decay : float, default=0
        L2 penalty added to the gradient.
    foreach : bool or None, default=None
        Take the multi-tensor path; None means: when all parameters are on CUDA.
    maximize : bool, default=False
        Ascend the objective instead of descending.

    Notes
    -----
    ``eps`` goes inside both square roots, ``sqrt(u + eps) / sqrt(v + eps)``; in the
    numerator it is what starts the process, since ``u`` is zero at first, so the first
    step has size about ``sqrt(eps / (1 - rho))`` for any ``|g|`` well above
    ``sqrt(eps)``. The paper's method has no learning rate; ``lr`` multiplies ``delta``
    after ``u`` has been updated with the unscaled ``delta``, so ``lr = 1`` is the
    paper's method and other values do not feed back into ``u``.

    State, as in PyTorch: ``state["step"]`` (a scalar tensor, counted but unused by the
    update), ``square_avg`` (``v``) and ``acc_delta`` (``u``), created on a parameter's
    first step; state dicts can be exchanged with torch.optim.Adadelta.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = Adadelta([w])
    >>> (w ** 2).sum().backward()
    >>> _ = opt.step()
    >>> w.detach()   # first step: sqrt(eps) / sqrt(0.1 * g * g + eps) * g, about 0.003
    tensor([ 0.9968, -1.9968])
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False):
        check_number("lr", lr)
        check_number("rho", rho, high=1.0, high_inclusive=True)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_flag("foreach", foreach, allow_none=True)
        check_flag("maximize", maximize)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)

    def _gather(self, group: dict) -> tuple[list, ...]:
        """Parameters with gradients, their gradients and their state (created lazily)."""
        params, grads = params_with_grads(group, type(self).__name__)
        square_avgs, acc_deltas, steps = [], [], []
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = new_step_counter()
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            square_avgs.append(state["square_avg"])
            acc_deltas.append(state["acc_delta"])
            steps.append(state["step"])
        return params, grads, square_avgs, acc_deltas, steps

    @torch.no_grad()
    def step(self, closure=None):
        """Take one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lists = self._gather(group)
            if not lists[0]:
                continue
            update = (adadelta_foreach if use_foreach(group["foreach"], lists[0])
                      else adadelta_readable)
            update(*lists, lr=group["lr"], rho=group["rho"], eps=group["eps"],
                   weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss


def adadelta_readable(params, grads, square_avgs, acc_deltas, steps, *, lr, rho, eps,
                      weight_decay, maximize) -> None:
    """The per-parameter loop: the docstring's pseudo-code, one tensor at a time."""
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        v, u = square_avgs[i], acc_deltas[i]
        steps[i] += 1
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        v.mul_(rho).addcmul_(g, g, value=1 - rho)
        std = v.add(eps).sqrt_()
        delta = u.add(eps).sqrt_().div_(std).mul_(g)
        u.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        p.add_(delta, alpha=-lr)


def adadelta_foreach(params, grads, square_avgs, acc_deltas, steps, *, lr, rho, eps,
                     weight_decay, maximize) -> None:
    """The multi-tensor path: the same arithmetic, one ``_foreach`` call per line."""
    for p, g, v, u, t in by_device_and_dtype(params, grads, square_avgs, acc_deltas, steps):
        if maximize:
            g = torch._foreach_neg(g)
        torch._foreach_add_(t, 1)
        if weight_decay != 0:
            g = torch._foreach_add(g, p, alpha=weight_decay)
        torch._foreach_mul_(v, rho)
        torch._foreach_addcmul_(v, g, g, 1 - rho)
        std = torch._foreach_add(v, eps)
        torch._foreach_sqrt_(std)
        delta = torch._foreach_add(u, eps)
        torch._foreach_sqrt_(delta)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, g)
        torch._foreach_mul_(u, rho)
        torch._foreach_addcmul_(u, delta, delta, 1 - rho)
        torch._foreach_add_(p, delta, alpha=-lr)
