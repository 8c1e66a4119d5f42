"""Checkpoints that resume exactly: writing atomically, reading safely, refusing misfits.

A checkpoint is one ``torch.save`` file holding a dict of tensors and plain Python values
only, so it loads with ``torch.load(weights_only=True)`` (no arbitrary code runs on load).
It is written to a temporary file in the same folder and renamed over the old one, so a
process killed mid-write leaves the previous checkpoint intact.

Loading checks everything before changing anything: the model's keys, shapes and dtypes,
the optimiser's class and parameter groups, the scheduler, the gradient scaler. Anything
that does not fit raises a ValueError naming the file and the misfit, and the model and
optimiser are left as they were.

Random number generators
------------------------
Exact resumption needs every source of randomness put back: Python's ``random``, NumPy's
global generator, torch's CPU generator, the CUDA generator of the device in use, and the
``torch.Generator`` objects a DataLoader and its samplers own (they decide the data order).
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlnotebook._io import atomic_write_bytes

FORMAT = "mlnotebook.train/1"


def class_name(obj) -> str | None:
    """``obj``'s class as ``module.QualName``, or None for None: what a checkpoint records."""
    if obj is None:
        return None
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def loader_generators(loader) -> list[torch.Generator]:
    """The distinct torch.Generators that decide ``loader``'s order, in a fixed order.

    Looks at ``loader.generator`` (its workers' base seed and a default RandomSampler's
    draws) and the ``generator`` of its sampler, batch sampler and the batch sampler's
    sampler.
    """
    holders = [loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)]
    holders.append(getattr(holders[-1], "sampler", None))
    found: list[torch.Generator] = []
    for holder in holders:
        gen = getattr(holder, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def capture_rng(device: torch.device, generators: list[torch.Generator]) -> dict:
    """The state of every generator a training step or the data order may draw from."""
    # The legacy global generator is what third-party code may draw from: save it as is.
    np_state = np.random.get_state(legacy=False)  # noqa: NPY002
    return {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "generators": [g.get_state() for g in generators],
    }


def restore_rng(state: dict, device: torch.device, generators: list[torch.Generator]) -> None:
    """Put back what :func:`capture_rng` captured (the generators must correspond)."""
    random.setstate(state["python"])
    np_state = state["numpy"]
    key = np_state["key"].cpu().numpy().astype(np.uint32)
    np.random.set_state({  # noqa: NPY002
        "bit_generator": "MT19937",
        "state": {"key": key, "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"],
        "gauss": np_state["gauss"],
    })
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    for gen, saved in zip(generators, state["generators"], strict=True):
        gen.set_state(saved.cpu())


def write_checkpoint(path: Path, payload: dict) -> Path:
    """``torch.save`` ``payload`` to ``path`` atomically (temporary file + rename)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


_REQUIRED = ("model", "optimizer_class", "optimizer", "optimizer_shapes", "scheduler_class",
             "scheduler", "scaler_class", "scaler", "epoch", "batches_done", "step", "history",
             "world_size", "ranks")


def read_checkpoint(path: str | Path, map_location: torch.device) -> dict:
    """The payload of the checkpoint at ``path``, loaded with ``weights_only=True``.

    Raises FileNotFoundError when there is no such file, ValueError when it cannot be read
    (e.g. truncated) or is not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise ValueError(f"checkpoint {path} cannot be read; the file is damaged, truncated "
                         f"or not a torch.save file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"checkpoint {path} is not a {FORMAT} checkpoint (found {found!r})")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ValueError(f"checkpoint {path} lacks the entries {missing}")
    return payload


def _describe(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def check_model_state(path: Path, model: nn.Module, state) -> None:
    """ValueError unless ``state`` has exactly ``model``'s keys, shapes and dtypes."""
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path}: the model entry is not a state dict")
    own = model.state_dict()
    problems = []
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        problems.append(f"missing keys {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_describe(unexpected)}")
    shapes, dtypes = [], []
    for key in own.keys() & state.keys():
        mine, theirs = own[key], state[key]
        if not (isinstance(mine, torch.Tensor) and isinstance(theirs, torch.Tensor)):
            continue
        if mine.shape != theirs.shape:
            shapes.append(f"{key} {tuple(theirs.shape)} in the checkpoint, "
                          f"{tuple(mine.shape)} in the model")
        elif mine.dtype != theirs.dtype:
            dtypes.append(f"{key} {theirs.dtype} in the checkpoint, {mine.dtype} in the model")
    if shapes:
        problems.append(f"shape mismatch: {_describe(sorted(shapes))}")
    if dtypes:
        problems.append(f"dtype mismatch: {_describe(sorted(dtypes))}")
    if problems:
        raise ValueError(f"checkpoint {path} does not fit the model "
                         f"({type(model).__name__}): " + "; ".join(problems))


def optimizer_shapes(optimizer: torch.optim.Optimizer) -> list[list[list[int]]]:
    """Shape of every parameter, group by group: what an optimiser's state is laid out on."""
    return [[list(p.shape) for p in g["params"]] for g in optimizer.param_groups]


def check_optimizer_state(path: Path, optimizer: torch.optim.Optimizer, payload: dict) -> None:
    """ValueError unless the saved optimiser state fits ``optimizer``."""
    saved_class, own_class = payload["optimizer_class"], class_name(optimizer)
    if saved_class != own_class:
        raise ValueError(f"checkpoint {path} holds the state of a {saved_class} optimiser, "
                         f"but the trainer's optimiser is a {own_class}")
    state = payload["optimizer"]
    if not isinstance(state, dict) or "param_groups" not in state or "state" not in state:
        raise ValueError(f"checkpoint {path}: the optimizer entry is not a state dict")
    saved_shapes, own_shapes = payload["optimizer_shapes"], optimizer_shapes(optimizer)
    if len(saved_shapes) != len(own_shapes):
        raise ValueError(f"checkpoint {path}: the optimiser has {len(own_shapes)} parameter "
                         f"groups, the checkpoint {len(saved_shapes)}")
    for i, (saved, own) in enumerate(zip(saved_shapes, own_shapes, strict=True)):
        if saved != own:
            raise ValueError(f"checkpoint {path}: parameter group {i} of the optimiser holds "
                             f"{len(own)} parameters of shapes {_describe([str(s) for s in own])}"
                             f"; the checkpoint's holds {len(saved)} of shapes "
                             f"{_describe([str(s) for s in saved])}")


def check_optional_state(path: Path, what: str, saved_class: str | None, obj) -> None:
    """ValueError unless a scheduler/scaler is in both the checkpoint and the trainer, or in
    neither, and of the same class."""
    own_class = class_name(obj)
    if saved_class != own_class:
        describe = lambda c: "none" if c is None else f"a {c}"  # noqa: E731
        raise ValueError(f"checkpoint {path} has {describe(saved_class)} {what}, but the "
                         f"trainer has {describe(own_class)}")
