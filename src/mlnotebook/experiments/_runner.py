"""Run an experiment: seed everything, pick the device, time it, and write its results.

Output of one run, all written atomically::

    <out>/<experiment-id>/results.json
    <out>/<experiment-id>/<figure>.png and <figure>.svg
"""

from __future__ import annotations

import io
import platform
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mlnotebook._io import atomic_write_bytes, atomic_write_json, read_json
from mlnotebook.experiments._base import PROFILES, Experiment, Results, RunContext


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` (or ``"cuda:N"``); cuda only where it is available."""
    import torch

    if not isinstance(device, str):
        raise TypeError(f"device must be a string, got {type(device).__name__}")
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but CUDA is not available here")
        return device
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CUDA's too, if present)."""
    import torch

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - legacy global state, for third-party code
    torch.manual_seed(seed)


def package_versions() -> dict[str, str]:
    import matplotlib
    import scipy
    import sklearn
    import torch

    import mlnotebook

    return {
        "python": platform.python_version(),
        "mlnotebook": mlnotebook.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "matplotlib": matplotlib.__version__,
    }


def _jsonable(value: Any) -> Any:
    """Turn NumPy/torch scalars and arrays into plain JSON values; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in results.json")


def run_experiment(
    experiment: Experiment,
    *,
    profile: str = "default",
    seed: int = 0,
    device: str = "cpu",
    out: str | Path = "results",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Run ``experiment`` and write its results; return the path of results.json."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    device = resolve_device(device)
    seed_everything(seed)
    params = dict(experiment.profiles[profile])
    ctx = RunContext(
        params=params, seed=seed, device=device, profile=profile,
        progress=progress or (lambda done, total: None),
    )
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    results = experiment.compute(ctx)
    wall = time.perf_counter() - t0
    if not isinstance(results, Results):
        raise TypeError(f"experiment {experiment.id!r} returned {type(results).__name__}, "
                        "not Results")

    folder = Path(out) / experiment.id
    figures = experiment.plot(results)
    names = []
    for name, fig in figures.items():
        for fmt in ("png", "svg"):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=110, bbox_inches="tight")
            atomic_write_bytes(folder / f"{name}.{fmt}", buffer.getvalue())
        plt.close(fig)
        names.append(name)

    record = {
        "id": experiment.id,
        "title": experiment.title,
        "entries": list(experiment.entries),
        "profile": profile,
        "params": params,
        "seed": seed,
        "device": device,
        "versions": package_versions(),
        "started": started.isoformat(timespec="seconds"),
        "wall_time_s": round(wall, 4),
        "metrics": results.metrics,
        "tables": {k: {"columns": t.columns, "rows": t.rows} for k, t in results.tables.items()},
        "figures": names,
        "data": results.data,
    }
    path = atomic_write_json(folder / "results.json", _jsonable(record))
    return path


def load_results(out: str | Path, experiment_id: str) -> dict | None:
    """The last results.json written for ``experiment_id`` under ``out``, or None."""
    return read_json(Path(out) / experiment_id / "results.json")
