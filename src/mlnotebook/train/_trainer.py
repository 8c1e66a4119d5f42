"""One training loop for every model: epochs, evaluation, early stopping, exact resumption.

The loop is the textbook one, written once::

    for epoch in range(epochs):
        for batch in train_loader:
            loss = loss_fn(model(inputs), targets)     # or compute_loss(model, batch)
            zero grads; loss.backward(); clip; optimizer.step(); scheduler.step()
            every checkpoint_every steps: save a checkpoint
        evaluate; record the epoch in the history; maybe stop early; save a checkpoint

Everything else is what it takes to make that loop trustworthy: a checkpoint restores not
only the weights but the optimiser, the schedule, the gradient scaler and every random
number generator, and a run resumed mid-epoch replays the rest of that epoch's data order,
so a run killed at any moment and resumed ends with bit-identical parameters.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from mlnotebook.train._checkpoint import (
    FORMAT,
    capture_rng,
    check_model_state,
    check_optimizer_state,
    check_optional_state,
    class_name,
    loader_generators,
    optimizer_shapes,
    read_checkpoint,
    restore_rng,
    write_checkpoint,
)
from mlnotebook.train._distributed import (
    ProcessGroup,
    broadcast_from_main,
    gather_to_main,
    join_process_group,
    resolve_device,
    sum_over_ranks,
)
from mlnotebook.train._early_stopping import EarlyStopping, _check_int
from mlnotebook.train._history import History
from mlnotebook.train._progress import _ProgressBar, _Running, _summary

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
HISTORY_FILE = "history.json"


def _to_device(batch, device: torch.device):
    """``batch`` with every tensor in it (nested in tuples, lists, dicts) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(_to_device(v, device) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _leading_size(batch) -> int:
    """The length of the first tensor found in ``batch`` (its examples); 0 if none."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, Mapping):
        batch = list(batch.values())
    if not isinstance(batch, (tuple, list)):
        return 0
    for value in batch:
        size = _leading_size(value)
        if size:
            return size
    return 0


class Trainer:
    r"""Train any ``nn.Module`` with any optimiser: one loop, resumable and distributable.

    Parameters
    ----------
    model : nn.Module
        Moved to ``device`` (the same Parameter objects, so an optimiser built before
        stays attached).
    optimizer : torch.optim.Optimizer
        Any optimiser whose ``step()`` needs no closure (the project's own included).
    loss_fn : callable, optional
        ``loss_fn(model(inputs), targets) -> scalar tensor`` for batches that are
        ``(inputs, targets)`` pairs. Give either this or ``compute_loss``.
    compute_loss : callable, optional
        ``compute_loss(model, batch)`` for any other batch: returns the scalar loss tensor,
        or a dict with ``"loss"`` and optionally ``"tokens"`` (the batch's count of
        target tokens, an int or a 0-d tensor) and ``"examples"``. It must call
        ``model(...)``, not its submodules: under DistributedDataParallel ``model`` is the
        wrapper, and only its forward synchronises gradients.
    scheduler : LRScheduler, optional
        Stepped (without arguments) after every optimiser step or every epoch.
    scheduler_interval : {"step", "epoch"}, default="step"
    grad_clip : float, optional
        Clip the total 2-norm of all gradients to this (``clip_grad_norm_``), after
        unscaling under AMP.
    eval_fn : callable, optional
        ``eval_fn(model) -> {name: number}``, extra metrics computed after an epoch in eval
        mode without gradients (e.g. exact match on a validation set).
    eval_every : int, default=1
        Evaluate every this many epochs, and always after the last one.
    early_stopping : EarlyStopping, optional
    checkpoint_dir : str or Path, optional
        Where to write ``last.pt`` (after every epoch, and every ``checkpoint_every`` steps),
        ``best.pt`` (when the early-stopping metric improves) and ``history.json``.
    checkpoint_every : int, optional
        Also checkpoint every this many optimiser steps, mid-epoch included.
    device : str or torch.device, optional
        Default: where the model's parameters are. A bare ``"cuda"`` means the GPU of this
        process's ``LOCAL_RANK`` under torchrun.
    amp : bool, default=False
        Mixed precision: float16 autocast for the forward pass and the loss, and a
        GradScaler. CUDA only: asking for it on another device raises a ValueError rather
        than silently training in full precision.
    progress : bool, default=True
        Show a rich progress bar (on stderr, rank 0 only).

    Attributes
    ----------
    history : History
        One record per finished epoch: ``epoch`` (count, from 1), ``step`` (optimiser
        steps so far), ``lr`` (first group's rate at the end of the epoch), ``train_loss``,
        ``examples``, ``seconds``, ``examples_per_s``, and ``tokens``/``tokens_per_s``
        when batches report tokens; after an evaluation also ``val_loss`` (with a
        ``val_loader``) and whatever ``eval_fn`` returns.
    epoch : int
        Epochs finished.
    global_step : int
        Optimiser steps taken.
    stopped_early : bool

    Notes
    -----
    ``train_loss`` averages the batch losses weighted by each batch's tokens when it reports
    them, else by its examples (the exact epoch mean when each loss is a mean over its
    batch). ``val_loss`` is weighted the same way. Throughput counts training time only
    (data loading included, evaluation and checkpoint writing excluded).

    *Exact resumption.* ``fit(..., resume_from=path)`` continues a run so that it ends with
    the same parameters, bit for bit, as a run never interrupted. A checkpoint records, per
    rank, the state of Python's, NumPy's and torch's generators (and the device's CUDA
    generator) at the moment it is written, and the same at the start of the epoch in
    progress, together with the ``torch.Generator`` objects of the train loader and its
    samplers. On resumption mid-epoch the trainer puts back the epoch-start states, calls
    ``set_epoch`` on the samplers that have it and builds the epoch's iterator exactly as
    the first run did, discards the batches already trained on (they are loaded, not
    used), then puts back the states at the checkpoint. So the data order is reproduced
    whether it comes from a seeded sampler (:class:`DistributedSampler`), from
    ``DataLoader(shuffle=True, generator=g)`` or from the global generator. Randomness that
    lives elsewhere (e.g. a NumPy ``Generator`` held by a dataset) is not covered.

    *Distributed training.* Under torchrun (``WORLD_SIZE > 1``) ``fit`` joins the process
    group from the environment (``nccl`` on CUDA, ``gloo`` otherwise) unless one is already
    initialised (it then stays open until the process exits) and wraps the model in
    DistributedDataParallel. Each rank must see its own share of the data: use
    :class:`DistributedSampler` with a per-rank batch of ``global batch / world size``. Only
    rank 0 shows progress, logs, writes checkpoints and the history (the generator states
    of every rank are gathered into its checkpoints), and evaluates: it runs ``val_loader``
    and ``eval_fn`` on its own and sends the metrics to the others, so every rank makes the
    same early-stopping decision. A checkpoint resumes only with the world size it was
    written with, and every rank must be able to read it (a shared file system).

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from mlnotebook.train import Trainer
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(64, 3, generator=g)
    >>> data = TensorDataset(x, x @ torch.tensor([1.0, -2.0, 0.5]))
    >>> model = torch.nn.Linear(3, 1)
    >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
    ...                   lambda out, y: torch.nn.functional.mse_loss(out.squeeze(1), y),
    ...                   progress=False)
    >>> history = trainer.fit(DataLoader(data, batch_size=16), epochs=20)
    >>> len(history), history["train_loss"][-1] < 1e-3
    (20, True)
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable | None = None, *, compute_loss: Callable | None = None,
                 scheduler=None, scheduler_interval: str = "step",
                 grad_clip: float | None = None, eval_fn: Callable | None = None,
                 eval_every: int = 1, early_stopping: EarlyStopping | None = None,
                 checkpoint_dir: str | Path | None = None, checkpoint_every: int | None = None,
                 device: str | torch.device | None = None, amp: bool = False,
                 progress: bool = True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, "
                            f"got {type(optimizer).__name__}")
        if (loss_fn is None) == (compute_loss is None):
            raise ValueError("give exactly one of loss_fn and compute_loss")
        for name, fn in (("loss_fn", loss_fn), ("compute_loss", compute_loss),
                         ("eval_fn", eval_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        if scheduler is not None and not (callable(getattr(scheduler, "step", None))
                                          and callable(getattr(scheduler, "state_dict", None))):
            raise TypeError(f"scheduler must have step() and state_dict(), like torch's "
                            f"LRScheduler; got {type(scheduler).__name__}")
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', "
                             f"got {scheduler_interval!r}")
        if grad_clip is not None and not (isinstance(grad_clip, numbers.Real)
                                          and not isinstance(grad_clip, bool) and grad_clip > 0):
            raise ValueError(f"grad_clip must be a number > 0 or None, got {grad_clip!r}")
        _check_int("eval_every", eval_every, minimum=1)
        if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be an EarlyStopping or None, "
                            f"got {type(early_stopping).__name__}")
        if checkpoint_every is not None:
            _check_int("checkpoint_every", checkpoint_every, minimum=1)
            if checkpoint_dir is None:
                raise ValueError("checkpoint_every needs a checkpoint_dir to write to")
        if not isinstance(amp, bool) or not isinstance(progress, bool):
            raise TypeError(f"amp and progress must be bools, got {amp!r} and {progress!r}")

        if device is None:
            first = next(model.parameters(), None)
            self.device = first.device if first is not None else torch.device("cpu")
        else:
            self.device = resolve_device(device)
        if amp and self.device.type != "cuda":
            raise ValueError(f"amp=True needs a CUDA device (float16 autocast with a "
                             f"GradScaler); the trainer's device is {self.device}")
        self.model = model.to(self.device)
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.compute_loss = compute_loss
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.grad_clip = grad_clip
        self.eval_fn = eval_fn
        self.eval_every = eval_every
        self.early_stopping = early_stopping
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every = checkpoint_every
        self.amp = amp
        self.progress = progress
        self.scaler = torch.amp.GradScaler("cuda") if amp else None

        self.history = History()
        self.epoch = 0
        self.global_step = 0
        self.stopped_early = False
        self._resume: dict | None = None  # where a loaded checkpoint left the epoch

    # -- the loop -----------------------------------------------------------------------

    def fit(self, train_loader, val_loader=None, *, epochs: int,
            resume_from: str | Path | None = None) -> History:
        """Train until ``epochs`` epochs in all are done or early stopping says stop.

        Parameters
        ----------
        train_loader : iterable of batches
            Usually a DataLoader; it is iterated once per epoch.
        val_loader : iterable of batches, optional
            Gives ``val_loss`` at each evaluation, with the same loss as training.
        epochs : int
            The total number of epochs of the run, counting those done before a
            checkpoint: fitting again with a larger number trains on.
        resume_from : str or Path, optional
            A checkpoint written by a Trainer to continue from; see the class Notes.

        Returns
        -------
        History
            ``self.history``.
        """
        _check_int("epochs", epochs, minimum=1)
        group = join_process_group(self.device)
        if resume_from is not None:
            self._load(Path(resume_from), group)
        model = self.model
        if group.is_distributed:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        with _ProgressBar(self.progress and group.is_main) as bar:
            while self.epoch < epochs and not self.stopped_early:
                running, generators = self._train_epoch(model, train_loader, group, bar, epochs)
                self._end_epoch(running, generators, val_loader, group, bar, epochs)
        return self.history

    def _train_epoch(self, model, loader, group: ProcessGroup, bar: _ProgressBar,
                     epochs: int) -> tuple[_Running, list[torch.Generator]]:
        """One pass over ``loader`` (or the rest of it, after a mid-epoch checkpoint)."""
        generators = loader_generators(loader)
        resume, self._resume = self._resume, None
        if resume is not None:
            self._restore_rng(resume["epoch_rng"], generators)
        epoch_rng = capture_rng(self.device, generators)
        for holder in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
            if callable(getattr(holder, "set_epoch", None)):
                holder.set_epoch(self.epoch)
        model.train()
        batches = iter(loader)
        running = _Running()
        if resume is not None and resume["batches_done"]:
            for done in range(resume["batches_done"]):
                if next(batches, None) is None:
                    raise ValueError(f"train_loader gave {done} batches in epoch "
                                     f"{self.epoch + 1}, but the checkpoint had trained on "
                                     f"{resume['batches_done']}")
            self._restore_rng(resume["rng"], generators)
            running = _Running(**resume["running"])

        try:
            total = len(loader)
        except TypeError:  # e.g. a DataLoader over an IterableDataset without __len__
            total = None
        bar.start_epoch(f"epoch {self.epoch + 1}/{epochs}", total, running.batches)
        started = time.perf_counter()
        for batch in batches:
            loss, examples, tokens = self._train_step(model, batch)
            self.global_step += 1
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            running.add(loss, examples, tokens, time.perf_counter() - started)
            bar.update(running.batches, running, group.world_size)
            if self.checkpoint_every and self.global_step % self.checkpoint_every == 0:
                self._checkpoint(LAST_CHECKPOINT, group, rng=capture_rng(self.device, generators),
                                 epoch_rng=epoch_rng, running=running)
            started = time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        running.seconds += time.perf_counter() - started
        return running, generators

    def _train_step(self, model, batch):
        batch = _to_device(batch, self.device)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss, examples, tokens = self._batch_loss(model, batch)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if self.grad_clip is not None:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss, examples, tokens

    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=torch.float16)

    def _batch_loss(self, model, batch):
        """(scalar loss, examples, tokens or None) of one batch already on the device."""
        tokens = examples = None
        if self.loss_fn is not None:
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                raise TypeError("with loss_fn, every batch must be an (inputs, targets) pair; "
                                f"got a {type(batch).__name__} (use compute_loss for others)")
            inputs, targets = batch
            loss = self.loss_fn(model(inputs), targets)
        else:
            out = self.compute_loss(model, batch)
            if isinstance(out, Mapping):
                unknown = set(out) - {"loss", "tokens", "examples"}
                if "loss" not in out or unknown:
                    raise ValueError(f"compute_loss must return a loss tensor or a dict with "
                                     f"'loss' and optionally 'tokens', 'examples'; got the keys "
                                     f"{sorted(out)}")
                loss, tokens, examples = out["loss"], out.get("tokens"), out.get("examples")
            else:
                loss = out
        if not (isinstance(loss, torch.Tensor) and loss.ndim == 0):
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise TypeError(f"the loss must be a scalar tensor, got {shape}")
        if examples is None:
            examples = _leading_size(batch)
            if not examples:
                raise ValueError("cannot tell how many examples a batch holds (it has no "
                                 "tensor); return 'examples' from compute_loss")
        return loss, int(examples), tokens

    def _end_epoch(self, running: _Running, generators: list[torch.Generator], val_loader,
                   group: ProcessGroup, bar: _ProgressBar, epochs: int) -> None:
        """Totals over ranks, evaluation, the history record, early stopping, checkpoints."""
        loss_sum, weight, examples, tokens, reports = sum_over_ranks(
            group, [float(running.loss_sum), float(running.weight), running.examples,
                    float(running.tokens), float(running.reports_tokens)], self.device)
        if not examples:
            raise ValueError(f"train_loader gave no batches in epoch {self.epoch + 1}")
        seconds = max(running.seconds, 1e-9)
        record = {"epoch": self.epoch + 1, "step": self.global_step,
                  "train_loss": loss_sum / weight, "examples": int(examples),
                  "seconds": seconds, "examples_per_s": examples / seconds}
        if reports:
            record.update(tokens=int(tokens), tokens_per_s=tokens / seconds)
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        record["lr"] = float(self.optimizer.param_groups[0]["lr"])
        if (self.epoch + 1) % self.eval_every == 0 or self.epoch + 1 == epochs:
            record.update(self._evaluate(val_loader, group))
            if self.early_stopping is not None and self.early_stopping.monitor not in record:
                raise ValueError(f"early_stopping monitors {self.early_stopping.monitor!r}, "
                                 f"but the evaluation gave only {sorted(record)}")
        self.epoch += 1
        self.history.append(record)
        since_best = (None if self.early_stopping is None
                      else self.early_stopping.evaluations_since_best(self.history))
        self.stopped_early = since_best is not None and since_best >= self.early_stopping.patience

        summary = _summary(record)
        bar.end_epoch(running.batches, summary)
        if group.is_main:
            logger.info("epoch %d/%d: %s", self.epoch, epochs, summary)
        if self.checkpoint_dir is not None:
            # Position: the next epoch, no batch done; the state now is its epoch-start state.
            now = capture_rng(self.device, generators)
            names = [LAST_CHECKPOINT]
            if since_best == 0 and self.early_stopping.monitor in record:
                names.append(BEST_CHECKPOINT)
            for name in names:
                self._checkpoint(name, group, rng=None, epoch_rng=now, running=_Running())
            if group.is_main:
                self.history.save(self.checkpoint_dir / HISTORY_FILE)

    @torch.no_grad()
    def _evaluate(self, val_loader, group: ProcessGroup) -> dict:
        """Validation metrics, computed on rank 0 and sent to every rank."""
        metrics = {}
        if group.is_main:
            self.model.eval()
            with self._autocast():
                if val_loader is not None:
                    total, weight = 0.0, 0.0
                    for batch in val_loader:
                        loss, examples, tokens = self._batch_loss(
                            self.model, _to_device(batch, self.device))
                        w = examples if tokens is None else tokens
                        total, weight = total + loss.double() * w, weight + w
                    if not float(weight):
                        raise ValueError("val_loader gave no batches")
                    metrics["val_loss"] = float(total) / float(weight)
                if self.eval_fn is not None:
                    metrics.update(self._eval_fn_metrics())
            self.model.train()
        return broadcast_from_main(group, metrics, self.device)

    def _eval_fn_metrics(self) -> dict:
        out = self.eval_fn(self.model)
        if not isinstance(out, Mapping):
            raise TypeError(f"eval_fn must return a dict of metrics, got {type(out).__name__}")
        reserved = {"epoch", "step", "lr", "train_loss", "val_loss", "examples", "tokens",
                    "seconds", "examples_per_s", "tokens_per_s"}
        metrics = {}
        for name, value in out.items():
            if not isinstance(name, str) or name in reserved:
                raise ValueError(f"eval_fn returned the metric name {name!r}; names must be "
                                 f"strings other than {sorted(reserved)}")
            try:
                metrics[name] = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"eval_fn metric {name!r} must be a number, "
                                f"got {type(value).__name__}") from None
        return metrics

    # -- checkpoints ----------------------------------------------------------------------

    def _restore_rng(self, state: dict, generators: list[torch.Generator]) -> None:
        if len(state["generators"]) != len(generators):
            raise ValueError(f"the checkpoint saved {len(state['generators'])} data-order "
                             f"generators but train_loader has {len(generators)}; resume with "
                             "a train_loader built the same way")
        restore_rng(state, self.device, generators)

    def _checkpoint(self, name: str, group: ProcessGroup, *, rng: dict | None, epoch_rng: dict,
                    running: _Running) -> None:
        """Write ``checkpoint_dir / name`` from rank 0 (a collective: every rank calls it).

        The position saved is ``running.batches`` batches into epoch ``self.epoch``;
        ``epoch_rng`` is every generator's state at the start of that epoch and ``rng`` their
        state now (None at an epoch's start: a resumed run puts ``epoch_rng`` back before
        building the data iterator, and ``rng`` after skipping the batches done).
        """
        ranks = gather_to_main(group, {"epoch_rng": epoch_rng, "rng": rng,
                                       "running": running.state()})
        if not group.is_main:
            return
        payload = {
            "format": FORMAT,
            "model": self.model.state_dict(),
            "optimizer_class": class_name(self.optimizer),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_shapes": optimizer_shapes(self.optimizer),
            "scheduler_class": class_name(self.scheduler),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler_class": class_name(self.scaler),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "epoch": self.epoch,
            "batches_done": running.batches,
            "step": self.global_step,
            "history": self.history.records,
            "world_size": group.world_size,
            "ranks": ranks,
        }
        write_checkpoint(self.checkpoint_dir / name, payload)

    def _load(self, path: Path, group: ProcessGroup) -> None:
        """Check the checkpoint at ``path`` against this trainer, then load it."""
        payload = read_checkpoint(path, self.device)
        check_model_state(path, self.model, payload["model"])
        check_optimizer_state(path, self.optimizer, payload)
        check_optional_state(path, "scheduler", payload["scheduler_class"], self.scheduler)
        check_optional_state(path, "gradient scaler (amp)", payload["scaler_class"], self.scaler)
        if payload["world_size"] != group.world_size or len(payload["ranks"]) != group.world_size:
            raise ValueError(f"checkpoint {path} was written by {payload['world_size']} "
                             f"processes and resumes only with as many (data shards and "
                             f"random streams are per process); this run has "
                             f"{group.world_size}")
        # Everything fits: from here on nothing can fail half-way.
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(payload["scaler"])
        self.history = History(payload["history"])
        self.epoch = payload["epoch"]
        self.global_step = payload["step"]
        since_best = (None if self.early_stopping is None
                      else self.early_stopping.evaluations_since_best(self.history))
        self.stopped_early = since_best is not None and since_best >= self.early_stopping.patience
        mine = payload["ranks"][group.rank]
        self._resume = {"epoch_rng": mine["epoch_rng"], "rng": mine["rng"],
                        "running": mine["running"], "batches_done": payload["batches_done"]}
