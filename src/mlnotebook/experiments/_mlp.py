"""What the regularisation experiments share: digits tensors, an MLP builder, a training loop.

The networks are built from ``torch.nn.Linear`` and activations plus the notebook's own
:mod:`mlnotebook.nn` layers (Dropout, BatchNorm1d, LayerNorm), so the experiments exercise
those layers. Every random choice (the split, the initial weights, the minibatch order, the
dropout masks) comes from a generator made from the experiment's seed, never from global
state, so calling ``compute`` twice with one seed gives identical numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from mlnotebook import nn as mnn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid,
                                           "tanh": nn.Tanh}
NORMS = (None, "batch", "layer")


def digits_split(n_train: int | float, seed: int, device: str, *, per_pixel: bool = True):
    """Digits split stratified by class, and standardised with training statistics only.

    Parameters
    ----------
    n_train : int or float
        Number of training images (int) or their fraction of the 1797 (float in (0, 1));
        every other image is a test image.
    seed : int
        ``random_state`` of the split.
    device : str
    per_pixel : bool, default=True
        Scale each pixel by its own std; if False, by one std, that of all training pixels.

    Returns
    -------
    x_train : Tensor of shape (n_train, 64), float32
    y_train : Tensor of shape (n_train,), int64
    x_test : Tensor of shape (1797 - n_train, 64), float32
    y_test : Tensor of shape (1797 - n_train,), int64

    Every pixel is centred by its mean over the training images, then divided by its own
    (unbiased) std over them (pixels constant on the training set are only centred), or, with
    ``per_pixel=False``, by the std of all training pixels together. Per-pixel scaling gives
    a pixel that is almost always blank in a small training set a tiny std, so a test image
    that uses it gets a large value there; one global scale avoids that.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=n_train, stratify=y, random_state=seed)
    mean = x_train.mean(axis=0)
    if per_pixel:
        std = x_train.std(axis=0, ddof=1)
        std[std == 0] = 1.0
    else:
        std = (x_train - mean).std(ddof=1)
    as_x = lambda a: torch.as_tensor((a - mean) / std, dtype=torch.float32,  # noqa: E731
                                     device=device)
    as_y = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return as_x(x_train), as_y(y_train), as_x(x_test), as_y(y_test)


def corrupt_labels(y: torch.Tensor, fraction: float, generator: torch.Generator):
    """Give ``round(fraction * n)`` randomly chosen examples a wrong label.

    Parameters
    ----------
    y : Tensor of shape (n,), int64, labels in 0..9
    fraction : float in [0, 1]
    generator : torch.Generator (CPU)

    Returns
    -------
    noisy : Tensor of shape (n,)
        A copy of ``y``; each chosen example's label is replaced by one of the other nine
        classes, uniformly, so exactly the chosen examples are wrong.
    corrupted : Tensor of shape (n,), bool
        Which examples were changed.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    n = len(y)
    chosen = torch.randperm(n, generator=generator)[: round(fraction * n)]
    corrupted = torch.zeros(n, dtype=torch.bool)
    corrupted[chosen] = True
    shift = torch.randint(1, 10, (n,), generator=generator)  # never 0: always another class
    noisy = torch.where(corrupted, (y.cpu() + shift) % 10, y.cpu())
    return noisy.to(y.device), corrupted.to(y.device)


def make_mlp(sizes: Sequence[int], generator: torch.Generator, *, activation: str = "relu",
             norm: str | None = None, dropout: float = 0.0, input_dropout: float = 0.0,
             dropout_generator: torch.Generator | None = None) -> nn.Sequential:
    r"""An MLP ``sizes[0] -> ... -> sizes[-1]``; each hidden layer is Linear, norm, act, dropout.

    Parameters
    ----------
    sizes : sequence of int
        Widths, input first and number of classes last; ``len(sizes) - 2`` hidden layers.
    generator : torch.Generator (CPU)
        Source of the initial weights. Every Linear gets torch's default initialisation,
        weight and bias uniform in :math:`\pm 1/\sqrt{\text{fan\_in}}`, drawn from it in
        the same order whatever ``norm`` and ``dropout`` are, so networks that differ only in
        those start from the same weights.
    activation : {"relu", "sigmoid", "tanh"}
    norm : {None, "batch", "layer"}
        ``mlnotebook.nn.BatchNorm1d`` or ``LayerNorm`` between each hidden Linear and its
        activation. A Linear followed by batch norm has no bias: subtracting the batch mean
        would cancel it, and the norm's shift :math:`\beta` takes its place. (Before layer
        norm a per-feature bias is not cancelled, so it stays.)
    dropout : float in [0, 1)
        ``mlnotebook.nn.Dropout(dropout)`` after each hidden activation (none when 0).
    input_dropout : float in [0, 1)
        ``mlnotebook.nn.Dropout(input_dropout)`` on the input pixels (none when 0).
    dropout_generator : torch.Generator, optional
        Source of the dropout masks; must live on the device the model will run on.

    Returns
    -------
    nn.Sequential on the CPU; move it with ``.to(device)``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output width, got {list(sizes)!r}")
    layers: list[nn.Module] = []
    if input_dropout > 0:
        layers.append(mnn.Dropout(input_dropout, generator=dropout_generator))
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        hidden = i < len(sizes) - 2
        linear = nn.Linear(fan_in, fan_out, bias=not (hidden and norm == "batch"))
        with torch.no_grad():
            bound = fan_in ** -0.5
            linear.weight.uniform_(-bound, bound, generator=generator)
            # drawn even when unused, so the weights do not depend on ``norm``
            bias = torch.empty(fan_out).uniform_(-bound, bound, generator=generator)
            if linear.bias is not None:
                linear.bias.copy_(bias)
        layers.append(linear)
        if not hidden:
            break
        if norm == "batch":
            layers.append(mnn.BatchNorm1d(fan_out))
        elif norm == "layer":
            layers.append(mnn.LayerNorm(fan_out))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(mnn.Dropout(dropout, generator=dropout_generator))
    return nn.Sequential(*layers)


