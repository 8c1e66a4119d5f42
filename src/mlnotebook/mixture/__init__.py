"""Mixture models fitted by expectation-maximisation, and a small EM you can read in one go.

``from mlnotebook.mixture import GaussianMixture`` can replace the scikit-learn import.
Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    "BaseMixture": "_base",
    "GaussianMixture": "_gaussian_mixture",
    # the EM illustration
    "EMTrace": "_em_illustration",
    "two_coins_em": "_em_illustration",
    "gaussian_1d_em": "_em_illustration",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
