"""Training: one loop for every model, exact resumption from checkpoints, data parallelism.

Names are loaded on first use (PEP 562), so ``import mlnotebook.train`` stays cheap.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Trainer": "_trainer",
    "EarlyStopping": "_trainer",
    "History": "_history",
    "DistributedSampler": "_distributed",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'mlnotebook.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
