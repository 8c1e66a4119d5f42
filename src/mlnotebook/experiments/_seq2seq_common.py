"""What the sequence-to-sequence experiments share: data, models, training and evaluation.

.. code-block:: text

    data = date_data(n_train, n_valid, n_test, seed)      # character level, vocabularies
    model, records = new_trained_model("bahdanau", data, sizes, train, seed=seed,
                                       device=device)     # or "plain", "transformer"
    out = translate(model, data.test, ...)                # greedy or beam, in data order
    score = score_outputs(out.tokens, data.test_refs)     # exact match and BLEU

Training runs :class:`mlnotebook.train.Trainer` epoch by epoch, until an epoch limit, a
training-time budget or a validation exact match is reached.

The three models speak one decoding protocol (``encode`` / ``decode_step`` /
``reorder_state``), so :func:`mlnotebook.seq2seq.greedy_decode` and
:func:`~mlnotebook.seq2seq.beam_search` drive all of them. Only teacher forcing differs:
the recurrent models take ``(src, src_valid_lens, tgt_in)``, the Transformer
``(src, tgt_in, src_valid_lens)``; :func:`teacher_forced_logits` hides that.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mlnotebook.seq2seq import (
    BahdanauDecoder,
    BucketBatchSampler,
    CharTokenizer,
    EncoderDecoder,
    Seq2SeqDataset,
    Seq2SeqDecoder,
    Seq2SeqEncoder,
    TranslationSplits,
    Vocab,
    beam_search,
    corpus_bleu,
    exact_match,
    greedy_decode,
    make_date_task,
    masked_cross_entropy,
)

MODELS = ("plain", "bahdanau", "transformer")
LABELS = {"plain": "plain seq2seq (one context vector)",
          "bahdanau": "Bahdanau attention",
          "transformer": "Transformer"}
COLOURS = {"plain": "tab:gray", "bahdanau": "tab:blue", "transformer": "tab:orange"}


@contextlib.contextmanager
def seeded(seed: int, device: str):
    """Seed torch's generators inside the block (dropout, initialisation), restore after.

    The runner seeds the global generators once, but an experiment that trains several
    models should not let one model's draws shift the next one's, and ``compute`` called
    twice with the same seed must give the same numbers.
    """
    dev = torch.device(device)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# -- data ----------------------------------------------------------------------------------


@dataclass
class TaskData:
    """A translation task encoded for training: vocabularies, datasets and references.

    Vocabularies come from the training split only. ``*_refs`` hold each split's targets
    as token lists, in dataset order, for exact match and BLEU.
    """

    src_vocab: Vocab
    tgt_vocab: Vocab
    train: Seq2SeqDataset
    valid: Seq2SeqDataset
    test: Seq2SeqDataset
    valid_pairs: list[tuple[str, str]]
    test_pairs: list[tuple[str, str]]
    valid_refs: list[list[str]]
    test_refs: list[list[str]]
    max_src_len: int
    max_tgt_len: int          # longest target in tokens, <eos> included


def task_data(splits: TranslationSplits, src_tokenizer=None,
              tgt_tokenizer=None) -> TaskData:
    """Encode ``splits`` with character tokenizers (default) and training vocabularies."""
    src_tok = CharTokenizer() if src_tokenizer is None else src_tokenizer
    tgt_tok = CharTokenizer() if tgt_tokenizer is None else tgt_tokenizer
    src_vocab = Vocab(src_tok(s) for s, _ in splits.train)
    tgt_vocab = Vocab(tgt_tok(t) for _, t in splits.train)
    datasets = [Seq2SeqDataset(pairs, src_vocab, tgt_vocab, src_tokenizer=src_tok,
                               tgt_tokenizer=tgt_tok)
                for pairs in (splits.train, splits.valid, splits.test)]
    every = [*splits.train, *splits.valid, *splits.test]
    return TaskData(
        src_vocab, tgt_vocab, *datasets,
        valid_pairs=list(splits.valid), test_pairs=list(splits.test),
        valid_refs=[tgt_tok(t) for _, t in splits.valid],
        test_refs=[tgt_tok(t) for _, t in splits.test],
        max_src_len=max(len(src_tok(s)) for s, _ in every),
        max_tgt_len=max(len(tgt_tok(t)) for _, t in every) + 1)


def date_data(n_train: int, n_valid: int, n_test: int, seed: int) -> TaskData:
    """The date task (human format -> ISO), character level, split by calendar day."""
    return task_data(make_date_task(n_train, n_valid, n_test, random_state=seed))


# -- models --------------------------------------------------------------------------------


def build_model(kind: str, data: TaskData, sizes: dict) -> nn.Module:
    """One of :data:`MODELS`, sized by ``sizes``, initialised from torch's global generator.

    ``sizes`` keys: ``embed``, ``hidden`` (recurrent models: the decoder's state width;
    the plain encoder is unidirectional with that width, Bahdanau's is bidirectional with
    half of it per direction, as in the paper, so both decoders read the same width);
    ``d_model``, ``nhead``, ``layers``, ``ff`` (Transformer); ``dropout``.
    """
    vs, vt = len(data.src_vocab), len(data.tgt_vocab)
    if kind == "plain":
        h = sizes["hidden"]
        return EncoderDecoder(Seq2SeqEncoder(vs, sizes["embed"], h, dropout=sizes["dropout"]),
                              Seq2SeqDecoder(vt, sizes["embed"], h, dropout=sizes["dropout"]))
    if kind == "bahdanau":
        h = sizes["hidden"]
        if h % 2:
            raise ValueError(f"the Bahdanau model's hidden size must be even (two encoder "
                             f"directions of hidden / 2), got {h}")
        encoder = Seq2SeqEncoder(vs, sizes["embed"], h // 2, bidirectional=True,
                                 dropout=sizes["dropout"])
        return EncoderDecoder(encoder, BahdanauDecoder(vt, sizes["embed"], h,
                                                       dropout=sizes["dropout"]))
    if kind == "transformer":
        from mlnotebook.transformer import Transformer

        return Transformer(vs, vt, d_model=sizes["d_model"], nhead=sizes["nhead"],
                           num_encoder_layers=sizes["layers"],
                           num_decoder_layers=sizes["layers"], dim_feedforward=sizes["ff"],
                           dropout=sizes["dropout"], norm_first=sizes.get("norm_first", False),
                           max_len=max(data.max_src_len, data.max_tgt_len) + 8)
    raise ValueError(f"model kind must be one of {MODELS}, got {kind!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def teacher_forced_logits(model: nn.Module, batch) -> torch.Tensor:
    """Logits (B, T, V) of ``batch.tgt_out`` given ``batch.tgt_in``, for any of the models."""
    if isinstance(getattr(model, "module", model), EncoderDecoder):
        return model(batch.src, batch.src_valid_lens, batch.tgt_in)
    return model(batch.src, batch.tgt_in, batch.src_valid_lens)


def compute_loss(model: nn.Module, batch) -> dict:
    """The Trainer's ``compute_loss``: mean cross-entropy per real target token."""
    logits = teacher_forced_logits(model, batch)
    loss = masked_cross_entropy(logits, batch.tgt_out, batch.tgt_valid_lens)
    return {"loss": loss, "tokens": batch.tgt_valid_lens.sum()}


