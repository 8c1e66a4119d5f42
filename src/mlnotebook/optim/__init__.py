"""Optimisers written from scratch on torch tensors, drop-in replacements for torch.optim."""

from mlnotebook.optim._adadelta import Adadelta
from mlnotebook.optim._adagrad import Adagrad
from mlnotebook.optim._adam import Adam, AdamW
from mlnotebook.optim._rmsprop import RMSprop
from mlnotebook.optim._sgd import SGD

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "RMSprop"]
