"""Transformer layers, stacks and models: against torch, masks, bad input, training, sampling."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mlnotebook.transformer import (
    PositionwiseFeedForward,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    TransformerLM,
)
from mlnotebook.verify import transformer as ref_checks

TOL = {torch.float64: 1e-12, torch.float32: 2e-5}


# ---------------------------------------------------------------------------------------------
# against torch: every (norm, activation, mask) case of the verify rows, values and gradients


@pytest.mark.parametrize(("name", "differences"), [
    ("encoder layer", ref_checks.encoder_layer_differences),
    ("decoder layer", ref_checks.decoder_layer_differences),
    ("encoder stack", ref_checks.encoder_stack_differences),
    ("decoder stack", ref_checks.decoder_stack_differences),
    ("whole model", ref_checks.transformer_differences),
])
def test_matches_torch_in_float64(name, differences):
    found = differences()
    assert len(found) >= 2
    bad = {case: diff for case, diff in found.items() if not diff <= 1e-12}
    assert not bad, f"{name}: {bad}"


def test_comparison_would_notice_a_wrong_layer():
    """The same harness on a model that is not a copy finds large differences."""
    src = torch.randn(2, 5, 16, dtype=torch.float64)

    def unrelated(ref):
        ours = TransformerEncoderLayer.from_torch(ref)
        ours.norm_first = not ours.norm_first
        return ours

    diff = ref_checks.compare(
        lambda p: nn.TransformerEncoderLayer(16, 4, 24, p, batch_first=True,
                                             dtype=torch.float64),
        unrelated, [src], lambda m, x: m(x), lambda m, x: m(x))
    assert diff > 1e-2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_float32_and_float64(dtype, norm_first):
    torch.manual_seed(0)
    ref = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True,
                                     norm_first=norm_first, dtype=dtype).eval()
    ours = TransformerDecoderLayer.from_torch(ref).eval()
    tgt, memory = torch.randn(2, 5, 16, dtype=dtype), torch.randn(2, 8, 16, dtype=dtype)
    pad = torch.tensor([[False] * 8, [False] * 3 + [True] * 5])
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=dtype)
    with ref_checks.torch_fastpath(False):
        expected = ref(tgt, memory, tgt_mask=causal, memory_key_padding_mask=pad,
                       tgt_is_causal=True)
    got = ours(tgt, memory, tgt_is_causal=True, memory_key_padding_mask=pad)
    torch.testing.assert_close(got, expected, rtol=0, atol=TOL[dtype])


def test_torch_inference_fast_path_agrees_on_valid_positions():
    """torch's nested-tensor fast path (eval, no grad, padding) returns 0 at padding."""
    torch.manual_seed(0)
    ref = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True,
                                                           dtype=torch.float64), 2).eval()
    ours = TransformerEncoder.from_torch(ref).eval()
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    pad = torch.arange(7) >= torch.tensor([7, 4, 2])[:, None]
    with torch.no_grad(), ref_checks.torch_fastpath(True):
        expected = ref(x, src_key_padding_mask=pad)
    got = ours(x, src_key_padding_mask=pad)
    torch.testing.assert_close(got[~pad], expected[~pad], rtol=0, atol=1e-12)
    assert torch.all(expected[pad] == 0)


def test_bool_and_float_masks_mean_the_same():
    torch.manual_seed(0)
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    x = torch.randn(2, 6, 8)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    causal_bool = torch.ones(6, 6, dtype=torch.bool).triu(1)
    float_pad = torch.zeros(2, 6).masked_fill(pad, float("-inf"))
    causal_float = nn.Transformer.generate_square_subsequent_mask(6)
    expected = layer(x, src_mask=causal_bool, src_key_padding_mask=pad)
    for kwargs in ({"src_mask": causal_float, "src_key_padding_mask": pad},
                   {"src_mask": causal_bool, "src_key_padding_mask": float_pad},
                   {"is_causal": True, "src_key_padding_mask": pad}):
        torch.testing.assert_close(layer(x, **kwargs), expected, rtol=0, atol=1e-6)


