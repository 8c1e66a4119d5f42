"""Greedy decoding against beam search, with and without length normalisation.

A Bahdanau model (bidirectional GRU encoder, GRU decoder with additive attention) learns
to write numbers in English words ("40017" -> "forty thousand seventeen"): digits in,
words out, so outputs have very different lengths (1 to 10 words) and BLEU counts word
4-grams. The same model is decoded at two stages of training (after 2 and after 4 epochs
in the default profile): a half-trained model, uncertain about many words, and a nearly
trained one. At each stage the held-out outputs (numbers never seen in training) are
decoded greedily and by beam search of widths 1, 2, 4 and 8, ranking hypotheses by raw
log-probability (``alpha = 0``) or by log-probability divided by the GNMT length penalty
``((5 + |y|) / 6) ** alpha``.

For each decoder: exact match, BLEU, the mean log-probability of the chosen outputs under
the model (what beam search maximises), their mean length, how often the output differs
from greedy's and how often it is more probable, and the decoding time (all held-out
examples in batches, one CPU thread; machine-dependent). A beam of width one is greedy
decoding, whatever the penalty: every candidate then has the same length.
"""

from __future__ import annotations

import numpy as np

from mlnotebook.experiments import _seq2seq_common as common
from mlnotebook.experiments._base import (
    Experiment,
    Results,
    RunContext,
    Table,
    one_cpu_thread,
    register,
)


def number_data(n_train: int, n_valid: int, n_test: int, seed: int) -> common.TaskData:
    """Numbers to words; valid and test keep only numbers absent from the training set."""
    from mlnotebook.seq2seq import (
        CharTokenizer,
        TranslationSplits,
        WordTokenizer,
        make_number_words,
    )

    rng = np.random.default_rng([seed, 2])
    train = make_number_words(n_train, random_state=rng)
    seen = {s for s, _ in train}
    wanted, kept = n_valid + n_test, {}
    for _ in range(20):                        # short numbers are mostly seen: draw more
        for s, t in make_number_words(2 * wanted, random_state=rng):
            if s not in seen and s not in kept:
                kept[s] = t                    # unseen numbers, each once, in drawn order
        if len(kept) >= wanted:
            break
    else:
        raise ValueError(f"found only {len(kept)} unseen numbers for n_valid + n_test = "
                         f"{wanted}")
    unseen = list(kept.items())
    splits = TranslationSplits(train, unseen[:n_valid], unseen[n_valid:n_valid + n_test])
    return common.task_data(splits, CharTokenizer(), WordTokenizer())


def _decoders(widths, alphas) -> list[tuple[str, int | None, float]]:
    """(label, beam width or None for greedy, alpha), greedy first."""
    rows = [("greedy", None, 0.0)]
    for alpha in alphas:
        rows += [(f"beam {k}, alpha={alpha:g}", k, alpha) for k in widths]
    return rows


def decode_all(model, data: common.TaskData, decoders, device: str) -> dict:
    """Every decoder's scores on the test set: {label: row dict}, greedy first."""
    rows, greedy = {}, None
    for label, width, alpha in decoders:
        out = common.translate(model, data.test, max_len=data.max_tgt_len + 4, device=device,
                               beam_width=width, length_penalty_alpha=alpha)
        greedy = out if greedy is None else greedy
        scores = common.score_outputs(out.tokens, data.test_refs)
        differs = np.array([a != b for a, b in zip(out.tokens, greedy.tokens, strict=True)])
        rows[label] = {"decoder": label, "beam_width": width, "alpha": alpha,
                       "exact_match": scores["exact_match"], "bleu": scores["bleu"],
                       "mean_log_prob": float(out.log_probs.mean()),
                       "mean_length": float(np.mean([len(t) for t in out.tokens])),
                       "differs_from_greedy": float(differs.mean()),
                       "more_probable_than_greedy": float(
                           (out.log_probs > greedy.log_probs + 1e-6).mean()),
                       "seconds": out.seconds}
    return rows