# -- decoding and scores -------------------------------------------------------------------


@dataclass
class Translations:
    """Decoder outputs for a dataset, in dataset order."""

    tokens: list[list[str]]   # each hypothesis, stopped at <eos>
    log_probs: np.ndarray     # (n,) log-probability of each hypothesis, <eos> included
    seconds: float            # decoding time


@torch.no_grad()
def translate(model: nn.Module, dataset: Seq2SeqDataset, *, max_len: int, device: str,
              batch_size: int = 500, beam_width: int | None = None,
              length_penalty_alpha: float = 0.0) -> Translations:
    """Greedy (``beam_width=None``) or beam-search outputs for every example of ``dataset``.

    Examples go through in batches of similar source length and come back in dataset
    order. The model is put in eval mode and left there.
    """
    model.eval()
    vocab = dataset.tgt_vocab
    tokens: list[list[str] | None] = [None] * len(dataset)
    log_probs = np.zeros(len(dataset))
    started = time.perf_counter()
    for index in BucketBatchSampler(dataset.src_lengths, batch_size, shuffle=False):
        batch = dataset.batch(index, device=device)
        ids = dict(max_len=max_len, bos_id=vocab.bos_id, eos_id=vocab.eos_id,
                   pad_id=vocab.pad_id)
        if beam_width is None:
            out = greedy_decode(model, batch.src, batch.src_valid_lens, **ids)
            best, scores = out.tokens, out.scores
        else:
            out = beam_search(model, batch.src, batch.src_valid_lens, beam_width=beam_width,
                              length_penalty_alpha=length_penalty_alpha, **ids)
            best, scores = out.tokens[:, 0], out.scores[:, 0]
        for i, row in zip(index, best.cpu(), strict=True):
            tokens[i] = vocab.decode(row)
        log_probs[index] = scores.double().cpu().numpy()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return Translations(tokens, log_probs, time.perf_counter() - started)


