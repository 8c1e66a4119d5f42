"""Text to padded id tensors: tokenizers, a vocabulary, padding with valid lengths, batching.

.. code-block:: text

    "Nov 23 26" --tokenizer--> ["N", "o", "v", " ", ...] --vocab--> [17, 30, 41, 4, ...]
    many id lists --pad_batch--> ids (B, L) + valid_lens (B,) --lengths_to_mask--> (B, L) bool

Padding always goes at the end (right padding), so position ``j`` of sequence ``b`` is real
exactly when ``j < valid_lens[b]``; :func:`mlnotebook.attention.lengths_to_mask` turns
valid lengths into the boolean masks used by attention and by the loss.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


class CharTokenizer:
    """One token per character, spaces and punctuation included.

    Examples
    --------
    >>> tok = CharTokenizer()
    >>> tok("Nov 5")
    ['N', 'o', 'v', ' ', '5']
    >>> tok.detokenize(tok("Nov 5"))
    'Nov 5'
    """

    def __call__(self, text: str) -> list[str]:
        return list(_check_text(text))

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(tokens)

    def __repr__(self) -> str:
        return "CharTokenizer()"


class WordTokenizer:
    """Tokens are the runs of non-whitespace characters (``str.split()``).

    Parameters
    ----------
    lower : bool, default=False
        Lower-case the text first.

    Examples
    --------
    >>> tok = WordTokenizer()
    >>> tok("one hundred  twenty-three")
    ['one', 'hundred', 'twenty-three']
    >>> tok.detokenize(tok("one hundred  twenty-three"))
    'one hundred twenty-three'
    """

    def __init__(self, *, lower: bool = False):
        self.lower = lower

    def __call__(self, text: str) -> list[str]:
        text = _check_text(text)
        return (text.lower() if self.lower else text).split()

    def detokenize(self, tokens: Iterable[str]) -> str:
        return " ".join(tokens)

    def __repr__(self) -> str:
        return f"WordTokenizer(lower={self.lower})"


class Vocab:
    """Token <-> id table with the four special tokens at fixed ids.

    Ids 0, 1, 2, 3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; the other tokens follow
    by decreasing frequency in ``sequences``, ties broken by sorting the tokens, so the same
    data always give the same ids. Any token not in the table maps to ``<unk>``.

    Parameters
    ----------
    sequences : iterable of sequences of str
        Tokenised training text; build the vocabulary from training data only.
    min_freq : int, default=1
        Tokens seen fewer times are left out (and become ``<unk>``).
    max_tokens : int, optional
        Keep at most this many ordinary tokens (the most frequent), besides the specials.

    Attributes
    ----------
    itos : list of str
        Token of each id.
    stoi : dict of str to int
        Id of each token.
    pad_id, bos_id, eos_id, unk_id : int
        0, 1, 2, 3.

    Notes
    -----
    The special strings are reserved: they are not counted in ``sequences``, and a literal
    ``"<unk>"`` (etc.) in text encodes to the special id.

    Examples
    --------
    >>> vocab = Vocab([list("abba"), list("cab")])
    >>> vocab.itos
    ['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'b', 'c']
    >>> vocab.encode(list("abz"), eos=True)
    [4, 5, 3, 2]
    >>> vocab.decode([4, 5, 3, 2, 0, 0])
    ['a', 'b', '<unk>']
    """

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, sequences: Iterable[Sequence[str]] = (), *, min_freq: int = 1,
                 max_tokens: int | None = None):
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        if max_tokens is not None and (isinstance(max_tokens, bool)
                                       or not isinstance(max_tokens, int) or max_tokens < 0):
            raise ValueError(f"max_tokens must be None or an int >= 0, got {max_tokens!r}")
        counts: Counter = Counter()
        for i, seq in enumerate(sequences):
            if isinstance(seq, str):
                raise TypeError(f"sequences[{i}] is a str; pass token lists (tokenize first)")
            counts.update(seq)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        if max_tokens is not None:
            kept = kept[:max_tokens]
        self.itos: list[str] = [*SPECIALS, *kept]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """Id of ``token``; ``unk_id`` when it is not in the vocabulary."""
        return self.stoi.get(token, self.unk_id)

    def encode(self, tokens: Sequence[str], *, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``tokens`` (unknown ones -> ``unk_id``), optionally framed by <bos>/<eos>."""
        if isinstance(tokens, str):
            raise TypeError("tokens must be a sequence of tokens, not a str; tokenize first")
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids, *, strip: bool = True) -> list[str]:
        """Tokens of ``ids`` (a list or a 1-D tensor).

        With ``strip=True``, stop at the first ``<eos>`` and drop ``<pad>`` and ``<bos>``;
        ``<unk>`` stays, as the string ``"<unk>"``. Raises ValueError on an id outside
        ``[0, len(self))``.
        """
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        tokens = []
        for i in ids:
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i!r} is outside the vocabulary [0, {len(self.itos)})")
            if strip and i == self.eos_id:
                break
            if strip and i in (self.pad_id, self.bos_id):
                continue
            tokens.append(self.itos[i])
        return tokens

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, *, max_len: int | None = None,
              pad_to: int | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into one tensor and return their valid lengths.

    Parameters
    ----------
    sequences : sequence of sequences of int
        At least one sequence; every sequence must be non-empty.
    pad_id : int
        Id written after the end of each sequence.
    max_len : int, optional
        The longest sequence allowed; a longer one raises ValueError (nothing is truncated
        silently).
    pad_to : int, optional
        Pad to this length instead of the longest sequence's (to fix shapes, or to test that
        extra padding changes nothing). Must be at least the longest length.
    device : torch.device or str, optional

    Returns
    -------
    ids : LongTensor of shape (B, L)
    valid_lens : LongTensor of shape (B,)

    Examples
    --------
    >>> ids, valid_lens = pad_batch([[5, 6, 7], [8]], pad_id=0)
    >>> ids
    tensor([[5, 6, 7],
            [8, 0, 0]])
    >>> valid_lens
    tensor([3, 1])
    """
    if isinstance(sequences, (str, torch.Tensor)) or len(sequences) == 0:
        raise ValueError("sequences must be a non-empty list of id sequences")
    lengths = np.array([len(s) for s in sequences])
    if (lengths == 0).any():
        raise ValueError(f"sequences[{int(np.argmin(lengths))}] is empty; every sequence needs "
                         "at least one token")
    if max_len is not None and lengths.max() > max_len:
        i = int(np.argmax(lengths))
        raise ValueError(f"sequences[{i}] has {lengths[i]} tokens, more than max_len={max_len}")
    width = int(lengths.max()) if pad_to is None else pad_to
    if isinstance(width, bool) or not isinstance(width, int) or width < lengths.max():
        raise ValueError(f"pad_to must be an int >= the longest length {lengths.max()}, "
                         f"got {pad_to!r}")
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    ids[np.arange(width) < lengths[:, None]] = np.concatenate(
        [np.asarray(s, dtype=np.int64) for s in sequences])
    return (torch.as_tensor(ids, device=device),
            torch.as_tensor(lengths, dtype=torch.int64, device=device))


class Seq2SeqBatch(NamedTuple):
    """A batch for teacher forcing: ``tgt_in`` is ``tgt_out`` shifted right by one.

    .. code-block:: text

        tgt_in  = <bos> y_1 ... y_n            (padded)
        tgt_out =       y_1 ... y_n <eos>      (padded); tgt_valid_lens = n + 1
    """

    src: torch.Tensor             # (B, S) long
    src_valid_lens: torch.Tensor  # (B,) long
    tgt_in: torch.Tensor          # (B, T) long
    tgt_out: torch.Tensor         # (B, T) long
    tgt_valid_lens: torch.Tensor  # (B,) long

    def to(self, device) -> Seq2SeqBatch:
        return Seq2SeqBatch(*(t.to(device) for t in self))


class Seq2SeqDataset(Dataset):
    """Translation pairs, tokenised and encoded once; ``collate`` makes padded batches.

    Parameters
    ----------
    pairs : sequence of (str, str)
        Source and target texts.
    src_vocab, tgt_vocab : Vocab
    src_tokenizer, tgt_tokenizer : callable str -> list of str
    max_src_len, max_tgt_len : int, optional
        Longest source, and longest target not counting ``<bos>``/``<eos>``; a longer pair
        raises ValueError naming its index, as does an empty source or target.

    Attributes
    ----------
    src_ids, tgt_ids : list of list of int
        Encoded sources and targets (targets without ``<bos>``/``<eos>``).
    src_lengths : ndarray of shape (n,)
        Source lengths, for :class:`BucketBatchSampler`.

    Examples
    --------
    >>> pairs = [("abc", "cba"), ("z", "z")]
    >>> vocab = Vocab(list(s) for s, _ in pairs)
    >>> data = Seq2SeqDataset(pairs, vocab, vocab, src_tokenizer=list, tgt_tokenizer=list)
    >>> batch = data.collate([data[0], data[1]])
    >>> batch.tgt_in.tolist(), batch.tgt_out.tolist()
    ([[1, 6, 5, 4], [1, 7, 0, 0]], [[6, 5, 4, 2], [7, 2, 0, 0]])
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab,
                 *, src_tokenizer, tgt_tokenizer, max_src_len: int | None = None,
                 max_tgt_len: int | None = None):
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.src_ids = [src_vocab.encode(src_tokenizer(s)) for s, _ in pairs]
        self.tgt_ids = [tgt_vocab.encode(tgt_tokenizer(t)) for _, t in pairs]
        for side, ids, limit, name in (("source", self.src_ids, max_src_len, "max_src_len"),
                                       ("target", self.tgt_ids, max_tgt_len, "max_tgt_len")):
            lengths = np.array([len(x) for x in ids])
            if len(lengths) and (lengths == 0).any():
                raise ValueError(f"pair {int(np.argmin(lengths))} has an empty {side}")
            if limit is not None and len(lengths) and lengths.max() > limit:
                i = int(np.argmax(lengths))
                raise ValueError(f"pair {i} has a {side} of {lengths[i]} tokens, more than "
                                 f"{name}={limit}")
        self.src_lengths = np.array([len(x) for x in self.src_ids], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.src_ids)

    def __getitem__(self, index: int) -> tuple[list[int], list[int]]:
        return self.src_ids[index], self.tgt_ids[index]

    def collate(self, items: Sequence[tuple[list[int], list[int]]], device=None) -> Seq2SeqBatch:
        """Pad a list of ``(src_ids, tgt_ids)`` items into a :class:`Seq2SeqBatch`."""
        src, src_valid_lens = pad_batch([s for s, _ in items], self.src_vocab.pad_id,
                                        device=device)
        bos, eos = self.tgt_vocab.bos_id, self.tgt_vocab.eos_id
        tgt_in, tgt_valid_lens = pad_batch([[bos, *t] for _, t in items],
                                           self.tgt_vocab.pad_id, device=device)
        tgt_out, _ = pad_batch([[*t, eos] for _, t in items], self.tgt_vocab.pad_id,
                               device=device)
        return Seq2SeqBatch(src, src_valid_lens, tgt_in, tgt_out, tgt_valid_lens)

    def batch(self, indices: Iterable[int], device=None) -> Seq2SeqBatch:
        """The padded batch of the examples at ``indices``."""
        return self.collate([self[i] for i in indices], device=device)


