"""Experiments: one command, numbers and figures.

Each public module here registers one or more :class:`Experiment` objects; the runner
(:func:`run_experiment`) seeds, times and writes them under ``<out>/<experiment-id>/``.
"""

from mlnotebook.experiments._base import (
    PROFILES,
    Experiment,
    Results,
    RunContext,
    Table,
    all_experiments,
    get_experiment,
    register,
)
from mlnotebook.experiments._runner import (
    load_results,
    resolve_device,
    run_experiment,
    seed_everything,
)

__all__ = [
    "PROFILES",
    "Experiment",
    "Results",
    "RunContext",
    "Table",
    "all_experiments",
    "get_experiment",
    "load_results",
    "register",
    "resolve_device",
    "run_experiment",
    "seed_everything",
]
