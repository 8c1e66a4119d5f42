"""RMSprop, written out as torch.optim.RMSprop defines it."""

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


class RMSprop(Optimizer):
    r"""RMSprop: each coordinate's step is divided by a running RMS of its gradient.

    The same update, arguments and defaults as :class:`torch.optim.RMSprop`, so it is a
    drop-in replacement.

    .. code-block:: text

        input: lr, alpha, eps, weight_decay lambda, momentum mu, centered, maximize
        v = 0, gbar = 0, b = 0
        for t = 1, 2, ...:
            g = grad f(theta)                          (negated if maximize)
            if lambda != 0: g = g + lambda * theta     # L2 in the gradient
            v = alpha * v + (1 - alpha) * g * g        # mean square
            if centered:
                gbar = alpha * gbar + (1 - alpha) * g  # mean (torch: lerp)
                denom = sqrt(v - gbar * gbar) + eps    # root of the variance
            else:
                denom = sqrt(v) + eps                  # eps OUTSIDE the root
            if mu > 0:
                b = mu * b + g / denom                 # momentum on the scaled step
                theta = theta - lr * b
            else:
                theta = theta - lr * g / denom

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimise, or dicts defining parameter groups.
    lr : float, default=1e-2
        Learning rate.
    alpha : float, default=0.99
        Smoothing constant of the running averages, >= 0.
    eps : float, default=1e-8
        Added to the root of the (centred) mean square, outside the square root.
    weight_decay : float, default=0
        L2 penalty added to the gradient.
    momentum : float, default=0
        Momentum factor ``mu``; 0 turns momentum off.
    centered : bool, default=False
        Divide by the root of an estimate of the gradient's variance instead of its mean
        square (Graves, 2013).
    foreach : bool or None, default=None
        Take the multi-tensor path; None means: when all parameters are on CUDA.
    maximize : bool, default=False
        Ascend the objective instead of descending.

    Notes
    -----
    ``eps`` is added after the square root, ``sqrt(v) + eps`` (TensorFlow adds it inside).
    Centred, the variance estimate is ``v - gbar**2``, both running averages taken with
    the same ``alpha`` and started at zero. Momentum, when on, accumulates the already
    scaled step ``g / denom``, and the learning rate multiplies the buffer, so ``lr`` can
    be changed mid-run without rescaling the buffer. There is no bias correction.

    State, as in PyTorch: ``state["step"]`` (a scalar tensor, counted but unused by the
    update), ``square_avg``, ``momentum_buffer`` when ``momentum > 0`` and ``grad_avg``
    when centred, created on a parameter's first step; state dicts can be exchanged with
    torch.optim.RMSprop. PyTorch's ``capturable`` and ``differentiable`` are not offered;
    ``foreach`` and ``maximize`` are keyword-only here, because torch's positional
    ``capturable`` comes before them.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = RMSprop([w], lr=0.01)
    >>> (w ** 2).sum().backward()
    >>> _ = opt.step()
    >>> w.detach()   # first step: lr * g / sqrt(0.01 * g * g) = 10 * lr per coordinate
    tensor([ 0.9000, -1.9000])
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False):
        check_number("lr", lr)
        check_number("alpha", alpha)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_number("momentum", momentum)
        check_flag("centered", centered)
        check_flag("foreach", foreach, allow_none=True)
        check_flag("maximize", maximize)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)

    def _gather(self, group: dict) -> tuple[list, ...]:
        """Parameters with gradients, their gradients and their state (created lazily).

        The optional buffers are also made when a group turns momentum or centring on
        mid-run, starting from zero.
        """
        params, grads = params_with_grads(group, type(self).__name__)
        square_avgs, grad_avgs, momentum_buffers, steps = [], [], [], []
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = new_step_counter()
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["momentum"] > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
            if group["centered"] and "grad_avg" not in state:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            square_avgs.append(state["square_avg"])
            grad_avgs.append(state.get("grad_avg"))
            momentum_buffers.append(state.get("momentum_buffer"))
            steps.append(state["step"])
        return params, grads, square_avgs, grad_avgs, momentum_buffers, steps

    @torch.no_grad()
    def step(self, closure=None):
        """Take one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lists = self._gather(group)
            if not lists[0]:
                continue
            update = (rmsprop_foreach if use_foreach(group["foreach"], lists[0])
                      else rmsprop_readable)
            update(*lists, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                   weight_decay=group["weight_decay"], momentum=group["momentum"],
                   centered=group["centered"], maximize=group["maximize"])
        return loss


def rmsprop_readable(params, grads, square_avgs, grad_avgs, momentum_buffers, steps, *, lr,
                     alpha, eps, weight_decay, momentum, centered, maximize) -> None:
    """The per-parameter loop: the docstring's pseudo-code, one tensor at a time."""
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        v = square_avgs[i]
        steps[i] += 1
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if centered:
            gbar = grad_avgs[i]
            gbar.lerp_(g, 1 - alpha)
            denom = v.addcmul(gbar, gbar, value=-1).sqrt_()
        else:
            denom = v.sqrt()
        denom.add_(eps)
        if momentum > 0:
            b = momentum_buffers[i]
            b.mul_(momentum).addcdiv_(g, denom)
            p.add_(b, alpha=-lr)
        else:
            p.addcdiv_(g, denom, value=-lr)


def rmsprop_foreach(params, grads, square_avgs, grad_avgs, momentum_buffers, steps, *, lr,
                    alpha, eps, weight_decay, momentum, centered, maximize) -> None:
    """The multi-tensor path: the same arithmetic, one ``_foreach`` call per line."""
    for p, g, v, gbar, b, t in by_device_and_dtype(params, grads, square_avgs, grad_avgs,
                                                    momentum_buffers, steps):
        if maximize:
            g = torch._foreach_neg(g)
        torch._foreach_add_(t, 1)
        if weight_decay != 0:
            g = torch._foreach_add(g, p, alpha=weight_decay)
        torch._foreach_mul_(v, alpha)
        torch._foreach_addcmul_(v, g, g, 1 - alpha)
        if centered:
            torch._foreach_lerp_(gbar, g, 1 - alpha)
            denom = torch._foreach_addcmul(v, gbar, gbar, -1)
            torch._foreach_sqrt_(denom)
        else:
            denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, eps)
        if momentum > 0:
            torch._foreach_mul_(b, momentum)
            torch._foreach_addcdiv_(b, g, denom)
            torch._foreach_add_(p, b, alpha=-lr)
        else:
            torch._foreach_addcdiv_(p, g, denom, -lr)
