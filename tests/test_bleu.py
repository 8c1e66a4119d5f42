"""Corpus BLEU by hand and against sacrebleu; exact match."""

import math

import numpy as np
import pytest

from mlnotebook.seq2seq import corpus_bleu, exact_match
from mlnotebook.verify.seq2seq import random_corpus, sacrebleu_score

SMOOTHINGS = [None, "exp", "floor", "add-k"]


def test_bleu_by_hand():
    hyp = ["the cat sat on the mat".split()]
    ref = ["the cat sat on a mat".split()]
    out = corpus_bleu(hyp, ref)
    assert out.matches == [5, 3, 2, 1] and out.totals == [6, 5, 4, 3]
    assert out.brevity_penalty == 1.0 and (out.hyp_len, out.ref_len) == (6, 6)
    expected = (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert math.isclose(out.score, expected, rel_tol=1e-14) and float(out) == out.score


def test_clipping_and_brevity_penalty():
    # "the the the" against "the cat": the unigram "the" counts once (clipped), so p1 = 1/3.
    out = corpus_bleu([["the", "the", "the"]], [["the", "cat"]], max_n=1)
    assert out.precisions == [1 / 3] and out.brevity_penalty == 1.0
    # a short hypothesis pays exp(1 - r / c)
    out = corpus_bleu([["a", "b"]], [["a", "b", "c", "d"]], max_n=2)
    assert math.isclose(out.score, math.exp(1 - 4 / 2), rel_tol=1e-14)
    # statistics are pooled over the corpus, not averaged over sentences
    pooled = corpus_bleu([["a", "b"], ["c", "d", "e", "f"]],
                         [["a", "b"], ["c", "x", "e", "f"]], max_n=2)
    assert pooled.matches == [5, 2] and pooled.totals == [6, 4]
    assert math.isclose(pooled.score, math.sqrt(5 / 6 * 2 / 4), rel_tol=1e-14)


def test_several_references_clip_by_max_count_and_use_closest_length():
    hyp = [["a", "a", "b"]]
    refs = [[["a", "b", "c", "d"], ["a", "a"]]]          # "a" may match twice (second ref)
    out = corpus_bleu(hyp, refs, max_n=1)
    assert out.matches == [3]
    assert out.ref_len == 2                              # |3-4| = |3-2|: the shorter wins
    assert corpus_bleu([[1, 2, 3]], [[[1, 2, 3]]], max_n=3).score == 1.0   # ids work too


def test_zero_counts_without_and_with_smoothing():
    hyp, ref = [["a", "b", "c"]], [["a", "c", "b"]]     # no bigram matches
    assert corpus_bleu(hyp, ref).score == 0.0
    exp = corpus_bleu(hyp, ref, smooth="exp")
    # p2: 0 matches of 2 -> 1/(2*2); p3: 0 of 1 -> 1/(4*1); p4: no 4-grams at all -> 0
    assert exp.precisions == [1.0, 0.25, 0.25, 0.0] and exp.score == 0.0
    exp3 = corpus_bleu(hyp, ref, smooth="exp", max_n=3)
    assert math.isclose(exp3.score, (1.0 * 0.25 * 0.25) ** (1 / 3), rel_tol=1e-14)
    floor = corpus_bleu(hyp, ref, smooth="floor", max_n=3)
    assert floor.precisions == [1.0, 0.1 / 2, 0.1 / 1]
    addk = corpus_bleu(hyp, ref, smooth="add-k", smooth_value=0.5)
    assert addk.precisions == [1.0, 0.5 / 2.5, 0.5 / 1.5, 0.5 / 0.5]
    # no unigram match at all: 0 whatever the smoothing
    assert all(corpus_bleu([["x"]], [["y"]], smooth=s).score == 0.0 for s in SMOOTHINGS)
    assert corpus_bleu([[]], [["y"]], smooth="exp").score == 0.0


@pytest.mark.parametrize("smooth", SMOOTHINGS)
@pytest.mark.parametrize("multi_ref", [False, True])
def test_matches_sacrebleu_on_random_corpora(smooth, multi_ref):
    rng = np.random.default_rng(0 if multi_ref else 1)
    worst = 0.0
    for _ in range(40):
        hyps, refs = random_corpus(rng, n_refs=int(rng.integers(2, 4)) if multi_ref else 1)
        ours = 100 * corpus_bleu(hyps, refs, smooth=smooth).score
        ref = sacrebleu_score(hyps, refs, smooth)
        assert (ours == 0.0) == (ref == 0.0)
        worst = max(worst, abs(ours - ref) / max(ref, 1e-300))
    assert worst < 1e-9


def test_exact_match():
    assert exact_match(["ab", "cd", "ef"], ["ab", "cx", "ef"]) == pytest.approx(2 / 3)
    assert exact_match([["a", "b"], ("c",)], [("a", "b"), ["c", "d"]]) == 0.5
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        exact_match(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="at least one"):
        exact_match([], [])


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(hypotheses=["a b"], references=[["a"]]), TypeError, r"hypotheses\[0\] is a str"),
    (dict(hypotheses=[["a"]], references=["a"]), TypeError, r"references\[0\] is a str"),
    (dict(hypotheses=[["a"]], references=[]), ValueError, "1 hypotheses but 0 references"),
    (dict(hypotheses=[["a"]], references=[["a"]], max_n=0), ValueError, "max_n"),
    (dict(hypotheses=[["a"]], references=[["a"]], smooth="laplace"), ValueError, "smooth must"),
    (dict(hypotheses=[["a"]], references=[["a"]], smooth="exp", smooth_value=0.1), ValueError,
     "smooth_value"),
])
def test_bleu_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        corpus_bleu(**kwargs)
