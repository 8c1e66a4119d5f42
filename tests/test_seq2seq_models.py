"""RNN encoder-decoders, masked cross-entropy, greedy decoding and beam search."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from mlnotebook.attention import lengths_to_mask
from mlnotebook.seq2seq import (
    BahdanauDecoder,
    CharTokenizer,
    EncoderDecoder,
    Seq2SeqDataset,
    Seq2SeqDecoder,
    Seq2SeqEncoder,
    Vocab,
    beam_search,
    exact_match,
    greedy_decode,
    length_penalty,
    make_reversal,
    masked_cross_entropy,
    pad_batch,
)
from mlnotebook.seq2seq._decode import BeamSearchResult

BOS, EOS = 1, 2
DECODERS = {"plain": Seq2SeqDecoder, "bahdanau": BahdanauDecoder}


def _model(kind="bahdanau", *, cell="gru", bidirectional=False, num_layers=1, src_vocab=11,
           tgt_vocab=9, hidden=8, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    enc = Seq2SeqEncoder(src_vocab, 5, hidden, num_layers, cell=cell, bidirectional=bidirectional)
    dec = DECODERS[kind](tgt_vocab, 6, enc.output_size, num_layers, cell=cell)
    return EncoderDecoder(enc, dec).to(dtype).eval()


def _batch(B=4, S=7, T=5, src_vocab=11, tgt_vocab=9, seed=1):
    gen = torch.Generator().manual_seed(seed)
    src_valid_lens = torch.randint(1, S + 1, (B,), generator=gen)
    src_valid_lens[0] = S                                     # one full-length row
    src = torch.randint(3, src_vocab, (B, S), generator=gen)
    src = src.masked_fill(~lengths_to_mask(src_valid_lens, S), 0)
    tgt_in = torch.randint(3, tgt_vocab, (B, T), generator=gen)
    return src, src_valid_lens, tgt_in


ARCHS = [dict(kind=k, cell=c, bidirectional=b, num_layers=n)
         for k, c, b, n in itertools.product(DECODERS, ("gru", "lstm"), (False, True), (1, 2))]


def _arch_id(arch):
    return "-".join(str(v) for v in arch.values())


# ---------------------------------------------------------------------------------------------
# models


@pytest.mark.parametrize("arch", ARCHS, ids=_arch_id)
def test_shapes_and_attention_weights(arch):
    model = _model(**arch, dtype=torch.float32)
    src, src_valid_lens, tgt_in = _batch()
    enc = model.encoder(src, src_valid_lens)
    D = 2 if arch["bidirectional"] else 1
    assert enc.outputs.shape == (4, 7, 8 * D)
    states = enc.state if arch["cell"] == "lstm" else (enc.state,)
    assert all(s.shape == (arch["num_layers"], 4, 8 * D) for s in states)
    padded = ~lengths_to_mask(src_valid_lens, 7)
    assert (enc.outputs[padded] == 0).all()                   # padding never got a state
    logits = model(src, src_valid_lens, tgt_in)
    assert logits.shape == (4, 5, 9) and logits.dtype == torch.float32
    weights = model.attention_weights
    if arch["kind"] == "plain":
        assert weights is None
    else:
        assert weights.shape == (4, 5, 7)
        assert (weights.masked_select(padded[:, None, :].expand(-1, 5, -1)) == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(4, 5))


@pytest.mark.parametrize("arch", ARCHS, ids=_arch_id)
def test_more_padding_changes_nothing(arch):
    """Padding a batch further, or running each sequence alone, gives the same numbers."""
    model = _model(**arch)
    src, src_valid_lens, tgt_in = _batch()
    wide = torch.cat([src, torch.zeros(4, 6, dtype=torch.long)], dim=1)      # 6 more pads
    ref = model(src, src_valid_lens, tgt_in)
    torch.testing.assert_close(model(wide, src_valid_lens, tgt_in), ref, rtol=0, atol=1e-12)
    for b in range(4):
        n = int(src_valid_lens[b])
        alone = model(src[b:b + 1, :n], src_valid_lens[b:b + 1], tgt_in[b:b + 1])
        torch.testing.assert_close(alone, ref[b:b + 1], rtol=0, atol=1e-12)
    enc, enc_wide = model.encoder(src, src_valid_lens), model.encoder(wide, src_valid_lens)
    torch.testing.assert_close(enc_wide.outputs[:, :7], enc.outputs, rtol=0, atol=1e-12)
    torch.testing.assert_close(enc_wide.state, enc.state, rtol=0, atol=1e-12)
    # target padding: extra positions after the end do not reach the earlier ones
    longer = torch.cat([tgt_in, torch.zeros(4, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(src, src_valid_lens, longer)[:, :5], ref, rtol=0,
                               atol=1e-12)


def test_encoder_final_state_is_the_last_valid_output():
    enc = _model("plain", bidirectional=True).encoder
    src, src_valid_lens, _ = _batch()
    out = enc(src, src_valid_lens)
    H = 8
    last = out.outputs[torch.arange(4), src_valid_lens - 1, :H]   # forward direction
    first = out.outputs[:, 0, H:]                                 # backward direction ends at 0
    torch.testing.assert_close(out.state[0], torch.cat([last, first], dim=-1), rtol=0, atol=0)


def test_bahdanau_step_is_additive_attention():
    """The step with precomputed W_k h_j equals AdditiveAttention's own forward."""
    model = _model("bahdanau", bidirectional=True)
    src, src_valid_lens, _ = _batch()
    dec = model.decoder
    state = model.encode(src, src_valid_lens)
    query = torch.randn(4, 1, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    context, weights = dec.attend(query, state)
    mask = lengths_to_mask(src_valid_lens, 7)[:, None, :]
    ref = dec.attention(query, state.memory, state.memory, mask)
    torch.testing.assert_close(context, ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(weights, dec.attention.attention_weights, rtol=0, atol=1e-14)


def test_gradients_reach_every_parameter():
    model = _model("bahdanau", bidirectional=True, num_layers=2).train()
    src, src_valid_lens, tgt_in = _batch()
    model(src, src_valid_lens, tgt_in).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda m, s, v, t: m(s, torch.zeros_like(v), t), ValueError, r"src_valid_lens must lie in"),
    (lambda m, s, v, t: m(s, v + 10, t), ValueError, r"src_valid_lens must lie in \[1, 7\]"),
    (lambda m, s, v, t: m(s[:, :0], v, t), ValueError, "src is empty"),
    (lambda m, s, v, t: m(s.double(), v, t), TypeError, "integer token ids"),
    (lambda m, s, v, t: m(s, v, t[:2]), ValueError, "tgt_in has batch size 2, src has 4"),
    (lambda m, s, v, t: m(s[0], v, t), ValueError, r"src must be a \(B, L\) tensor"),
    (lambda m, s, v, t: m(s, v[:2], t), ValueError, r"shape \(4,\)"),
])
def test_model_bad_input(call, error, match):
    model = _model()
    with pytest.raises(error, match=match):
        call(model, *_batch())


