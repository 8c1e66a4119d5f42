"""Penalised linear regression from scratch: ridge (L2) and the lasso (L1).

Both minimise scikit-learn's objectives and carry its estimator API, so
``from mlnotebook.linear_model import Ridge, Lasso`` can replace the sklearn import.
Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Ridge": "_ridge",
    "ridge_solve": "_ridge",
    "Lasso": "_lasso",
    "lasso_path": "_lasso",
    "lasso_coordinate_descent": "_lasso",
    "duality_gap": "_lasso",
    "soft_threshold": "_lasso",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'mlnotebook.linear_model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
