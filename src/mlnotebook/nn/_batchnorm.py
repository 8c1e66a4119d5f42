"""Batch normalisation: standardise each channel with the statistics of the mini-batch.

The forward and the hand-derived backward live in one autograd Function, so the code shows
the gradient a learner derives on paper and autograd does not store every intermediate.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable


class _BatchNormFunction(torch.autograd.Function):
    r"""y = (x - mean) / sqrt(var + eps) * weight + bias, with the batch's mean and biased var.

    ``x`` is viewed as (N, C, L) (L = 1 for (N, C) input) and every sum runs over N and L.
    With M = N * L values per channel,
    :math:`\hat x = (x - \mu)\,r`, :math:`r = (\sigma^2 + \epsilon)^{-1/2}`,

    .. math::

        \frac{\partial L}{\partial x} = \frac{\gamma r}{M}\Big(M\,g - \sum g
            - \hat x \sum g \hat x\Big), \qquad
        \frac{\partial L}{\partial \gamma} = \sum g \hat x, \qquad
        \frac{\partial L}{\partial \beta} = \sum g

    where g is the incoming gradient and the sums run over the M values of a channel.
    Only two full-size tensors are allocated (the output and the input gradient); every
    other full-size step works in place, because on a CPU fresh memory costs as much as the
    arithmetic.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        x3 = x.reshape(x.shape[0], x.shape[1], -1)                        # (N, C, L)
        m = x3.shape[0] * x3.shape[2]
        mean = _channel_sum(x3) / m                                       # (C,)
        y = x3 - mean[:, None]                                            # x - mean, reused as y
        var = _channel_dot(y, y) / m                                      # (C,) biased
        invstd = torch.rsqrt(var + eps)
        scale = invstd if weight is None else weight * invstd
        y.mul_(scale[:, None])
        if bias is not None:
            y.add_(bias[:, None])
        ctx.save_for_backward(x3, weight, mean, invstd)
        ctx.mark_non_differentiable(mean, var)
        return y.reshape(x.shape), mean, var

    @staticmethod
    @once_differentiable  # the saved statistics are constants here: no second derivative
    def backward(ctx, g, _grad_mean, _grad_var):
        x3, weight, mean, invstd = ctx.saved_tensors
        g3 = g.reshape(x3.shape)                                          # (N, C, L)
        m = x3.shape[0] * x3.shape[2]
        grad_x = grad_w = grad_b = None
        sum_g = _channel_sum(g3)                                          # (C,)
        xc = x3 - mean[:, None]                                           # becomes grad_x
        sum_g_xc = _channel_dot(g3, xc)                                   # (C,)
        if ctx.needs_input_grad[0]:
            # dx = a g + k (x - mean) + c with per-channel a, k, c (the formula, expanded)
            a = invstd if weight is None else weight * invstd
            k = -a * invstd * invstd * sum_g_xc / m
            c = -a * sum_g / m
            grad_x = xc.mul_(k[:, None]).add_(c[:, None]).addcmul_(g3, a[:, None])
            grad_x = grad_x.reshape(g.shape)
        if weight is not None and ctx.needs_input_grad[1]:
            grad_w = sum_g_xc * invstd
        if ctx.needs_input_grad[2]:
            grad_b = sum_g
        return grad_x, grad_w, grad_b, None


def _channel_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of (N, C, L) ``t`` over N and L, shape (C,), reducing the contiguous axis first."""
    return t.sum(0)[:, 0] if t.shape[2] == 1 else t.sum(2).sum(0)


def _channel_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum of a * b over N and L for (N, C, L) tensors, shape (C,), without an (N, C, L) temp."""
    if a.shape[2] == 1:
        return torch.linalg.vecdot(a[:, :, 0], b[:, :, 0], dim=0)
    if a is b:  # a sum of squares: a norm is one read of the data
        return torch.linalg.vector_norm(a, dim=2).square_().sum(0)
    return torch.linalg.vecdot(a, b, dim=2).sum(0)


def batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None,
               running_var: torch.Tensor | None, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    r"""Batch normalisation over every dimension but the channel dimension 1.

    Parameters
    ----------
    x : Tensor of shape (N, C) or (N, C, *)
    running_mean, running_var : Tensor of shape (C,) or None
        Updated in place when ``training`` (see Notes); used instead of the batch statistics
        when not training.
    weight, bias : Tensor of shape (C,), optional
        The affine map :math:`\gamma, \beta` applied after standardising.
    training : bool
        Use (and record) the batch statistics rather than the running ones.
    momentum : float or None
        Weight of the new batch in the running averages; None means a cumulative average,
        which the caller implements by passing ``1 / batches_seen``.
    eps : float
        Added to the variance inside the square root.

    Returns
    -------
    Tensor of the shape of ``x``.

    Notes
    -----
    Conventions, all as PyTorch:

    * the batch is standardised with the **biased** variance (divide by M, the number of
      values per channel), :math:`\hat x = (x - \mu)/\sqrt{\sigma^2_{M} + \epsilon}`;
    * the running variance records the **unbiased** one (divide by M - 1);
    * :math:`r \leftarrow (1 - \text{momentum})\, r + \text{momentum}\cdot\text{batch}`, so
      ``momentum`` is the weight of the *new* value (the opposite of an optimiser's momentum).
    """
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("running_mean and running_var are needed when training=False")
        # running statistics are constants: a per-channel affine map, plain tensor ops
        scale = torch.rsqrt(running_var + eps)
        scale = scale if weight is None else weight * scale
        shift = -running_mean * scale if bias is None else bias - running_mean * scale
        return torch.addcmul(shift.view(shape), x, scale.view(shape))
    m = x.numel() // x.shape[1]
    if m < 2:
        raise ValueError(
            f"x has {m} value per channel; training-mode batch norm needs at least 2 to "
            "estimate a variance"
        )
    y, mean, var = _BatchNormFunction.apply(x, weight, bias, eps)
    if running_mean is not None:
        with torch.no_grad():
            running_mean.lerp_(mean, momentum)
            running_var.lerp_(var * (m / (m - 1)), momentum)
    return y


class _BatchNorm(nn.Module):
    """Shared body of BatchNorm1d/2d; subclasses say which input ranks they accept."""

    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) \
                or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked",
                                 torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    @classmethod
    def from_torch(cls, module: nn.modules.batchnorm._BatchNorm) -> _BatchNorm:
        """A copy of ``torch.nn.BatchNorm1d/2d`` ``module``: same options, weights, buffers."""
        like = module.weight if module.affine else module.running_mean
        factory = {} if like is None else {"device": like.device, "dtype": like.dtype}
        ours = cls(module.num_features, module.eps, module.momentum, module.affine,
                   module.track_running_stats, **factory)
        ours.load_state_dict(module.state_dict())
        return ours.train(module.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a Tensor, got {type(x).__name__}")
        if x.dim() not in self._ranks:
            raise ValueError(
                f"{type(self).__name__} expects x of shape {self._layout}, got a "
                f"{x.dim()}-d tensor of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"x has {x.shape[1]} channels in dimension 1 but num_features is "
                f"{self.num_features}"
            )
        like = self.weight if self.affine else self.running_mean
        if like is not None and x.dtype != like.dtype:
            raise TypeError(
                f"x has dtype {x.dtype} but the layer's parameters and buffers are {like.dtype};"
                " convert one of them (e.g. layer.to(x.dtype))"
            )
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average of every batch so far
                momentum = 1.0 / float(self.num_batches_tracked)
        # batch statistics in training, and always when no running statistics are kept
        use_batch = self.training or not self.track_running_stats
        record = self.training and self.track_running_stats
        return batch_norm(x, self.running_mean if record or not use_batch else None,
                          self.running_var if record or not use_batch else None,
                          self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    r"""Batch normalisation of (N, C) or (N, C, L) inputs, per channel C, as ``nn.BatchNorm1d``.

    In training mode each channel is standardised with the mean and **biased** variance of
    its N (or N * L) values in the batch, then scaled by ``weight`` and shifted by ``bias``;
    the running averages record the mean and the **unbiased** variance with
    ``running = (1 - momentum) * running + momentum * batch`` (``momentum=None``: cumulative
    average). In eval mode the running statistics are used, so the layer is a fixed affine
    map. With ``track_running_stats=False`` batch statistics are used in both modes.

    Parameters
    ----------
    num_features : int
        C, the number of channels (features).
    eps : float, default=1e-5
        Added to the variance inside the square root.
    momentum : float or None, default=0.1
    affine : bool, default=True
        Learnable ``weight`` (init 1) and ``bias`` (init 0) of shape (C,).
    track_running_stats : bool, default=True
        Keep ``running_mean`` (init 0), ``running_var`` (init 1) and ``num_batches_tracked``.
    """

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel over N, H and W.

    Same parameters and conventions as :class:`BatchNorm1d`; as ``nn.BatchNorm2d``.
    """

    _ranks = (4,)
    _layout = "(N, C, H, W)"