def test_from_torch_keeps_options_and_clones():
    ref = nn.TransformerEncoderLayer(12, 3, 20, dropout=0.2, activation="gelu",
                                     layer_norm_eps=1e-6, batch_first=True, norm_first=True,
                                     bias=False)
    ours = TransformerEncoderLayer.from_torch(ref)
    assert (ours.nhead, ours.norm_first, ours.norm1.eps, ours.dropout1.p) == (3, True, 1e-6, 0.2)
    assert ours.feed_forward.activation is F.gelu and ours.self_attn.q_proj.bias is None
    with torch.no_grad():
        ref.linear1.weight.add_(1.0)
    assert not torch.equal(ours.feed_forward.linear1.weight, ref.linear1.weight)


def test_stack_layers_are_independent_copies():
    layer = TransformerEncoderLayer(8, 2, 16)
    stack = TransformerEncoder(layer, 3)
    assert len(stack.layers) == 3 and stack.layers[0] is not layer
    with torch.no_grad():
        stack.layers[0].norm1.weight.add_(1.0)
    assert not torch.equal(stack.layers[1].norm1.weight, stack.layers[0].norm1.weight)


# ---------------------------------------------------------------------------------------------
# the models


def _tiny_transformer(**kwargs) -> Transformer:
    torch.manual_seed(0)
    options = dict(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                   dim_feedforward=32, dropout=0.0, max_len=12)
    return Transformer(9, 11, **{**options, **kwargs}).eval()


def test_transformer_padding_and_causality():
    model = _tiny_transformer()
    gen = torch.Generator().manual_seed(1)
    src, tgt = torch.randint(9, (2, 6), generator=gen), torch.randint(11, (2, 5), generator=gen)
    valid = torch.tensor([6, 3])
    logits = model(src, tgt, src_valid_lens=valid)
    # what stands in the padding does not matter
    src_other = src.clone()
    src_other[1, 3:] = (src_other[1, 3:] + 1) % 9
    torch.testing.assert_close(model(src_other, tgt, src_valid_lens=valid), logits)
    # nor does more padding
    longer = torch.cat([src, torch.zeros(2, 4, dtype=src.dtype)], dim=1)
    torch.testing.assert_close(model(longer, tgt, src_valid_lens=valid), logits,
                               rtol=0, atol=1e-5)
    # the logits at position t do not depend on later target tokens
    tgt_other = tgt.clone()
    tgt_other[:, 3:] = (tgt_other[:, 3:] + 1) % 11
    torch.testing.assert_close(model(src, tgt_other, src_valid_lens=valid)[:, :3],
                               logits[:, :3])
    assert not torch.allclose(model(src, tgt_other, src_valid_lens=valid)[:, 3:],
                              logits[:, 3:])
    # decoding prefixes, whole or one token at a time, gives the teacher-forced logits
    state = model.encode(src, valid)
    assert state.memory.shape == (2, 6, 16) and state.prefix.shape == (2, 0)
    for t in range(1, 6):
        torch.testing.assert_close(model.decode(tgt[:, :t], state)[:, -1], logits[:, t - 1],
                                   rtol=0, atol=1e-5)
        step_logits, state = model.decode_step(tgt[:, t - 1], state)
        torch.testing.assert_close(step_logits, logits[:, t - 1], rtol=0, atol=1e-5)
    assert torch.equal(state.prefix, tgt)
    # reordering rows of the state reorders the batch
    swapped = model.reorder_state(state, torch.tensor([1, 0, 1]))
    assert torch.equal(swapped.prefix, tgt[[1, 0, 1]])
    assert torch.equal(swapped.memory_key_padding_mask, state.memory_key_padding_mask[[1, 0, 1]])
    # valid lengths and torch's padding mask are the same thing
    pad = torch.arange(6) >= valid[:, None]
    torch.testing.assert_close(model(src, tgt, src_key_padding_mask=pad), logits)


