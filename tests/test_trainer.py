"""mlnotebook.train: the loop against a hand-written one, history, evaluation, early stopping,
the sampler against torch's, and checkpoints that are refused whole when they do not fit."""

import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlnotebook.optim import SGD, Adam
from mlnotebook.optim.lr_scheduler import StepLR, WarmupCosineLR
from mlnotebook.train import DistributedSampler, EarlyStopping, History, Trainer


def _regression(n=48, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0], [3.0]]) + 0.1 * torch.randn(
        n, 1, generator=gen)
    return TensorDataset(x, y)


def _model(seed=0, hidden=8):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def _loader(data=None, batch_size=8):
    data = _regression() if data is None else data
    return DataLoader(data, batch_size=batch_size, sampler=DistributedSampler(data, seed=1))


mse = nn.functional.mse_loss


# -- the loop -----------------------------------------------------------------------------


@pytest.mark.parametrize("optimiser", ["SGD", "Adam"])
def test_the_loop_equals_a_hand_written_one(optimiser):
    """Same steps, same order: zero_grad, backward, clip, step, scheduler.step."""
    make = (lambda ps: SGD(ps, lr=0.05, momentum=0.9)) if optimiser == "SGD" else (
        lambda ps: Adam(ps, lr=0.01))
    ours, theirs = _model(), _model()
    opt = make(ours.parameters())
    trainer = Trainer(ours, opt, mse, scheduler=WarmupCosineLR(opt, 4, 18), grad_clip=0.5,
                      progress=False)
    trainer.fit(_loader(), epochs=3)

    opt2 = make(theirs.parameters())
    sched2 = WarmupCosineLR(opt2, 4, 18)
    loader = _loader()
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        for x, y in loader:
            opt2.zero_grad()
            mse(theirs(x), y).backward()
            nn.utils.clip_grad_norm_(theirs.parameters(), 0.5)
            opt2.step()
            sched2.step()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(p, q)
    assert trainer.global_step == 18 and trainer.epoch == 3


def test_history_records_weighted_epoch_losses_and_is_saved(tmp_path):
    data = _regression(n=20)  # batches of 8, 8 and 4: a plain mean of batch losses would differ
    model = _model()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.0), mse, checkpoint_dir=tmp_path,
                      progress=False)
    history = trainer.fit(_loader(data), DataLoader(data, batch_size=3), epochs=2)
    assert history is trainer.history and len(history) == 2
    with torch.no_grad():
        exact = float(mse(model(data.tensors[0]), data.tensors[1]))
    # lr = 0: the model never changes, so the epoch mean is the full-data loss
    assert history["train_loss"] == pytest.approx([exact, exact], rel=1e-6)
    assert history["val_loss"] == pytest.approx([exact, exact], rel=1e-6)
    assert history["examples"] == [20, 20] and history["step"] == [3, 6]
    assert all(s > 0 for s in history["examples_per_s"])
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["epochs"] == history.records
    assert History.load(tmp_path / "history.json").records == history.records
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "last.pt"]


def test_history_writes_nan_as_null(tmp_path):
    history = History([{"epoch": 1, "train_loss": math.nan}])
    history.save(tmp_path / "h.json")
    assert json.loads((tmp_path / "h.json").read_text()) == {
        "epochs": [{"epoch": 1, "train_loss": None}]}
    with pytest.raises(KeyError, match="no metric 'val_loss'"):
        history["val_loss"]


def test_compute_loss_reporting_tokens_weights_the_loss_by_tokens():
    # Each "batch" is (x, n_tokens): the loss of a batch is its x, so the epoch loss is
    # sum(x * tokens) / sum(tokens).
    batches = [(torch.tensor([3.0]), 1), (torch.tensor([1.0]), 3)]
    model = nn.Linear(1, 1)

    def compute_loss(model, batch):
        x, tokens = batch
        return {"loss": (model(x) * 0).sum() + x.sum(), "tokens": torch.tensor(tokens)}

    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), compute_loss=compute_loss,
                      progress=False)
    history = trainer.fit(batches, epochs=1)
    assert history["train_loss"] == [pytest.approx((3 * 1 + 1 * 3) / 4)]
    assert history["tokens"] == [4] and history["examples"] == [2]
    assert history["tokens_per_s"][0] > 0


