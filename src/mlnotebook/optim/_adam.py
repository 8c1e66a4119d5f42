"""Adam and AdamW, written out as torch.optim.Adam and torch.optim.AdamW define them."""

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


class Adam(Optimizer):
    r"""Adam: momentum on the gradient, scaled per coordinate by a running RMS of it.

    The same update, arguments and defaults as :class:`torch.optim.Adam`, so it is a
    drop-in replacement.

    .. code-block:: text

        input: lr, beta1, beta2, eps, weight_decay lambda, amsgrad, maximize, decoupled
        m = 0, v = 0, vmax = 0
        for t = 1, 2, ...:
            g = grad f(theta)                          (negated if maximize)
            if lambda != 0:
                if decoupled: theta = theta * (1 - lr * lambda)        # AdamW
                else:         g = g + lambda * theta                   # L2 in the gradient
            m = beta1 * m + (1 - beta1) * g            # first moment (torch: lerp)
            v = beta2 * v + (1 - beta2) * g * g        # second moment
            if amsgrad: vmax = max(vmax, v); v_used = vmax  else: v_used = v
            denom = sqrt(v_used) / sqrt(1 - beta2^t) + eps       # eps OUTSIDE the root
            theta = theta - lr / (1 - beta1^t) * m / denom

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimise, or dicts defining parameter groups.
    lr : float, default=1e-3
        Learning rate.
    betas : tuple of (float, float), default=(0.9, 0.999)
        Decay rates of the first and second moment averages, each in [0, 1).
    eps : float, default=1e-8
        Added to the bias-corrected root of the second moment, outside the square root.
    weight_decay : float, default=0
        L2 penalty added to the gradient, or with ``decoupled_weight_decay`` a decay of the
        parameters themselves (AdamW).
    amsgrad : bool, default=False
        Use the running maximum of the second moment (Reddi et al., 2018).
    foreach : bool or None, default=None
        Take the multi-tensor path; None means: when all parameters are on CUDA.
    maximize : bool, default=False
        Ascend the objective instead of descending.
    decoupled_weight_decay : bool, default=False
        Apply weight decay as ``theta *= 1 - lr * weight_decay`` before the update.

    Notes
    -----
    The bias corrections use the per-parameter step count ``t``, kept (as in PyTorch) as a
    scalar tensor ``state["step"]`` beside ``exp_avg``, ``exp_avg_sq`` and, with amsgrad,
    ``max_exp_avg_sq``; state dicts can be exchanged with torch.optim.Adam.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = Adam([w], lr=0.1)
    >>> (w ** 2).sum().backward()
    >>> _ = opt.step()
    >>> w.detach()   # the first step moves every coordinate by about lr
    tensor([ 0.9000, -1.9000])
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        check_number("lr", lr)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of numbers, got {betas!r}")
        check_number("betas[0]", betas[0], high=1.0)
        check_number("betas[1]", betas[1], high=1.0)
        check_flag("amsgrad", amsgrad)
        check_flag("maximize", maximize)
        check_flag("decoupled_weight_decay", decoupled_weight_decay)
        check_flag("foreach", foreach, allow_none=True)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("decoupled_weight_decay", False)

    def _gather(self, group: dict) -> tuple[list, ...]:
        """Parameters with gradients, their gradients and their state (created lazily)."""
        params, grads = params_with_grads(group, type(self).__name__)
        exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = [], [], [], []
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = new_step_counter()
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            max_exp_avg_sqs.append(state.get("max_exp_avg_sq"))
            steps.append(state["step"])
        return params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps

    @torch.no_grad()
    def step(self, closure=None):
        """Take one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            lists = self._gather(group)
            if not lists[0]:
                continue
            beta1, beta2 = group["betas"]
            update = adam_foreach if use_foreach(group["foreach"], lists[0]) else adam_readable
            update(*lists, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                   weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                   maximize=group["maximize"], decoupled=group["decoupled_weight_decay"])
        return loss


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    :class:`Adam` with ``decoupled_weight_decay=True`` and ``weight_decay=1e-2`` by default,
    as :class:`torch.optim.AdamW`: the parameters shrink by ``1 - lr * weight_decay`` each
    step, outside the adaptive scaling, instead of the penalty entering the gradient.
    See :class:`Adam` for the update and the other parameters.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         decoupled_weight_decay=True)


def adam_readable(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1,
                  beta2, eps, weight_decay, amsgrad, maximize, decoupled) -> None:
    """The per-parameter loop: the docstring's pseudo-code, one tensor at a time."""
    for i, p in enumerate(params):
        g = -grads[i] if maximize else grads[i]
        m, v = exp_avgs[i], exp_avg_sqs[i]
        steps[i] += 1
        t = steps[i].item()
        if weight_decay != 0:
            if decoupled:
                p.mul_(1 - lr * weight_decay)
            else:
                g = g.add(p, alpha=weight_decay)
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if amsgrad:
            torch.maximum(max_exp_avg_sqs[i], v, out=max_exp_avg_sqs[i])
            v = max_exp_avg_sqs[i]
        denom = (v.sqrt() / (1 - beta2**t) ** 0.5).add_(eps)
        p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))


def adam_foreach(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1,
                 beta2, eps, weight_decay, amsgrad, maximize, decoupled) -> None:
    """The multi-tensor path: the same arithmetic, one ``_foreach`` call per line."""
    for p, g, m, v, vmax, t in by_device_and_dtype(params, grads, exp_avgs, exp_avg_sqs,
                                                   max_exp_avg_sqs, steps):
        if maximize:
            g = torch._foreach_neg(g)
        torch._foreach_add_(t, 1)
        if weight_decay != 0:
            if decoupled:
                torch._foreach_mul_(p, 1 - lr * weight_decay)
            else:
                g = torch._foreach_add(g, p, alpha=weight_decay)
        torch._foreach_lerp_(m, g, 1 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, g, g, 1 - beta2)
        if amsgrad:
            torch._foreach_maximum_(vmax, v)
            v = vmax
        counts = [s.item() for s in t]
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, [(1 - beta2**c) ** 0.5 for c in counts])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(p, m, denom, [-lr / (1 - beta1**c) for c in counts])
