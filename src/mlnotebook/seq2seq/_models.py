"""Recurrent encoder-decoders: one context vector (Sutskever/Cho) or Bahdanau attention.

Every model here speaks the decoding protocol of :mod:`mlnotebook.seq2seq._decode`:

.. code-block:: text

    state          = model.encode(src, src_valid_lens)      # once per source batch
    logits, state  = model.decode_step(tokens, state)       # tokens (B,) -> logits (B, V)
    state          = model.reorder_state(state, index)      # pick / repeat batch rows

and trains with teacher forcing through ``model(src, src_valid_lens, tgt_in)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mlnotebook.attention import AdditiveAttention, lengths_to_mask, masked_softmax

_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}

Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor]   # GRU h, or LSTM (h, c)


def _check_positive(**sizes) -> None:
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be a positive int, got {size!r}")


def _check_rnn_args(cell: str, dropout: float) -> None:
    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")


def _check_tokens(tokens, name: str) -> None:
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2:
        raise ValueError(f"{name} must be a (B, L) tensor of token ids, got "
                         f"{getattr(tokens, 'shape', type(tokens).__name__)}")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must hold integer token ids, got dtype {tokens.dtype}")
    if tokens.shape[1] == 0:
        raise ValueError(f"{name} is empty (length 0); sequences need at least one token")


def _top_layer(hidden: Hidden) -> torch.Tensor:
    """The top layer's hidden state h, (B, H), of a GRU or LSTM state."""
    return (hidden[0] if isinstance(hidden, tuple) else hidden)[-1]


def _select_hidden(hidden: Hidden, index: torch.Tensor) -> Hidden:
    if isinstance(hidden, tuple):
        return tuple(h.index_select(1, index) for h in hidden)
    return hidden.index_select(1, index)                          # (L, B', H)


class EncoderOutput(NamedTuple):
    outputs: torch.Tensor   # (B, S, D*H), exactly zero at padded positions
    state: Hidden           # (L, B, D*H), or (h, c) for an LSTM; last *valid* step