def compute(ctx: RunContext) -> Results:
    p = ctx.params
    data = number_data(p["n_train"], p["n_valid"], p["n_test"], ctx.seed)
    decoders = _decoders(p["beam_widths"], p["alphas"])
    stages = sorted(p["decode_after_epochs"])
    train = {**p["train"], "max_epochs": stages[-1]}
    results = {}
    with one_cpu_thread(ctx.device), common.seeded(common.model_seed(ctx.seed, "bahdanau"),
                                                   ctx.device):
        model = common.build_model("bahdanau", data, p["sizes"]).to(ctx.device)

        def on_epoch(epoch: int) -> None:
            # Called between epochs, outside the Trainer's clock: decode the model as it is.
            if epoch in stages:
                results[epoch] = decode_all(model, data, decoders, ctx.device)
            ctx.progress(epoch, stages[-1])

        records = common.train_model("bahdanau", model, data, train, seed=ctx.seed,
                                     device=ctx.device, evaluate=None, on_epoch=on_epoch)
    seconds = {r["epoch"]: r["train_seconds"] for r in records}

    metrics, table = {}, []
    for epoch, rows in results.items():
        for label, row in rows.items():
            table.append([epoch, *row.values()])
            for key in ("exact_match", "bleu", "mean_log_prob"):
                metrics[f"{key}[{label}, {epoch} epochs]"] = row[key]
    columns = ["epochs trained", *next(iter(results[stages[0]].values()))]
    return Results(
        metrics=metrics,
        tables={"decoders": Table(columns, table)},
        data={"stages": {str(e): {"epochs": e, "train_seconds": seconds[e], "decoders": rows}
                         for e, rows in results.items()},
              "beam_widths": list(p["beam_widths"]), "alphas": list(p["alphas"]),
              "reference_length": float(np.mean([len(t) for t in data.test_refs])),
              "n_train": len(data.train), "n_test": len(data.test)},
    )


def plot(results: Results) -> dict:
    import matplotlib.pyplot as plt

    d = results.data
    widths = d["beam_widths"]
    panels = (("exact_match", "held-out exact match"), ("bleu", "held-out BLEU (word 4-grams)"),
              ("mean_log_prob", "mean log-probability of the output"),
              ("mean_length", "mean output length (words)"),
              ("seconds", "decoding time, s (machine-dependent)"))
    colours = plt.get_cmap("tab10").colors
    fig, grid = plt.subplots(2, 3, figsize=(13, 7.5), layout="constrained")
    axes, legend_ax = grid.flat[:len(panels)], grid.flat[len(panels)]
    for ax, (key, label) in zip(axes, panels, strict=True):
        for i, stage in enumerate(d["stages"].values()):
            rows, colour = stage["decoders"], colours[i % len(colours)]
            name = f"{stage['epochs']} epochs"
            for alpha, ls, marker in zip(d["alphas"], ("-", "--", "-."), "osD", strict=False):
                values = [rows[f"beam {k}, alpha={alpha:g}"][key] for k in widths]
                ax.plot(widths, values, ls=ls, marker=marker, color=colour,
                        label=f"{name}: beam, alpha={alpha:g}")
            ax.axhline(rows["greedy"][key], color=colour, ls=":", lw=1.2,
                       label=f"{name}: greedy")
        if key == "mean_length":
            ax.axhline(d["reference_length"], color="k", ls="--", lw=0.8,
                       label="references")
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [str(k) for k in widths])
        ax.set(xlabel="beam width", title=label)
        ax.grid(alpha=0.3)
    legend_ax.axis("off")
    legend_ax.legend(handles=axes[3].get_lines(), loc="center", fontsize=9,
                     title="decoder (colour: training stage)")
    fig.suptitle(f"Numbers to words, {d['n_test']} unseen numbers: one Bahdanau model "
                 f"decoded after short and longer training")
    return {"beam_search": fig}


_SIZES = {"embed": 32, "hidden": 128, "dropout": 0.0}


def _train(batch_size: int) -> dict:
    return {"batch_size": batch_size, "lr": 2e-3, "warmup_steps": 0, "grad_clip": 1.0,
            "time_budget_s": None, "stop_at": None}


EXPERIMENT = register(Experiment(
    id="beam-search",
    title="Greedy decoding against beam search, with and without length normalisation",
    entries=("seq2seq",),
    profiles={
        "quick": {"n_train": 300, "n_valid": 10, "n_test": 60, "beam_widths": [1, 2, 4],
                  "alphas": [0.0, 1.0], "sizes": {**_SIZES, "embed": 16, "hidden": 32},
                  "decode_after_epochs": [1, 2], "train": _train(32)},
        "default": {"n_train": 10_000, "n_valid": 10, "n_test": 1000,
                    "beam_widths": [1, 2, 4, 8], "alphas": [0.0, 1.0], "sizes": _SIZES,
                    "decode_after_epochs": [2, 4], "train": _train(64)},
        "full": {"n_train": 10_000, "n_valid": 10, "n_test": 3000,
                 "beam_widths": [1, 2, 4, 8, 16], "alphas": [0.0, 0.6, 1.0],
                 "sizes": _SIZES, "decode_after_epochs": [2, 3, 6], "train": _train(64)},
    },
    compute=compute,
    plot=plot,
    description=" ".join(__doc__.split("\n\n")[0].split()),
))
