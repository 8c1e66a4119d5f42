"""What an experiment is, and the registry that finds them.

An experiment is two plain functions: ``compute(ctx) -> Results`` does the work from a
profile's parameters and a seed, and ``plot(results) -> {name: Figure}`` draws it. Keeping
them apart means results can be re-plotted, and tests can check numbers without drawing.

A module in ``mlnotebook.experiments`` registers its experiment with :func:`register`;
:func:`all_experiments` imports every such module, so adding an experiment is adding a file.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlnotebook._registry import import_public_submodules

PROFILES = ("quick", "default", "full")


@dataclass
class Table:
    """A small table of results: column names and rows of JSON-friendly values."""

    columns: list[str]
    rows: list[list[Any]]

    def __post_init__(self):
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table row {row!r} has {len(row)} cells but there are "
                    f"{len(self.columns)} columns"
                )


@dataclass
class Results:
    """What ``compute`` returns: scalar metrics, tables, and data the plots need."""

    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """Everything an experiment may depend on besides its own code.

    ``params`` are the profile's sizes; ``seed`` has already been applied to Python,
    NumPy and torch by the runner, and ``rng`` is a NumPy generator made from it;
    ``progress(done, total)`` reports progress (a no-op outside the CLI).
    """

    params: dict[str, Any]
    seed: int = 0
    device: str = "cpu"
    profile: str = "quick"
    progress: Callable[[int, int], None] = lambda done, total: None

    def __post_init__(self):
        import numpy as np

        self.rng = np.random.default_rng(self.seed)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: id, title, the entries it illustrates and three profiles."""

    id: str
    title: str
    entries: tuple[str, ...]
    profiles: Mapping[str, Mapping[str, Any]]
    compute: Callable[[RunContext], Results]
    plot: Callable[[Results], Mapping[str, Any]]
    description: str = ""

    def __post_init__(self):
        missing = [p for p in PROFILES if p not in self.profiles]
        if missing:
            raise ValueError(f"experiment {self.id!r}: profiles {missing} are missing")
        if not self.entries:
            raise ValueError(f"experiment {self.id!r}: 'entries' must name at least one entry")


@contextlib.contextmanager
def one_cpu_thread(device: str):
    """Run torch's CPU kernels on one thread inside the block, then restore the count.

    Small experiments (matrices of a few hundred rows) gain nothing from intra-op threads,
    and on a busy machine the threads' spin-waiting made each step some twenty times slower.
    """
    import torch

    if torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def single_blas_thread(compute: Callable[[RunContext], Results]
                       ) -> Callable[[RunContext], Results]:
    """Wrap an experiment's ``compute`` so NumPy/SciPy's BLAS runs on one thread inside it.

    For experiments made of many small matrix products: extra BLAS threads only spin against
    each other (on a busy two-core machine one thread ran such a compute four times faster).
    """
    from threadpoolctl import threadpool_limits

    @functools.wraps(compute)
    def wrapped(ctx: RunContext) -> Results:
        with threadpool_limits(limits=1):
            return compute(ctx)

    return wrapped


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to the registry (ids are unique) and return it."""
    existing = _REGISTRY.get(experiment.id)
    if existing is not None and existing.compute is not experiment.compute:
        raise ValueError(f"experiment id {experiment.id!r} is registered twice")
    _REGISTRY[experiment.id] = experiment
    return experiment


def all_experiments() -> dict[str, Experiment]:
    """Every registered experiment, by id, in id order."""
    import_public_submodules("mlnotebook.experiments")
    return dict(sorted(_REGISTRY.items()))


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with this id; KeyError listing the known ids if there is none."""
    experiments = all_experiments()
    if experiment_id not in experiments:
        raise KeyError(
            f"unknown experiment {experiment_id!r}; known: {', '.join(experiments) or 'none'}"
        )
    return experiments[experiment_id]
