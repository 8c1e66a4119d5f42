"""Generated tasks, tokenizers, Vocab, padding and length-bucketed batches."""

import datetime

import numpy as np
import pytest
import torch

from mlnotebook.attention import lengths_to_mask
from mlnotebook.seq2seq import (
    DATE_FORMATS,
    BucketBatchSampler,
    CharTokenizer,
    Seq2SeqDataset,
    Vocab,
    WordTokenizer,
    format_date,
    make_date_task,
    make_number_words,
    make_reversal,
    number_to_words,
    pad_batch,
)

# ---------------------------------------------------------------------------------------------
# tasks


def test_date_formats_by_hand():
    d = datetime.date(2026, 11, 23)        # a Monday
    written = {format_date(d, f) for f in DATE_FORMATS}
    for text in ["23 Nov 2026", "November 23rd, 2026", "23/11/2026", "Monday, 23 November 2026",
                 "Nov 23 26", "23.11.26", "the 23rd of November 2026", "2026/11/23"]:
        assert text in written
    assert len(written) == len(DATE_FORMATS) >= 10
    assert format_date(d, "{Mon} {d} {yy}", case="lower") == "nov 23 26"
    assert format_date(d, "{Month} {dth}", case="upper") == "NOVEMBER 23RD"
    ordinals = [format_date(datetime.date(2026, 1, k), "{dth}") for k in (1, 2, 3, 4, 11, 12,
                                                                          13, 21, 22, 23, 31)]
    assert ordinals == ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd",
                        "23rd", "31st"]


def test_date_task_targets_are_the_dates_written():
    splits = make_date_task(300, 50, 50, random_state=3)
    for human, iso in splits.train + splits.valid + splits.test:
        date = datetime.date.fromisoformat(iso)
        assert 1950 <= date.year <= 2049
        variants = {format_date(date, f, c) for f in DATE_FORMATS
                    for c in ("as is", "lower", "upper")}
        assert human in variants, (human, iso)
    cases = {("lower" if h.islower() else "upper" if h.isupper() else "as is")
             for h, _ in splits.train if any(ch.isalpha() for ch in h)}
    assert cases == {"as is", "lower", "upper"}


def test_date_task_is_deterministic_per_seed():
    a = make_date_task(200, 20, 20, random_state=7)
    b = make_date_task(200, 20, 20, random_state=7)
    c = make_date_task(200, 20, 20, random_state=8)
    assert a == b
    assert a.train != c.train
    gen = np.random.default_rng(7)
    assert make_date_task(200, 20, 20, random_state=gen) == a


@pytest.mark.parametrize(("sizes", "min_distinct"), [((2000, 300, 300), 240),
                                                     ((60000, 500, 500), 200)])
def test_date_test_split_holds_unseen_dates(sizes, min_distinct):
    # The second case asks for more pairs than there are days (36524): pools stay
    # proportional (the test pool has ~300 days for 500 pairs), so dates repeat in other
    # formats, but training and held-out dates still never meet.
    splits = make_date_task(*sizes, random_state=0)
    train = {iso for _, iso in splits.train}
    valid = {iso for _, iso in splits.valid}
    test = {iso for _, iso in splits.test}
    assert not train & test and not train & valid and not valid & test
    assert [len(s) for s in (splits.train, splits.valid, splits.test)] == list(sizes)
    assert len(test) >= min_distinct         # many distinct held-out days, not a handful


