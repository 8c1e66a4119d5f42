"""Preprocessing: feature maps applied before a model, mirroring ``sklearn.preprocessing``.

Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

import importlib

_WHERE = {
    "PolynomialFeatures": "_polynomial",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'mlnotebook.preprocessing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
