"""Positional encodings up close: the sinusoidal table, its dot products and RoPE's scores.

The sinusoidal table gives each position a vector of clocks at geometrically spaced
frequencies. The dot product of two such vectors depends only on how far apart the
positions are, not on where they are; rotary embeddings (RoPE) build the same property into
the attention score itself: a fixed query and key score the same at every pair of positions
with the same offset.
"""

from __future__ import annotations

import numpy as np
import torch

from mlnotebook.attention import PositionalEncoding, RotaryEmbedding
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)


def along_offsets(matrix: np.ndarray, anchor: int) -> tuple[np.ndarray, np.ndarray]:
    """Row ``anchor`` of a (L, L) matrix as a function of the offset n - anchor."""
    return np.arange(matrix.shape[1]) - anchor, matrix[anchor]


def pair_with_period(period: float, d_model: int) -> int:
    """The frequency pair i whose period 2 pi 10000^(2i / d_model) is closest to ``period``."""
    i = round(d_model / 2 * np.log(period / (2 * np.pi)) / np.log(10000.0))
    return int(min(max(i, 0), (d_model - 1) // 2))


def diagonal_spread(matrix: np.ndarray) -> float:
    """Largest deviation of any entry from its diagonal's mean: 0 when only n - m matters."""
    size = matrix.shape[0]
    return max(float(np.ptp(np.diagonal(matrix, offset=k))) for k in range(-size + 1, size))


def compute(ctx: RunContext) -> Results:
    length, d_model = ctx.params["positions"], ctx.params["d_model"]
    gen = torch.Generator().manual_seed(ctx.seed)
    with one_cpu_thread(ctx.device):
        pe = PositionalEncoding(d_model, max_len=length, dtype=torch.float64, device=ctx.device)
        table = pe.pe[0]                                                # (L, d)
        gram = table @ table.T                                          # (L, L)

        rope = RotaryEmbedding(d_model)
        q, noise = torch.randn(2, d_model, generator=gen, dtype=torch.float64).to(ctx.device)
        k = q + noise                                                   # a key similar to q
        q, k = q / q.norm(), k / k.norm()
        rq = rope(q.expand(length, d_model))                            # q at positions 0..L-1
        rk = rope(k.expand(length, d_model))
        scores = rq @ rk.T                                              # (L, L): [m, n]
        # A vector scored against itself at distance n - m, averaged over random directions.
        many = torch.randn(ctx.params["n_random"], d_model, generator=gen,
                           dtype=torch.float64).to(ctx.device)
        many = many / many.norm(dim=1, keepdim=True)
        rotated = rope(many[:, None, :].expand(-1, length, -1))         # (N, L, d)
        self_scores = (rotated[:, :1] * rotated).sum(-1).mean(0)        # (L,): offset 0..L-1

    table, gram = table.cpu().numpy(), gram.cpu().numpy()
    scores, self_scores = scores.cpu().numpy(), self_scores.cpu().numpy()
    anchors = sorted({0, length // 4, length // 2})
    pairs = sorted({pair_with_period(length * f, d_model) for f in (1 / 8, 1, 8)})
    offsets = [k for k in (0, 1, 2, 5, 10, 50, 100) if k < length // 2]
    rows = [[k, float(gram[0, k]), float(gram[length // 2, length // 2 + k]),
             float(scores[0, k]), float(scores[length // 2, length // 2 + k])]
            for k in offsets]
    return Results(
        metrics={"pe_gram_diagonal_spread": diagonal_spread(gram),
                 "rope_score_diagonal_spread": diagonal_spread(scores),
                 "unrotated_score": float(q @ k)},
        tables={"by_offset": Table(
            ["offset k", "PE_0 . PE_k", f"PE_{length // 2} . PE_{length // 2}+k",
             "RoPE score (q at 0, k at k)", f"RoPE score (q at {length // 2}, k at +k)"],
            rows)},
        data={"table": table, "gram": gram, "scores": scores, "self_scores": self_scores,
              "anchors": anchors, "pairs": pairs, "d_model": d_model,
              "unrotated": float(q @ k)},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    table, gram = np.asarray(d["table"], float), np.asarray(d["gram"], float)
    scores, self_scores = np.asarray(d["scores"], float), np.asarray(d["self_scores"], float)
    length, d_model = table.shape

    fig_t, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1, 1.3]})
    im = axes[0].imshow(table, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-1, vmax=1,
                        interpolation="nearest")
    axes[0].set(xlabel="encoding dimension (even: sin, odd: cos)", ylabel="position",
                title=f"Sinusoidal encoding PE (L={length}, d={d_model})")
    fig_t.colorbar(im, ax=axes[0], label="PE[pos, dim]")
    for n, i in enumerate(d["pairs"]):
        period = 2 * np.pi * 10000 ** (2 * i / d_model)
        axes[1].plot(table[:, 2 * i], color=f"C{n}", label=f"dim {2 * i} (sin), period "
                     f"{period:.3g} positions")
        axes[1].plot(table[:, 2 * i + 1], color=f"C{n}", ls="--", lw=1,
                     label=f"dim {2 * i + 1} (cos)")
    axes[1].set(xlabel="position", ylabel="value", ylim=(-1.1, 1.8),
                title="A few columns: each pair is a clock at its own frequency")
    axes[1].set_yticks([-1, -0.5, 0, 0.5, 1])
    axes[1].legend(fontsize=7, loc="upper center", ncol=3)
    fig_t.tight_layout()

    fig_g, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    im = axes[0].imshow(gram, origin="lower", cmap="viridis")
    axes[0].set(xlabel="position n", ylabel="position m", title="PE_m . PE_n: constant "
                "along every diagonal")
    fig_g.colorbar(im, ax=axes[0], label="dot product")
    for anchor in d["anchors"]:
        off, row = along_offsets(gram, anchor)
        axes[1].plot(off, row, lw=1.4, label=f"from position m={anchor} (curves coincide)")
    axes[1].set(xlabel="offset n - m", ylabel="PE_m . PE_n",
                title="Seen from any position, the same curve of the offset")
    axes[1].legend(fontsize=8)
    fig_g.tight_layout()

    fig_r, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    for anchor in d["anchors"]:
        off, row = along_offsets(scores, anchor)
        axes[0].plot(off, row, lw=1.4, label=f"query at m={anchor} (curves coincide)")
    axes[0].axhline(d["unrotated"], color="k", ls=":", lw=1, label="q . k without RoPE")
    axes[0].set(xlabel="offset n - m (key position minus query position)",
                ylabel="score RoPE(q, m) . RoPE(k, n)",
                title="RoPE: a fixed query and a similar key at every pair of positions")
    axes[0].legend(fontsize=8)
    axes[1].plot(np.arange(length), self_scores, label="RoPE, mean over random unit q (k = q)")
    axes[1].plot(np.arange(length), 2 * gram[0] / d_model, ls="--",
                 label="2 PE_0 . PE_k / d (sinusoidal): the same expectation")
    axes[1].set(xlabel="offset k", ylabel="score",
                title="The same vector seen k positions away scores less on average")
    axes[1].legend(fontsize=8)
    fig_r.tight_layout()
    return {"sinusoidal_table": fig_t, "dot_products": fig_g, "rope_scores": fig_r}


EXPERIMENT = register(Experiment(
    id="positional-encoding",
    title="Positional encodings: sinusoidal table, offset-only dot products, RoPE scores",
    entries=("positional-encoding",),
    profiles={
        "quick": {"positions": 64, "d_model": 32, "n_random": 64},
        "default": {"positions": 256, "d_model": 128, "n_random": 256},
        "full": {"positions": 512, "d_model": 256, "n_random": 64},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
