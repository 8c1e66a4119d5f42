"""Where the models look: Bahdanau alignments and the Transformer's attention heads on dates.

A Bahdanau model (bidirectional GRU encoder, GRU decoder with additive attention) and a
small Transformer learn the date task (human formats to ISO, character level; see the
``seq2seq-translation`` experiment). For a few held-out inputs of different formats the
Bahdanau decoder's weights are drawn as heatmaps: one row per emitted character, one
column per source character, each row a softmax over the real source characters (the
padding of the batch gets exactly zero). For one input, every head of the Transformer's
encoder self-attention and decoder cross-attention is drawn, from a teacher-forced pass
over the model's own greedy output (which gives the same weights as decoding, since the
decoder is causal).

One number summarises the pictures over the whole test set: when the model emits a digit
that occurs in the source, how much of its attention falls on source characters equal to
that digit ("copy attention"). Day and year digits are copied, so an alignment that
locates them scores high; month digits are not in the source when the month is spelled.
"""

from __future__ import annotations

import numpy as np
import torch

from mlnotebook.experiments import _seq2seq_common as common
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)
from mlnotebook.seq2seq import BucketBatchSampler, greedy_decode


def pick_samples(lengths: np.ndarray, n: int) -> list[int]:
    """Indices of ``n`` test examples spread over the source lengths, shortest to longest."""
    order = np.argsort(lengths, kind="stable")
    return order[np.linspace(0, len(order) - 1, n).round().astype(int)].tolist()


def copy_attention(weights: torch.Tensor, src_tokens: list[list[str]],
                   out_tokens: list[list[str]]) -> float:
    """Mean attention mass on source characters equal to the emitted digit.

    ``weights`` (B, L, S): row t is the attention used to emit output token t. Only emitted
    digits that occur in their source count.
    """
    masses = []
    w = weights.double().cpu().numpy()
    for b, (src, out) in enumerate(zip(src_tokens, out_tokens, strict=True)):
        chars = np.array(src)
        for t, token in enumerate(out):
            same = chars == token
            if token.isdigit() and same.any():
                masses.append(w[b, t, :len(src)][same].sum())
    return float(np.mean(masses)) if masses else float("nan")


