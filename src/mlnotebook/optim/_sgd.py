"""Stochastic gradient descent with momentum, written out as torch.optim.SGD defines it."""

from __future__ import annotations

import torch
from torch.optim import Optimizer

from mlnotebook.optim._base import (
    by_device_and_dtype,
    check_flag,
    check_number,
    evaluate_closure,
    params_with_grads,
    use_foreach,
)


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum and Nesterov momentum.

    The same update, arguments and defaults as :class:`torch.optim.SGD`, so it is a drop-in
    replacement. Full-batch gradient descent and minibatch SGD are this class fed by
    different data: the optimiser only ever sees the gradient it is given.

    .. code-block:: text

        input: lr, momentum mu, dampening tau, weight_decay lambda, nesterov, maximize
        for t = 1, 2, ...:
            g = grad f(theta)                     (negated if maximize)
            if lambda != 0:  g = g + lambda * theta          # L2 penalty in the gradient
            if mu != 0:
                b = g                           if t == 1
                b = mu * b + (1 - tau) * g      otherwise
                g = g + mu * b  if nesterov  else  b
            theta = theta - lr * g

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimise, or dicts defining parameter groups.
    lr : float, default=1e-3
        Learning rate.
    momentum : float, default=0
        Momentum factor ``mu``.
    dampening : float, default=0
        Dampening ``tau`` of the gradient added to the momentum buffer.
    weight_decay : float, default=0
        L2 penalty ``lambda`` added to the gradient (not decoupled; see AdamW for that).
    nesterov : bool, default=False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default=False
        Ascend the objective instead of descending.
    foreach : bool or None, default=None
        Take the multi-tensor path; None means: when all parameters are on CUDA.

    Notes
    -----
    The first momentum buffer is the first gradient itself, not ``(1 - tau) * g``, exactly
    as in PyTorch. State per parameter: ``momentum_buffer`` (absent while momentum is 0).

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> (w ** 2).sum().backward()
    >>> _ = opt.step()
    >>> w.detach()
    tensor([ 0.8000, -1.6000])
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None):
        for name, value in (("lr", lr), ("momentum", momentum), ("dampening", dampening),
                            ("weight_decay", weight_decay)):
            check_number(name, value)
        check_flag("nesterov", nesterov)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={momentum}, dampening={dampening}"
            )
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)

    @torch.no_grad()
    def step(self, closure=None):
        """Take one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            params, grads = params_with_grads(group, "SGD")
            if not params:
                continue
            buffers = [self.state[p].get("momentum_buffer") for p in params]
            update = sgd_foreach if use_foreach(group["foreach"], params) else sgd_readable
            update(params, grads, buffers, lr=group["lr"], momentum=group["momentum"],
                   dampening=group["dampening"], weight_decay=group["weight_decay"],
                   nesterov=group["nesterov"], maximize=group["maximize"])
            if group["momentum"] != 0:
                for p, buf in zip(params, buffers, strict=True):
                    self.state[p]["momentum_buffer"] = buf
        return loss


def sgd_readable(params, grads, buffers, *, lr, momentum, dampening, weight_decay, nesterov,
                 maximize) -> None:
    """The per-parameter loop; fills ``buffers[i]`` when a momentum buffer is created."""
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        if momentum != 0:
            if buffers[i] is None:
                buffers[i] = torch.clone(g).detach()
            else:
                buffers[i].mul_(momentum).add_(g, alpha=1 - dampening)
            g = g.add(buffers[i], alpha=momentum) if nesterov else buffers[i]
        p.add_(g, alpha=-lr)


def sgd_foreach(params, grads, buffers, *, lr, momentum, dampening, weight_decay, nesterov,
                maximize) -> None:
    """The multi-tensor path: the same arithmetic on whole lists of tensors."""
    index = list(range(len(params)))
    for p, g, idx in by_device_and_dtype(params, grads, index):
        if maximize:
            g = torch._foreach_neg(g)
        if weight_decay != 0:
            g = torch._foreach_add(g, p, alpha=weight_decay)
        if momentum != 0:
            old = [k for k, i in enumerate(idx) if buffers[i] is not None]
            for k, i in enumerate(idx):  # first step: the buffer is the gradient itself
                if buffers[i] is None:
                    buffers[i] = torch.clone(g[k]).detach()
            if old:
                bufs = [buffers[idx[k]] for k in old]
                torch._foreach_mul_(bufs, momentum)
                torch._foreach_add_(bufs, [g[k] for k in old], alpha=1 - dampening)
            bufs = [buffers[i] for i in idx]
            g = torch._foreach_add(g, bufs, alpha=momentum) if nesterov else bufs
        torch._foreach_add_(p, g, alpha=-lr)
