"""Distribution shift: covariate-shift importance weights and label-shift estimation (BBSE).

Names are loaded on first use (PEP 562), so ``import mlnotebook.shift`` stays cheap and
each module is imported only when one of its names is asked for.
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    # covariate shift: p(x) moves, p(y | x) stays
    "DomainClassifierWeights": "_covariate",
    "covariate_shift_weights": "_covariate",
    "effective_sample_size": "_covariate",
    # label shift: p(y) moves, p(x | y) stays
    "BlackBoxShiftEstimator": "_label",
    "bbse_weights": "_label",
    "adjust_proba": "_label",
    # simulated problems with known answers
    "CovariateShiftProblem": "_data",
    "LabelShiftProblem": "_data",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
