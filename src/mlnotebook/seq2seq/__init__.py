"""Sequence to sequence: generated tasks, vocabularies, RNN encoder-decoders, decoding, BLEU.

.. code-block:: text

    pairs  = make_date_task(...).train                   # ("nov 23 26", "2026-11-23"), ...
    vocab  = Vocab(CharTokenizer()(s) for s, _ in pairs)
    data   = Seq2SeqDataset(pairs, vocab, vocab, src_tokenizer=..., tgt_tokenizer=...)
    model  = EncoderDecoder(Seq2SeqEncoder(...), BahdanauDecoder(...))
    loss   = masked_cross_entropy(model(src, src_valid_lens, tgt_in), tgt_out, tgt_valid_lens)
    output = beam_search(model, src, src_valid_lens, beam_width=4, ...)
    bleu   = corpus_bleu(hypotheses, references)

Names are loaded on first use (PEP 562), so ``import mlnotebook.seq2seq`` stays cheap.
"""

from __future__ import annotations

from mlnotebook._lazy import lazy_exports

_WHERE = {
    # generated tasks
    "DATE_FORMATS": "_data",
    "TranslationSplits": "_data",
    "format_date": "_data",
    "make_date_task": "_data",
    "make_reversal": "_data",
    "make_number_words": "_data",
    "number_to_words": "_data",
    # tokens, ids, padding, batching
    "CharTokenizer": "_vocab",
    "WordTokenizer": "_vocab",
    "Vocab": "_vocab",
    "pad_batch": "_vocab",
    "Seq2SeqBatch": "_vocab",
    "Seq2SeqDataset": "_vocab",
    "BucketBatchSampler": "_vocab",
    # models
    "Seq2SeqEncoder": "_models",
    "Seq2SeqDecoder": "_models",
    "BahdanauDecoder": "_models",
    "EncoderDecoder": "_models",
    "EncoderOutput": "_models",
    # training and generation
    "masked_cross_entropy": "_loss",
    "greedy_decode": "_decode",
    "beam_search": "_decode",
    "length_penalty": "_decode",
    "DecodeResult": "_decode",
    "BeamSearchResult": "_decode",
    # evaluation
    "corpus_bleu": "_bleu",
    "BleuScore": "_bleu",
    "exact_match": "_bleu",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _WHERE)
