"""Early stopping: when a monitored metric has stopped improving, and argument checks."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from mlnotebook.train._history import History


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` evaluations in a row.

    Parameters
    ----------
    monitor : str, default="val_loss"
        A key of the evaluation metrics: ``"val_loss"`` or one that ``eval_fn`` returns.
    mode : {"min", "max"}, default="min"
        Whether smaller or larger values are better.
    patience : int, default=5
        How many evaluations without improvement to tolerate; ``>= 1``.
    min_delta : float, default=0.0
        An improvement must beat the best value so far by more than this. A NaN never
        improves.
    """

    monitor: str = "val_loss"
    mode: str = "min"
    patience: int = 5
    min_delta: float = 0.0

    def __post_init__(self):
        if not isinstance(self.monitor, str) or not self.monitor:
            raise TypeError(f"EarlyStopping monitor must be a metric name, got {self.monitor!r}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', got {self.mode!r}")
        _check_int("EarlyStopping patience", self.patience, minimum=1)
        if not (isinstance(self.min_delta, numbers.Real) and self.min_delta >= 0):
            raise ValueError(f"EarlyStopping min_delta must be a number >= 0, "
                             f"got {self.min_delta!r}")

    def improves(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` (None: nothing yet) by more than ``min_delta``."""
        if value is None or math.isnan(value):
            return False
        if best is None:
            return True
        return (value < best - self.min_delta if self.mode == "min"
                else value > best + self.min_delta)

    def evaluations_since_best(self, history: History) -> int | None:
        """Evaluations since the best one (0: the latest is the best); None before any."""
        best, since = None, None
        for record in history:
            if self.monitor not in record:
                continue
            value = record[self.monitor]
            if self.improves(value, best):
                best, since = value, 0
            elif since is not None:
                since += 1
            else:  # no finite value yet: a NaN counts against patience all the same
                since = 1
        return since


def _check_int(name: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