def test_reversal_and_number_words():
    pairs = make_reversal(500, random_state=0, min_len=2, max_len=5, alphabet="xyz")
    assert all(t == s[::-1] and 2 <= len(s) <= 5 and set(s) <= set("xyz") for s, t in pairs)
    assert {len(s) for s, _ in pairs} == {2, 3, 4, 5}
    assert pairs == make_reversal(500, random_state=0, min_len=2, max_len=5, alphabet="xyz")

    known = {0: "zero", 7: "seven", 13: "thirteen", 20: "twenty", 21: "twenty-one",
             100: "one hundred", 101: "one hundred one", 110: "one hundred ten",
             999: "nine hundred ninety-nine", 1000: "one thousand",
             1_000_001: "one million one", 20_300_000: "twenty million three hundred thousand",
             123456: "one hundred twenty-three thousand four hundred fifty-six",
             999_999_999: "nine hundred ninety-nine million nine hundred ninety-nine thousand "
                          "nine hundred ninety-nine"}
    assert {k: number_to_words(k) for k in known} == known

    numbers = make_number_words(3000, random_state=1)
    values = np.array([int(s) for s, _ in numbers])
    assert values.min() >= 0 and values.max() <= 999_999
    digits = np.bincount([len(s) for s, _ in numbers])[1:]
    assert len(digits) == 6 and digits.min() > 350       # each digit count ~ 1/6 of the draws
    assert all(w == number_to_words(int(s)) for s, w in numbers)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: make_date_task(0, 1, 1, random_state=0), ValueError, "n_train must be an integer"),
    (lambda: make_date_task(5, 1, 1, random_state=0, years=(1900, 2049)), ValueError,
     "at most 100 years"),
    (lambda: make_date_task(5, 1, 1, random_state=0, formats=[]), ValueError, "formats"),
    (lambda: make_reversal(5, random_state=0, min_len=4, max_len=3), ValueError, "min_len"),
    (lambda: make_reversal(5, random_state=0, alphabet=""), ValueError, "alphabet"),
    (lambda: number_to_words(10**9), ValueError, "number must be in"),
    (lambda: number_to_words(3.0), TypeError, "number must be an int"),
    (lambda: make_number_words(5, random_state=0, low=9, high=3), ValueError, "low <= high"),
    (lambda: format_date("2026-11-23", "{d}"), TypeError, "datetime.date"),
    (lambda: format_date(datetime.date(2026, 1, 1), "{d}", case="title"), ValueError, "case"),
])
def test_task_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# tokenizers and Vocab


@pytest.mark.parametrize(("tokenizer", "text", "tokens"), [
    (CharTokenizer(), "Nov 23", ["N", "o", "v", " ", "2", "3"]),
    (WordTokenizer(), "one hundred twenty-one", ["one", "hundred", "twenty-one"]),
    (WordTokenizer(lower=True), "The CAT", ["the", "cat"]),
])
def test_tokenizer_round_trip(tokenizer, text, tokens):
    assert tokenizer(text) == tokens
    vocab = Vocab([tokens])
    ids = vocab.encode(tokenizer(text), bos=True, eos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert tokenizer.detokenize(vocab.decode(ids)) == (text.lower() if "CAT" in text else text)


def test_vocab_ids_unk_and_decode():
    vocab = Vocab([["b", "a", "b"], ["c", "a", "b", "<pad>"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a"]   # by count, then name
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert vocab["c"] == vocab["never seen"] == vocab.unk_id           # below min_freq, unknown
    assert "c" not in vocab and "a" in vocab and len(vocab) == 6
    assert vocab.encode(["a", "zzz", "b"]) == [5, 3, 4]
    ids = torch.tensor([1, 5, 3, 4, 2, 5, 0])
    assert vocab.decode(ids) == ["a", "<unk>", "b"]                    # stops at <eos>
    assert vocab.decode(ids, strip=False) == ["<bos>", "a", "<unk>", "b", "<eos>", "a", "<pad>"]
    assert Vocab([["x", "y", "y", "z"]], max_tokens=1).itos[4:] == ["y"]
    tie = Vocab([["q", "p"]]).itos[4:]
    assert tie == ["p", "q"] == Vocab([["p", "q"]]).itos[4:]            # ties sorted: stable ids


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: Vocab(["abc"]), TypeError, r"sequences\[0\] is a str"),
    (lambda: Vocab([], min_freq=0), ValueError, "min_freq"),
    (lambda: Vocab([["a"]]).encode("a"), TypeError, "tokenize first"),
    (lambda: Vocab([["a"]]).decode([0, 9]), ValueError, "outside the vocabulary"),
    (lambda: CharTokenizer()(["a"]), TypeError, "text must be a str"),
])
def test_vocab_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# padding, datasets, batches


def test_pad_batch_and_masks():
    ids, valid_lens = pad_batch([[5, 6, 7], [8], [9, 9]], pad_id=0, pad_to=4)
    assert ids.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0], [9, 9, 0, 0]]
    assert ids.dtype == valid_lens.dtype == torch.int64 and valid_lens.tolist() == [3, 1, 2]
    mask = lengths_to_mask(valid_lens, ids.shape[1])
    assert torch.equal(mask, ids != 0)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(sequences=[]), "non-empty list"),
    (dict(sequences=[[1], []]), r"sequences\[1\] is empty"),
    (dict(sequences=[[1], [1, 2, 3]], max_len=2), r"sequences\[1\] has 3 tokens.*max_len=2"),
    (dict(sequences=[[1, 2, 3]], pad_to=2), "pad_to must be an int >= the longest length 3"),
])
def test_pad_batch_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pad_batch(pad_id=0, **kwargs)