def test_attention_weights_are_kept_only_when_asked():
    model = _tiny_transformer()
    src, tgt = torch.randint(9, (2, 6)), torch.randint(11, (2, 4))
    valid = torch.tensor([6, 2])
    model(src, tgt, src_valid_lens=valid)
    assert all(w is None for ws in model.all_attention_weights().values() for w in ws)
    assert model.attention_weights is None
    model(src, tgt, src_valid_lens=valid, need_weights=True)
    weights = model.all_attention_weights()
    assert [w.shape for w in weights["encoder"]] == [(2, 2, 6, 6)] * 2
    assert [w.shape for w in weights["decoder_self"]] == [(2, 2, 4, 4)] * 2
    assert [w.shape for w in weights["cross"]] == [(2, 2, 4, 6)] * 2
    cross = weights["cross"][-1]
    assert not cross.requires_grad
    torch.testing.assert_close(cross.sum(-1), torch.ones(2, 2, 4))
    assert torch.all(cross[1, :, :, 2:] == 0)                    # source padding ignored
    assert torch.all(weights["decoder_self"][0].triu(1) == 0)    # no look-ahead
    torch.testing.assert_close(model.attention_weights, cross.mean(1))   # (B, T, S)


def test_tied_output_projection_shares_the_target_embedding():
    model = _tiny_transformer(tie_weights=True)
    assert model.output_projection.weight is model.tgt_embed.embedding.weight
    lm = TransformerLM(10, d_model=8, nhead=2, num_layers=1, dim_feedforward=16)
    assert lm.output_projection.weight is lm.embed.embedding.weight


def test_transformer_overfits_a_tiny_copy_task():
    """60 Adam steps on 32 fixed sequences: the loss falls ~30x and greedy decoding copies.

    Decoding goes through :func:`mlnotebook.seq2seq.greedy_decode` and ``beam_search``,
    which drive the model by ``encode`` / ``decode_step`` / ``reorder_state``.
    """
    from mlnotebook.seq2seq import beam_search, greedy_decode

    gen = torch.Generator().manual_seed(0)
    bos, eos, vocab = 1, 2, 12
    src = torch.randint(3, vocab, (32, 6), generator=gen)
    tgt_in = torch.cat([torch.full((32, 1), bos), src], dim=1)               # (B, 7)
    tgt_out = torch.cat([src, torch.full((32, 1), eos)], dim=1)              # (B, 7)
    torch.manual_seed(0)
    model = Transformer(vocab, vocab, d_model=32, nhead=4, num_encoder_layers=1,
                        num_decoder_layers=1, dim_feedforward=64, dropout=0.0, max_len=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(src, tgt_in).flatten(0, 1), tgt_out.flatten())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0 and losses[-1] < losses[0] / 30, losses[::10]
    model.eval()
    lens = torch.full((32,), 6)
    greedy = greedy_decode(model, src, lens, max_len=10, bos_id=bos, eos_id=eos)
    assert (greedy.tokens[:, :7] == tgt_out).all(dim=1).float().mean() > 0.9
    assert greedy.attention.shape == (32, greedy.tokens.shape[1], 6)
    beams = beam_search(model, src[:4], lens[:4], beam_width=3, max_len=10, bos_id=bos,
                        eos_id=eos)
    assert torch.equal(beams.tokens[:, 0, :7], greedy.tokens[:4, :7])


