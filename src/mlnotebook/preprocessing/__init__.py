"""Preprocessing: feature maps applied before a model, mirroring ``sklearn.preprocessing``.

Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    "PolynomialFeatures": "_polynomial",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