def _reversal_dataset(n=50, **kwargs):
    pairs = make_reversal(n, random_state=0, max_len=9)
    vocab = Vocab(list(s) for s, _ in pairs)
    tok = CharTokenizer()
    return pairs, vocab, Seq2SeqDataset(pairs, vocab, vocab, src_tokenizer=tok,
                                        tgt_tokenizer=tok, **kwargs)


def test_dataset_batches_shift_targets_for_teacher_forcing():
    pairs, vocab, data = _reversal_dataset()
    batch = data.batch([3, 0, 7])
    assert batch.src.shape[0] == 3 and batch.tgt_in.shape == batch.tgt_out.shape
    for row, i in enumerate([3, 0, 7]):
        source, target = pairs[i]
        n = len(target)
        assert batch.src_valid_lens[row] == len(source) and batch.tgt_valid_lens[row] == n + 1
        assert vocab.decode(batch.src[row]) == list(source)
        assert batch.tgt_in[row, 0] == vocab.bos_id and batch.tgt_out[row, n] == vocab.eos_id
        assert torch.equal(batch.tgt_in[row, 1:n + 1], batch.tgt_out[row, :n])
        assert (batch.tgt_out[row, n + 1:] == vocab.pad_id).all()
    assert vocab.decode(data.batch([0]).src[0]) == list(pairs[0][0])
    # unknown characters become <unk> rather than failing
    unk = Seq2SeqDataset([("a?b", "b?a")], vocab, vocab, src_tokenizer=list, tgt_tokenizer=list)
    assert unk.src_ids[0][1] == vocab.unk_id


def test_dataset_refuses_empty_and_too_long_pairs():
    with pytest.raises(ValueError, match="pair 1 has an empty source"):
        _, vocab, _ = _reversal_dataset()
        Seq2SeqDataset([("ab", "ba"), ("", "x")], vocab, vocab, src_tokenizer=list,
                       tgt_tokenizer=list)
    with pytest.raises(ValueError, match=r"a source of \d+ tokens, more than max_src_len=3"):
        _reversal_dataset(max_src_len=3)


def test_bucket_sampler_covers_every_index_once_with_short_padding():
    lengths = np.random.default_rng(0).integers(1, 40, size=1003)
    sampler = BucketBatchSampler(lengths, 16, pool_batches=8, seed=5)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    assert sorted(i for b in batches for i in b) == list(range(1003))
    # batching by length wastes far less padding than random batches of the same size
    waste = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches)
    perm = np.random.default_rng(1).permutation(1003)
    random_waste = sum(lengths[b].max() * len(b) - lengths[b].sum()
                       for b in np.array_split(perm, 63))
    assert waste < 0.25 * random_waste


def test_bucket_sampler_is_seeded_per_epoch():
    lengths = np.random.default_rng(0).integers(1, 40, size=200)
    a, b = BucketBatchSampler(lengths, 8, seed=1), BucketBatchSampler(lengths, 8, seed=1)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first                      # a new epoch, a new order
    b.set_epoch(1)
    assert list(a) == list(b)                    # ... reproducible on its own (resuming)
    assert list(BucketBatchSampler(lengths, 8, seed=2)) != first
    last = BucketBatchSampler(lengths, 64, drop_last=True)
    assert len(last) == 3 and all(len(batch) == 64 for batch in last)
    ordered = list(BucketBatchSampler(lengths, 8, shuffle=False))
    flat = np.concatenate(ordered)
    assert (np.diff(lengths[flat]) >= 0).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(lengths=[], batch_size=2), "non-empty 1-D array of ints"),
    (dict(lengths=[1.5, 2.0], batch_size=2), "non-empty 1-D array of ints"),
    (dict(lengths=[1, 2], batch_size=0), "batch_size must be an int >= 1"),
])
def test_bucket_sampler_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BucketBatchSampler(**kwargs)


def test_dataset_works_with_a_torch_dataloader():
    _, vocab, data = _reversal_dataset(n=40)
    loader = torch.utils.data.DataLoader(data, batch_sampler=BucketBatchSampler(
        data.src_lengths, 8, seed=0), collate_fn=data.collate)
    batches = list(loader)
    assert len(batches) == 5
    assert sum(b.src.shape[0] for b in batches) == 40
    assert all(int(b.src_valid_lens.max()) == b.src.shape[1] for b in batches)
