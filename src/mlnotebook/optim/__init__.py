"""Optimisers written from scratch on torch tensors, drop-in replacements for torch.optim."""

from mlnotebook.optim._adam import Adam, AdamW
from mlnotebook.optim._sgd import SGD

__all__ = ["SGD", "Adam", "AdamW"]
