r"""Learning-rate schedules written as closed forms, drop-in for torch.optim.lr_scheduler.

Every schedule here is a :class:`torch.optim.lr_scheduler.LRScheduler` subclass whose
learning rate is a function of two things only: the epoch counter ``e = last_epoch`` and
the base rate ``eta_0`` of each parameter group (its ``initial_lr``, the ``lr`` it had when
the scheduler was built). ``get_lr`` evaluates that function; nothing is carried over from
the previous step, so the sequence is exact, reproducible and resumable from
``state_dict()``.

Conventions, shared with PyTorch:

- Building the scheduler sets every group's ``lr`` to the schedule at ``e = 0``; each
  ``scheduler.step()`` adds one to ``e`` and sets the rate for the next optimiser step.
  Call ``optimizer.step()`` before ``scheduler.step()``.
- ``e`` counts whatever you step on, epochs or minibatches; give ``step_size``, ``T_max``,
  ``warmup_steps`` and ``total_steps`` in the same unit.
- Every parameter group gets the same *shape*, scaled by its own ``eta_0``.

Unlike PyTorch's recursive ("chainable") forms, which multiply the *current* ``lr``, these
closed forms overwrite it, so a change made to ``group["lr"]`` from outside the scheduler
lasts only until the next ``step()``.
"""

from __future__ import annotations

import math
import numbers

from torch.optim.lr_scheduler import LRScheduler

__all__ = ["CosineAnnealingLR", "ExponentialLR", "InverseSqrtLR", "StepLR", "WarmupCosineLR"]


def _check_int(name: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_real(name: str, value, *, low: float, high: float = math.inf,
                low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    above = value > low if low_open else value >= low
    if not (above and value <= high):  # also catches NaN
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value}")


def _cosine(progress: float) -> float:
    """The cosine half-wave 1/2 (1 + cos(pi p)): 1 at p = 0, 0 at p = 1."""
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class _ClosedFormLR(LRScheduler):
    """A schedule given by ``factor(e)`` times each group's base rate, or a closed form."""

    def get_lr(self) -> list[float]:
        """Learning rate of every parameter group at ``e = last_epoch``."""
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self) -> list[float]:
        raise NotImplementedError


class StepLR(_ClosedFormLR):
    r"""Decay the learning rate by ``gamma`` every ``step_size`` epochs.

    .. code-block:: text

        eta_e = eta_0 * gamma ** floor(e / step_size)

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser whose parameter groups' ``lr`` this schedule sets.
    step_size : int
        Period of the decay, in calls to :meth:`step`; ``>= 1``.
    gamma : float, default=0.1
        Factor applied at each period; ``> 0`` (``> 1`` grows the rate).
    last_epoch : int, default=-1
        ``-1`` for a fresh schedule. Only set it when resuming, and then every group needs
        an ``initial_lr``; prefer :meth:`load_state_dict`.

    Notes
    -----
    Same arguments, defaults and values as :class:`torch.optim.lr_scheduler.StepLR`
    (torch multiplies the current rate by ``gamma`` at each multiple of ``step_size``; the
    two agree to rounding when stepped one epoch at a time).

    Examples
    --------
    >>> import torch
    >>> from mlnotebook.optim import SGD
    >>> opt = SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(6):
    ...     lrs.append(sched.get_last_lr()[0])
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        _check_int("step_size", step_size, minimum=1)
        _check_real("gamma", gamma, low=0.0, low_open=True)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        factor = self.gamma ** (self.last_epoch // self.step_size)
        return [base_lr * factor for base_lr in self.base_lrs]


class ExponentialLR(_ClosedFormLR):
    r"""Multiply the learning rate by ``gamma`` every epoch.

    .. code-block:: text

        eta_e = eta_0 * gamma ** e

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser whose parameter groups' ``lr`` this schedule sets.
    gamma : float
        Factor per call to :meth:`step`; ``> 0``. To decay by a total factor ``r`` over
        ``n`` steps use ``gamma = r ** (1 / n)``.
    last_epoch : int, default=-1
        ``-1`` for a fresh schedule (see :class:`StepLR`).

    Notes
    -----
    Same arguments and values as :class:`torch.optim.lr_scheduler.ExponentialLR`.

    Examples
    --------
    >>> import torch
    >>> from mlnotebook.optim import SGD
    >>> opt = SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = ExponentialLR(opt, gamma=0.5)
    >>> for _ in range(3):
    ...     opt.step()
    ...     sched.step()
    >>> sched.get_last_lr()
    [0.125]
    """

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        _check_real("gamma", gamma, low=0.0, low_open=True)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        factor = self.gamma ** self.last_epoch
        return [base_lr * factor for base_lr in self.base_lrs]


class CosineAnnealingLR(_ClosedFormLR):
    r"""Cosine annealing from the base rate to ``eta_min`` over ``T_max`` epochs (SGDR).

    .. code-block:: text

        eta_e = eta_min + (eta_0 - eta_min) * (1 + cos(pi * e / T_max)) / 2

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser whose parameter groups' ``lr`` this schedule sets.
    T_max : int
        Number of calls to :meth:`step` from the base rate down to ``eta_min``; ``>= 1``.
    eta_min : float, default=0.0
        Rate reached at ``e = T_max``; ``>= 0``.
    last_epoch : int, default=-1
        ``-1`` for a fresh schedule (see :class:`StepLR`).

    Notes
    -----
    This is the closed form that :class:`torch.optim.lr_scheduler.CosineAnnealingLR`
    approximates by a recursion on the current rate. Past ``T_max`` both keep following the
    cosine, which has period ``2 T_max``: the rate climbs back to ``eta_0`` at
    ``e = 2 T_max``. Stepped one epoch at a time the two agree to rounding for every ``e``;
    to hold ``eta_min`` after ``T_max`` use :class:`WarmupCosineLR` with
    ``warmup_steps=0``. There are no warm restarts (torch's
    ``CosineAnnealingWarmRestarts``).

    Examples
    --------
    >>> import torch
    >>> from mlnotebook.optim import SGD
    >>> opt = SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = CosineAnnealingLR(opt, T_max=4)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        _check_int("T_max", T_max, minimum=1)
        _check_real("eta_min", eta_min, low=0.0)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        c = _cosine(self.last_epoch / self.T_max)
        return [self.eta_min + (base_lr - self.eta_min) * c for base_lr in self.base_lrs]