def test_encoder_decoder_mismatch_is_refused():
    enc = Seq2SeqEncoder(10, 4, 8, bidirectional=True)
    with pytest.raises(ValueError, match="hidden_size must equal the encoder's output_size"):
        EncoderDecoder(enc, Seq2SeqDecoder(10, 4, 8))
    with pytest.raises(ValueError, match="cell='gru'"):
        EncoderDecoder(Seq2SeqEncoder(10, 4, 8, cell="lstm"), BahdanauDecoder(10, 4, 8))
    with pytest.raises(ValueError, match="key_size=8 must equal"):
        EncoderDecoder(enc, BahdanauDecoder(10, 4, 16, key_size=8))
    with pytest.raises(ValueError, match="cell must be one of"):
        Seq2SeqEncoder(10, 4, 8, cell="rnn")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        Seq2SeqDecoder(10, 4, 0)


# ---------------------------------------------------------------------------------------------
# masked cross-entropy


def _logits_and_targets(dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(5, 6, 7, generator=gen, dtype=dtype)
    valid_lens = torch.tensor([6, 1, 3, 4, 2])
    targets = torch.randint(1, 7, (5, 6), generator=gen)
    targets = targets.masked_fill(~lengths_to_mask(valid_lens, 6), 0)   # pad id 0
    return logits, targets, valid_lens


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_masked_cross_entropy_matches_torch(reduction, label_smoothing, dtype):
    logits, targets, valid_lens = _logits_and_targets(dtype)
    tol = dict(rtol=0, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-6, atol=1e-6)
    results = []
    for kwargs in (dict(valid_lens=valid_lens), dict(pad_id=0)):
        x = logits.clone().requires_grad_()
        loss = masked_cross_entropy(x, targets, reduction=reduction,
                                    label_smoothing=label_smoothing, **kwargs)
        results.append((loss, *torch.autograd.grad(loss, x)))
    x = logits.clone().requires_grad_()
    ref = F.cross_entropy(x.transpose(1, 2), targets, ignore_index=0, reduction=reduction,
                          label_smoothing=label_smoothing)
    ref_grad, = torch.autograd.grad(ref, x)
    for loss, grad in results:
        torch.testing.assert_close(loss, ref, **tol)
        torch.testing.assert_close(grad, ref_grad, **tol)


def test_masked_cross_entropy_by_hand():
    logits = torch.zeros(2, 3, 4)                              # uniform: every token costs log 4
    targets = torch.tensor([[1, 2, 3], [1, 9, 9]])             # padding may hold anything
    valid_lens = torch.tensor([3, 1])
    mean = masked_cross_entropy(logits, targets, valid_lens)
    assert math.isclose(float(mean), math.log(4), rel_tol=1e-6)     # 4 tokens, not 6
    per_token = masked_cross_entropy(logits, targets, valid_lens, reduction="none")
    assert per_token.shape == (2, 3) and (per_token[1, 1:] == 0).all()
    assert math.isclose(float(per_token.sum()), 4 * math.log(4), rel_tol=1e-6)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(), "exactly one of valid_lens and pad_id"),
    (dict(valid_lens=torch.tensor([3, 1]), pad_id=0), "exactly one of valid_lens and pad_id"),
    (dict(pad_id=0, reduction="avg"), "reduction must be one of"),
    (dict(pad_id=0, label_smoothing=1.0), r"label_smoothing must be in \[0, 1\)"),
    (dict(valid_lens=torch.tensor([3])), r"valid_lens must be a tensor of shape \(2,\)"),
    (dict(valid_lens=torch.tensor([3, 2])), r"class ids in \[0, 4\)"),
])
def test_masked_cross_entropy_bad_input(kwargs, match):
    targets = torch.tensor([[1, 2, 3], [1, 9, 9]])
    with pytest.raises(ValueError, match=match):
        masked_cross_entropy(torch.zeros(2, 3, 4), targets, **kwargs)


