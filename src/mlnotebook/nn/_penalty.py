"""Explicit norm penalties to add to a loss: L2 (weight decay) and L1 (sparsity)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def _check_weight_decay(weight_decay) -> float:
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)):
        raise TypeError(f"weight_decay must be a number, got {type(weight_decay).__name__}")
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
    return float(weight_decay)


def _check_params(params) -> list[torch.Tensor]:
    """``params`` as a non-empty list of tensors; a single tensor counts as one parameter."""
    if isinstance(params, torch.Tensor):
        return [params]
    if not isinstance(params, Iterable):
        raise TypeError(f"params must be a tensor or an iterable of tensors, "
                        f"got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError("params is empty: there is nothing to penalise")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"params[{i}] must be a tensor, got {type(p).__name__}")
        if not p.is_floating_point():
            raise TypeError(f"params[{i}] must be a floating-point tensor, got {p.dtype}")
    return params


def l2_penalty(params, weight_decay: float) -> torch.Tensor:
    r"""The L2 penalty ``weight_decay / 2 * sum_j w_j^2`` over every entry of ``params``.

    Add it to the loss before ``backward()``; its gradient is ``weight_decay * w``.

    Parameters
    ----------
    params : Tensor or iterable of Tensor
        The tensors to penalise, e.g. ``model.parameters()`` or only the weight matrices
        (biases and normalisation gains are usually left out). Any shapes; a generator is
        consumed once.
    weight_decay : float
        The strength ``lambda >= 0``.

    Returns
    -------
    Tensor of shape ()
        Differentiable with respect to every tensor in ``params``; dtype and device follow
        torch's promotion rules for the parameters (all on one device).

    Notes
    -----
    The factor 1/2 is there so that the gradient is ``lambda * w`` with no 2: with it,
    ``loss + l2_penalty(params, wd)`` under plain SGD (no momentum) takes exactly the step of
    ``torch.optim.SGD(params, lr, weight_decay=wd)`` on ``loss`` alone,

    .. code-block:: text

        w <- w - lr * (grad loss(w) + wd * w) = (1 - lr * wd) * w - lr * grad loss(w),

    i.e. every step multiplies the weights by ``1 - lr * wd``: weight decay. (The tests
    check the two trajectories agree in float64.) With momentum the penalty and
    ``weight_decay`` still agree, since torch's SGD also adds ``wd * w`` to the gradient
    before the momentum buffer; with Adam they agree with ``Adam(weight_decay=wd)`` but not
    with ``AdamW``, whose decay bypasses the adaptive scaling (see the weight-decay entry).

    Some texts write the penalty as ``lambda * ||w||^2`` (gradient ``2 lambda w``); scikit-learn's
    ``Ridge`` uses ``alpha * ||w||^2`` next to an unnormalised sum of squared errors.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([3.0, -4.0], requires_grad=True)
    >>> penalty = l2_penalty([w], weight_decay=0.1)
    >>> penalty.backward()
    >>> penalty.item(), w.grad
    (1.25, tensor([ 0.3000, -0.4000]))
    """
    weight_decay = _check_weight_decay(weight_decay)
    params = _check_params(params)
    return (weight_decay / 2) * sum(p.square().sum() for p in params)


def l1_penalty(params, weight_decay: float) -> torch.Tensor:
    r"""The L1 penalty ``weight_decay * sum_j |w_j|`` over every entry of ``params``.

    Parameters
    ----------
    params : Tensor or iterable of Tensor
        The tensors to penalise (see :func:`l2_penalty`).
    weight_decay : float
        The strength ``lambda >= 0``.

    Returns
    -------
    Tensor of shape ()
        Differentiable; the gradient is ``weight_decay * sign(w)``, with torch's
        subgradient 0 at ``w == 0``.

    Notes
    -----
    No factor 1/2 here: the pull towards zero has the constant size ``lambda`` however small
    a weight is, which is why the L1 penalty can put weights exactly at zero where L2 only
    shrinks them. Gradient descent on this penalty, though, steps over zero and jitters
    around it rather than landing on it; exact zeros come from proximal steps (soft
    thresholding), as in :class:`mlnotebook.linear_model.Lasso`'s coordinate descent.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([3.0, -4.0, 0.0], requires_grad=True)
    >>> penalty = l1_penalty(w, weight_decay=0.1)
    >>> penalty.backward()
    >>> round(penalty.item(), 6), w.grad
    (0.7, tensor([ 0.1000, -0.1000,  0.0000]))
    """
    weight_decay = _check_weight_decay(weight_decay)
    params = _check_params(params)
    return weight_decay * sum(p.abs().sum() for p in params)