def test_language_model_is_causal_and_generates_reproducibly():
    torch.manual_seed(0)
    lm = TransformerLM(20, d_model=16, nhead=2, num_layers=2, dim_feedforward=32,
                       max_len=8)
    tokens = torch.randint(20, (2, 6))
    lm.eval()
    logits = lm(tokens)
    assert logits.shape == (2, 6, 20)
    other = tokens.clone()
    other[:, 4:] = (other[:, 4:] + 1) % 20
    torch.testing.assert_close(lm(other)[:, :4], logits[:, :4])
    lm.train()
    prompt = tokens[:, :3]

    def sample(seed, **kwargs):
        return lm.generate(prompt, 10, generator=torch.Generator().manual_seed(seed), **kwargs)

    first = sample(0, temperature=1.5)
    assert first.shape == (2, 13) and torch.equal(first[:, :3], prompt)
    assert lm.training                                       # the mode is restored
    assert torch.equal(sample(0, temperature=1.5), first)
    assert not torch.equal(sample(1, temperature=1.5), first)
    # top_k=1 and temperature=0 are both greedy; greedy ignores the generator
    assert torch.equal(sample(0, top_k=1), sample(5, temperature=0.0))
    # past max_len the context slides: generation keeps going
    assert lm.generate(tokens, 5, temperature=0.0).shape == (2, 11)
    # with top_k, every sampled token is one of the k most likely
    lm.eval()
    with torch.no_grad():
        allowed = lm(prompt)[:, -1].topk(3).indices                            # (B, 3)
    nxt = lm.generate(prompt, 1, top_k=3, generator=torch.Generator().manual_seed(2))[:, -1]
    assert all(nxt[i] in allowed[i] for i in range(2))


def test_feed_forward_is_per_position():
    ffn = PositionwiseFeedForward(8, 16, dropout=0.0)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(ffn(x)[:, 2], ffn(x[:, 2:3])[:, 0])


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"d_model": 10, "nhead": 3}, ValueError, r"d_model=10 must be divisible by nhead=3"),
    ({"d_model": 8, "nhead": 0}, ValueError, "nhead must be a positive int"),
    ({"d_model": 8, "nhead": 2, "dim_feedforward": 0}, ValueError, "dim_feedforward"),
    ({"d_model": 8, "nhead": 2, "dropout": 1.0}, ValueError, "dropout must be"),
    ({"d_model": 8, "nhead": 2, "activation": "tanh"}, ValueError, "activation must be"),
    ({"d_model": 8, "nhead": 2, "layer_norm_eps": 0.0}, ValueError, "layer_norm_eps"),
    ({"d_model": 8, "nhead": 2, "batch_first": False}, ValueError, "batch_first must be True"),
])
@pytest.mark.parametrize("cls", [TransformerEncoderLayer, TransformerDecoderLayer])
def test_bad_constructor_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match=r"d_model=10 must be divisible by nhead=4"):
        Transformer(5, 5, d_model=10, nhead=4)
    with pytest.raises(ValueError, match="max_len must be a positive int"):
        Transformer(5, 5, d_model=8, nhead=2, max_len=0)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        TransformerLM(5, d_model=8, nhead=2, num_layers=0)
    with pytest.raises(TypeError, match="must be a TransformerEncoderLayer"):
        TransformerEncoder(nn.TransformerEncoderLayer(8, 2, batch_first=True), 2)
    with pytest.raises(ValueError, match="batch_first=True"):
        TransformerEncoderLayer.from_torch(nn.TransformerEncoderLayer(8, 2))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"src_mask": torch.zeros(5, 5, dtype=torch.bool)}, r"src_mask must have shape \(L, S\)"),
    ({"src_mask": torch.zeros(3, 6, 6, dtype=torch.bool)}, r"src_mask must have shape"),
    ({"src_key_padding_mask": torch.zeros(2, 5, dtype=torch.bool)},
     r"src_key_padding_mask must have shape \(B, S\) = \(2, 6\)"),
    ({"src_key_padding_mask": torch.zeros(3, 6, dtype=torch.bool)},
     "src_key_padding_mask must have shape"),
])
def test_wrong_encoder_mask_shapes_are_named(kwargs, match):
    layer = TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=match):
        layer(torch.randn(2, 6, 8), **kwargs)
    stack_kwargs = {("mask" if k == "src_mask" else k): v for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=match.replace("src_mask", "mask")):
        TransformerEncoder(layer, 2)(torch.randn(2, 6, 8), **stack_kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"tgt_mask": torch.zeros(5, 5)}, r"tgt_mask must have shape \(L, S\) = \(4, 4\)"),
    ({"memory_mask": torch.zeros(4, 4)}, r"memory_mask must have shape \(L, S\) = \(4, 7\)"),
    ({"tgt_key_padding_mask": torch.zeros(2, 7, dtype=torch.bool)}, "tgt_key_padding_mask"),
    ({"memory_key_padding_mask": torch.zeros(2, 4, dtype=torch.bool)},
     r"memory_key_padding_mask must have shape \(B, S\) = \(2, 7\)"),
    ({"memory_key_padding_mask": torch.zeros(2, 7, dtype=torch.long)},
     "memory_key_padding_mask must be bool"),
])
def test_wrong_decoder_mask_shapes_are_named(kwargs, match):
    layer = TransformerDecoderLayer(8, 2, 16)
    for module in (layer, TransformerDecoder(layer, 2)):
        with pytest.raises((ValueError, TypeError), match=match):
            module(torch.randn(2, 4, 8), torch.randn(2, 7, 8), **kwargs)