# ---------------------------------------------------------------------------------------------
# decoding


@torch.no_grad()
def _sequence_log_prob(model, src, src_valid_lens, tokens):
    """log p(tokens | src) by teacher forcing, for one source (1, S) and a token list."""
    tgt_in = torch.tensor([[BOS, *tokens[:-1]]])
    logp = torch.log_softmax(model(src, src_valid_lens, tgt_in), dim=-1)[0]
    return float(logp[torch.arange(len(tokens)), torch.tensor(tokens)].sum())


@pytest.mark.parametrize("kind", DECODERS)
def test_greedy_scores_equal_teacher_forced_log_probs(kind):
    """Step-by-step decoding and teacher forcing compute the same distributions."""
    model = _model(kind, bidirectional=True)
    src, src_valid_lens, _ = _batch(B=6)
    out = greedy_decode(model, src, src_valid_lens, max_len=6, bos_id=BOS, eos_id=EOS)
    assert out.tokens.shape[0] == 6 and out.tokens.shape[1] <= 6
    for b in range(6):
        n = int(out.lengths[b])
        assert n == 6 or out.tokens[b, n - 1] == EOS
        assert (out.tokens[b, n:] == EOS).all()                   # pad_id defaults to eos_id
        seq = out.tokens[b, :n].tolist()
        k = int(src_valid_lens[b])
        ref = _sequence_log_prob(model, src[b:b + 1, :k], src_valid_lens[b:b + 1], seq)
        assert math.isclose(float(out.scores[b]), ref, rel_tol=1e-12)
    if kind == "bahdanau":
        assert out.attention.shape == (6, out.tokens.shape[1], 7)


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_width_one_is_greedy(kind, alpha):
    model = _model(kind, cell="lstm", num_layers=2)
    src, src_valid_lens, _ = _batch(B=8)
    greedy = greedy_decode(model, src, src_valid_lens, max_len=7, bos_id=BOS, eos_id=EOS)
    beam = beam_search(model, src, src_valid_lens, beam_width=1, max_len=7, bos_id=BOS,
                       eos_id=EOS, length_penalty_alpha=alpha)
    L = greedy.tokens.shape[1]
    assert torch.equal(beam.tokens[:, 0, :L], greedy.tokens)
    assert torch.equal(beam.lengths[:, 0], greedy.lengths)
    torch.testing.assert_close(beam.scores[:, 0], greedy.scores, rtol=0, atol=1e-12)