def score_outputs(hypotheses: Sequence[Sequence[str]],
                  references: Sequence[Sequence[str]]) -> dict:
    """Exact match and corpus BLEU (4-grams of target tokens, no smoothing), 0-1 scale."""
    return {"exact_match": exact_match(hypotheses, references),
            "bleu": corpus_bleu(hypotheses, references).score}


def accuracy_by_length(correct: np.ndarray, lengths: np.ndarray,
                       edges: Sequence[int]) -> tuple[list[float | None], list[int]]:
    """Mean of ``correct`` for lengths in ``[edges[i], edges[i + 1])``; None for an empty bin."""
    which = np.digitize(lengths, edges) - 1                       # bin of each example
    accuracy, counts = [], []
    for b in range(len(edges) - 1):
        hits = correct[which == b]
        counts.append(int(hits.size))
        accuracy.append(float(hits.mean()) if hits.size else None)
    return accuracy, counts


def bin_labels(edges: Sequence[int]) -> list[str]:
    return [f"{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


# -- training ------------------------------------------------------------------------------


def make_optimizer(kind: str, model: nn.Module, train: dict):
    """The project's Adam; the Transformer gets the paper's betas, eps and schedule.

    The Transformer's rate rises linearly for ``train["warmup_steps"]`` steps to
    ``train["lr"]`` and then decays as one over the square root of the step (the Noam
    schedule, rescaled so that its peak is ``lr``). The recurrent models keep a constant
    ``lr``.
    """
    from mlnotebook.optim import Adam
    from mlnotebook.optim.lr_scheduler import InverseSqrtLR

    if kind == "transformer":
        d_model, warmup = model.d_model, train["warmup_steps"]
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f"warmup_steps must be an int >= 1 for the Transformer, got "
                             f"{warmup!r}")
        # InverseSqrtLR peaks at lr * scale / sqrt(d_model * warmup): this scale makes it lr.
        opt = Adam(model.parameters(), lr=train["lr"], betas=(0.9, 0.98), eps=1e-9)
        return opt, InverseSqrtLR(opt, d_model, warmup_steps=warmup,
                                  scale=(d_model * warmup) ** 0.5)
    return Adam(model.parameters(), lr=train["lr"]), None


