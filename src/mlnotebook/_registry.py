"""Shared by the experiment, verify and bench registries: find the modules that register."""

from __future__ import annotations

import importlib
import pkgutil


def import_public_submodules(package_name: str) -> None:
    """Import every module of ``package_name`` whose name does not start with ``_``.

    Importing a module runs its ``register``/``@check``/``@benchmark`` calls, so adding a
    file is all it takes to add an experiment, a check or a benchmark.
    """
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")