def _all_sequences(vocab_size, max_len):
    """Every output a decoder can produce: ends at its first <eos>, or runs to max_len."""
    seqs = set()
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(vocab_size), repeat=n):
            if EOS not in seq[:-1] and (seq[-1] == EOS or n == max_len):
                seqs.add(seq)
    return sorted(seqs)


@pytest.mark.parametrize(("alpha", "form"), [(0.0, "gnmt"), (1.5, "gnmt"), (2.0, "power")])
@pytest.mark.parametrize("kind", DECODERS)
def test_wide_beam_finds_the_brute_force_best(kind, alpha, form):
    """With more beams than prefixes, beam search is exhaustive: it must find the optimum."""
    V, max_len = 4, 3
    model = _model(kind, tgt_vocab=V, seed=5)
    src, src_valid_lens, _ = _batch(B=3)
    beam = beam_search(model, src, src_valid_lens, beam_width=V**max_len, max_len=max_len,
                       bos_id=BOS, eos_id=EOS, length_penalty_alpha=alpha,
                       length_penalty_form=form)
    greedy = greedy_decode(model, src, src_valid_lens, max_len=max_len, bos_id=BOS,
                           eos_id=EOS)
    for b in range(3):
        k = int(src_valid_lens[b])
        scored = {}
        for seq in _all_sequences(V, max_len):
            lp = float(length_penalty(torch.tensor(len(seq)), alpha, form))
            scored[seq] = _sequence_log_prob(model, src[b:b + 1, :k], src_valid_lens[b:b + 1],
                                             list(seq)) / lp
        best = max(scored, key=scored.get)
        n = int(beam.lengths[b, 0])
        assert tuple(beam.tokens[b, 0, :n].tolist()) == best
        assert math.isclose(float(beam.normalized_scores[b, 0]), scored[best], rel_tol=1e-12)
        ranked = beam.normalized_scores[b]
        assert (ranked[ranked.isfinite()].diff() <= 0).all()      # best first, empty beams last
        if alpha == 0:
            assert float(beam.scores[b, 0]) >= float(greedy.scores[b]) - 1e-12


class MarkovModel:
    """A hand-built 'model': the next token depends on the previous one only, by a table.

    Tokens: 0 <bos>, 1 <eos>, 2 "a", 3 "b". Greedy keeps choosing "a" (0.6, then 0.4 each
    step) and never ends; the most probable sequence is "b <eos>" (0.4 * 0.9 = 0.36).
    """

    table = torch.tensor([[0.0, 0.0, 0.6, 0.4],      # after <bos>
                          [1.0, 0.0, 0.0, 0.0],      # after <eos> (never used)
                          [0.0, 0.3, 0.4, 0.3],      # after "a"
                          [0.0, 0.9, 0.05, 0.05]],   # after "b"
                         dtype=torch.float64)

    def encode(self, src, src_valid_lens):
        return torch.arange(src.shape[0])

    def decode_step(self, tokens, state):
        return self.table[tokens].log(), state

    def reorder_state(self, state, index):
        return state[index]


