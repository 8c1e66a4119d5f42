"""The record of a training run: one dict of numbers per epoch, saved as JSON."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from mlnotebook._io import atomic_write_json, read_json


def _json_number(value):
    """``value`` as JSON allows it: NaN and infinities (a diverged loss) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class History:
    """Per-epoch records of a training run, oldest first.

    Each record is a flat dict of JSON-friendly values (``epoch``, ``step``, ``lr``,
    ``train_loss``, ``val_loss``, ...). ``history["val_loss"]`` is the column: one value
    per epoch, None where that epoch has no such entry (e.g. an epoch without evaluation).

    Parameters
    ----------
    records : iterable of dict, optional
    """

    def __init__(self, records: Iterable[Mapping] = ()):
        self.records: list[dict] = [dict(r) for r in records]

    def append(self, record: Mapping) -> None:
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.records)

    def __getitem__(self, key: str) -> list:
        if not any(key in r for r in self.records):
            known = sorted({k for r in self.records for k in r})
            raise KeyError(f"no metric {key!r} in the history; known: {known}")
        return [r.get(key) for r in self.records]

    def __repr__(self) -> str:
        return f"History({len(self)} epochs)"

    def save(self, path: str | Path) -> Path:
        """Write ``{"epochs": [record, ...]}`` to ``path`` atomically; NaN/inf become null."""
        epochs = [{k: _json_number(v) for k, v in r.items()} for r in self.records]
        return atomic_write_json(path, {"epochs": epochs})

    @classmethod
    def load(cls, path: str | Path) -> History:
        """The history saved at ``path`` by :meth:`save`; ValueError if it is not one."""
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("epochs"), list):
            raise ValueError(f"{path} is not a saved training history")
        return cls(data["epochs"])