@torch.no_grad()
def bahdanau_maps(model, data: common.TaskData, indices: list[int], device: str) -> list[dict]:
    """Greedy outputs and alignment weights of the examples at ``indices``, decoded as a batch.

    Each map has ``weights`` (output tokens incl. <eos>, padded source width), ``source``
    (characters), ``output`` (characters and "<eos>") and ``target``.
    """
    vocab = data.tgt_vocab
    batch = data.test.batch(indices, device=device)
    out = greedy_decode(model, batch.src, batch.src_valid_lens, max_len=data.max_tgt_len,
                        bos_id=vocab.bos_id, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
    maps = []
    for b, i in enumerate(indices):
        n = int(out.lengths[b])
        tokens = [vocab.itos[t] for t in out.tokens[b, :n].tolist()]
        source, target = data.test_pairs[i]
        maps.append({"source": list(source), "output": tokens, "target": target,
                     "weights": out.attention[b, :n].cpu().numpy()})
    return maps


@torch.no_grad()
def transformer_maps(model, data: common.TaskData, index: int, device: str) -> dict:
    """Every layer's and head's encoder self-attention and cross-attention for one example."""
    vocab = data.tgt_vocab
    batch = data.test.batch([index], device=device)
    out = greedy_decode(model, batch.src, batch.src_valid_lens, max_len=data.max_tgt_len,
                        bos_id=vocab.bos_id, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
    n = int(out.lengths[0])
    emitted = out.tokens[:, :n]                                        # (1, n), ends in <eos>?
    tgt_in = torch.cat([torch.full_like(emitted[:, :1], vocab.bos_id), emitted[:, :-1]], 1)
    model(batch.src, tgt_in, batch.src_valid_lens, need_weights=True)
    weights = model.all_attention_weights()
    source, target = data.test_pairs[index]
    return {"source": list(source), "target": target,
            "output": [vocab.itos[t] for t in emitted[0].tolist()],
            "encoder": [w[0].cpu().numpy() for w in weights["encoder"]],      # (H, S, S) each
            "cross": [w[0].cpu().numpy() for w in weights["cross"]]}          # (H, T, S) each


@torch.no_grad()
def test_copy_attention(model, data: common.TaskData, device: str) -> tuple[float, float]:
    """Greedy exact match and copy attention over the whole test set."""
    vocab, hits, masses, weights = data.tgt_vocab, [], [], []
    for index in BucketBatchSampler(data.test.src_lengths, 500, shuffle=False):
        batch = data.test.batch(index, device=device)
        out = greedy_decode(model, batch.src, batch.src_valid_lens, max_len=data.max_tgt_len,
                            bos_id=vocab.bos_id, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
        outputs = [vocab.decode(row) for row in out.tokens.cpu()]
        sources = [list(data.test_pairs[i][0]) for i in index]
        hits += [o == data.test_refs[i] for o, i in zip(outputs, index, strict=True)]
        masses.append(copy_attention(out.attention, sources, outputs))
        weights.append(len(index))
    return float(np.mean(hits)), float(np.average(masses, weights=weights))


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    data = common.date_data(p["n_train"], p["n_valid"], p["n_test"], ctx.seed)
    samples = pick_samples(data.test.src_lengths, p["n_samples"])
    total = sum(p["epochs"].values())
    done = [0]

    def progress(_epoch):
        done[0] += 1
        ctx.progress(done[0], total)

    rows, metrics, data_out = [], {}, {}
    with one_cpu_thread(ctx.device):
        for kind in ("bahdanau", "transformer"):
            train = {**p["train"], "max_epochs": p["epochs"][kind]}
            model, records = common.new_trained_model(kind, data, p["sizes"], train,
                                                      seed=ctx.seed, device=ctx.device,
                                                      on_epoch=progress)
            accuracy, copy = test_copy_attention(model, data, ctx.device)
            what = ("decoder attention" if kind == "bahdanau"
                    else "last layer's cross-attention, mean over heads")
            rows.append([common.LABELS[kind], len(records), round(records[-1]["train_seconds"],
                                                                  1), accuracy, copy, what])
            metrics[f"exact_match[{kind}]"] = accuracy
            metrics[f"copy_attention[{kind}]"] = copy
            if kind == "bahdanau":
                data_out["bahdanau"] = bahdanau_maps(model, data, samples, ctx.device)
            else:
                data_out["transformer"] = transformer_maps(model, data, samples[-1],
                                                           ctx.device)
    return Results(
        metrics=metrics,
        tables={"models": Table(["model", "epochs", "training s", "test exact match",
                                 "copy attention", "weights used"], rows)},
        data={**data_out, "n_train": len(data.train), "n_test": len(data.test)},
    )


def _heatmap(ax, weights, rows, cols, title, vmax=1.0):
    image = ax.imshow(weights, vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_title(title, fontsize=9)
    return image


def _text(tokens) -> str:
    return "".join(t for t in tokens if t != "<eos>")


def _show(tokens):
    return ["␣" if t == " " else ("eos" if t == "<eos>" else t) for t in tokens]


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    figures = {}
    maps = results.data["bahdanau"]
    n = len(maps)
    cols = 2 if n > 1 else 1
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(6.5 * cols, 3.4 * n / cols
                                                                   + 1), squeeze=False,
                             layout="constrained")
    for ax, m in zip(axes.flat, maps, strict=False):
        w = np.asarray(m["weights"], dtype=float)[:, :len(m["source"])]   # real characters
        ok = _text(m["output"]) == m["target"]
        image = _heatmap(ax, w, _show(m["output"]), _show(m["source"]),
                         f"\"{''.join(m['source'])}\" -> {_text(m['output'])}"
                         f" ({'correct' if ok else 'wrong, target ' + m['target']})")
        ax.set(xlabel="source character", ylabel="emitted character")
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle("Bahdanau attention: each emitted character's weights over the source")
    figures["bahdanau_alignment"] = fig

    t = results.data["transformer"]
    source, output = _show(t["source"]), _show(t["output"])
    decoder_in = ["bos", *output[:-1]]
    for part, rows, title in (("encoder", source, "encoder self-attention"),
                              ("cross", [f"{a}→{b}" for a, b in zip(decoder_in, output,
                                                                     strict=True)],
                               "decoder cross-attention (row: input → emitted)")):
        layers = [np.asarray(w, dtype=float) for w in t[part]]
        heads = layers[0].shape[0]
        top = max(float(w.max()) for w in layers)         # one colour scale per figure
        fig, axes = plt.subplots(len(layers), heads, squeeze=False, layout="constrained",
                                 figsize=(3.2 * heads, 3.0 * len(layers) + 0.6))
        for li, w in enumerate(layers):
            for h in range(heads):
                image = _heatmap(axes[li, h], w[h], rows, source,
                                 f"layer {li + 1}, head {h + 1}", vmax=top)
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
        fig.suptitle(f"Transformer {title}: \"{''.join(t['source'])}\" -> "
                     f"{_text(t['output'])}")
        figures[f"transformer_{part}"] = fig
    return figures


_SIZES = {"embed": 32, "hidden": 128, "d_model": 64, "nhead": 4, "layers": 2, "ff": 256,
          "dropout": 0.0}


def _train(batch_size: int) -> dict:
    return {"batch_size": batch_size, "lr": 2e-3, "warmup_steps": 300, "grad_clip": 1.0,
            "time_budget_s": None, "stop_at": None}


EXPERIMENT = register(Experiment(
    id="seq2seq-attention-maps",
    title="Bahdanau alignments and Transformer attention heads on the date task",
    entries=("bahdanau-attention", "multi-head-attention", "transformer-encoder",
             "transformer-decoder"),
    profiles={
        "quick": {"n_train": 300, "n_valid": 20, "n_test": 60, "n_samples": 3,
                  "sizes": {**_SIZES, "embed": 16, "hidden": 32, "d_model": 32, "nhead": 2,
                            "ff": 64},
                  "epochs": {"bahdanau": 1, "transformer": 1}, "train": _train(32)},
        "default": {"n_train": 8000, "n_valid": 100, "n_test": 1000, "n_samples": 4,
                    "sizes": _SIZES, "epochs": {"bahdanau": 2, "transformer": 5},
                    "train": _train(64)},
        "full": {"n_train": 20_000, "n_valid": 100, "n_test": 2000, "n_samples": 6,
                 "sizes": _SIZES, "epochs": {"bahdanau": 3, "transformer": 10},
                 "train": _train(64)},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
