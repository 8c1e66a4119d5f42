"""Train a small MLP with dropout and shuffling, checkpointing every few steps.

Usage: ``python resumable_run.py OUT_DIR``. When ``OUT_DIR/last.pt`` exists the run resumes
from it; either way it ends by writing ``OUT_DIR/final.pt`` with the final parameters, the
number of steps, the step it resumed from (None for a fresh run) and the training losses.
tests/test_trainer_resume.py kills this script with SIGKILL and runs it again.
"""

import io
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlnotebook._io import atomic_write_bytes
from mlnotebook.optim import AdamW
from mlnotebook.optim.lr_scheduler import WarmupCosineLR
from mlnotebook.train import Trainer

EPOCHS, BATCH, CHECKPOINT_EVERY = 8, 16, 10


def main(out: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(512, 32, generator=gen)
    y = (x[:, :4] + 0.5 * torch.randn(512, 4, generator=gen)).argmax(dim=1)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True,
                        generator=torch.Generator().manual_seed(2))
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 64),
                          nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 4))
    opt = AdamW(model.parameters(), lr=3e-3)
    sched = WarmupCosineLR(opt, warmup_steps=20, total_steps=EPOCHS * len(loader))
    trainer = Trainer(model, opt, nn.functional.cross_entropy, scheduler=sched, grad_clip=5.0,
                      checkpoint_dir=out, checkpoint_every=CHECKPOINT_EVERY, progress=False)
    last = out / "last.pt"
    resumed_at = torch.load(last, weights_only=True)["step"] if last.exists() else None
    history = trainer.fit(loader, epochs=EPOCHS, resume_from=last if last.exists() else None)
    buffer = io.BytesIO()
    torch.save({"params": model.state_dict(), "steps": trainer.global_step,
                "resumed_at_step": resumed_at, "train_loss": history["train_loss"]}, buffer)
    atomic_write_bytes(out / "final.pt", buffer.getvalue())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
