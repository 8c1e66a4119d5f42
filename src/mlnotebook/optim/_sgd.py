"""Stochastic gradient descent with momentum, written out as torch.optim.SGD defines it."""

from __future__ import annotations

import torch
from torch.optim import Optimizer


def _check_nonnegative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value >= 0.0:  # also catches NaN
        raise ValueError(f"{name} must be >= 0, got {value}")


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
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        for name, value in (("lr", lr), ("momentum", momentum), ("dampening", dampening),
                            ("weight_decay", weight_decay)):
            _check_nonnegative(name, value)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={momentum}, dampening={dampening}"
            )
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)

    @torch.no_grad()
    def step(self, closure=None):
        """Take one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError("SGD does not support sparse gradients; use dense parameters")
                g = -p.grad if group["maximize"] else p.grad
                if group["weight_decay"] != 0:
                    g = g.add(p, alpha=group["weight_decay"])
                if mu != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = torch.clone(g).detach()
                    else:
                        buf.mul_(mu).add_(g, alpha=1 - tau)
                    g = g.add(buf, alpha=mu) if group["nesterov"] else buf
                p.add_(g, alpha=-lr)
        return loss