class Seq2SeqEncoder(nn.Module):
    """Embedding + multi-layer GRU/LSTM over the source, padding packed away.

    .. code-block:: text

        x_j = dropout(E[src_j])                     # (B, S, embed_size)
        outputs, state = RNN(pack(x, valid_lens))   # padding never enters the recurrence

    Parameters
    ----------
    vocab_size, embed_size, hidden_size : int
    num_layers : int, default=1
    cell : {"gru", "lstm"}, default="gru"
    bidirectional : bool, default=False
        Run a second RNN right to left. Outputs and final states of the two directions are
        concatenated, so :attr:`output_size` is ``2 * hidden_size``.
    dropout : float, default=0.0
        Dropout on the embeddings, and between RNN layers when ``num_layers > 1``.

    Attributes
    ----------
    output_size : int
        ``hidden_size * (2 if bidirectional else 1)``: the width of the outputs and of each
        layer's final state; a decoder's hidden size must equal it.

    Notes
    -----
    Sequences are packed (``torch.nn.utils.rnn.pack_padded_sequence``), so the final state
    of each sequence is the state after its last *real* token, and the backward direction
    starts at that token rather than at the padding. Adding more padding to a batch
    therefore changes neither the outputs at valid positions nor the final state.
    Final states of a bidirectional RNN are ``[forward; backward]`` per layer.
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 *, cell: str = "gru", bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        _check_positive(vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                        num_layers=num_layers)
        _check_rnn_args(cell, dropout)
        self.cell, self.num_layers, self.bidirectional = cell, num_layers, bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.num_directions
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.dropout = nn.Dropout(dropout)
        self.rnn = _CELLS[cell](embed_size, hidden_size, num_layers, batch_first=True,
                                bidirectional=bidirectional,
                                dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, src: torch.Tensor, valid_lens: torch.Tensor) -> EncoderOutput:
        """Encode ``src`` (B, S) with ``valid_lens`` (B,) real tokens per row."""
        _check_tokens(src, "src")
        B, S = src.shape
        if (not isinstance(valid_lens, torch.Tensor) or valid_lens.shape != (B,)
                or valid_lens.dtype.is_floating_point):
            raise ValueError(f"src_valid_lens must be an integer tensor of shape ({B},), got "
                             f"{getattr(valid_lens, 'shape', type(valid_lens).__name__)}")
        lengths = valid_lens.cpu()       # pack_padded_sequence wants lengths on the CPU
        if lengths.min() < 1 or lengths.max() > S:
            raise ValueError(f"src_valid_lens must lie in [1, {S}] (no empty sequence), got "
                             f"values in [{int(lengths.min())}, {int(lengths.max())}]")
        x = self.dropout(self.embedding(src))                      # (B, S, E)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=S)  # (B, S, D*H)
        if isinstance(hidden, tuple):
            hidden = tuple(self._merge_directions(h) for h in hidden)
        else:
            hidden = self._merge_directions(hidden)
        return EncoderOutput(outputs, hidden)

    def _merge_directions(self, h: torch.Tensor) -> torch.Tensor:
        """(L*D, B, H), layer-major as torch returns it -> (L, B, D*H)."""
        L, D = self.num_layers, self.num_directions
        h = h.view(L, D, h.shape[1], h.shape[2])                   # (L, D, B, H)
        return h.permute(0, 2, 1, 3).reshape(L, h.shape[2], -1)    # (L, B, D*H)


class ContextState(NamedTuple):
    hidden: Hidden          # (L, B, H) decoder state
    context: torch.Tensor   # (B, C) the encoder's final top-layer state, fixed


class AttentionState(NamedTuple):
    hidden: Hidden                   # (L, B, H) decoder state
    memory: torch.Tensor             # (B, S, C) encoder outputs: keys and values
    memory_keys: torch.Tensor        # (B, S, A) W_k applied once to the memory
    memory_mask: torch.Tensor        # (B, S) bool, True at real source tokens
    attention_weights: torch.Tensor  # (B, t, S) weights of the t steps decoded so far


class _RNNDecoder(nn.Module):
    """Shared parts: embedding, RNN, output layer, state checks and reordering."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int,
                 rnn_input_size: int, cell: str, dropout: float):
        super().__init__()
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.dropout = nn.Dropout(dropout)
        self.rnn = _CELLS[cell](rnn_input_size, hidden_size, num_layers, batch_first=True,
                                dropout=dropout if num_layers > 1 else 0.0)
        self.dense = nn.Linear(hidden_size, vocab_size)

    def check_encoder(self, encoder: Seq2SeqEncoder) -> None:
        """ValueError unless ``encoder``'s final state can start this decoder."""
        if (encoder.cell, encoder.num_layers, encoder.output_size) != (
                self.cell, self.num_layers, self.hidden_size):
            raise ValueError(
                f"the encoder's final state (cell={encoder.cell!r}, num_layers="
                f"{encoder.num_layers}, size {encoder.output_size}) cannot start a decoder with "
                f"cell={self.cell!r}, num_layers={self.num_layers}, hidden_size="
                f"{self.hidden_size}; hidden_size must equal the encoder's output_size")

    def _embed(self, tgt_in: torch.Tensor) -> torch.Tensor:
        _check_tokens(tgt_in, "tgt_in")
        return self.dropout(self.embedding(tgt_in))                # (B, T, E)


