"""Resuming a Trainer from a checkpoint ends bit-identical to a run never interrupted.

Two kinds of interruption: an exception raised from inside a training step (in process,
at chosen steps, over three ways of shuffling the data), and a real SIGKILL of a
subprocess that is training (tests/trainer_scripts/resumable_run.py). Both runs use
dropout, shuffling, a warm-up schedule, the project's AdamW, and draws from Python's and
NumPy's global generators, so every piece of state a checkpoint restores matters.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlnotebook.optim import AdamW
from mlnotebook.optim.lr_scheduler import WarmupCosineLR
from mlnotebook.train import DistributedSampler, EarlyStopping, Trainer

N_TRAIN, BATCH, EPOCHS, EVERY = 50, 8, 4, 3  # 7 batches an epoch, the last one of 2 examples
STEPS_PER_EPOCH = -(-N_TRAIN // BATCH)


class Interrupted(Exception):
    pass


def _data(seed: int, n: int) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return TensorDataset(x, y)


def _loader(kind: str) -> DataLoader:
    data = _data(1, N_TRAIN)
    if kind == "seeded sampler":
        return DataLoader(data, batch_size=BATCH, sampler=DistributedSampler(data, seed=3))
    if kind == "loader generator":
        return DataLoader(data, batch_size=BATCH, shuffle=True,
                          generator=torch.Generator().manual_seed(5))
    return DataLoader(data, batch_size=BATCH, shuffle=True)  # "global generator"


def _noisy_loss(model, batch):
    """Cross-entropy on inputs jittered by NumPy, with label smoothing drawn by ``random``."""
    x, y = batch
    jitter = torch.from_numpy(np.random.standard_normal(tuple(x.shape))).to(x.dtype)  # noqa: NPY002
    smoothing = 0.1 * random.random()
    return nn.functional.cross_entropy(model(x + 0.05 * jitter), y, label_smoothing=smoothing)


def _trainer(tmp: Path, init_seed: int, stop_after: int | None = None) -> Trainer:
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = AdamW(model.parameters(), lr=0.02)
    sched = WarmupCosineLR(opt, warmup_steps=5, total_steps=EPOCHS * STEPS_PER_EPOCH)
    calls = 0

    def compute_loss(model, batch):
        nonlocal calls
        if calls == stop_after:
            raise Interrupted
        calls += 1
        return _noisy_loss(model, batch)

    return Trainer(model, opt, compute_loss=compute_loss, scheduler=sched,
                   grad_clip=1.0, checkpoint_dir=tmp, checkpoint_every=EVERY,
                   early_stopping=EarlyStopping("val_loss", patience=10), progress=False)


def _seed_globals(seed: int) -> None:
    """Seed the three global generators the run draws from (after the model is built)."""
    torch.manual_seed(seed)
    random.seed(seed + 1)
    np.random.seed(seed + 2)  # noqa: NPY002 - the global generators are what is under test


def _val_loader() -> DataLoader:
    return DataLoader(_data(2, 20), batch_size=8, shuffle=True)


def _assert_same_run(a: Trainer, b: Trainer) -> None:
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values(),
                            strict=True):
        assert torch.equal(p, q), name
    assert a.global_step == b.global_step and a.epoch == b.epoch
    for key in ("train_loss", "val_loss", "lr", "examples", "step"):
        assert a.history[key] == b.history[key], key
    state_a, state_b = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for i in state_a:
        for key in state_a[i]:
            assert torch.equal(state_a[i][key], state_b[i][key]), (i, key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = {}
    for kind in ("seeded sampler", "loader generator", "global generator"):
        trainer = _trainer(tmp_path_factory.mktemp("straight"), init_seed=0)
        _seed_globals(11)
        trainer.fit(_loader(kind), _val_loader(), epochs=EPOCHS)
        out[kind] = trainer
    return out


@pytest.mark.parametrize("kind", ["seeded sampler", "loader generator", "global generator"])
# Interrupt at the call ``stop_after`` of the loss (0-based; an epoch makes 7 training calls
# then 3 validation calls): mid-epoch (5), in the evaluation after a mid-epoch checkpoint (8),
# at the start of an epoch (10), right after a checkpoint (15), after a checkpoint taken at the
# last batch of an epoch but before its evaluation finished (27).
@pytest.mark.parametrize("stop_after", [5, 8, 10, 15, 27])
def test_resume_after_an_interruption_matches_the_uninterrupted_run(
        uninterrupted, tmp_path, kind, stop_after):
    first = _trainer(tmp_path, init_seed=0, stop_after=stop_after)
    _seed_globals(11)
    with pytest.raises(Interrupted):
        first.fit(_loader(kind), _val_loader(), epochs=EPOCHS)
    assert first.epoch < EPOCHS

    # A fresh process would start from other weights and other generator states.
    second = _trainer(tmp_path, init_seed=1)
    _seed_globals(99)
    second.fit(_loader(kind), _val_loader(), epochs=EPOCHS, resume_from=tmp_path / "last.pt")
    _assert_same_run(second, uninterrupted[kind])


def test_the_comparison_can_fail(uninterrupted, tmp_path):
    """Another dropout stream, or another data order, ends elsewhere: equality is no accident."""
    other_dropout = _trainer(tmp_path / "a", init_seed=0)
    _seed_globals(11)
    torch.manual_seed(12)  # only the global torch generator differs
    other_dropout.fit(_loader("seeded sampler"), _val_loader(), epochs=EPOCHS)
    reference = uninterrupted["seeded sampler"].model.state_dict()
    assert not torch.equal(other_dropout.model.state_dict()["3.weight"], reference["3.weight"])

    first = _trainer(tmp_path / "b", init_seed=0, stop_after=15)
    _seed_globals(11)
    with pytest.raises(Interrupted):
        first.fit(_loader("seeded sampler"), _val_loader(), epochs=EPOCHS)
    data = _data(1, N_TRAIN)
    reordered = DataLoader(data, batch_size=BATCH, sampler=DistributedSampler(data, seed=4))
    second = _trainer(tmp_path / "b", init_seed=0)
    second.fit(reordered, _val_loader(), epochs=EPOCHS, resume_from=tmp_path / "b" / "last.pt")
    assert not torch.equal(second.model.state_dict()["3.weight"], reference["3.weight"])


def test_fit_again_trains_on_and_finished_runs_do_nothing(tmp_path):
    trainer = _trainer(tmp_path, init_seed=0)
    trainer.fit(_loader("seeded sampler"), _val_loader(), epochs=2)
    assert trainer.epoch == 2 and trainer.global_step == 2 * STEPS_PER_EPOCH
    before = [p.clone() for p in trainer.model.parameters()]
    trainer.fit(_loader("seeded sampler"), _val_loader(), epochs=2)
    assert all(torch.equal(p, q) for p, q in zip(before, trainer.model.parameters(),
                                                   strict=True))
    trainer.fit(_loader("seeded sampler"), _val_loader(), epochs=3)
    assert trainer.epoch == 3 and len(trainer.history) == 3


# -- a real kill --------------------------------------------------------------------------

SCRIPT = Path(__file__).parent / "trainer_scripts" / "resumable_run.py"


def _child_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _run(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out)], env=_child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr[-3000:]


def _final(out: Path) -> dict:
    return torch.load(out / "final.pt", weights_only=True)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight-kill")
    _wait(_run(out))
    return _final(out)


def _epochs_done(out: Path) -> int:
    try:
        return len(json.loads((out / "history.json").read_text())["epochs"])
    except (OSError, ValueError):
        return 0  # not written yet (it appears by an atomic rename, never half-written)


def _kill_when(proc: subprocess.Popen, ready) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, f"the run ended before the kill: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "the run made no progress within 120 s"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_twice_and_resume_matches_the_uninterrupted_run(straight_run, tmp_path):
    # Killed as soon as the first checkpoint exists (mid first epoch), then, resumed, killed
    # again once three epochs are done (somewhere in the fourth), then resumed to the end.
    _kill_when(_run(tmp_path), lambda: (tmp_path / "last.pt").exists())
    first_stop = torch.load(tmp_path / "last.pt", weights_only=True)["step"]
    _kill_when(_run(tmp_path), lambda: _epochs_done(tmp_path) >= 3)
    assert not (tmp_path / "final.pt").exists()

    _wait(_run(tmp_path))  # the same command again resumes from last.pt
    resumed = _final(tmp_path)
    assert first_stop < resumed["resumed_at_step"] < straight_run["steps"]
    assert resumed["steps"] == straight_run["steps"]
    for name, p in straight_run["params"].items():
        assert torch.equal(resumed["params"][name], p), name
    assert resumed["train_loss"] == straight_run["train_loss"]
