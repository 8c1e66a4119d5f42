"""Training throughput of our Transformer against the same network built on ``nn.Transformer``.

Both models get the same embeddings, sinusoidal positions, output projection and starting
weights (ours copies torch's stacks with ``from_torch``), the same batch and the same
optimiser (``torch.optim.Adam``), so the two steps differ only in the layer stacks: ours
are made of :class:`mlnotebook.attention.MultiHeadAttention` and
:class:`mlnotebook.nn.LayerNorm`, torch's of its fused attention and layer-norm kernels.

The two rows show the two regimes on the CPU. At the scale of the date-translation
experiment the matrix products dominate and the two are level. On a tiny model the fixed
cost per operation dominates: our layer norm and our attention are autograd Functions
written in Python (forward and backward are a dozen tensor operations each, against one
fused kernel in torch), and there ours is slower.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from mlnotebook.bench._base import BenchCase, benchmark
from mlnotebook.verify.transformer import paired_transformers

# d_model, nhead, layers (each stack), dim_feedforward, batch, source and target lengths,
# vocabulary
_DATE_SCALE = dict(d_model=128, nhead=8, layers=3, dim_feedforward=512, batch=64, src_len=32,
                   tgt_len=12, vocab=64)
_SMALL = dict(d_model=32, nhead=4, layers=3, dim_feedforward=64, batch=16, src_len=32,
              tgt_len=12, vocab=64)
_QUICK = dict(d_model=16, nhead=2, layers=1, dim_feedforward=32, batch=4, src_len=6,
              tgt_len=5, vocab=11)


def _batch(size: dict, device: str, seed: int = 1):
    """Source, target in and out, and source valid lengths (half to full length)."""
    gen = torch.Generator().manual_seed(seed)
    b, s, t, v = size["batch"], size["src_len"], size["tgt_len"], size["vocab"]
    src = torch.randint(v, (b, s), generator=gen)
    tgt = torch.randint(v, (b, t + 1), generator=gen)
    valid = torch.randint(max(1, s // 2), s + 1, (b,), generator=gen)
    return src.to(device), tgt[:, :-1].to(device), tgt[:, 1:].to(device), valid.to(device)


def _training_case(size: dict, device: str) -> BenchCase:
    ours, ref = paired_transformers(size["vocab"], size["vocab"], d_model=size["d_model"],
                                    nhead=size["nhead"], num_layers=size["layers"],
                                    dim_feedforward=size["dim_feedforward"], dropout=0.1,
                                    device=device)
    src, tgt_in, tgt_out, valid = _batch(size, device)
    padding = torch.arange(src.shape[1], device=device) >= valid[:, None]     # (B, S)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    tokens = src.numel() + tgt_in.numel()
    info = {"d_model": size["d_model"], "heads": size["nhead"], "layers": size["layers"],
            "d_ff": size["dim_feedforward"], "batch": size["batch"],
            "src_len": size["src_len"], "tgt_len": size["tgt_len"], "dropout": 0.1,
            "dtype": "float32", "optimizer": "torch.optim.Adam", "tokens_per_step": tokens,
            "threads": torch.get_num_threads()}

    def step_fn(model, forward, label):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        model.train()
        times: list[float] = []

        def step():
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits = forward()                                                 # (B, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten())
            loss.backward()
            optimizer.step()
            sync()
            times.append(time.perf_counter() - t0)
            # tokens/s from the median step; the first call is the harness's warm-up
            info[f"{label}_tokens_per_s"] = round(tokens / statistics.median(times[1:]
                                                                             or times))
            return loss

        return step

    return BenchCase(step_fn(ours, lambda: ours(src, tgt_in, src_valid_lens=valid), "ours"),
                     step_fn(ref, lambda: ref(src, tgt_in, padding), "reference"),
                     sync=sync, info=info)


@benchmark(topic="transformer", concept="transformer",
           reference="torch.nn.Transformer (+ same embeddings and projection)")
def training_step(device: str = "cpu", quick: bool = False) -> BenchCase:
    """Forward, cross-entropy, backward and Adam step at the date task's scale, float32.

    d_model 128, 8 heads, 3 + 3 layers, d_ff 512, dropout 0.1, batch 64, source 32 and
    target 12 tokens (source padding: valid lengths 16 to 32). ``info`` gives tokens per
    second (source + target tokens of the batch / median step time).
    """
    return _training_case(_QUICK if quick else _DATE_SCALE, device)


@benchmark(topic="transformer", concept="transformer",
           reference="torch.nn.Transformer (+ same embeddings and projection)")
def training_step_small(device: str = "cpu", quick: bool = False) -> BenchCase:
    """The same step on a small model (d_model 32, 4 heads, d_ff 64, batch 16).

    Here the fixed cost per operation dominates, which shows the price of our Python-level
    layer norm and attention.
    """
    return _training_case(_QUICK if quick else _SMALL, device)
