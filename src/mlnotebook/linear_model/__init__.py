"""Penalised linear regression from scratch: ridge (L2) and the lasso (L1).

Both minimise scikit-learn's objectives and carry its estimator API, so
``from mlnotebook.linear_model import Ridge, Lasso`` can replace the sklearn import.
Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    "Ridge": "_ridge",
    "ridge_solve": "_ridge",
    "Lasso": "_lasso",
    "lasso_path": "_lasso",
    "lasso_coordinate_descent": "_lasso",
    "duality_gap": "_lasso",
    "soft_threshold": "_lasso",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
