"""What the training loop shows while it runs: running sums, a progress bar, epoch summaries."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass
class _Running:
    """Sums over the batches this rank has trained on in the epoch in progress.

    ``loss_sum`` is the sum of batch losses times their weights (tokens when the batch
    reports them, examples otherwise); it may be a tensor on the device, so adding to it
    never waits for the device.
    """

    batches: int = 0
    examples: int = 0
    tokens: float = 0.0
    weight: float = 0.0
    loss_sum: float = 0.0
    seconds: float = 0.0
    reports_tokens: bool = False

    def add(self, loss: torch.Tensor, examples: int, tokens, seconds: float) -> None:
        weight = examples if tokens is None else tokens
        self.batches += 1
        self.examples += examples
        if tokens is not None:
            self.tokens = self.tokens + tokens
            self.reports_tokens = True
        self.weight = self.weight + weight
        self.loss_sum = self.loss_sum + loss.detach().double() * weight
        self.seconds += seconds

    def state(self) -> dict:
        """Plain numbers for a checkpoint (this waits for the device)."""
        return {"batches": self.batches, "examples": self.examples,
                "tokens": float(self.tokens), "weight": float(self.weight),
                "loss_sum": float(self.loss_sum), "seconds": self.seconds,
                "reports_tokens": self.reports_tokens}

    def describe(self, world_size: int) -> str:
        """Running loss and throughput; the rate is this rank's times the world size."""
        if not self.batches:
            return ""
        loss = float(self.loss_sum) / float(self.weight) if float(self.weight) else math.nan
        count, unit = ((float(self.tokens), "tok") if self.reports_tokens
                       else (self.examples, "ex"))
        rate = count * world_size / self.seconds if self.seconds > 0 else math.nan
        return f"loss {loss:.4g} · {rate:,.0f} {unit}/s"


class _ProgressBar:
    """One rich progress bar per epoch, with the running loss and throughput."""

    def __init__(self, enabled: bool):
        self._enabled = enabled
        self._progress = None
        self._task = None
        self._shown_at = 0.0

    def __enter__(self) -> _ProgressBar:
        if self._enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[stats]}"),
                console=Console(stderr=True))
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_epoch(self, description: str, total: int | None, done: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(description, total=total, completed=done,
                                                 stats="")

    def update(self, done: int, running: _Running, world_size: int) -> None:
        # Reading the loss waits for the device, so refresh ten times a second at most.
        if self._progress is None or time.monotonic() - self._shown_at < 0.1:
            return
        self._shown_at = time.monotonic()
        self._progress.update(self._task, completed=done, stats=running.describe(world_size))

    def end_epoch(self, done: int, summary: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, stats=summary)


def _summary(record: Mapping) -> str:
    skip = {"epoch", "step", "examples", "tokens", "seconds"}
    parts = [f"{k} {v:.4g}" for k, v in record.items()
             if k not in skip and isinstance(v, float) and not k.endswith("_per_s")]
    if "tokens_per_s" in record:
        parts.append(f"{record['tokens_per_s']:,.0f} tok/s")
    elif "examples_per_s" in record:
        parts.append(f"{record['examples_per_s']:,.0f} ex/s")
    return " · ".join(parts)
