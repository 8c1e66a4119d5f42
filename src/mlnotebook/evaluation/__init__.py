"""Evaluating models: train/test splits, cross-validation, learning and validation curves,
grid search.

The API mirrors ``sklearn.model_selection`` (same names, arguments and, for the same
``random_state``, the same splits), so switching between the two is one import.
Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    # splitting
    "train_test_split": "_split",
    "KFold": "_split",
    "StratifiedKFold": "_split",
    "LeaveOneOut": "_split",
    "ShuffleSplit": "_split",
    "StratifiedShuffleSplit": "_split",
    # cross-validated scores and curves
    "check_cv": "_validation",
    "check_scoring": "_validation",
    "cross_validate": "_validation",
    "cross_val_score": "_validation",
    "learning_curve": "_validation",
    "validation_curve": "_validation",
    # hyperparameter search
    "ParameterGrid": "_search",
    "GridSearchCV": "_search",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
