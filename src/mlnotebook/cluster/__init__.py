"""Clustering from scratch: k-means (Lloyd), k-means++ seeding and the k-means variants.

The estimators carry scikit-learn's API, so ``from mlnotebook.cluster import KMeans`` can
replace the sklearn import. Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    "KMeans": "_kmeans",
    "kmeans_plusplus": "_kmeans",
    "MiniBatchKMeans": "_minibatch",
    "BisectingKMeans": "_bisecting",
    "KMedoids": "_kmedoids",
    "FuzzyCMeans": "_fuzzy",
    "KernelKMeans": "_kernel_kmeans",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
