"""Data parallelism on PyTorch's own engine: process group, device, sampler, collectives.

Under ``torchrun`` every process runs the same script; torchrun tells each one its place
through environment variables (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). Everything here reads them, so one script runs unchanged as a single
process (no variables: world size 1, rank 0) and as one of many.

The backend follows the device: ``nccl`` for CUDA, ``gloo`` for the CPU.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.utils.data


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, "
                         f"got {value!r}") from None


def world_and_rank() -> tuple[int, int]:
    """(world size, rank): the process group's when one is initialised, else torchrun's.

    Outside torchrun, with no process group, this is ``(1, 0)``.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return _env_int("WORLD_SIZE", 1), _env_int("RANK", 0)


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device; a bare ``"cuda"`` means ``cuda:LOCAL_RANK``.

    Under torchrun each process on a node must drive its own GPU; giving ``"cuda"`` lets the
    same script pick it. An explicit index (``"cuda:1"``) is kept as given.
    """
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return device


class DistributedSampler(torch.utils.data.DistributedSampler):
    """torch's DistributedSampler that also works in a single process and reads torchrun.

    The order is torch's exactly: in epoch ``e`` the dataset is permuted by
    ``torch.randperm`` with a generator seeded ``seed + e`` (or kept in order when
    ``shuffle=False``), padded by repeating its start up to a multiple of
    ``num_replicas`` (or cut down with ``drop_last``), and rank ``r`` takes positions
    ``r, r + W, r + 2W, ...``. So with a per-rank batch of ``B / W``, the ``k``-th
    batches of the ``W`` ranks together hold exactly the ``k``-th batch of size ``B`` that
    one process with this sampler sees, when the dataset length is a multiple of ``W``.

    Parameters
    ----------
    dataset : Dataset
        A map-style dataset with ``__len__``.
    num_replicas, rank : int, optional
        Default to the initialised process group's world size and rank, else to the
        ``WORLD_SIZE`` and ``RANK`` environment variables set by torchrun, else to 1 and 0.
        (torch's sampler insists on an initialised process group.)
    shuffle : bool, default=True
    seed : int, default=0
        The same on every rank.
    drop_last : bool, default=False

    Notes
    -----
    Call :meth:`set_epoch` before iterating each epoch (the :class:`Trainer` does);
    otherwise every epoch repeats the same order.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        world, this_rank = world_and_rank()
        super().__init__(dataset, num_replicas=world if num_replicas is None else num_replicas,
                         rank=this_rank if rank is None else rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)


@dataclass(frozen=True)
class ProcessGroup:
    """Where this process stands: world size, rank, and whether it talks to others."""

    world_size: int = 1
    rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, shows progress and writes files."""
        return self.rank == 0


def join_process_group(device: torch.device) -> ProcessGroup:
    """Join torchrun's process group if this process has not yet, or stand alone.

    An initialised group (the caller's, or one joined before) is used as is. Otherwise,
    with ``WORLD_SIZE > 1``, the group is created from the environment (``env://``) with
    the backend that suits ``device`` and stays open for the life of the process (it is
    destroyed at exit): a process joins its group once, and creating it again in the same
    process can meet stale rendezvous keys from the first time.
    """
    if dist.is_available() and dist.is_initialized():
        return ProcessGroup(dist.get_world_size(), dist.get_rank())
    world, rank = world_and_rank()
    if world == 1:
        return ProcessGroup()
    if not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE={world} asks for distributed training, but this "
                           "build of torch has no torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                            init_method="env://")
    atexit.register(_leave_process_group)
    return ProcessGroup(dist.get_world_size(), dist.get_rank())


def _leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def gather_to_main(group: ProcessGroup, obj) -> list | None:
    """Every rank's ``obj`` as a list by rank on rank 0, None elsewhere (a collective)."""
    if not group.is_distributed:
        return [obj]
    out = [None] * group.world_size if group.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_main(group: ProcessGroup, obj, device: torch.device):
    """Rank 0's ``obj`` on every rank (a collective); ``obj`` is ignored elsewhere."""
    if not group.is_distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=device if device.type == "cuda" else None)
    return box[0]


def sum_over_ranks(group: ProcessGroup, values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (a collective), in float64."""
    if not group.is_distributed:
        return list(values)
    dtype = torch.float64
    buffer = torch.tensor(values, dtype=dtype, device=device)
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    return buffer.tolist()
