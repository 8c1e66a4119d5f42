"""Corpus BLEU (Papineni et al., 2002) with optional smoothing, and exact-match accuracy.

Scores are on the 0-1 scale; sacrebleu reports the same number times 100.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import NamedTuple

_SMOOTHING = {None: None, "exp": None, "floor": 0.1, "add-k": 1.0}   # method -> default value


class BleuScore(NamedTuple):
    """Corpus BLEU and the statistics it is made of."""

    score: float                  # in [0, 1]
    precisions: list[float]       # p_n for n = 1 .. max_n, after smoothing
    brevity_penalty: float
    hyp_len: int                  # total hypothesis tokens c
    ref_len: int                  # total effective reference tokens r
    matches: list[int]            # clipped n-gram matches per order (before smoothing)
    totals: list[int]             # hypothesis n-grams per order (before smoothing)

    def __float__(self) -> float:
        return self.score


def _ngrams(tokens: Sequence[Hashable], max_n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for n in range(1, max_n + 1)
                   for i in range(len(tokens) - n + 1))


def _as_references(ref, i: int) -> list[Sequence[Hashable]]:
    """One reference (token sequence) or several (a sequence of token sequences)."""
    if isinstance(ref, str):
        raise TypeError(f"references[{i}] is a str; pass token lists (tokenize first)")
    if len(ref) > 0 and isinstance(ref[0], (list, tuple)):
        if any(isinstance(r, str) or not isinstance(r, (list, tuple)) for r in ref):
            raise TypeError(f"references[{i}] mixes token sequences and tokens")
        return list(ref)
    return [ref]


def _closest_length(hyp_len: int, ref_lens: list[int]) -> int:
    """The reference length closest to the hypothesis length; ties go to the shorter."""
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def corpus_bleu(hypotheses: Sequence[Sequence[Hashable]], references: Sequence, *,
                max_n: int = 4, smooth: str | None = None,
                smooth_value: float | None = None) -> BleuScore:
    r"""Corpus-level BLEU of tokenised hypotheses against one or more references each.

    .. code-block:: text

        m_n = sum over sentences, n-grams g of the hypothesis:
                  min(count_hyp(g), max over references count_ref(g))   # clipped matches
        t_n = sum over sentences of max(len(hyp) - n + 1, 0)           # hypothesis n-grams
        p_n = m_n / t_n
        c   = total hypothesis length;  r = sum of the closest reference lengths
        BP  = 1 if c > r else exp(1 - r / c)       (0 if c = 0)
        BLEU = BP * exp( (1 / N) * sum_{n=1..N} log p_n )

    Statistics are pooled over the corpus *before* dividing (Papineni et al.): this is not
    the mean of sentence BLEUs.

    Parameters
    ----------
    hypotheses : sequence of token sequences
        Tokens may be any hashable values (strings, ids).
    references : sequence, one entry per hypothesis
        A token sequence, or a list of token sequences when there are several references.
    max_n : int, default=4
        Highest n-gram order N, weights uniform ``1 / N``.
    smooth : {None, "exp", "floor", "add-k"}, default=None
        Without smoothing (the paper), any zero ``m_n`` makes BLEU 0. The others follow
        Chen and Cherry (2014) as sacrebleu implements them: "exp" replaces a zero ``p_n``
        by ``1 / (2^k t_n)`` for the k-th order with no match (NIST, sacrebleu's default);
        "floor" by ``smooth_value / t_n`` (default 0.1); "add-k" adds ``smooth_value``
        (default 1) to ``m_n`` and ``t_n`` for ``n >= 2``.
    smooth_value : float, optional
        The value for "floor" and "add-k".

    Returns
    -------
    BleuScore
        ``score`` in [0, 1] plus the statistics behind it.

    Notes
    -----
    Conventions (those of sacrebleu, against which a verify row checks this function):
    with several references the effective reference length of a sentence is the one closest
    to the hypothesis length, ties going to the shorter; BP is 1 when ``c == r``. A corpus
    with no matching unigram scores 0 under every smoothing method, and so does one where
    some order has no hypothesis n-gram at all (``t_n = 0``, except for "add-k"). To compare
    with sacrebleu, join tokens with spaces and use ``tokenize="none"``; its score is ours
    times 100.

    Examples
    --------
    >>> hyp = ["the cat sat on the mat".split()]
    >>> ref = ["the cat sat on a mat".split()]
    >>> round(corpus_bleu(hyp, ref).score, 4)       # p = 5/6, 3/5, 2/4, 1/3
    0.5373
    >>> corpus_bleu([["a", "b"]], [["a", "b", "c"]], max_n=2).brevity_penalty
    0.6065306597126334
    """
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be an int >= 1, got {max_n!r}")
    if smooth not in _SMOOTHING:
        raise ValueError(f"smooth must be one of {list(_SMOOTHING)}, got {smooth!r}")
    if smooth_value is None:
        smooth_value = _SMOOTHING[smooth]
    elif smooth not in ("floor", "add-k") or not smooth_value > 0:
        raise ValueError(f"smooth_value must be a positive number, used with smooth='floor' or "
                         f"'add-k'; got smooth={smooth!r}, smooth_value={smooth_value!r}")
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("hypotheses and references must be sequences of token sequences")
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references")

    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for i, (hyp, ref) in enumerate(zip(hypotheses, references, strict=True)):
        if isinstance(hyp, str):
            raise TypeError(f"hypotheses[{i}] is a str; pass token lists (tokenize first)")
        refs = _as_references(ref, i)
        hyp_counts = _ngrams(hyp, max_n)
        ref_counts: Counter = Counter()
        for r in refs:
            ref_counts |= _ngrams(r, max_n)                        # max count per n-gram
        for gram, count in hyp_counts.items():
            matches[len(gram) - 1] += min(count, ref_counts[gram])
        for n in range(1, max_n + 1):
            totals[n - 1] += max(len(hyp) - n + 1, 0)
        hyp_len += len(hyp)
        ref_len += _closest_length(len(hyp), [len(r) for r in refs])

    if hyp_len < ref_len:
        bp = math.exp(1.0 - ref_len / hyp_len) if hyp_len > 0 else 0.0
    else:
        bp = 1.0
    precisions = _smoothed_precisions(matches, totals, smooth, smooth_value)
    if matches[0] == 0 or min(precisions) == 0.0:
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
    return BleuScore(score, precisions, bp, hyp_len, ref_len, matches, totals)


def _smoothed_precisions(matches: list[int], totals: list[int], smooth: str | None,
                         value: float | None) -> list[float]:
    precisions, halvings = [], 0
    for n, (m, t) in enumerate(zip(matches, totals, strict=True), start=1):
        if smooth == "add-k" and n > 1:
            m, t = m + value, t + value
        if t == 0:
            precisions.append(0.0)
        elif m > 0:
            precisions.append(m / t)
        elif smooth == "exp":
            halvings += 1
            precisions.append(1.0 / (2**halvings * t))
        elif smooth == "floor":
            precisions.append(value / t)
        else:
            precisions.append(0.0)
    return precisions


def exact_match(hypotheses: Sequence, references: Sequence) -> float:
    """Fraction of hypotheses equal to their reference (strings or token sequences).

    Token sequences compare element-wise, so a list and a tuple with the same tokens match.

    Examples
    --------
    >>> exact_match(["2026-11-23", "2026-11-24"], ["2026-11-23", "2026-11-25"])
    0.5
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references")
    if len(hypotheses) == 0:
        raise ValueError("exact_match needs at least one hypothesis")
    hits = sum((h if isinstance(h, str) else tuple(h)) == (r if isinstance(r, str) else tuple(r))
               for h, r in zip(hypotheses, references, strict=True))
    return hits / len(hypotheses)
