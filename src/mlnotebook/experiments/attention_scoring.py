"""Dot-product and additive scoring learn a soft lookup: which key does each query match?

Each example holds up to S random keys (d_k = 8), padded to S with a valid length, and a few
queries (d_q = 12). Query i is a fixed linear map of one valid key plus noise,
``q_i = R k_{t_i} + 0.3 eps``, and should put its attention on key ``t_i``. The values are the
one-hot key positions, so the attention output *is* the weight vector and the loss is
``-log w[t_i]``. Three scoring functions are trained with Adam on fresh batches:

- dot product after a learned query map, ``(W q) . k / sqrt(d_k)`` (Luong's "general" form);
- additive, ``w^T tanh(W_q q + W_k k)``, as d2l and Bahdanau et al. (no bias);
- additive with a bias inside the tanh, ``w^T tanh(W_q q + b + W_k k)``.

Padding keys are masked with :func:`lengths_to_mask`: their weights are exactly zero. The
Bayes-optimal score, which knows R, is the Gaussian kernel ``-|q - R k|^2 / (2 * 0.3^2)``;
its accuracy is the ceiling. It differs from a dot product by the key-norm term
``-|R k|^2 / (2 * 0.3^2)``, which no bilinear score can express.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from mlnotebook.attention import (
    AdditiveAttention,
    DotProductAttention,
    lengths_to_mask,
    masked_softmax,
)
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)
from mlnotebook.optim import Adam

KEYS, QUERIES, QUERY_DIM, KEY_DIM, NOISE, MIN_VALID = 10, 6, 12, 8, 0.3, 3


class BilinearAttention(nn.Module):
    """Dot-product attention on learned projections of the queries: ``(W q) . k * scale``."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.W = nn.Linear(query_dim, key_dim, bias=False)
        self.attention = DotProductAttention()

    @property
    def attention_weights(self) -> torch.Tensor | None:
        return self.attention.attention_weights

    def forward(self, queries, keys, values, mask=None):
        return self.attention(self.W(queries), keys, values, mask)


def make_models(hiddens: int) -> dict[str, nn.Module]:
    return {
        "dot product (W q) . k": BilinearAttention(QUERY_DIM, KEY_DIM),
        "additive (d2l, no bias)": AdditiveAttention(QUERY_DIM, KEY_DIM, hiddens),
        "additive + bias in tanh": AdditiveAttention(QUERY_DIM, KEY_DIM, hiddens, bias=True),
    }


def sample(n: int, mixing: torch.Tensor, gen: torch.Generator, device: str) -> dict:
    """``n`` examples: keys (n, S, d_k), valid lengths (n,), targets (n, L), queries (n, L, d_q)."""
    keys = torch.randn(n, KEYS, KEY_DIM, generator=gen)
    valid = torch.randint(MIN_VALID, KEYS + 1, (n,), generator=gen)
    targets = (torch.rand(n, QUERIES, generator=gen) * valid[:, None]).long()   # < valid
    matched = keys.gather(1, targets[..., None].expand(n, QUERIES, KEY_DIM))     # (n, L, d_k)
    queries = matched @ mixing.T + NOISE * torch.randn(n, QUERIES, QUERY_DIM, generator=gen)
    batch = {"keys": keys, "valid": valid, "targets": targets, "queries": queries}
    return {name: t.to(device) for name, t in batch.items()}


def attend(model: nn.Module, batch: dict) -> torch.Tensor:
    """Attention weights (n, L, S): the output, since the values are one-hot positions."""
    n = batch["keys"].shape[0]
    values = torch.eye(KEYS, device=batch["keys"].device).expand(n, KEYS, KEYS)  # (n, S, S)
    mask = lengths_to_mask(batch["valid"], KEYS)[:, None, :]                     # (n, 1, S)
    return model(batch["queries"], batch["keys"], values, mask)


def oracle_weights(batch: dict, mixing: torch.Tensor) -> torch.Tensor:
    """Posterior over keys (n, L, S) under the true model: Gaussian scores with the true R."""
    predicted = batch["keys"] @ mixing.T                                         # (n, S, d_q)
    gaps = batch["queries"][:, :, None, :] - predicted[:, None, :, :]          # (n, L, S, d_q)
    scores = -(gaps**2).sum(-1) / (2 * NOISE**2)                                # (n, L, S)
    return masked_softmax(scores, lengths_to_mask(batch["valid"], KEYS)[:, None, :])


def summarise(weights: torch.Tensor, test: dict) -> tuple[float, float, float]:
    """Accuracy, mean weight on the matching key, largest weight on a padding key."""
    acc = float((weights.argmax(-1) == test["targets"]).float().mean())
    on_target = float(weights.gather(-1, test["targets"][..., None]).mean())
    padding = ~lengths_to_mask(test["valid"], KEYS)[:, None, :].expand_as(weights)
    return acc, on_target, float(weights.masked_select(padding).abs().max())


def accuracy(model: nn.Module, batch: dict) -> float:
    with torch.no_grad():
        weights = attend(model, batch)
    return float((weights.argmax(-1) == batch["targets"]).float().mean())