def test_beam_search_on_a_hand_built_model():
    model, src = MarkovModel(), torch.zeros(2, 1, dtype=torch.long)
    lens = torch.ones(2, dtype=torch.long)
    greedy = greedy_decode(model, src, lens, max_len=4, bos_id=0, eos_id=1)
    assert greedy.tokens[0].tolist() == [2, 2, 2, 2] and greedy.lengths.tolist() == [4, 4]
    assert math.isclose(float(greedy.scores[0]), math.log(0.6 * 0.4**3))
    beam = beam_search(model, src, lens, beam_width=2, max_len=4, bos_id=0, eos_id=1)
    assert isinstance(beam, BeamSearchResult)
    assert beam.tokens[0, 0, :2].tolist() == [3, 1] and beam.lengths[0, 0] == 2
    assert math.isclose(float(beam.scores[0, 0]), math.log(0.36))
    assert beam.tokens[0, 1].tolist() == [2, 2, 2, 2]                # the runner-up
    assert math.isclose(float(beam.scores[0, 1]), math.log(0.6 * 0.4**3))
    # A strong length reward prefers the long unfinished "a a a a" (0.0384, 4 tokens) to
    # "b <eos>" (0.36, 2 tokens): log(0.0384) / 4**3 > log(0.36) / 2**3.
    long = beam_search(model, src, lens, beam_width=2, max_len=4, bos_id=0, eos_id=1,
                       length_penalty_alpha=3.0, length_penalty_form="power")
    assert long.tokens[0, 0].tolist() == [2, 2, 2, 2]
    assert math.isclose(float(long.normalized_scores[0, 0]), math.log(0.6 * 0.4**3) / 64)


@pytest.mark.parametrize(("kwargs", "match", "greedy_too"), [
    (dict(beam_width=0), "beam_width must be an int >= 1", False),
    (dict(length_penalty_form="wu"), "length_penalty_form must be one of", False),
    (dict(length_penalty_alpha=-1.0), "length_penalty_alpha must be >= 0", False),
    (dict(max_len=0), "max_len must be an int >= 1", True),
    (dict(bos_id=-1), "bos_id must be a non-negative int", True),
    (dict(pad_id=4), "pad_id=4 is outside the model's 4 output classes", True),
])
def test_decoding_bad_input(kwargs, match, greedy_too):
    args = dict(max_len=3, bos_id=0, eos_id=1)
    src, lens = torch.zeros(1, 1, dtype=torch.long), torch.ones(1, dtype=torch.long)
    with pytest.raises(ValueError, match=match):
        beam_search(MarkovModel(), src, lens, **(args | dict(beam_width=2) | kwargs))
    if greedy_too:
        with pytest.raises(ValueError, match=match):
            greedy_decode(MarkovModel(), src, lens, **(args | kwargs))


# ---------------------------------------------------------------------------------------------
# one real training run


def test_bahdanau_learns_to_reverse_strings():
    """300 Adam steps of teacher forcing; held-out strings reversed by greedy decoding."""
    torch.manual_seed(0)
    train = make_reversal(3000, random_state=0, max_len=6, alphabet="abcdef")
    test = make_reversal(300, random_state=1, max_len=6, alphabet="abcdef")
    vocab = Vocab(list(s) for s, _ in train)
    tok = CharTokenizer()
    data = Seq2SeqDataset(train, vocab, vocab, src_tokenizer=tok, tgt_tokenizer=tok)
    model = EncoderDecoder(Seq2SeqEncoder(len(vocab), 16, 32),
                           BahdanauDecoder(len(vocab), 16, 32))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(300):
        batch = data.batch(torch.randint(len(data), (32,), generator=gen).tolist())
        loss = masked_cross_entropy(model(batch.src, batch.src_valid_lens, batch.tgt_in),
                                    batch.tgt_out, batch.tgt_valid_lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.1 * sum(losses[:20]) / 20

    model.eval()
    src, src_valid_lens = pad_batch([vocab.encode(tok(s)) for s, _ in test], vocab.pad_id)
    out = greedy_decode(model, src, src_valid_lens, max_len=7, bos_id=vocab.bos_id,
                        eos_id=vocab.eos_id)
    hyps = [tok.detokenize(vocab.decode(row)) for row in out.tokens]
    assert exact_match(hyps, [t for _, t in test]) >= 0.9
    # Not a theorem for narrow beams, but on a trained model beam search should not lose
    # probability to greedy on any example.
    beam = beam_search(model, src, src_valid_lens, beam_width=3, max_len=7,
                       bos_id=vocab.bos_id, eos_id=vocab.eos_id)
    assert (beam.scores[:, 0] >= out.scores - 1e-6).all()
