"""Shared helpers for the experiment tests: one quick run, and computing it again."""

import json

from mlnotebook.experiments import RunContext, get_experiment, run_experiment


def run_quick(tmp_path_factory, experiment_id: str) -> dict:
    """The results.json record of ``experiment_id``'s quick profile, seed 0, in a fresh dir."""
    path = run_experiment(get_experiment(experiment_id), profile="quick", seed=0,
                          out=tmp_path_factory.mktemp(experiment_id))
    return json.loads(path.read_text())


def compute_again(experiment_id: str, record: dict):
    """Recompute a recorded quick run with the same seed (for determinism checks)."""
    experiment = get_experiment(experiment_id)
    return experiment.compute(RunContext(params=dict(experiment.profiles["quick"]),
                                         seed=record["seed"]))