def train_model(kind: str, model: nn.Module, data: TaskData, train: dict, *, seed: int,
                device: str, evaluate: Callable[[nn.Module], dict] | None,
                on_epoch: Callable[[int], None] = lambda epoch: None) -> list[dict]:
    """Train with :class:`mlnotebook.train.Trainer` until a budget or a target is reached.

    Runs whole epochs, evaluating after each one with ``evaluate(model) -> {name: float}``
    (called by the Trainer, in eval mode without gradients; its time is not training
    time). Stops after ``train["max_epochs"]`` epochs, once the training time (the
    Trainer's ``seconds``, which exclude evaluation) reaches ``train["time_budget_s"]``
    (None: no budget), or once ``valid_exact_match`` reaches ``train["stop_at"]``
    (None: never). With no time budget the run is a fixed function of the seed.

    Returns the Trainer's history records, each with ``train_seconds``, the cumulative
    training time; with an ``evaluate``, they start with a record of epoch 0: the
    evaluation of the untrained model at 0 seconds.
    """
    from mlnotebook.train import Trainer

    sampler = BucketBatchSampler(data.train.src_lengths, train["batch_size"], seed=seed)
    loader = torch.utils.data.DataLoader(data.train, batch_sampler=sampler,
                                         collate_fn=data.train.collate)
    opt, scheduler = make_optimizer(kind, model, train)
    trainer = Trainer(model, opt, compute_loss=compute_loss, scheduler=scheduler,
                      grad_clip=train["grad_clip"], eval_fn=evaluate, device=device,
                      progress=False)
    budget, stop_at = train["time_budget_s"], train["stop_at"]
    elapsed, records = 0.0, []
    if evaluate is not None:
        model.eval()
        with torch.no_grad():
            records.append({"epoch": 0, "train_seconds": 0.0, **evaluate(model)})
    for epoch in range(1, train["max_epochs"] + 1):
        trainer.fit(loader, epochs=epoch)
        record = dict(trainer.history.records[-1])
        elapsed += record["seconds"]
        record["train_seconds"] = elapsed
        records.append(record)
        on_epoch(epoch)
        if budget is not None and elapsed >= budget:
            break
        if stop_at is not None and record.get("valid_exact_match", -1.0) >= stop_at:
            break
    model.eval()
    return records


def model_seed(seed: int, kind: str) -> int:
    """A seed per model kind, so each model's initialisation and dropout are its own."""
    return seed * 101 + MODELS.index(kind) + 1


def new_trained_model(kind: str, data: TaskData, sizes: dict, train: dict, *, seed: int,
                      device: str, evaluate: Callable[[nn.Module], dict] | None = None,
                      on_epoch: Callable[[int], None] = lambda epoch: None,
                      ) -> tuple[nn.Module, list[dict]]:
    """Build a model of ``kind`` from its own seed and train it; (model in eval mode, records).

    ``train["lr"]`` may be one rate or a dict of rates by model kind.
    """
    lr = train["lr"][kind] if isinstance(train["lr"], dict) else train["lr"]
    with seeded(model_seed(seed, kind), device):
        model = build_model(kind, data, sizes).to(device)
        records = train_model(kind, model, data, {**train, "lr": lr}, seed=seed,
                              device=device, evaluate=evaluate, on_epoch=on_epoch)
    return model, records


def validation_evaluator(data: TaskData, device: str) -> Callable[[nn.Module], dict]:
    """An ``evaluate`` for :func:`train_model`: greedy exact match on valid, EM and BLEU on test."""

    def evaluate(model: nn.Module) -> dict:
        valid = translate(model, data.valid, max_len=data.max_tgt_len, device=device)
        test = translate(model, data.test, max_len=data.max_tgt_len, device=device)
        v = score_outputs(valid.tokens, data.valid_refs)
        t = score_outputs(test.tokens, data.test_refs)
        return {"valid_exact_match": v["exact_match"], "test_exact_match": t["exact_match"],
                "test_bleu": t["bleu"]}

    return evaluate


def first_time_at(records: Sequence[dict], key: str, target: float) -> float | None:
    """Training seconds at the first evaluation where ``key`` reached ``target``, or None."""
    for record in records:
        if record.get(key) is not None and record[key] >= target:
            return record["train_seconds"]
    return None
