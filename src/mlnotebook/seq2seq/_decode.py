"""Generating with an encoder-decoder: greedy decoding and beam search, batched.

Both functions work with any model that offers the decoding protocol

.. code-block:: text

    state         = model.encode(src, src_valid_lens)   # initial decoder state, batch B
    logits, state = model.decode_step(tokens, state)    # tokens (B,) -> logits (B, V)
    state         = model.reorder_state(state, index)   # rows ``index`` (B',) of the batch

(:class:`mlnotebook.seq2seq.EncoderDecoder` does). Only the loop over time steps is in
Python; examples and beams move together as one batch. Both run under ``torch.no_grad()``
and leave the model's train/eval mode alone: call ``model.eval()`` first.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

_FORMS = ("gnmt", "power")


class DecodeResult(NamedTuple):
    """Greedy output: one sequence per example."""

    tokens: torch.Tensor             # (B, L) long; after <eos>, pad_id
    lengths: torch.Tensor            # (B,) tokens generated, <eos> included
    scores: torch.Tensor             # (B,) log-probability of tokens[:lengths] under the model
    attention: torch.Tensor | None   # (B, L, S) the model's attention weights, if it keeps any


class BeamSearchResult(NamedTuple):
    """Beam search output: ``beam_width`` sequences per example, best first."""

    tokens: torch.Tensor             # (B, K, L) long; after <eos>, pad_id
    lengths: torch.Tensor            # (B, K) tokens generated, <eos> included
    scores: torch.Tensor             # (B, K) log-probabilities (sum over tokens)
    normalized_scores: torch.Tensor  # (B, K) scores / length penalty, the ranking key


def _check_ids_fit(vocab_size: int, **ids) -> None:
    for name, value in ids.items():
        if value >= vocab_size:
            raise ValueError(f"{name}={value} is outside the model's {vocab_size} output classes")


def _check_common(max_len, bos_id, eos_id, pad_id) -> None:
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, src_valid_lens: torch.Tensor, *, max_len: int,
                  bos_id: int, eos_id: int, pad_id: int | None = None) -> DecodeResult:
    """Emit the most probable next token at each step, until <eos> or ``max_len`` tokens.

    Parameters
    ----------
    model
        An encoder-decoder with ``encode``, ``decode_step`` and ``reorder_state``.
    src : LongTensor of shape (B, S)
    src_valid_lens : LongTensor of shape (B,)
    max_len : int
        Most tokens generated per sequence, <eos> included.
    bos_id, eos_id : int
    pad_id : int, optional
        Written after a sequence's <eos>; default ``eos_id``.

    Returns
    -------
    DecodeResult
        ``tokens`` (B, L) with ``L <= max_len`` (the loop stops once every sequence has
        ended), ``lengths``, ``scores`` (sum of log-probabilities of the emitted tokens,
        <eos> included) and ``attention`` (B, L, S): the model's ``attention_weights`` after
        the last step if it has any, else None.
    """
    pad_id = eos_id if pad_id is None else pad_id
    _check_common(max_len, bos_id, eos_id, pad_id)
    state = model.encode(src, src_valid_lens)
    B = src.shape[0]
    tokens = torch.full((B,), bos_id, dtype=torch.long, device=src.device)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(B, dtype=torch.long, device=src.device)
    scores, out = None, []
    for _ in range(max_len):
        logits, state = model.decode_step(tokens, state)           # (B, V)
        if scores is None:
            _check_ids_fit(logits.shape[-1], bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
            scores = logits.new_zeros(B)
        best, tokens = torch.log_softmax(logits, dim=-1).max(dim=-1)
        scores = scores + best.masked_fill(finished, 0.0)
        tokens = tokens.masked_fill(finished, pad_id)
        lengths += ~finished
        finished |= tokens == eos_id
        out.append(tokens)
        if bool(finished.all()):
            break
    attention = getattr(model, "attention_weights", None)
    return DecodeResult(torch.stack(out, dim=1), lengths, scores, attention)


def length_penalty(lengths: torch.Tensor, alpha: float, form: str = "gnmt") -> torch.Tensor:
    """The divisor of a hypothesis' log-probability in beam search.

    ``"gnmt"``: ``((5 + len) / 6) ** alpha`` (Wu et al. 2016); ``"power"``: ``len ** alpha``.
    ``alpha = 0`` gives 1 (raw log-probabilities); larger alpha favours longer outputs.
    ``lengths`` count generated tokens, <eos> included. Returns float64, shape of ``lengths``.
    """
    lengths = lengths.to(torch.float64)
    if form == "gnmt":
        return ((5.0 + lengths) / 6.0) ** alpha
    if form == "power":
        return lengths.clamp_min(1.0) ** alpha
    raise ValueError(f"length_penalty_form must be one of {_FORMS}, got {form!r}")


@torch.no_grad()
def beam_search(model, src: torch.Tensor, src_valid_lens: torch.Tensor, *, beam_width: int,
                max_len: int, bos_id: int, eos_id: int, pad_id: int | None = None,
                length_penalty_alpha: float = 0.0,
                length_penalty_form: str = "gnmt") -> BeamSearchResult:
    r"""Keep the ``beam_width`` best hypotheses per example at every step.

    .. code-block:: text

        beams = {<bos>} per example (score 0)
        each step, for every beam b and token v:
            candidate score  = score_b + log p(v | beam b)      (finished beams: only
                                                                 themselves, at no cost)
            ranking key      = candidate score / lp(length)
        keep the K candidates with the largest key; stop when every beam has ended
        (emitted <eos>) or after max_len tokens; report beams sorted by the key

    Parameters
    ----------
    model
        An encoder-decoder with ``encode``, ``decode_step`` and ``reorder_state``.
    src : LongTensor of shape (B, S)
    src_valid_lens : LongTensor of shape (B,)
    beam_width : int
        K >= 1. ``K = 1`` is greedy decoding.
    max_len : int
        Most tokens generated per hypothesis, <eos> included.
    bos_id, eos_id : int
    pad_id : int, optional
        Written after a hypothesis' <eos>; default ``eos_id``.
    length_penalty_alpha : float, default=0.0
        Length normalisation; 0 ranks by raw log-probability, which favours short outputs.
    length_penalty_form : {"gnmt", "power"}, default="gnmt"
        ``lp(len) = ((5 + len) / 6) ** alpha`` (Wu et al., GNMT) or ``len ** alpha``; see
        :func:`length_penalty`.

    Returns
    -------
    BeamSearchResult
        ``tokens`` (B, K, L), ``lengths`` (B, K), ``scores`` (B, K) (log-probability of
        ``tokens[b, k, :lengths[b, k]]``) and ``normalized_scores`` (B, K), sorted so that
        ``[:, 0]`` is the best hypothesis of each example.

    Notes
    -----
    Finished hypotheses stay in the beam and compete with open ones on the ranking key, the
    open ones normalised by their current length. All B * K hypotheses run as one batch of
    the model: the state is repeated K times per example, and after each step
    ``reorder_state`` gathers the rows of the beams that survived. Beam search is a
    heuristic: with ``K`` at least the number of possible prefixes it is exhaustive, and
    otherwise it can miss the most probable sequence.
    """
    pad_id = eos_id if pad_id is None else pad_id
    _check_common(max_len, bos_id, eos_id, pad_id)
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be an int >= 1, got {beam_width!r}")
    if length_penalty_form not in _FORMS:
        raise ValueError(f"length_penalty_form must be one of {_FORMS}, got "
                         f"{length_penalty_form!r}")
    if not length_penalty_alpha >= 0:
        raise ValueError(f"length_penalty_alpha must be >= 0, got {length_penalty_alpha!r}")
    B, K, device = src.shape[0], beam_width, src.device
    rows = torch.arange(B, device=device)
    state = model.encode(src, src_valid_lens)
    state = model.reorder_state(state, rows.repeat_interleave(K))  # (B*K) rows, K per example

    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=device)
    scores = None
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B, K, dtype=torch.long, device=device)
    history = torch.empty(B, K, 0, dtype=torch.long, device=device)
    for _ in range(max_len):
        logits, state = model.decode_step(tokens, state)           # (B*K, V)
        V = logits.shape[-1]
        logp = torch.log_softmax(logits, dim=-1).view(B, K, V)
        if scores is None:                  # one live beam at the start; the rest are empty
            _check_ids_fit(V, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
            scores = torch.full((B, K), float("-inf"), dtype=logp.dtype, device=device)
            scores[:, 0] = 0.0
        # A finished hypothesis has one continuation, itself (token pad_id), at no cost.
        stay = torch.full((V,), float("-inf"), dtype=logp.dtype, device=device)
        stay[pad_id] = 0.0
        logp = torch.where(finished[..., None], stay, logp)
        candidates = scores[..., None] + logp                     # (B, K, V)
        new_lengths = lengths + (~finished)                       # (B, K)
        keys = candidates / length_penalty(new_lengths, length_penalty_alpha,
                                           length_penalty_form)[..., None].to(scores.dtype)
        _, flat = keys.view(B, K * V).topk(K, dim=-1)             # (B, K) into K*V
        origin, token = flat // V, flat % V                       # beam it extends, new token
        scores = candidates.view(B, K * V).gather(1, flat)
        lengths = new_lengths.gather(1, origin)
        finished = finished.gather(1, origin) | (token == eos_id) | torch.isinf(scores)
        history = torch.cat([history.gather(1, origin[..., None].expand(-1, -1,
                                                                         history.shape[2])),
                             token[..., None]], dim=2)             # (B, K, t)
        state = model.reorder_state(state, (origin + rows[:, None] * K).view(-1))
        tokens = token.view(-1)
        if bool(finished.all()):
            break
    normalized = scores / length_penalty(lengths, length_penalty_alpha,
                                         length_penalty_form).to(scores.dtype)
    order = normalized.argsort(dim=1, descending=True, stable=True)   # (B, K)
    return BeamSearchResult(history.gather(1, order[..., None].expand_as(history)),
                            lengths.gather(1, order), scores.gather(1, order),
                            normalized.gather(1, order))
