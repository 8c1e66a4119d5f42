"""Lazy package namespaces (PEP 562): a name is imported from its module on first use.

A package ``__init__`` lists where each public name lives and calls :func:`lazy_exports`,
so ``import mlnotebook.<package>`` stays cheap and each submodule (and torch or sklearn
behind it) is imported only when one of its names is asked for.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]
                 ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``.

    ``where`` maps each public name to the private submodule defining it, e.g.
    ``{"KFold": "_split"}``. A loaded name is stored in the package's namespace, so the
    module-level ``__getattr__`` runs once per name.
    """
    names = sorted(where)

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return names, __getattr__, __dir__