def test_bad_layer_inputs():
    layer = TransformerDecoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=r"tgt must have shape \(batch, length, d_model=8\)"):
        layer(torch.randn(2, 4, 6), torch.randn(2, 7, 8))
    with pytest.raises(ValueError, match="memory has batch size 3, expected 2"):
        layer(torch.randn(2, 4, 8), torch.randn(3, 7, 8))
    with pytest.raises(ValueError, match="src is empty"):
        TransformerEncoderLayer(8, 2, 16)(torch.randn(2, 0, 8))
    with pytest.raises(TypeError, match="floating-point"):
        TransformerEncoderLayer(8, 2, 16)(torch.ones(2, 3, 8, dtype=torch.long))


def test_bad_model_inputs():
    model = _tiny_transformer()                       # vocabularies 9 and 11, max_len 12
    src, tgt = torch.randint(9, (2, 6)), torch.randint(11, (2, 4))
    with pytest.raises(ValueError, match="src has length 13, longer than the model's max_len=12"):
        model(torch.randint(9, (2, 13)), tgt)
    with pytest.raises(ValueError, match="tgt_in has length 13"):
        model(src, torch.randint(11, (2, 13)))
    with pytest.raises(ValueError, match="src is empty"):
        model(torch.zeros(2, 0, dtype=torch.long), tgt)
    with pytest.raises(ValueError, match="tgt_in is empty"):
        model(src, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"src_valid_lens must lie in \[1, 6\].*empty"):
        model(src, tgt, src_valid_lens=torch.tensor([6, 0]))
    with pytest.raises(ValueError, match=r"src_valid_lens must have shape \(B,\)"):
        model(src, tgt, src_valid_lens=torch.tensor([6, 3, 2]))
    with pytest.raises(ValueError, match="not both"):
        model(src, tgt, src_valid_lens=torch.tensor([6, 3]),
              src_key_padding_mask=torch.zeros(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"tgt_in holds ids outside \[0, 11\)"):
        model(src, torch.full((2, 4), 11))
    with pytest.raises(TypeError, match="src must hold integer token ids"):
        model(src.float(), tgt)
    with pytest.raises(ValueError, match=r"src must have shape \(batch, length\)"):
        model(src[0], tgt)
    lm = TransformerLM(10, d_model=8, nhead=2, num_layers=1, dim_feedforward=16, max_len=4)
    with pytest.raises(ValueError, match="tokens has length 5, longer than the model's max_len=4"):
        lm(torch.zeros(1, 5, dtype=torch.long))
    prompt = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature must be"):
        lm.generate(prompt, 3, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        lm.generate(prompt, 3, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens must be"):
        lm.generate(prompt, -1)
    with pytest.raises(ValueError, match="prompt is empty"):
        lm.generate(torch.zeros(1, 0, dtype=torch.long), 3)
