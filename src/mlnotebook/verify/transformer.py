"""Transformer layers, stacks and the whole model against ``torch.nn.Transformer*``, float64.

Every case builds torch's module (batch first), perturbs all its weights with seeded noise
(torch's stacks start from identical copies of one layer, which would hide a mix-up of
layers, and its layer norms start at weight 1, bias 0), copies it with ``from_torch`` and
compares, on the same inputs:

- the outputs in evaluation mode (dropout 0.1 inactive), with torch's inference fast path
  switched off (``torch.backends.mha.set_fastpath_enabled(False)``) so torch runs its
  ordinary path on every position;
- the outputs and the gradients with respect to the inputs and every weight in training
  mode with dropout 0.

A case's number is the largest absolute difference over all of these. No query in these
cases has all of its keys masked (torch gives NaN there, ours zeros).
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings

import torch
from torch import nn

from mlnotebook.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from mlnotebook.verify._base import check

DTYPE = torch.float64
D_MODEL, NHEAD, D_FF = 16, 4, 24
BATCH, SRC_LEN, TGT_LEN = 3, 7, 5

# (norm_first, activation): post- and pre-norm, each with relu and gelu
VARIANTS = [(False, "relu"), (False, "gelu"), (True, "relu"), (True, "gelu")]


@contextlib.contextmanager
def torch_fastpath(enabled: bool):
    """Switch torch's inference fast path for transformer layers on or off, then restore it.

    Also silences torch's warnings about mixing bool and float masks (the cases do that on
    purpose) and about the nested tensors of its fast path.
    """
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Support for mismatched",
                                    category=UserWarning)
            warnings.filterwarnings("ignore", message=".*nested tensor", category=UserWarning)
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def seeded(build, seed: int):
    """``build()`` with torch's global generator seeded, which is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def randomise_(module: nn.Module, seed: int) -> nn.Module:
    """Add seeded noise to every parameter (0.1 for norms and biases, else 0.3 / sqrt(fan-in))."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            scale = 0.3 / math.sqrt(p.shape[-1]) if p.dim() > 1 else 0.1
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def our_grad(ours: nn.Module, torch_name: str) -> torch.Tensor | None:
    """Our gradient for torch's parameter ``torch_name``, in torch's layout.

    Torch packs the query, key and value projections into ``in_proj_weight`` (3d, d) and
    ``in_proj_bias`` (3d,); ours keeps ``q_proj``, ``k_proj``, ``v_proj``. Torch's FFN
    weights ``linear1``/``linear2`` sit in our ``feed_forward``.
    """
    prefix, _, last = torch_name.rpartition(".")
    if last in ("in_proj_weight", "in_proj_bias"):
        attention = ours.get_submodule(prefix)
        kind = last.removeprefix("in_proj_")
        grads = [getattr(getattr(attention, f"{p}_proj"), kind).grad for p in "qkv"]
        return None if grads[0] is None else torch.cat(grads)                 # (3d, ...)
    for ffn in ("linear1", "linear2"):
        torch_name = torch_name.replace(f"{ffn}.", f"feed_forward.{ffn}.")
    return ours.get_parameter(torch_name).grad


def _max_diff(pairs) -> float:
    return max((float((a - b).abs().max()) for a, b in pairs), default=0.0)


def compare(build_torch, to_ours, inputs: list[torch.Tensor], ours_call, torch_call,
            seed: int = 0) -> float:
    """Largest |ours - torch| over eval outputs and train-mode outputs and gradients.

    ``build_torch(dropout)`` makes torch's module, ``to_ours`` copies it; ``ours_call`` and
    ``torch_call`` map (module, *inputs) to the output tensor.
    """
    diffs = []
    with torch_fastpath(False):
        ref = randomise_(seeded(lambda: build_torch(0.1), seed), seed).eval()
        ours = to_ours(ref).eval()
        with torch.no_grad():
            diffs.append(_max_diff([(ours_call(ours, *inputs), torch_call(ref, *inputs))]))
        ref = randomise_(seeded(lambda: build_torch(0.0), seed), seed).train()
        ours = to_ours(ref).train()
        weight = torch.randn(torch_call(ref, *inputs).shape, dtype=DTYPE,
                             generator=torch.Generator().manual_seed(seed + 1))
        grads = {}
        for name, module, call in (("ours", ours, ours_call), ("torch", ref, torch_call)):
            leaves = [t.detach().clone().requires_grad_() for t in inputs]
            out = call(module, *leaves)
            (out * weight).sum().backward()
            grads[name] = [out.detach()] + [t.grad for t in leaves]
        pairs = list(zip(grads["ours"], grads["torch"], strict=True))
        pairs += [(our_grad(ours, name), p.grad) for name, p in ref.named_parameters()]
        diffs.append(_max_diff(pairs))
    return max(diffs)


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DTYPE)


def _padding(lengths: list[int], total: int) -> torch.Tensor:
    """Bool (B, total), True at padding (torch's convention)."""
    return torch.arange(total) >= torch.tensor(lengths)[:, None]


def causal_float(length: int) -> torch.Tensor:
    return nn.Transformer.generate_square_subsequent_mask(length, dtype=DTYPE)


def encoder_mask_cases(gen: torch.Generator) -> dict[str, dict]:
    """name: keyword arguments of an encoder (layer) call, in torch's mask convention."""
    random_bool = torch.rand(BATCH * NHEAD, SRC_LEN, SRC_LEN, generator=gen) < 0.4
    random_bool.diagonal(dim1=1, dim2=2).fill_(False)              # every query keeps a key
    return {
        "no mask": {},
        "key padding": {"src_key_padding_mask": _padding([7, 4, 6], SRC_LEN)},
        "causal (float mask + is_causal) + padding": {
            "src_mask": causal_float(SRC_LEN), "is_causal": True,
            "src_key_padding_mask": _padding([7, 5, 2], SRC_LEN)},
        "bool (B * H, L, L) mask": {"src_mask": random_bool},
        "float (L, L) mask": {"src_mask": _randn(gen, SRC_LEN, SRC_LEN)},
    }


def decoder_mask_cases(gen: torch.Generator) -> dict[str, dict]:
    """name: keyword arguments of a decoder (layer) call, in torch's mask convention."""
    memory_bool = torch.rand(TGT_LEN, SRC_LEN, generator=gen) < 0.4
    memory_bool[:, 0] = False
    return {
        "causal": {"tgt_mask": causal_float(TGT_LEN), "tgt_is_causal": True},
        "causal + target and memory padding": {
            "tgt_mask": causal_float(TGT_LEN), "tgt_is_causal": True,
            "tgt_key_padding_mask": _padding([5, 3, 4], TGT_LEN),
            "memory_key_padding_mask": _padding([7, 4, 2], SRC_LEN)},
        "float tgt_mask + bool memory_mask": {"tgt_mask": _randn(gen, TGT_LEN, TGT_LEN),
                                              "memory_mask": memory_bool},
    }


def _label(norm_first: bool, activation: str, mask: str) -> str:
    return f"{'pre' if norm_first else 'post'}-norm, {activation}, {mask}"


def _layer_kwargs(norm_first, activation, dropout) -> dict:
    return dict(d_model=D_MODEL, nhead=NHEAD, dim_feedforward=D_FF, dropout=dropout,
                activation=activation, norm_first=norm_first, batch_first=True, dtype=DTYPE)


def encoder_layer_differences(variants=VARIANTS) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    src = _randn(gen, BATCH, SRC_LEN, D_MODEL)
    found = {}
    for norm_first, activation in variants:
        for mask, kwargs in encoder_mask_cases(gen).items():
            found[_label(norm_first, activation, mask)] = compare(
                lambda p, nf=norm_first, a=activation: nn.TransformerEncoderLayer(
                    **_layer_kwargs(nf, a, p)),
                TransformerEncoderLayer.from_torch, [src],
                lambda m, x, kw=kwargs: m(x, **kw), lambda m, x, kw=kwargs: m(x, **kw))
    return found


def decoder_layer_differences(variants=VARIANTS) -> dict[str, float]:
    gen = torch.Generator().manual_seed(1)
    tgt, memory = _randn(gen, BATCH, TGT_LEN, D_MODEL), _randn(gen, BATCH, SRC_LEN, D_MODEL)
    found = {}
    for norm_first, activation in variants:
        for mask, kwargs in decoder_mask_cases(gen).items():
            found[_label(norm_first, activation, mask)] = compare(
                lambda p, nf=norm_first, a=activation: nn.TransformerDecoderLayer(
                    **_layer_kwargs(nf, a, p)),
                TransformerDecoderLayer.from_torch, [tgt, memory],
                lambda m, t, s, kw=kwargs: m(t, s, **kw),
                lambda m, t, s, kw=kwargs: m(t, s, **kw))
    return found


def _final_norm(norm_first: bool):
    return nn.LayerNorm(D_MODEL, dtype=DTYPE) if norm_first else None


def encoder_stack_differences(num_layers: int = 3) -> dict[str, float]:
    gen = torch.Generator().manual_seed(2)
    src = _randn(gen, BATCH, SRC_LEN, D_MODEL)
    cases = encoder_mask_cases(gen)
    found = {}
    for norm_first, activation in ((False, "relu"), (True, "gelu")):
        for mask in ("key padding", "causal (float mask + is_causal) + padding"):
            kwargs = {("mask" if k == "src_mask" else k): v for k, v in cases[mask].items()}
            found[_label(norm_first, activation, mask)] = compare(
                lambda p, nf=norm_first, a=activation: nn.TransformerEncoder(
                    nn.TransformerEncoderLayer(**_layer_kwargs(nf, a, p)), num_layers,
                    norm=_final_norm(nf), enable_nested_tensor=False),
                TransformerEncoder.from_torch, [src],
                lambda m, x, kw=kwargs: m(x, **kw), lambda m, x, kw=kwargs: m(x, **kw))
    return found


def decoder_stack_differences(num_layers: int = 3) -> dict[str, float]:
    gen = torch.Generator().manual_seed(3)
    tgt, memory = _randn(gen, BATCH, TGT_LEN, D_MODEL), _randn(gen, BATCH, SRC_LEN, D_MODEL)
    cases = decoder_mask_cases(gen)
    found = {}
    for norm_first, activation in ((False, "relu"), (True, "gelu")):
        for mask in ("causal + target and memory padding", "float tgt_mask + bool memory_mask"):
            kwargs = cases[mask]
            found[_label(norm_first, activation, mask)] = compare(
                lambda p, nf=norm_first, a=activation: nn.TransformerDecoder(
                    nn.TransformerDecoderLayer(**_layer_kwargs(nf, a, p)), num_layers,
                    norm=_final_norm(nf)),
                TransformerDecoder.from_torch, [tgt, memory],
                lambda m, t, s, kw=kwargs: m(t, s, **kw),
                lambda m, t, s, kw=kwargs: m(t, s, **kw))
    return found


class TorchTransformer(nn.Module):
    """``torch.nn.Transformer`` between copies of our model's embeddings and projection.

    ``ours`` is a :class:`~mlnotebook.transformer.Transformer` built with
    ``final_norm=True`` (torch's stacks always end in a layer norm). Its embedding modules
    (token embedding, sqrt(d_model) scale, sinusoidal positions and their dropout) and
    output projection are deep-copied, so the two networks differ only in their stacks;
    :func:`paired_transformers` then copies torch's stacks into ours.
    """

    def __init__(self, ours: Transformer, nhead: int, num_encoder_layers: int,
                 num_decoder_layers: int, dim_feedforward: int, dropout: float,
                 norm_first: bool = False, activation: str = "relu"):
        super().__init__()
        self.src_embed = copy.deepcopy(ours.src_embed)
        self.tgt_embed = copy.deepcopy(ours.tgt_embed)
        weight = ours.output_projection.weight
        self.transformer = nn.Transformer(
            ours.d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
            dropout, activation, batch_first=True, norm_first=norm_first,
            device=weight.device, dtype=weight.dtype)
        self.output_projection = copy.deepcopy(ours.output_projection)

    def forward(self, src, tgt_in, src_key_padding_mask=None):
        causal = nn.Transformer.generate_square_subsequent_mask(
            tgt_in.shape[1], device=src.device, dtype=self.output_projection.weight.dtype)
        h = self.transformer(self.src_embed(src, "src"), self.tgt_embed(tgt_in, "tgt_in"),
                             tgt_mask=causal, src_key_padding_mask=src_key_padding_mask,
                             memory_key_padding_mask=src_key_padding_mask,
                             tgt_is_causal=True)                               # (B, T, d)
        return self.output_projection(h)                                       # (B, T, V)


def paired_transformers(src_vocab: int, tgt_vocab: int, *, d_model: int, nhead: int,
                        num_layers: int, dim_feedforward: int, dropout: float,
                        norm_first: bool = False, activation: str = "relu", device=None,
                        dtype=None, seed: int = 0) -> tuple[Transformer, TorchTransformer]:
    """(ours, torch's): the same network with the same starting weights."""
    def build():
        ours = Transformer(src_vocab, tgt_vocab, d_model=d_model, nhead=nhead,
                           num_encoder_layers=num_layers, num_decoder_layers=num_layers,
                           dim_feedforward=dim_feedforward, dropout=dropout,
                           activation=activation, norm_first=norm_first, final_norm=True,
                           device=device, dtype=dtype)
        return ours, TorchTransformer(ours, nhead, num_layers, num_layers, dim_feedforward,
                                      dropout, norm_first, activation)

    with warnings.catch_warnings():     # torch: no nested tensors with norm_first=True
        warnings.filterwarnings("ignore", message="enable_nested_tensor", category=UserWarning)
        ours, ref = seeded(build, seed)
    ours.encoder = TransformerEncoder.from_torch(ref.transformer.encoder)
    ours.decoder = TransformerDecoder.from_torch(ref.transformer.decoder)
    return ours, ref


def transformer_differences() -> dict[str, float]:
    """Logits and every gradient of the whole model, with source padding, 2 + 2 layers."""
    gen = torch.Generator().manual_seed(4)
    src = torch.randint(11, (BATCH, SRC_LEN), generator=gen)
    tgt_in = torch.randint(13, (BATCH, TGT_LEN), generator=gen)
    valid = torch.tensor([7, 3, 5])
    found = {}
    for norm_first, activation in ((False, "relu"), (True, "gelu")):
        grads = {}
        ours, ref = paired_transformers(11, 13, d_model=D_MODEL, nhead=NHEAD, num_layers=2,
                                        dim_feedforward=D_FF, dropout=0.0,
                                        norm_first=norm_first, activation=activation,
                                        dtype=DTYPE)
        randomise_(ref.transformer, seed=5)
        ours.encoder = TransformerEncoder.from_torch(ref.transformer.encoder)
        ours.decoder = TransformerDecoder.from_torch(ref.transformer.decoder)
        weight = _randn(gen, BATCH, TGT_LEN, 13)
        with torch_fastpath(False):
            for name, out in (("ours", ours(src, tgt_in, src_valid_lens=valid)),
                              ("torch", ref(src, tgt_in, _padding(valid.tolist(), SRC_LEN)))):
                (out * weight).sum().backward()
                grads[name] = out.detach()
        pairs = [(grads["ours"], grads["torch"])]
        pairs += [(our_grad(ours.encoder, n.removeprefix("encoder.")), p.grad)
                  for n, p in ref.transformer.named_parameters() if n.startswith("encoder.")]
        pairs += [(our_grad(ours.decoder, n.removeprefix("decoder.")), p.grad)
                  for n, p in ref.transformer.named_parameters() if n.startswith("decoder.")]
        for part in ("src_embed", "tgt_embed", "output_projection"):
            pairs += [(p.grad, q.grad) for p, q in zip(getattr(ours, part).parameters(),
                                                       getattr(ref, part).parameters(),
                                                       strict=True)]
        found[f"{'pre' if norm_first else 'post'}-norm, {activation}"] = _max_diff(pairs)
    return found


@check(topic="transformer", concept="transformer-encoder",
       reference="torch.nn.TransformerEncoderLayer", tolerance=1e-12)
def encoder_layer_matches_torch():
    """Post/pre-norm x relu/gelu x masks: eval outputs, train outputs and gradients."""
    return encoder_layer_differences()


@check(topic="transformer", concept="transformer-decoder",
       reference="torch.nn.TransformerDecoderLayer", tolerance=1e-12)
def decoder_layer_matches_torch():
    """Post/pre-norm x relu/gelu x (causal, padding, float and bool masks)."""
    return decoder_layer_differences()


@check(topic="transformer", concept="transformer-encoder",
       reference="torch.nn.TransformerEncoder", tolerance=1e-12)
def encoder_stack_matches_torch():
    """3 layers with different weights; pre-norm with a final LayerNorm."""
    return encoder_stack_differences()


@check(topic="transformer", concept="transformer-decoder",
       reference="torch.nn.TransformerDecoder", tolerance=1e-12)
def decoder_stack_matches_torch():
    """3 layers with different weights; pre-norm with a final LayerNorm."""
    return decoder_stack_differences()


@check(topic="transformer", concept="transformer",
       reference="torch.nn.Transformer (+ same embeddings and projection)", tolerance=1e-12)
def transformer_matches_torch():
    """Whole model, logits and every gradient, source padding via src_valid_lens."""
    return transformer_differences()