def test_scheduler_per_epoch():
    model = _model()
    opt = SGD(model.parameters(), lr=1.0)
    trainer = Trainer(model, opt, mse, scheduler=StepLR(opt, step_size=1, gamma=0.5),
                      scheduler_interval="epoch", progress=False)
    history = trainer.fit(_loader(), epochs=3)
    assert history["lr"] == [0.5, 0.25, 0.125]


def test_eval_every_and_eval_fn():
    model = _model()
    calls = []

    def eval_fn(m):
        assert not m.training and not torch.is_grad_enabled()
        calls.append(1)
        return {"score": torch.tensor(len(calls))}

    trainer = Trainer(model, SGD(model.parameters(), lr=0.01), mse, eval_fn=eval_fn,
                      eval_every=2, progress=False)
    history = trainer.fit(_loader(), epochs=5)
    assert history["score"] == [None, 1.0, None, 2.0, 3.0]  # epochs 2, 4 and the last
    assert model.training


def test_early_stopping_stops_and_keeps_the_best(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.69, 0.9])
    model = _model()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.01), mse,
                      eval_fn=lambda m: {"acc": next(scores)},
                      early_stopping=EarlyStopping("acc", mode="max", patience=3),
                      checkpoint_dir=tmp_path, progress=False)
    history = trainer.fit(_loader(), epochs=10)
    assert trainer.stopped_early and len(history) == 5  # best at epoch 2, then 3 worse
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == 2 and best["history"][-1]["acc"] == 0.7


def test_early_stopping_min_delta_and_nan():
    stop = EarlyStopping("loss", mode="min", patience=2, min_delta=0.1)
    assert stop.evaluations_since_best(History([{"loss": 1.0}, {"loss": 0.95}])) == 1
    assert stop.evaluations_since_best(History([{"loss": 1.0}, {"loss": 0.85}])) == 0
    assert stop.evaluations_since_best(History([{"loss": math.nan}, {"loss": math.nan}])) == 2
    assert stop.evaluations_since_best(History([{"other": 1.0}])) is None


def test_progress_bar_runs(capsys):
    model = _model()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.01), mse, progress=True)
    trainer.fit(_loader(), epochs=2)
    assert "epoch 2/2" in capsys.readouterr().err


# -- the sampler ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [12, 13])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_last", [True, False])
def test_sampler_order_is_torchs(n, shuffle, drop_last):
    data = list(range(n))
    for rank in range(3):
        ours = DistributedSampler(data, num_replicas=3, rank=rank, shuffle=shuffle, seed=4,
                                  drop_last=drop_last)
        ref = torch.utils.data.DistributedSampler(data, num_replicas=3, rank=rank,
                                                  shuffle=shuffle, seed=4, drop_last=drop_last)
        for epoch in (0, 5):
            ours.set_epoch(epoch)
            ref.set_epoch(epoch)
            assert list(ours) == list(ref)