class WarmupCosineLR(_ClosedFormLR):
    r"""Linear warm-up to the base rate, cosine decay to ``eta_min``, then constant.

    With ``w = warmup_steps``, ``T = total_steps`` and ``f = warmup_start_factor``:

    .. code-block:: text

        eta_e = eta_0 * (f + (1 - f) * e / w)                                  e < w
        eta_e = eta_min + (eta_0 - eta_min) * (1 + cos(pi * (e - w) / (T - w))) / 2
                                                                            w <= e <= T
        eta_e = eta_min                                                        e > T

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser whose parameter groups' ``lr`` (the peak ``eta_0``) this schedule sets.
    warmup_steps : int
        Length ``w`` of the linear warm-up, in calls to :meth:`step`; ``>= 0`` (``0``: no
        warm-up, start at the peak).
    total_steps : int
        Step ``T`` at which the rate reaches ``eta_min``; ``> warmup_steps``.
    eta_min : float, default=0.0
        Final rate, held after ``total_steps``; ``>= 0``.
    warmup_start_factor : float, default=0.0
        The first rate is ``warmup_start_factor * eta_0``; in ``[0, 1]``.
    last_epoch : int, default=-1
        ``-1`` for a fresh schedule (see :class:`StepLR`).

    Notes
    -----
    The peak ``eta_0`` is reached at ``e = w`` exactly, and the warm-up is linear in ``e``.
    With ``0 < f`` this equals torch's
    ``SequentialLR([LinearLR(start_factor=f, total_iters=w), CosineAnnealingLR(T_max=T - w,
    eta_min=eta_min)], milestones=[w])`` for ``e <= T``; after ``T`` torch's cosine climbs
    again while this schedule stays at ``eta_min``. (torch's ``LinearLR`` refuses ``f = 0``;
    here the first step then simply runs with rate 0.) This is the shape used to train most
    current transformers, with warm-up as in Goyal et al. (2017) and the decay of SGDR.

    Examples
    --------
    >>> import torch
    >>> from mlnotebook.optim import SGD
    >>> opt = SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = WarmupCosineLR(opt, warmup_steps=2, total_steps=4)
    >>> lrs = []
    >>> for _ in range(6):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, optimizer, warmup_steps: int, total_steps: int, eta_min: float = 0.0,
                 warmup_start_factor: float = 0.0, last_epoch: int = -1):
        _check_int("warmup_steps", warmup_steps, minimum=0)
        _check_int("total_steps", total_steps, minimum=1)
        if total_steps <= warmup_steps:
            raise ValueError(f"total_steps must be > warmup_steps={warmup_steps}, "
                             f"got {total_steps}")
        _check_real("eta_min", eta_min, low=0.0)
        _check_real("warmup_start_factor", warmup_start_factor, low=0.0, high=1.0)
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.eta_min = eta_min
        self.warmup_start_factor = warmup_start_factor
        super().__init__(optimizer, last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        e, w, total = self.last_epoch, self.warmup_steps, self.total_steps
        if e < w:
            f = self.warmup_start_factor
            factor = f + (1.0 - f) * e / w
            return [base_lr * factor for base_lr in self.base_lrs]
        c = _cosine(min(e - w, total - w) / (total - w))  # 0 from total_steps on
        return [self.eta_min + (base_lr - self.eta_min) * c for base_lr in self.base_lrs]


class InverseSqrtLR(_ClosedFormLR):
    r"""The Noam schedule of "Attention Is All You Need": linear warm-up, then 1/sqrt(step).

    With the optimiser step counted from one, ``t = e + 1``, and ``w = warmup_steps``:

    .. code-block:: text

        eta_e = eta_0 * scale * d_model ** -0.5 * min(t ** -0.5, t * w ** -1.5)

    The two branches meet at ``t = w``, the peak ``eta_0 * scale / sqrt(d_model * w)``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser; each group's ``lr`` ``eta_0`` multiplies the schedule (see Notes).
    d_model : int
        Model width; the rate scales as ``d_model ** -0.5``; ``>= 1``.
    warmup_steps : int, default=4000
        Step ``w`` at which the rate peaks; ``>= 0`` (``0``: no warm-up, the rate is
        ``t ** -0.5`` from the first step, the limit of the formula as ``w -> 0``).
    scale : float, default=1.0
        Constant factor (the "factor" of the Annotated Transformer); ``> 0``.
    last_epoch : int, default=-1
        ``-1`` for a fresh schedule (see :class:`StepLR`).

    Notes
    -----
    *Step counting.* The paper's ``step_num`` is the number of the training step being
    taken, starting at 1. The rate set at construction (``e = 0``) is the one the first
    ``optimizer.step()`` uses, so it is the paper's rate for ``step_num = 1``, and after
    ``k`` calls to :meth:`step` the rate is that of ``step_num = k + 1``. There is no step
    0, so no ``0 ** -0.5``. This equals ``LambdaLR(optimizer, lambda e: noam(e + 1))``;
    the Annotated Transformer's ``LambdaLR`` recipe uses ``noam(max(e, 1))`` instead, which
    repeats the first rate and then runs one step behind this schedule.

    *Base rate.* The optimiser's ``lr`` is a per-group multiplier, as in every other
    schedule here and in ``LambdaLR``: build the optimiser with ``lr=1.0`` to get the
    paper's rates exactly (Adam, ``d_model=512``, ``warmup_steps=4000`` peaks at about
    ``7e-4``); other values keep the ratio between parameter groups.

    Examples
    --------
    >>> import torch
    >>> from mlnotebook.optim import SGD
    >>> opt = SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = InverseSqrtLR(opt, d_model=1, warmup_steps=4)
    >>> lrs = []
    >>> for _ in range(8):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [0.125, 0.25, 0.375, 0.5, 0.4472, 0.4082, 0.378, 0.3536]
    """

    def __init__(self, optimizer, d_model: int, warmup_steps: int = 4000, scale: float = 1.0,
                 last_epoch: int = -1):
        _check_int("d_model", d_model, minimum=1)
        _check_int("warmup_steps", warmup_steps, minimum=0)
        _check_real("scale", scale, low=0.0, low_open=True)
        self.d_model = d_model
        self.warmup_steps = warmup_steps
        self.scale = scale
        super().__init__(optimizer, last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        t = self.last_epoch + 1  # the paper's step_num of the next optimiser step
        decay = t ** -0.5
        warmup = t * self.warmup_steps ** -1.5 if self.warmup_steps > 0 else math.inf
        factor = self.scale * self.d_model ** -0.5 * min(decay, warmup)
        return [base_lr * factor for base_lr in self.base_lrs]