class Seq2SeqDecoder(_RNNDecoder):
    """RNN decoder whose only view of the source is the encoder's final state (d2l's seq2seq).

    .. code-block:: text

        s_0 = encoder final state (every layer)
        c   = top layer of s_0                          # one vector for the whole source
        s_t = RNN([E[y_{t-1}]; c], s_{t-1})
        logits_t = W_o s_t + b_o

    Parameters
    ----------
    vocab_size, embed_size : int
    hidden_size : int
        Must equal the encoder's ``output_size``.
    num_layers : int, default=1
        Must equal the encoder's.
    context_size : int, optional
        Width of ``c``; default ``hidden_size`` (it is the encoder's top-layer state).
    cell : {"gru", "lstm"}, default="gru"
        Must equal the encoder's.
    dropout : float, default=0.0
        Dropout on the embeddings, and between RNN layers when ``num_layers > 1``.

    Notes
    -----
    As in Cho et al. and d2l, the context is concatenated to the input at *every* step, not
    only used to initialise the state. For an LSTM the context is the top layer's ``h``.
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 *, context_size: int | None = None, cell: str = "gru", dropout: float = 0.0):
        context_size = hidden_size if context_size is None else context_size
        _check_positive(vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                        num_layers=num_layers, context_size=context_size)
        _check_rnn_args(cell, dropout)
        super().__init__(vocab_size, embed_size, hidden_size, num_layers,
                         embed_size + context_size, cell, dropout)

    def init_state(self, enc: EncoderOutput, src_valid_lens: torch.Tensor) -> ContextState:
        return ContextState(enc.state, _top_layer(enc.state))

    def forward(self, tgt_in: torch.Tensor,
                state: ContextState) -> tuple[torch.Tensor, ContextState]:
        """Logits (B, T, V) for decoder inputs ``tgt_in`` (B, T), and the state after them.

        One RNN call covers all T steps; padding at the end of ``tgt_in`` cannot affect
        earlier positions, since the recurrence runs left to right.
        """
        x = self._embed(tgt_in)                                     # (B, T, E)
        context = state.context[:, None, :].expand(-1, x.shape[1], -1)   # (B, T, C)
        out, hidden = self.rnn(torch.cat([x, context], dim=-1), state.hidden)  # (B, T, H)
        return self.dense(out), ContextState(hidden, state.context)

    def reorder_state(self, state: ContextState, index: torch.Tensor) -> ContextState:
        return ContextState(_select_hidden(state.hidden, index),
                            state.context.index_select(0, index))


class BahdanauDecoder(_RNNDecoder):
    """RNN decoder with additive attention over all encoder outputs at every step.

    .. code-block:: text

        s_0 = encoder final state
        for t = 1 .. T:
            q_t      = top layer of s_{t-1}                       # query: the state *before*
            alpha_t  = masked_softmax(w_v^T tanh(W_q q_t + W_k h_j))   # over real tokens j
            c_t      = sum_j alpha_tj h_j                          # fresh context
            s_t      = RNN([E[y_{t-1}]; c_t], s_{t-1})
            logits_t = W_o s_t + b_o

    Parameters
    ----------
    vocab_size, embed_size : int
    hidden_size : int
        Must equal the encoder's ``output_size``.
    num_layers : int, default=1
        Must equal the encoder's.
    key_size : int, optional
        Width of the encoder outputs ``h_j``; default ``hidden_size``.
    attention_size : int, optional
        Width of the tanh layer of the additive score; default ``hidden_size``.
    cell : {"gru", "lstm"}, default="gru"
    dropout : float, default=0.0
        Dropout on the embeddings, and between RNN layers when ``num_layers > 1``.

    Attributes
    ----------
    attention : mlnotebook.attention.AdditiveAttention
        ``W_q``, ``W_k``, ``w_v`` of the score, no bias (as d2l and the paper).
    attention_weights : Tensor of shape (B, T, S) or None
        Detached weights of every step since the last :meth:`init_state`: after a
        teacher-forced forward, one row per target position; after greedy decoding, one
        row per generated token. Rows past a sequence's end are not meaningful.

    Notes
    -----
    ``W_k h_j`` does not change across steps, so it is computed once in :meth:`init_state`
    and each step only adds ``W_q q_t``; the step is otherwise exactly
    ``AdditiveAttention.forward`` (a test holds the two equal). Recomputing ``W_k h_j`` at
    every step would cost ``S * key_size * attention_size`` multiplications per example and
    step, several times the RNN step itself. The output layer reads ``s_t`` only, as d2l;
    the paper's deep output also feeds ``y_{t-1}`` and ``c_t`` to it.
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 *, key_size: int | None = None, attention_size: int | None = None,
                 cell: str = "gru", dropout: float = 0.0):
        key_size = hidden_size if key_size is None else key_size
        attention_size = hidden_size if attention_size is None else attention_size
        _check_positive(vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                        num_layers=num_layers, key_size=key_size, attention_size=attention_size)
        _check_rnn_args(cell, dropout)
        super().__init__(vocab_size, embed_size, hidden_size, num_layers,
                         embed_size + key_size, cell, dropout)
        self.attention = AdditiveAttention(hidden_size, key_size, attention_size)
        self.attention_weights: torch.Tensor | None = None

    def check_encoder(self, encoder: Seq2SeqEncoder) -> None:
        super().check_encoder(encoder)
        if encoder.output_size != self.attention.W_k.in_features:
            raise ValueError(f"key_size={self.attention.W_k.in_features} must equal the "
                             f"encoder's output_size {encoder.output_size}")

    def init_state(self, enc: EncoderOutput, src_valid_lens: torch.Tensor) -> AttentionState:
        memory = enc.outputs                                        # (B, S, C)
        B, S, _ = memory.shape
        self.attention_weights = None
        return AttentionState(
            hidden=enc.state, memory=memory,
            memory_keys=self.attention.W_k(memory),                 # (B, S, A)
            memory_mask=lengths_to_mask(src_valid_lens, S),         # (B, S)
            attention_weights=memory.new_zeros(B, 0, S))

    def attend(self, query: torch.Tensor, state: AttentionState) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
        """Context (B, 1, C) and weights (B, 1, S) for one query (B, 1, H)."""
        attn = self.attention
        q = attn.W_q(query).unsqueeze(-2)                           # (B, 1, 1, A)
        features = torch.tanh(q + state.memory_keys.unsqueeze(1))   # (B, 1, S, A)
        scores = attn.w_v(features).squeeze(-1)                     # (B, 1, S)
        weights = masked_softmax(scores, state.memory_mask[:, None, :])
        return attn.dropout(weights) @ state.memory, weights        # (B, 1, C), (B, 1, S)

    def forward(self, tgt_in: torch.Tensor,
                state: AttentionState) -> tuple[torch.Tensor, AttentionState]:
        """Logits (B, T, V) for decoder inputs ``tgt_in`` (B, T), one step at a time."""
        x = self._embed(tgt_in)                                     # (B, T, E)
        hidden, outputs, weights = state.hidden, [], [state.attention_weights]
        for t in range(x.shape[1]):
            query = _top_layer(hidden)[:, None, :]                  # (B, 1, H)
            context, w = self.attend(query, state)                  # (B, 1, C), (B, 1, S)
            out, hidden = self.rnn(torch.cat([x[:, t:t + 1], context], dim=-1), hidden)
            outputs.append(out)                                     # (B, 1, H)
            weights.append(w.detach())
        all_weights = torch.cat(weights, dim=1)                     # (B, t + T, S)
        self.attention_weights = all_weights
        new_state = state._replace(hidden=hidden, attention_weights=all_weights)
        return self.dense(torch.cat(outputs, dim=1)), new_state     # (B, T, V)

    def reorder_state(self, state: AttentionState, index: torch.Tensor) -> AttentionState:
        return AttentionState(_select_hidden(state.hidden, index),
                              *(t.index_select(0, index) for t in state[1:]))


