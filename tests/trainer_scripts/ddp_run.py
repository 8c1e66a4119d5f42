"""Train one small float64 regression with the Trainer, alone or as one of torchrun's ranks.

Usage: ``python ddp_run.py OUT_DIR`` (one process) or
``python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_run.py OUT_DIR``.
The script is the same either way: the sampler and the Trainer read torchrun's environment.

1. The global batch is fixed, so each of W ranks takes ``GLOBAL_BATCH / W`` examples a step;
   there is no dropout (every rank draws its own masks, so no number of processes could match
   another's draws). Each rank writes ``OUT_DIR/rank{r}.pt`` with its final parameters and
   history; rank 0 alone writes checkpoints to ``OUT_DIR/checkpoints``.
2. Then, with dropout and a different generator seed on every rank, a run interrupted by an
   exception at step 13 and resumed from its checkpoint is compared with an uninterrupted
   one; each rank records in its file whether the final parameters are identical.
"""

import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlnotebook.optim import Adam
from mlnotebook.optim.lr_scheduler import WarmupCosineLR
from mlnotebook.train import DistributedSampler, EarlyStopping, Trainer
from mlnotebook.train._distributed import world_and_rank

GLOBAL_BATCH, EPOCHS = 16, 4
N_TRAIN, N_VAL = 164, 40  # 11 global batches an epoch, the last of 4 (2 per rank)


class Interrupted(Exception):
    pass


def data() -> tuple[TensorDataset, TensorDataset]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(N_TRAIN + N_VAL, 10, generator=gen, dtype=torch.float64)
    w = torch.randn(10, 1, generator=gen, dtype=torch.float64)
    y = torch.tanh(x @ w) + 0.1 * torch.randn(N_TRAIN + N_VAL, 1, generator=gen,
                                              dtype=torch.float64)
    return TensorDataset(x[:N_TRAIN], y[:N_TRAIN]), TensorDataset(x[N_TRAIN:], y[N_TRAIN:])


def train(out: Path, global_batch: int, dropout: float, stop_at: int | None = None,
          resume: bool = False) -> Trainer:
    train_set, val = data()
    sampler = DistributedSampler(train_set, seed=7)
    loader = DataLoader(train_set, batch_size=global_batch // sampler.num_replicas,
                        sampler=sampler)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Dropout(dropout),
                          nn.Linear(32, 1)).double()
    opt = Adam(model.parameters(), lr=0.02)
    sched = WarmupCosineLR(opt, warmup_steps=5, total_steps=EPOCHS * len(loader))
    steps = 0

    def mse(prediction, target):
        nonlocal steps
        if model.training:
            if steps == stop_at:
                raise Interrupted
            steps += 1
        return nn.functional.mse_loss(prediction, target)

    @torch.no_grad()
    def mean_abs_error(model):
        x, y = val.tensors
        return {"val_mae": float((model(x) - y).abs().mean())}

    trainer = Trainer(model, opt, mse, scheduler=sched, grad_clip=1.0,
                      eval_fn=mean_abs_error, early_stopping=EarlyStopping("val_mae"),
                      checkpoint_dir=out, checkpoint_every=7, device="cpu", progress=False)
    torch.manual_seed(100 + world_and_rank()[1])  # each rank its own dropout stream
    trainer.fit(loader, DataLoader(val, batch_size=16), epochs=EPOCHS,
                resume_from=out / "last.pt" if resume else None)
    return trainer


def main(out: Path, global_batch: int = GLOBAL_BATCH, check_resume: bool = True) -> None:
    torch.set_num_threads(1)
    trainer = train(out / "checkpoints", global_batch, dropout=0.0)
    world, rank = world_and_rank()
    record = {"params": trainer.model.state_dict(), "history": trainer.history.records,
              "world_size": world, "steps": trainer.global_step}
    if check_resume:
        straight = train(out / "straight", global_batch, dropout=0.2)
        try:
            train(out / "resumed", global_batch, dropout=0.2, stop_at=13)
        except Interrupted:
            pass
        resumed = train(out / "resumed", global_batch, dropout=0.2, resume=True)
        record["resume_identical"] = all(
            torch.equal(p, q) for p, q in zip(straight.model.parameters(),
                                              resumed.model.parameters(), strict=True))
        record["resume_moved"] = not torch.equal(straight.model[0].weight,
                                                 trainer.model[0].weight)
    torch.save(record, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