def test_sampler_reads_torchrun_variables(monkeypatch):
    assert (DistributedSampler(range(10)).num_replicas, DistributedSampler(range(10)).rank) == (
        1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    sampler = DistributedSampler(range(10))
    assert (sampler.num_replicas, sampler.rank) == (4, 2)
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer"):
        DistributedSampler(range(10))


def test_per_rank_batches_make_up_the_global_batch():
    data, global_batch, world = list(range(28)), 8, 2  # the last global batch has 4
    one = list(DataLoader(data, batch_size=global_batch,
                          sampler=DistributedSampler(data, num_replicas=1, rank=0, seed=3)))
    per_rank = [list(DataLoader(data, batch_size=global_batch // world,
                                sampler=DistributedSampler(data, num_replicas=world, rank=r,
                                                           seed=3)))
                for r in range(world)]
    assert len(one) == len(per_rank[0]) == len(per_rank[1]) == 4
    for k, batch in enumerate(one):
        assert sorted(batch.tolist()) == sorted(per_rank[0][k].tolist() + per_rank[1][k].tolist())


# -- bad input -----------------------------------------------------------------------------


def test_bad_arguments_are_refused():
    model = _model()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="exactly one of loss_fn and compute_loss"):
        Trainer(model, opt)
    with pytest.raises(ValueError, match="exactly one"):
        Trainer(model, opt, mse, compute_loss=lambda m, b: 0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        Trainer("model", opt, mse)
    with pytest.raises(TypeError, match="optimizer must be"):
        Trainer(model, "sgd", mse)
    with pytest.raises(ValueError, match="grad_clip must be a number > 0"):
        Trainer(model, opt, mse, grad_clip=0)
    with pytest.raises(ValueError, match="scheduler_interval"):
        Trainer(model, opt, mse, scheduler_interval="batch")
    with pytest.raises(ValueError, match="eval_every must be >= 1"):
        Trainer(model, opt, mse, eval_every=0)
    with pytest.raises(ValueError, match="checkpoint_every needs a checkpoint_dir"):
        Trainer(model, opt, mse, checkpoint_every=5)
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        Trainer(model, opt, mse, amp=True, device="cpu")
    with pytest.raises(ValueError, match="EarlyStopping mode"):
        EarlyStopping("val_loss", mode="best")
    trainer = Trainer(model, opt, mse, progress=False)
    with pytest.raises(TypeError, match="epochs must be an int"):
        trainer.fit(_loader(), epochs=2.0)


def test_bad_batches_and_metrics_are_refused():
    model = _model()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"\(inputs, targets\) pair"):
        Trainer(model, opt, mse, progress=False).fit([torch.zeros(2, 5)], epochs=1)
    with pytest.raises(TypeError, match="the loss must be a scalar tensor"):
        Trainer(model, opt, compute_loss=lambda m, b: m(b[0]), progress=False).fit(
            _loader(), epochs=1)
    with pytest.raises(ValueError, match="got the keys"):
        Trainer(model, opt, compute_loss=lambda m, b: {"los": mse(m(b[0]), b[1])},
                progress=False).fit(_loader(), epochs=1)
    with pytest.raises(ValueError, match="early_stopping monitors 'val_loss'"):
        Trainer(model, opt, mse, early_stopping=EarlyStopping(), progress=False).fit(
            _loader(), epochs=1)
    with pytest.raises(TypeError, match="eval_fn must return a dict"):
        Trainer(model, opt, mse, eval_fn=lambda m: 0.5, progress=False).fit(_loader(), epochs=1)
    with pytest.raises(ValueError, match="metric name 'train_loss'"):
        Trainer(model, opt, mse, eval_fn=lambda m: {"train_loss": 0.5}, progress=False).fit(
            _loader(), epochs=1)
    with pytest.raises(ValueError, match="train_loader gave no batches"):
        Trainer(model, opt, mse, progress=False).fit([], epochs=1)


# -- checkpoints that do not fit -----------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint of an 8-unit model trained with Adam and a warm-up schedule."""
    model = _model(hidden=8)
    opt = Adam(model.parameters(), lr=0.01)
    Trainer(model, opt, mse, scheduler=WarmupCosineLR(opt, 2, 12), checkpoint_dir=tmp_path,
            progress=False).fit(_loader(), epochs=2)
    path = tmp_path / "last.pt"
    payload = torch.load(path, weights_only=True)  # loads without unpickling any code
    assert payload["epoch"] == 2 and payload["step"] == 12
    return path


def _fresh(hidden=8, optimiser=Adam, scheduler=True, seed=5):
    model = _model(seed=seed, hidden=hidden)
    opt = optimiser(model.parameters(), lr=0.01)
    sched = WarmupCosineLR(opt, 2, 12) if scheduler else None
    return Trainer(model, opt, mse, scheduler=sched, progress=False)


def _snapshot(trainer):
    return ([p.detach().clone() for p in trainer.model.parameters()],
            repr(trainer.optimizer.state_dict()), trainer.epoch, trainer.global_step)


def _assert_untouched(trainer, before):
    params, opt_state, epoch, step = before
    assert all(torch.equal(p, q) for p, q in zip(params, trainer.model.parameters(),
                                                   strict=True))
    assert repr(trainer.optimizer.state_dict()) == opt_state
    assert (trainer.epoch, trainer.global_step) == (epoch, step)


def test_a_fitting_checkpoint_loads(checkpoint):
    trainer = _fresh()
    trainer.fit(_loader(), epochs=2, resume_from=checkpoint)  # already done: loads, no steps
    saved = torch.load(checkpoint, weights_only=True)["model"]
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in saved.items())
    assert trainer.global_step == 12 and len(trainer.history) == 2