class BucketBatchSampler(Sampler):
    """Batches of indices whose sequences have similar lengths, so little padding is wasted.

    With ``shuffle=True``, each epoch: shuffle all indices, cut them into pools of
    ``pool_batches * batch_size``, sort each pool by length, cut pools into batches and
    shuffle the order of the batches. Every index appears exactly once per epoch. The
    randomness of epoch ``e`` comes from ``numpy.random.default_rng([seed, e])``, so an
    epoch is reproducible on its own (as after resuming training); call
    :meth:`set_epoch` before iterating, like ``torch.utils.data.DistributedSampler``.
    With ``shuffle=False`` the whole dataset is sorted by length (stable) and batches come
    in that order, for evaluation.

    Parameters
    ----------
    lengths : array-like of int, shape (n,)
        Length of each example (for instance ``Seq2SeqDataset.src_lengths``).
    batch_size : int
    shuffle : bool, default=True
    drop_last : bool, default=False
        Drop the one batch that can be smaller than ``batch_size``.
    pool_batches : int, default=50
        Pool size in batches: larger pools give tighter length groups, smaller pools more
        random batch composition.
    seed : int, default=0

    Examples
    --------
    >>> sampler = BucketBatchSampler([5, 1, 4, 2, 3, 6], batch_size=2, shuffle=False)
    >>> list(sampler)
    [[1, 3], [4, 2], [0, 5]]
    """

    def __init__(self, lengths, batch_size: int, *, shuffle: bool = True,
                 drop_last: bool = False, pool_batches: int = 50, seed: int = 0):
        self.lengths = np.asarray(lengths)
        if self.lengths.ndim != 1 or len(self.lengths) == 0 or not np.issubdtype(
                self.lengths.dtype, np.integer):
            raise ValueError(f"lengths must be a non-empty 1-D array of ints, got shape "
                             f"{self.lengths.shape} and dtype {self.lengths.dtype}")
        for name, value in (("batch_size", batch_size), ("pool_batches", pool_batches)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.pool_batches, self.seed, self.epoch = pool_batches, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            perm = rng.permutation(n)
            pool = np.arange(n) // (self.pool_batches * self.batch_size)
            order = perm[np.lexsort((self.lengths[perm], pool))]  # by pool, then by length
        else:
            order = np.argsort(self.lengths, kind="stable")
        batches = [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        for b in batches:
            yield b.tolist()