def epoch_batches(n: int, batch_size: int, epochs: int, seed: int, device: str):
    """``epochs`` lists of index tensors, each a fresh seeded shuffle of ``range(n)``.

    The last batch of an epoch is dropped when it would be smaller than ``batch_size``, so
    every step sees exactly ``batch_size`` examples (a batch-norm batch of one is an error).
    """
    gen = torch.Generator().manual_seed(seed)
    steps = n // batch_size
    return [torch.randperm(n, generator=gen)[: steps * batch_size].to(device).split(batch_size)
            for _ in range(epochs)]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
          batches, evaluate: Callable[[nn.Module], dict], *, every: int = 1) -> dict:
    """Minimise the cross-entropy of ``model`` on ``(x, y)`` over ``batches``, in place.

    Parameters
    ----------
    model : nn.Module
    opt : torch.optim.Optimizer
        Over ``model``'s parameters.
    x : Tensor of shape (n, 64)
    y : Tensor of shape (n,), int64
    batches : list of lists of index Tensors
        One list per epoch (see :func:`epoch_batches`).
    evaluate : callable
        ``evaluate(model) -> {name: float}``, called before training and after every
        ``every``-th epoch (and after the last) in ``eval()`` mode, without gradients.
    every : int, default=1

    Returns
    -------
    dict of lists, one value per evaluation
        ``evaluate``'s values under their own keys; ``"epoch"``; ``"seconds"``, the
        cumulative training time without the evaluations; ``"batch_loss"``, the mean
        minibatch loss of the epochs since the previous evaluation, as training saw it
        (``train()`` mode, so with dropout masks and batch statistics; NaN at epoch 0).
        Plus ``"diverged"`` (bool): a non-finite loss stops training at the end of its epoch.
    """
    history: dict[str, list] = {"epoch": [], "seconds": [], "batch_loss": []}

    def record(epoch: int, seconds: float, batch_loss: float) -> None:
        model.eval()
        with torch.no_grad():
            values = evaluate(model)
        model.train()
        history["epoch"].append(epoch)
        history["seconds"].append(seconds)
        history["batch_loss"].append(batch_loss)
        for k, v in values.items():
            history.setdefault(k, []).append(v)

    record(0, 0.0, math.nan)
    elapsed, diverged = 0.0, False
    loss_sum, n_steps = torch.zeros((), device=x.device), 0
    model.train()
    for epoch, steps in enumerate(batches, start=1):
        synchronize(x.device)
        started = time.perf_counter()
        for idx in steps:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.detach()  # summed on the device: no per-step synchronisation
        n_steps += len(steps)
        synchronize(x.device)
        elapsed += time.perf_counter() - started
        mean_loss = float(loss_sum) / max(n_steps, 1)
        diverged = not math.isfinite(mean_loss)
        if diverged or epoch % every == 0 or epoch == len(batches):
            record(epoch, elapsed, mean_loss if not diverged else math.nan)
            loss_sum.zero_()
            n_steps = 0
        if diverged:
            break
    history["diverged"] = diverged
    return history


def loss_and_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``; a non-finite loss is NaN."""
    logits = model(x)
    loss = float(nn.functional.cross_entropy(logits, y))
    accuracy = float((logits.argmax(dim=1) == y).float().mean())
    return (loss if math.isfinite(loss) else math.nan), accuracy
