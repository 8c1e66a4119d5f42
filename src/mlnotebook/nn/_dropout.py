"""Inverted dropout: zero each unit with probability p in training, scale the rest by 1/(1-p)."""

from __future__ import annotations

import numbers

import torch
from torch import nn


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a float in [0, 1), got {type(p).__name__}")
    if not 0.0 <= p < 1.0:
        raise ValueError(
            f"p must be in [0, 1), got {p!r}; p = 1 would drop every unit and leave nothing to "
            "rescale"
        )
    return float(p)


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True,
            generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Inverted dropout of ``x``: :math:`y = x \odot m / (1 - p)`, :math:`m_i \sim
    \mathrm{Bernoulli}(1 - p)`.

    Parameters
    ----------
    x : Tensor of any shape
    p : float in [0, 1)
        Probability of zeroing a unit.
    training : bool, default=True
        In evaluation mode (or with ``p = 0``) ``x`` is returned unchanged: scaling at training
        time keeps the expected activation equal to the evaluation one, so nothing needs
        rescaling at test time.
    generator : torch.Generator, optional
        Source of the mask. With the default (the global generator) the mask is the one
        ``torch.nn.functional.dropout`` draws after the same ``torch.manual_seed`` on the CPU,
        so the two give identical outputs.

    Returns
    -------
    Tensor, same shape as ``x``
    """
    p = _check_p(p)
    if not training or p == 0.0:
        return x
    # keep-mask already divided by the keep probability, so the product is one kernel
    scaled_mask = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator).div_(1.0 - p)
    return x * scaled_mask


class Dropout(nn.Module):
    """Inverted dropout as a layer; identity in ``eval()`` mode. Same behaviour as ``nn.Dropout``.

    Parameters
    ----------
    p : float in [0, 1), default=0.5
        Probability of zeroing each element, independently.
    generator : torch.Generator, optional
        Source of randomness for the masks (``nn.Dropout`` has no such argument: it always
        draws from the global generator, which is also our default).

    Shape: input (*), output (*), the same.
    """

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None):
        super().__init__()
        self.p = _check_p(p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