def test_a_truncated_checkpoint_is_refused(checkpoint, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(checkpoint.read_bytes()[:-200])
    trainer = _fresh()
    before = _snapshot(trainer)
    with pytest.raises(ValueError, match=r"broken\.pt cannot be read"):
        trainer.fit(_loader(), epochs=3, resume_from=broken)
    _assert_untouched(trainer, before)


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path):
    other = tmp_path / "weights.pt"
    torch.save(_model().state_dict(), other)
    with pytest.raises(ValueError, match=r"weights\.pt is not a mlnotebook.train/1 checkpoint"):
        _fresh().fit(_loader(), epochs=1, resume_from=other)
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        _fresh().fit(_loader(), epochs=1, resume_from=tmp_path / "missing.pt")


def test_a_checkpoint_of_another_model_is_refused_whole(checkpoint):
    trainer = _fresh(hidden=16)
    before = _snapshot(trainer)
    with pytest.raises(ValueError, match=r"last\.pt does not fit the model \(Sequential\): "
                                         r"shape mismatch: 0\.bias \(8,\) in the checkpoint, "
                                         r"\(16,\) in the model"):
        trainer.fit(_loader(), epochs=3, resume_from=checkpoint)
    _assert_untouched(trainer, before)

    torch.manual_seed(0)
    deeper = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1), nn.Tanh(), nn.Linear(1, 1))
    trainer = Trainer(deeper, Adam(deeper.parameters(), lr=0.01), mse,
                      scheduler=None, progress=False)
    with pytest.raises(ValueError, match="missing keys 4.weight, 4.bias"):
        trainer.fit(_loader(), epochs=3, resume_from=checkpoint)


def test_a_checkpoint_with_another_dtype_is_refused(checkpoint):
    trainer = _fresh()
    trainer.model.double()
    with pytest.raises(ValueError, match="dtype mismatch: 0.bias torch.float32 in the "
                                         "checkpoint, torch.float64 in the model"):
        trainer.fit(_loader(), epochs=3, resume_from=checkpoint)


def test_a_checkpoint_of_another_optimiser_is_refused_whole(checkpoint):
    trainer = _fresh(optimiser=SGD)
    before = _snapshot(trainer)
    with pytest.raises(ValueError, match=r"state of a mlnotebook\.optim\._adam\.Adam optimiser, "
                                         r"but the trainer's optimiser is a "
                                         r"mlnotebook\.optim\._sgd\.SGD"):
        trainer.fit(_loader(), epochs=3, resume_from=checkpoint)
    _assert_untouched(trainer, before)

    model = _model(seed=5)
    opt = Adam([{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=0.01)
    trainer = Trainer(model, opt, mse, scheduler=WarmupCosineLR(opt, 2, 12), progress=False)
    before = _snapshot(trainer)
    with pytest.raises(ValueError, match="the optimiser has 2 parameter groups, the "
                                         "checkpoint 1"):
        trainer.fit(_loader(), epochs=3, resume_from=checkpoint)
    _assert_untouched(trainer, before)


def test_a_checkpoint_without_the_trainers_scheduler_is_refused(checkpoint):
    trainer = _fresh(scheduler=False)
    before = _snapshot(trainer)
    with pytest.raises(ValueError, match=r"has a mlnotebook\.optim\.lr_scheduler\."
                                         r"WarmupCosineLR scheduler, but the trainer has none"):
        trainer.fit(_loader(), epochs=3, resume_from=checkpoint)
    _assert_untouched(trainer, before)


def test_resuming_with_a_loader_built_otherwise_is_refused(tmp_path):
    model = _model()
    opt = SGD(model.parameters(), lr=0.01)

    def stop_at_step_3(model, batch):
        if trainer.global_step == 3:
            raise KeyboardInterrupt
        return mse(model(batch[0]), batch[1])

    trainer = Trainer(model, opt, compute_loss=stop_at_step_3, checkpoint_dir=tmp_path,
                      checkpoint_every=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(DataLoader(_regression(), batch_size=8, shuffle=True,
                               generator=torch.Generator().manual_seed(0)), epochs=2)
    with pytest.raises(ValueError, match="saved 1 data-order generators but train_loader "
                                         "has 0"):
        _fresh(scheduler=False, optimiser=SGD).fit(_loader(), epochs=2,
                                                   resume_from=tmp_path / "last.pt")
    short = DataLoader(_regression(n=8), batch_size=8, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="train_loader gave 1 batches in epoch 1, but the "
                                         "checkpoint had trained on 2"):
        _fresh(scheduler=False, optimiser=SGD).fit(short, epochs=2,
                                                   resume_from=tmp_path / "last.pt")
