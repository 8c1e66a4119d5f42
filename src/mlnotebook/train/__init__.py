"""Training: one loop for every model, exact resumption from checkpoints, data parallelism.

Names are loaded on first use (PEP 562), so ``import mlnotebook.train`` stays cheap.
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    "Trainer": "_trainer",
    "EarlyStopping": "_early_stopping",
    "History": "_history",
    "DistributedSampler": "_distributed",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
