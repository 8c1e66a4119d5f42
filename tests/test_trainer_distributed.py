"""The Trainer under torchrun: 2 CPU processes (gloo) end where 1 process does.

tests/trainer_scripts/ddp_run.py is launched unchanged with
``python -m torch.distributed.run --standalone --nproc_per_node 2`` and, for one process,
imported and run here. Both train with a global batch of 16 (8 per rank under torchrun).

Tolerance: in float64, ``atol=1e-12`` on parameters of size ~0.1-1. The two runs compute the
same mathematics in a different order (each rank averages its 8 examples, then DDP averages
the two ranks' gradients; one process averages 16 at once), so they agree to rounding, not
bit for bit; after 44 Adam steps the observed gap is ~1e-16. Training on a batch of 8 instead
(a split that does not reproduce the global batch) moves them by ~1e-2.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from mlnotebook.train import Trainer

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="this build of torch has no torch.distributed with the gloo backend")

SCRIPT = Path(__file__).parent / "trainer_scripts" / "ddp_run.py"
TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _script():
    spec = importlib.util.spec_from_file_location("ddp_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("two")
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARIABLES}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", str(SCRIPT), str(out)],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return out, [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    if any(k in os.environ for k in TORCHRUN_VARIABLES[:2]):
        pytest.skip("this test process itself runs under torchrun")
    out = tmp_path_factory.mktemp("one")
    _script().main(out, check_resume=False)
    return torch.load(out / "rank0.pt", weights_only=True)


def test_two_processes_end_with_the_parameters_of_one(two_processes, one_process):
    _, ranks = two_processes
    assert [r["world_size"] for r in ranks] == [2, 2] and one_process["world_size"] == 1
    assert ranks[0]["steps"] == ranks[1]["steps"] == one_process["steps"] == 4 * 11
    for name, p in one_process["params"].items():
        assert p.dtype == torch.float64
        torch.testing.assert_close(ranks[0]["params"][name], p, rtol=0, atol=1e-12)
        assert torch.equal(ranks[0]["params"][name], ranks[1]["params"][name]), name


def test_a_different_batch_split_would_not_match(tmp_path, one_process):
    _script().main(tmp_path, global_batch=8, check_resume=False)
    per_rank_batch = torch.load(tmp_path / "rank0.pt", weights_only=True)
    gap = max((per_rank_batch["params"][k] - p).abs().max().item()
              for k, p in one_process["params"].items())
    assert gap > 1e-4


def test_histories_agree_across_ranks_and_with_one_process(two_processes, one_process):
    _, ranks = two_processes
    one, (r0, r1) = one_process["history"], (r["history"] for r in ranks)
    assert [e["examples"] for e in r0] == [e["examples"] for e in one] == [164] * 4
    # Rank 0 evaluates alone and sends the metrics: every rank records the same numbers.
    assert [e["val_mae"] for e in r0] == [e["val_mae"] for e in r1]
    assert [e["train_loss"] for e in r0] == [e["train_loss"] for e in r1]  # all-reduced
    for key in ("train_loss", "val_loss", "val_mae"):
        torch.testing.assert_close(torch.tensor([e[key] for e in r0]),
                                   torch.tensor([e[key] for e in one]), rtol=1e-12, atol=0)


def test_resume_under_ddp_is_exact_with_per_rank_dropout(two_processes):
    _, ranks = two_processes
    assert all(r["resume_identical"] for r in ranks)
    assert all(r["resume_moved"] for r in ranks)


def test_rank_0_writes_checkpoints_holding_every_rank(two_processes):
    out, _ = two_processes
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["best.pt", "history.json", "last.pt"]  # no temporary files left over
    checkpoint = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["world_size"] == 2 and len(checkpoint["ranks"]) == 2
    # The script seeds each rank's torch generator differently: both states were gathered.
    states = [r["epoch_rng"]["torch"] for r in checkpoint["ranks"]]
    assert not torch.equal(states[0], states[1])


def test_a_two_process_checkpoint_is_refused_by_one_process(two_processes):
    out, _ = two_processes
    script = _script()
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Dropout(0.0),
                                torch.nn.Linear(32, 1)).double()
    opt = script.Adam(model.parameters(), lr=0.02)
    sched = script.WarmupCosineLR(opt, warmup_steps=5, total_steps=44)
    trainer = Trainer(model, opt, torch.nn.functional.mse_loss, scheduler=sched,
                      progress=False)
    with pytest.raises(ValueError, match="written by 2 processes"):
        trainer.fit([], epochs=1, resume_from=out / "checkpoints" / "last.pt")
