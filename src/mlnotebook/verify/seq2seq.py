"""Sequence to sequence: corpus BLEU against sacrebleu, masked cross-entropy against torch."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from mlnotebook.verify._base import check

_SACREBLEU_SMOOTH = {None: "none", "exp": "exp", "floor": "floor", "add-k": "add-k"}


def random_corpus(rng: np.random.Generator, n_refs: int = 1):
    """A random tokenised corpus with real n-gram overlap: (hypotheses, references).

    Between 1 and 30 sentences over a vocabulary of 8 words; each hypothesis is either
    random (lengths 0 to 12, so empty ones occur) or a noisy copy of its first reference
    (tokens dropped, replaced and inserted), so that every n-gram order has matches and
    misses. With ``n_refs > 1`` each reference entry is a list of ``n_refs`` token lists.
    """
    words = np.array([f"w{i}" for i in range(8)])
    hyps, refs = [], []
    for _ in range(int(rng.integers(1, 31))):
        these = [list(words[rng.integers(8, size=int(rng.integers(1, 13)))])
                 for _ in range(n_refs)]
        if rng.random() < 0.3:
            hyp = list(words[rng.integers(8, size=int(rng.integers(0, 13)))])
        else:
            hyp = [t for t in these[0] if rng.random() > 0.15]                  # drop
            hyp = [words[rng.integers(8)] if rng.random() < 0.15 else t for t in hyp]
            if rng.random() < 0.5:
                hyp.insert(int(rng.integers(len(hyp) + 1)), words[rng.integers(8)])
        hyps.append([str(t) for t in hyp])
        refs.append([[str(t) for t in r] for r in these] if n_refs > 1
                    else [str(t) for t in these[0]])
    return hyps, refs


def sacrebleu_score(hypotheses, references, smooth: str | None) -> float:
    """sacrebleu's corpus BLEU (0-100) on whitespace-joined tokens, ``tokenize="none"``."""
    from sacrebleu.metrics import BLEU

    first = references[0]
    if len(first) > 0 and isinstance(first[0], list):      # several references per sentence
        streams = [[" ".join(r[k]) for r in references] for k in range(len(references[0]))]
    else:
        streams = [[" ".join(r) for r in references]]
    bleu = BLEU(tokenize="none", smooth_method=_SACREBLEU_SMOOTH[smooth])
    return bleu.corpus_score([" ".join(h) for h in hypotheses], streams).score


@check(topic="seq2seq", concept="seq2seq", reference="sacrebleu.metrics.BLEU(tokenize='none')",
       tolerance=1e-9)
def bleu_matches_sacrebleu():
    """Corpus BLEU on 100 random corpora per case, relative difference on the 0-100 scale.

    Our score (0-1) times 100 against sacrebleu's, for each smoothing method, with one
    reference and with three references per sentence. Returned value: the largest
    ``|ours - sacrebleu| / sacrebleu`` (0 when both are exactly 0; a case where only one
    of them is 0 counts as 1).
    """
    from mlnotebook.seq2seq import corpus_bleu

    diffs = {}
    for smooth, n_refs in itertools.product(_SACREBLEU_SMOOTH, (1, 3)):
        rng = np.random.default_rng(n_refs)
        worst = 0.0
        for _ in range(100):
            hyps, refs = random_corpus(rng, n_refs)
            ours = 100 * corpus_bleu(hyps, refs, smooth=smooth).score
            ref = sacrebleu_score(hyps, refs, smooth)
            if ours == ref == 0.0:
                continue
            worst = max(worst, abs(ours - ref) / ref if ref > 0 else 1.0)
        diffs[f"smooth={smooth} refs={n_refs}"] = worst
    return diffs


@check(topic="seq2seq", concept="seq2seq",
       reference="torch.nn.functional.cross_entropy(ignore_index=pad)", tolerance=1e-12)
def masked_cross_entropy_matches_torch():
    """Loss and its gradient in float64, padding given by pad_id or by valid_lens.

    Logits (6, 9, 11) with valid lengths between 1 and 9; targets hold the pad id after
    each sequence's end. Returned value: max |difference| over loss and gradient.
    """
    from mlnotebook.attention import lengths_to_mask
    from mlnotebook.seq2seq import masked_cross_entropy

    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(6, 9, 11, generator=gen, dtype=torch.float64)
    valid_lens = torch.tensor([9, 1, 4, 7, 2, 5])
    pad = 0
    targets = torch.randint(1, 11, (6, 9), generator=gen)
    targets = targets.masked_fill(~lengths_to_mask(valid_lens, 9), pad)
    diffs = {}
    for reduction, eps, how in itertools.product(("mean", "sum"), (0.0, 0.1),
                                                 ("pad_id", "valid_lens")):
        x = logits.clone().requires_grad_()
        marks = {"pad_id": pad} if how == "pad_id" else {"valid_lens": valid_lens}
        ours = masked_cross_entropy(x, targets, reduction=reduction, label_smoothing=eps,
                                    **marks)
        ours_grad, = torch.autograd.grad(ours, x)
        y = logits.clone().requires_grad_()
        ref = F.cross_entropy(y.transpose(1, 2), targets, ignore_index=pad,
                              reduction=reduction, label_smoothing=eps)
        ref_grad, = torch.autograd.grad(ref, y)
        diffs[f"{reduction} eps={eps:g} {how}"] = max(
            float((ours - ref).detach().abs()), float((ours_grad - ref_grad).abs().max()))
    return diffs