def train(model: nn.Module, steps: int, batch_size: int, lr: float, mixing, gen, device,
          test: dict, evaluate_every: int) -> tuple[list[int], list[float]]:
    """Adam on fresh batches; returns (steps, test accuracy) measured along the way."""
    opt = Adam(model.parameters(), lr=lr)
    checkpoints, accuracies = [0], [accuracy(model, test)]
    for step in range(1, steps + 1):
        batch = sample(batch_size, mixing, gen, device)
        weights = attend(model, batch)
        picked = weights.gather(-1, batch["targets"][..., None])                 # (n, L, 1)
        loss = -torch.log(picked.clamp_min(1e-12)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % evaluate_every == 0 or step == steps:
            checkpoints.append(step)
            accuracies.append(accuracy(model, test))
    return checkpoints, accuracies


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    gen = torch.Generator().manual_seed(ctx.seed)
    mixing = torch.randn(QUERY_DIM, KEY_DIM, generator=gen) / math.sqrt(KEY_DIM)
    test = sample(p["test_size"], mixing, gen, ctx.device)
    # The example drawn in the heatmaps: the first test example with some padding.
    shown = int(torch.nonzero(test["valid"].cpu() <= KEYS - 3)[0, 0])
    example = {name: t[shown: shown + 1] for name, t in test.items()}
    chance = float((1.0 / test["valid"].double()).mean())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed)
        models = {name: m.to(ctx.device) for name, m in make_models(p["hiddens"]).items()}
    rows, curves, heatmaps = [], {}, {}
    with one_cpu_thread(ctx.device):
        for i, (name, model) in enumerate(models.items()):
            with torch.no_grad():
                before = attend(model, example)[0].cpu().numpy()
            steps, accs = train(model, p["steps"], p["batch_size"], p["lr"], mixing, gen,
                                ctx.device, test, max(1, p["steps"] // 30))
            with torch.no_grad():
                weights = attend(model, test)
            after = weights[shown].cpu().numpy()
            acc, on_target, on_padding = summarise(weights, test)
            n_params = sum(t.numel() for t in model.parameters())
            rows.append([name, n_params, accs[0], acc, on_target, on_padding])
            curves[name] = {"steps": steps, "accuracy": accs}
            heatmaps[name] = {"before": before, "after": after}
            ctx.progress(i + 1, len(models))
        oracle = summarise(oracle_weights(test, mixing.to(ctx.device)), test)
    rows.append(["oracle: -|q - R k|^2 / (2 sigma^2), true R", 0, oracle[0], *oracle])
    return Results(
        metrics={**{f"accuracy[{r[0]}]": r[3] for r in rows[:-1]}, "chance": chance,
                 "accuracy[oracle]": oracle[0]},
        tables={"retrieval": Table(
            ["scoring", "parameters", "test accuracy before", f"after {p['steps']} steps",
             "mean weight on the target", "largest weight on padding"], rows)},
        data={"curves": curves, "heatmaps": heatmaps, "chance": chance, "oracle": oracle[0],
              "example": {"valid": int(example["valid"][0]),
                          "targets": example["targets"][0].cpu().numpy()}},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    heatmaps, example = results.data["heatmaps"], results.data["example"]
    valid, targets = example["valid"], np.asarray(example["targets"])
    fig_w, axes = plt.subplots(len(heatmaps), 2, figsize=(9.5, 3.1 * len(heatmaps)),
                               squeeze=False, layout="constrained")
    for row, (name, maps) in zip(axes, heatmaps.items(), strict=True):
        for ax, when in zip(row, ("before", "after"), strict=True):
            weights = np.asarray(maps[when], dtype=float)
            image = ax.imshow(weights, vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.scatter(targets, np.arange(len(targets)), s=90, facecolors="none",
                       edgecolors="red", linewidths=1.5, label="key the query matches")
            ax.axvspan(valid - 0.5, weights.shape[1] - 0.5, color="white", alpha=0.25,
                       hatch="//", linewidth=0)
            ax.set_xticks(range(weights.shape[1]),
                          [str(j) if j < valid else "pad" for j in range(weights.shape[1])])
            ax.set(xlabel="key position (hatched: padding, masked)", ylabel="query",
                   title=f"{name}: {when} training")
    axes[0, 0].legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig_w.suptitle(f"Attention weights for one test example: {len(targets)} queries, {valid} "
                   f"valid keys and {weights.shape[1] - valid} padding keys")
    fig_w.colorbar(image, ax=axes, shrink=0.6, label="attention weight")

    fig_a, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for name, curve in results.data["curves"].items():
        ax.plot(curve["steps"], curve["accuracy"], marker=".", label=name)
    ax.axhline(results.data["oracle"], color="k", ls="--", lw=1,
               label="oracle: Gaussian score with the true R")
    ax.axhline(results.data["chance"], color="k", ls=":", lw=1,
               label="chance (1 / number of valid keys)")
    ax.set(xlabel="training step (Adam, fresh batch each step)",
           ylabel="test accuracy (argmax weight = matching key)", ylim=(0, 1.02),
           title="Retrieval accuracy while training")
    ax.legend(fontsize=8)
    return {"attention_weights": fig_w, "accuracy": fig_a}


EXPERIMENT = register(Experiment(
    id="attention-scoring",
    title="Dot-product and additive scoring learn a soft lookup",
    entries=("attention-scoring-functions", "dot-product-attention", "additive-attention",
             "masked-softmax"),
    profiles={
        "quick": {"steps": 80, "batch_size": 64, "lr": 0.03, "hiddens": 16, "test_size": 400},
        "default": {"steps": 600, "batch_size": 128, "lr": 0.03, "hiddens": 16,
                    "test_size": 2000},
        "full": {"steps": 2000, "batch_size": 256, "lr": 0.01, "hiddens": 32,
                 "test_size": 5000},
    },
    compute=compute,
    plot=plot,
    description=__doc__.split("\n\n")[0],
))
