"""Attention pooling and positions: Nadaraya-Watson vs statsmodels, encodings vs their formulas."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from mlnotebook.verify._base import check


def _regression_data(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, (n, d))
    y = 2 * np.sin(X).sum(axis=1) + X.sum(axis=1) ** 0.8 + 0.5 * rng.normal(size=n)
    return X, y, rng.uniform(-0.5, 5.5, (n // 2, d))


@check(topic="attention", concept="nadaraya-watson",
       reference="statsmodels KernelReg(reg_type='lc')",
       tolerance=1e-10)
def nw_matches_statsmodels_kernelreg():
    """Gaussian Nadaraya-Watson predictions, 1-D and 2-D inputs, four bandwidths."""
    from statsmodels.nonparametric.kernel_regression import KernelReg

    from mlnotebook.attention import NadarayaWatson

    diffs = {}
    for d in (1, 2):
        X, y, Xq = _regression_data(120, d, seed=d)
        for h in (0.05, 0.25, 1.0, 4.0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # statsmodels' own RNG notice
                ref = KernelReg(y, X, var_type="c" * d, reg_type="lc", bw=[h] * d).fit(Xq)[0]
            ours = NadarayaWatson(kernel="gaussian", bandwidth=h).fit(X, y).predict(Xq)
            diffs[f"d={d} h={h:g}"] = float(np.abs(ours - ref).max())
    return diffs


@check(topic="attention", concept="positional-encoding",
       reference="sin/cos formula (NumPy)", tolerance=1e-12)
def pe_matches_sinusoid_formula():
    """PositionalEncoding's float64 table, 5000 positions, against sin/cos evaluated directly."""
    from mlnotebook.attention import PositionalEncoding

    diffs = {}
    for d_model in (16, 63, 512):
        table = PositionalEncoding(d_model, max_len=5000, dtype=torch.float64).pe[0].numpy()
        pos = np.arange(5000)[:, None]
        col = np.arange(d_model)[None, :]
        angle = pos / 10000.0 ** ((col - col % 2) / d_model)
        want = np.where(col % 2 == 0, np.sin(angle), np.cos(angle))
        diffs[f"d_model={d_model}"] = float(np.abs(table - want).max())
    return diffs


@check(topic="attention", concept="positional-encoding",
       reference="RoFormer rotation matrices", tolerance=1e-12)
def pe_rope_relative_position():
    """RoPE in float64: explicit rotation matrices, and q_m . k_n depending on m - n only.

    Queries and keys are unit vectors, so a score's rounding error is that of the angles
    (about 1e-16 times the position): the shift test stays meaningful at 1e-12.
    """
    from mlnotebook.attention import RotaryEmbedding

    gen = torch.Generator().manual_seed(0)
    head_dim, length = 32, 16
    q = torch.randn(length, head_dim, generator=gen, dtype=torch.float64)
    k = torch.randn(length, head_dim, generator=gen, dtype=torch.float64)
    q, k = q / q.norm(dim=1, keepdim=True), k / k.norm(dim=1, keepdim=True)
    rope = RotaryEmbedding(head_dim)

    # Block-diagonal rotation R_m per position, from math.cos/sin.
    rot = torch.zeros(length, head_dim, head_dim, dtype=torch.float64)
    for m in range(length):
        for i in range(head_dim // 2):
            a = m / 10000.0 ** (2 * i / head_dim)
            rot[m, 2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor(
                [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
    diffs = {"vs rotation matrices": float(
        (rope(q) - torch.einsum("mij,mj->mi", rot, q)).abs().max())}

    scores = rope(q) @ rope(k).T                                        # (L, L)
    for shift in (1, 100, 4000):
        shifted = rope(q, offset=shift) @ rope(k, offset=shift).T
        diffs[f"scores shifted by {shift}"] = float((shifted - scores).abs().max())
    half = RotaryEmbedding(head_dim, interleaved=False)
    diffs["rotate-half layout, shift 100"] = float(
        (half(q, offset=100) @ half(k, offset=100).T - half(q) @ half(k).T).abs().max())
    return diffs