class EncoderDecoder(nn.Module):
    """An encoder and a decoder, trained with teacher forcing and decoded step by step.

    Parameters
    ----------
    encoder : Seq2SeqEncoder
    decoder : Seq2SeqDecoder or BahdanauDecoder
        Its cell, number of layers and hidden size must match the encoder's final state.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = EncoderDecoder(Seq2SeqEncoder(10, 8, 16), BahdanauDecoder(12, 8, 16))
    >>> src, src_valid_lens = torch.randint(4, 10, (2, 5)), torch.tensor([5, 3])
    >>> model(src, src_valid_lens, torch.randint(4, 12, (2, 7))).shape
    torch.Size([2, 7, 12])
    >>> model.attention_weights.shape
    torch.Size([2, 7, 5])
    """

    def __init__(self, encoder: Seq2SeqEncoder, decoder: Seq2SeqDecoder | BahdanauDecoder):
        super().__init__()
        decoder.check_encoder(encoder)
        self.encoder, self.decoder = encoder, decoder

    def forward(self, src: torch.Tensor, src_valid_lens: torch.Tensor,
                tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V) for ``tgt_in`` (B, T) = <bos> y_1 ... y_{T-1}."""
        _check_tokens(src, "src")
        _check_tokens(tgt_in, "tgt_in")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"tgt_in has batch size {tgt_in.shape[0]}, src has {src.shape[0]}")
        state = self.encode(src, src_valid_lens)
        logits, _ = self.decoder(tgt_in, state)
        return logits

    def encode(self, src: torch.Tensor, src_valid_lens: torch.Tensor):
        """The decoder's initial state for ``src`` (B, S)."""
        return self.decoder.init_state(self.encoder(src, src_valid_lens), src_valid_lens)

    def decode_step(self, tokens: torch.Tensor, state) -> tuple[torch.Tensor, object]:
        """Feed one token per row, ``tokens`` (B,); logits (B, V) of the next token."""
        logits, state = self.decoder(tokens[:, None], state)
        return logits[:, 0], state

    def reorder_state(self, state, index: torch.Tensor):
        """Rows ``index`` (B',) of every batch-indexed tensor of ``state``."""
        return self.decoder.reorder_state(state, index)

    @property
    def attention_weights(self) -> torch.Tensor | None:
        """The decoder's attention weights (B, T, S), or None without attention."""
        return getattr(self.decoder, "attention_weights", None)
