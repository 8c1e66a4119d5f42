"""Layer normalisation: standardise each example over its last few dimensions."""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn
from torch.autograd.function import once_differentiable


class _LayerNormFunction(torch.autograd.Function):
    r"""y = x_hat * weight + bias with x_hat = (x - mean) / sqrt(var + eps) per row.

    A row is one example's last ``k`` dimensions flattened (D values). With g the incoming
    gradient times ``weight``,

    .. math::

        \frac{\partial L}{\partial x} = r\Big(g - \overline{g} - \hat x\,\overline{g\hat x}\Big),
        \qquad r = (\sigma^2 + \epsilon)^{-1/2},

    where bars are means over the row; ``weight`` and ``bias`` get the sums over rows of
    (incoming gradient * x_hat) and of the incoming gradient.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, k, eps):
        x2 = x.reshape(-1, math.prod(x.shape[x.dim() - k:]))              # (R, D), one row each
        inv_d = 1.0 / x2.shape[1]
        # in-place chains on the small (R, 1) statistics: each op has a fixed cost per call
        mean = x2.sum(1, keepdim=True).mul_(inv_d)                         # (R, 1)
        x_hat = x2 - mean                                                  # (R, D)
        invstd = (torch.linalg.vector_norm(x_hat, dim=1, keepdim=True)     # (R, 1)
                  .square_().mul_(inv_d).add_(eps).rsqrt_())
        x_hat.mul_(invstd)
        w = None if weight is None else weight.reshape(-1)                 # (D,)
        b = None if bias is None else bias.reshape(-1)
        if w is None:
            y = x_hat.clone() if b is None else x_hat + b
        else:
            y = torch.addcmul(b, x_hat, w) if b is not None else x_hat * w
        ctx.save_for_backward(x_hat, invstd, w)
        ctx.has_bias, ctx.row_shape = b is not None, x.shape[x.dim() - k:]
        return y.reshape(x.shape)

    @staticmethod
    @once_differentiable  # the saved statistics are constants here: no second derivative
    def backward(ctx, grad_y):
        x_hat, invstd, w = ctx.saved_tensors
        dy = grad_y.reshape(x_hat.shape)                                   # (R, D)
        inv_d = 1.0 / x_hat.shape[1]
        grad_x = grad_w = grad_b = None
        # dy * x_hat serves twice: its column sums are grad_w, and times w its row sums
        # are sum(g * x_hat) (g = dy * w), which saves a full-size temporary
        dy_xhat = dy * x_hat                                               # (R, D)
        if w is not None and ctx.needs_input_grad[1]:
            grad_w = dy_xhat.sum(0).reshape(ctx.row_shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = dy.sum(0).reshape(ctx.row_shape)
        if ctx.needs_input_grad[0]:
            g = dy.clone() if w is None else dy * w                        # becomes grad_x
            g_xhat = dy_xhat if w is None else dy_xhat.mul_(w)
            sum_g = g.sum(1, keepdim=True)                                 # (R, 1)
            sum_g_xhat = g_xhat.sum(1, keepdim=True)                       # (R, 1)
            # (g - mean(g) - x_hat mean(g x_hat)) / sqrt(var + eps), in place in g
            grad_x = (g.addcmul_(x_hat, sum_g_xhat, value=-inv_d)
                      .sub_(sum_g, alpha=inv_d).mul_(invstd))
            grad_x = grad_x.reshape(grad_y.shape)
        return grad_x, grad_w, grad_b, None, None


def _as_shape(normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        shape = tuple(normalized_shape)
    except TypeError:
        raise TypeError(
            f"normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}"
        ) from None
    if not shape or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                        for s in shape):
        raise ValueError(
            f"normalized_shape must be a non-empty sequence of positive ints, got "
            f"{normalized_shape!r}"
        )
    return tuple(int(s) for s in shape)


def layer_norm(x: torch.Tensor, normalized_shape, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    r"""Standardise ``x`` over its trailing ``normalized_shape`` dimensions, then scale and shift.

    Parameters
    ----------
    x : Tensor of shape (*, *normalized_shape)
    normalized_shape : int or tuple of int
        The trailing dimensions that make up one row to normalise.
    weight, bias : Tensor of shape ``normalized_shape``, optional
    eps : float, default=1e-5
        Added to the variance inside the square root.

    Returns
    -------
    Tensor of the shape of ``x``.

    Notes
    -----
    As ``torch.nn.functional.layer_norm``: the variance is the **biased** one (divide by the
    row size D), eps goes inside the square root, and the statistics belong to each example,
    so training and evaluation compute the same thing and no running averages exist.
    """
    shape = _as_shape(normalized_shape)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a Tensor, got {type(x).__name__}")
    if tuple(x.shape[x.dim() - len(shape):]) != shape or x.dim() < len(shape):
        raise ValueError(
            f"normalized_shape {shape} does not match the trailing dimensions of x, whose "
            f"shape is {tuple(x.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"x has dtype {x.dtype} but {name} has dtype {t.dtype}")
    return _LayerNormFunction.apply(x, weight, bias, len(shape), eps)


class LayerNorm(nn.Module):
    r"""Layer normalisation, as ``torch.nn.LayerNorm``.

    .. code-block:: text

        mean, var = mean and biased variance of x over its last len(normalized_shape) dims
        y = (x - mean) / sqrt(var + eps) * weight + bias

    Unlike batch normalisation the statistics are per example, so the layer behaves the same
    in training and evaluation and with any batch size, including one.

    Parameters
    ----------
    normalized_shape : int or tuple of int
        Shape of the trailing dimensions to normalise over, e.g. ``d_model``.
    eps : float, default=1e-5
    elementwise_affine : bool, default=True
        Learnable ``weight`` (init 1) of shape ``normalized_shape``.
    bias : bool, default=True
        Learnable ``bias`` (init 0), only with ``elementwise_affine``.

    Shape: input (*, *normalized_shape), output the same.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        factory = {"device": device, "dtype": dtype}
        ones, zeros = torch.ones(self.normalized_shape, **factory), torch.zeros_like
        self.register_parameter("weight", nn.Parameter(ones) if elementwise_affine else None)
        self.register_parameter(
            "bias", nn.Parameter(zeros(ones)) if elementwise_affine and bias else None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @classmethod
    def from_torch(cls, module: nn.LayerNorm) -> LayerNorm:
        """A copy of ``torch.nn.LayerNorm`` ``module`` with the same options and weights."""
        like = module.weight
        factory = {} if like is None else {"device": like.device, "dtype": like.dtype}
        ours = cls(module.normalized_shape, module.eps, module.elementwise_affine,
                   module.bias is not None, **factory)
        ours.load_state_dict(module.state_dict())
        return ours

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
