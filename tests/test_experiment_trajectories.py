"""The optimiser race: the one-object sweep equals separate runs, and the table is sound."""

import json

import numpy as np
import pytest
import torch

from mlnotebook.experiments import get_experiment, run_experiment
from mlnotebook.experiments.optimiser_trajectories import (
    OPTIMISERS,
    PROBLEMS,
    first_below,
    sweep,
)


@pytest.mark.parametrize("name", ["momentum", "Adam", "Adadelta"])
def test_sweep_over_param_groups_equals_separate_runs(name):
    cls, kwargs, low, high = OPTIMISERS[name]
    problem = PROBLEMS["rosenbrock"]
    lrs = np.geomspace(low, high, 3)
    positions, losses = sweep(problem, cls, kwargs, lrs, steps=25, device="cpu")
    for j, lr in enumerate(lrs):
        xy = torch.tensor(problem["start"], dtype=torch.float64, requires_grad=True)
        ref = getattr(torch.optim, cls.__name__)([xy], lr=float(lr), **kwargs)
        for _ in range(25):
            ref.zero_grad()
            problem["loss"](xy).backward()
            ref.step()
        np.testing.assert_allclose(positions[-1, j], xy.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize(
    ("losses", "expected"),
    [([5, 1, 0.1, 0.01], 2), ([0.1, 0.1], 0), ([5, 0.1, 5, 0.1], 3), ([5, 0.1, 5], None),
     ([5, float("nan")], None)],
)
def test_first_below_means_stays_below(losses, expected):
    assert first_below(np.asarray(losses, dtype=float), 0.5) == expected


def test_quick_run_writes_a_full_table(tmp_path):
    path = run_experiment(get_experiment("optimiser-trajectories"), profile="quick", seed=0,
                          out=tmp_path)
    record = json.loads(path.read_text())
    rows = record["tables"]["race"]["rows"]
    assert len(rows) == len(PROBLEMS) * len(OPTIMISERS)
    for problem, name, lr, _reached, final, _diverged in rows:
        _, _, low, high = OPTIMISERS[name]
        assert low <= lr <= high * (1 + 1e-12)
        start = PROBLEMS[problem]["loss"](torch.tensor(PROBLEMS[problem]["start"])).item()
        assert final is not None and final < start, (problem, name)
    assert sorted(record["figures"]) == ["loss", "trajectories"]
