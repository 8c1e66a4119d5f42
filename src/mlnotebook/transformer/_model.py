"""Whole models: the encoder-decoder Transformer for translation, and a decoder-only LM."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from mlnotebook.attention import MultiHeadAttention, PositionalEncoding, lengths_to_mask
from mlnotebook.nn import LayerNorm
from mlnotebook.transformer._layers import TransformerDecoderLayer, TransformerEncoderLayer
from mlnotebook.transformer._stack import TransformerDecoder, TransformerEncoder


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def _final_norm(final_norm, norm_first: bool, d_model: int, eps: float, bias: bool,
                factory: dict) -> LayerNorm | None:
    if final_norm is not None:
        _check_bool("final_norm", final_norm)
    wanted = norm_first if final_norm is None else final_norm
    return LayerNorm(d_model, eps=eps, bias=bias, **factory) if wanted else None


def _check_tokens(name: str, tokens, vocab_size: int, max_len: float) -> None:
    """(B, L) integer ids in [0, vocab_size), 1 <= L <= max_len; ValueError/TypeError if not."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids, got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, length), got shape "
                         f"{tuple(tokens.shape)}")
    batch, length = tokens.shape
    if batch == 0 or length == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tokens.shape)}): a sequence needs at "
                         f"least one token")
    if length > max_len:
        raise ValueError(f"{name} has length {length}, longer than the model's max_len="
                         f"{max_len}")
    if bool(((tokens < 0) | (tokens >= vocab_size)).any()):
        raise ValueError(f"{name} holds ids outside [0, {vocab_size}) (the vocabulary size): "
                         f"min {int(tokens.min())}, max {int(tokens.max())}")


def _padding_mask(name: str, valid_lens, padding_mask, batch: int, length: int,
                  padding_name: str) -> torch.Tensor | None:
    """The (B, L) bool padding mask (``True`` = padding) from valid lengths or given as is."""
    if valid_lens is None:
        return padding_mask
    if padding_mask is not None:
        raise ValueError(f"give {name} or {padding_name}, not both")
    if not isinstance(valid_lens, torch.Tensor) or valid_lens.dtype.is_floating_point or (
            valid_lens.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor of shape (B,), got "
                        f"{getattr(valid_lens, 'dtype', type(valid_lens).__name__)}")
    if valid_lens.shape != (batch,):
        raise ValueError(f"{name} must have shape (B,) = ({batch},), got shape "
                         f"{tuple(valid_lens.shape)}")
    if bool(((valid_lens < 1) | (valid_lens > length)).any()):
        raise ValueError(f"{name} must lie in [1, {length}] (the padded length; 0 would be "
                         f"an empty sequence), got {valid_lens.tolist()}")
    return ~lengths_to_mask(valid_lens, length)                        # (B, L), True = pad


class TransformerState(NamedTuple):
    """What decoding needs from the source, and the target prefix decoded so far."""

    memory: torch.Tensor                          # (B, S, d_model), the encoder's output
    memory_key_padding_mask: torch.Tensor | None  # (B, S) bool, True = source padding
    prefix: torch.Tensor                          # (B, t) long, tokens fed to the decoder


class _Embedder(nn.Module):
    """Token ids -> ``embedding * sqrt(d_model) + sinusoidal position``, then dropout."""

    def __init__(self, vocab_size: int, d_model: int, max_len: int, dropout: float,
                 factory: dict):
        super().__init__()
        self.vocab_size, self.max_len, self.scale = vocab_size, max_len, math.sqrt(d_model)
        self.embedding = nn.Embedding(vocab_size, d_model, **factory)
        # N(0, 1/d_model) entries: after the sqrt(d_model) scale they are N(0, 1), the size
        # of the position table's sines and cosines
        nn.init.normal_(self.embedding.weight, std=d_model ** -0.5)
        self.positional = PositionalEncoding(d_model, max_len, dropout, **factory)

    def forward(self, tokens: torch.Tensor, name: str) -> torch.Tensor:
        _check_tokens(name, tokens, self.vocab_size, self.max_len)
        return self.positional(self.embedding(tokens) * self.scale)        # (B, L, d)


def _torch_like_init(*stacks: nn.Module) -> None:
    """Re-initialise as ``torch.nn.Transformer`` does: Xavier-uniform on every matrix.

    The query/key/value projections get the bound of torch's packed (3d, d) matrix, which
    is :class:`MultiHeadAttention`'s own initialisation.
    """
    for stack in stacks:
        for p in stack.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for module in stack.modules():
            if isinstance(module, MultiHeadAttention):
                module._reset_parameters()


class Transformer(nn.Module):
    r"""The encoder-decoder Transformer of Vaswani et al. (2017) for sequence-to-sequence tasks.

    .. code-block:: text

        memory = encoder(PE(E_src[src] * sqrt(d)))                  (B, S, d)
        h      = decoder(PE(E_tgt[tgt_in] * sqrt(d)), memory)       (B, T, d)  causal
        logits = h @ W_out^T + b_out                                 (B, T, V_tgt)

    Parameters
    ----------
    src_vocab_size, tgt_vocab_size : int
    d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
    activation, layer_norm_eps, norm_first, bias
        As ``torch.nn.Transformer`` (defaults: the paper's base model).
    final_norm : bool, optional
        A layer norm after each stack. Default: only with ``norm_first`` (pre-norm needs
        it; post-norm stacks already end in one). ``torch.nn.Transformer`` always adds
        them: pass True to build the same network.
    max_len : int, default=512
        Longest source or target; longer inputs raise a ValueError.
    tie_weights : bool, default=False
        Share the output projection's weight with the target embedding.

    Attributes
    ----------
    src_embed, tgt_embed : module
        ``.embedding`` (nn.Embedding, entries N(0, 1/d_model)) and ``.positional``
        (:class:`~mlnotebook.attention.PositionalEncoding` with the dropout).
    encoder : TransformerEncoder
    decoder : TransformerDecoder
    output_projection : nn.Linear
        ``d_model -> tgt_vocab_size``.

    Notes
    -----
    Source padding comes as ``src_valid_lens`` (B,) or as torch's
    ``src_key_padding_mask`` (B, S), bool ``True`` at padding; it masks the encoder's
    self-attention and the decoder's cross-attention. The decoder's self-attention is
    always causal; right padding of ``tgt_in`` then needs no mask (valid positions never see
    later ones), but ``tgt_key_padding_mask`` is accepted.

    Stacks are initialised as ``torch.nn.Transformer`` (Xavier-uniform matrices), the
    embeddings N(0, 1/d_model) so that scaled by sqrt(d_model) they match the position
    table's scale.

    ``need_weights=True`` (in :meth:`forward`, :meth:`encode`, :meth:`decode`) keeps the
    attention weights of that call, detached: :meth:`all_attention_weights` collects them,
    :attr:`attention_weights` is the last layer's cross-attention averaged over heads.

    Decoding follows the protocol of :func:`mlnotebook.seq2seq.greedy_decode` and
    :func:`~mlnotebook.seq2seq.beam_search`: ``state = encode(src, src_valid_lens)``, then
    ``logits, state = decode_step(tokens, state)`` and ``reorder_state(state, index)``.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = Transformer(11, 13, d_model=16, nhead=2, num_encoder_layers=1,
    ...                     num_decoder_layers=1, dim_feedforward=32)
    >>> src, tgt_in = torch.randint(11, (2, 7)), torch.randint(13, (2, 5))
    >>> model(src, tgt_in, src_valid_lens=torch.tensor([7, 4])).shape
    torch.Size([2, 5, 13])
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 512,
                 nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation="relu",
                 layer_norm_eps: float = 1e-5, norm_first: bool = False,
                 final_norm: bool | None = None, max_len: int = 512,
                 tie_weights: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        for name, value in (("src_vocab_size", src_vocab_size),
                            ("tgt_vocab_size", tgt_vocab_size), ("max_len", max_len),
                            ("num_encoder_layers", num_encoder_layers),
                            ("num_decoder_layers", num_decoder_layers)):
            _check_positive_int(name, value)
        _check_bool("tie_weights", tie_weights)
        factory = {"device": device, "dtype": dtype}
        layer_args = dict(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
                          dropout=dropout, activation=activation,
                          layer_norm_eps=layer_norm_eps, norm_first=norm_first, bias=bias,
                          **factory)
        self.d_model, self.max_len = d_model, max_len
        self.encoder = TransformerEncoder(
            TransformerEncoderLayer(**layer_args), num_encoder_layers,
            norm=_final_norm(final_norm, norm_first, d_model, layer_norm_eps, bias, factory))
        self.decoder = TransformerDecoder(
            TransformerDecoderLayer(**layer_args), num_decoder_layers,
            norm=_final_norm(final_norm, norm_first, d_model, layer_norm_eps, bias, factory))
        _torch_like_init(self.encoder, self.decoder)
        self.src_embed = _Embedder(src_vocab_size, d_model, max_len, dropout, factory)
        self.tgt_embed = _Embedder(tgt_vocab_size, d_model, max_len, dropout, factory)
        self.output_projection = nn.Linear(d_model, tgt_vocab_size, **factory)
        if tie_weights:
            self.output_projection.weight = self.tgt_embed.embedding.weight

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor,
                src_valid_lens: torch.Tensor | None = None, *,
                src_key_padding_mask: torch.Tensor | None = None,
                tgt_key_padding_mask: torch.Tensor | None = None,
                need_weights: bool = False) -> torch.Tensor:
        """Teacher-forced logits (B, T, V_tgt) for ``src`` (B, S) and ``tgt_in`` (B, T).

        ``tgt_in`` is the target shifted right (starting with <bos>); the logits at
        position t predict target token t.
        """
        padding = self._source_padding(src, src_valid_lens, src_key_padding_mask)
        memory = self._encode(src, padding, need_weights)                     # (B, S, d)
        return self._decode(tgt_in, memory, padding, tgt_key_padding_mask, need_weights)

    def encode(self, src: torch.Tensor, src_valid_lens: torch.Tensor | None = None, *,
               src_key_padding_mask: torch.Tensor | None = None,
               need_weights: bool = False) -> TransformerState:
        """Run the encoder on ``src`` (B, S); padding as in :meth:`forward`.

        Returns the decoding state: the memory (B, S, d_model), the source padding mask
        and an empty target prefix, for :meth:`decode` and :meth:`decode_step`.
        """
        padding = self._source_padding(src, src_valid_lens, src_key_padding_mask)
        memory = self._encode(src, padding, need_weights)                     # (B, S, d)
        empty = torch.empty(src.shape[0], 0, dtype=torch.long, device=src.device)
        return TransformerState(memory, padding, empty)

    def decode(self, tgt_in: torch.Tensor, state: TransformerState, *,
               tgt_key_padding_mask: torch.Tensor | None = None,
               need_weights: bool = False) -> torch.Tensor:
        """Logits (B, T, V_tgt) for the target prefix ``tgt_in`` (B, T) given ``encode``'s state.

        The prefix stored in ``state`` is not used: ``tgt_in`` is the whole prefix.
        """
        memory, padding = self._check_state(state)
        return self._decode(tgt_in, memory, padding, tgt_key_padding_mask, need_weights)

    def decode_step(self, tokens: torch.Tensor,
                    state: TransformerState) -> tuple[torch.Tensor, TransformerState]:
        """Append ``tokens`` (B,) to the prefix; logits (B, V_tgt) of the next token, new state.

        The decoding protocol of :func:`mlnotebook.seq2seq.greedy_decode` and
        :func:`~mlnotebook.seq2seq.beam_search` (start from <bos>). The whole prefix is run
        through the decoder again at every step (no key/value cache); the attention weights
        are kept, so after the last step :attr:`attention_weights` covers every step.
        """
        memory, padding = self._check_state(state)
        if not isinstance(tokens, torch.Tensor) or tokens.shape != (memory.shape[0],):
            raise ValueError(f"tokens must be a tensor of shape (B,) = ({memory.shape[0]},), "
                             f"got {getattr(tokens, 'shape', type(tokens).__name__)}")
        prefix = torch.cat((state.prefix, tokens[:, None].to(state.prefix.dtype)), dim=1)
        logits = self._decode(prefix, memory, padding, None, need_weights=True)  # (B, t, V)
        return logits[:, -1], TransformerState(memory, padding, prefix)

    @staticmethod
    def reorder_state(state: TransformerState, index: torch.Tensor) -> TransformerState:
        """The state of batch rows ``index`` (B',), e.g. beams repeated or reordered."""
        return TransformerState(*(None if t is None else t.index_select(0, index)
                                  for t in state))

    @property
    def attention_weights(self) -> torch.Tensor | None:
        """Last decoder layer's cross-attention of the last call, mean over heads: (B, T, S).

        None unless that call kept its weights (``need_weights=True``, or
        :meth:`decode_step`). Every layer and head: :meth:`all_attention_weights`.
        """
        weights = self.decoder.layers[-1].multihead_attn.attention_weights
        return None if weights is None else weights.mean(dim=1)

    def all_attention_weights(self) -> dict[str, list[torch.Tensor | None]]:
        """Weights kept by the last call with ``need_weights=True``, one tensor per layer.

        Returns ``{"encoder": [(B, H, S, S)], "decoder_self": [(B, H, T, T)],
        "cross": [(B, H, T, S)]}`` (None for a part that call did not run or keep); rows
        are queries, columns keys.
        """
        return {
            "encoder": [layer.self_attn.attention_weights for layer in self.encoder.layers],
            "decoder_self": [layer.self_attn.attention_weights
                             for layer in self.decoder.layers],
            "cross": [layer.multihead_attn.attention_weights for layer in self.decoder.layers],
        }

    def _check_state(self, state) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not isinstance(state, TransformerState):
            raise TypeError(f"state must be the TransformerState returned by encode, got "
                            f"{type(state).__name__}")
        return state.memory, state.memory_key_padding_mask

    def _source_padding(self, src, valid_lens, padding_mask) -> torch.Tensor | None:
        _check_tokens("src", src, self.src_embed.vocab_size, self.max_len)
        return _padding_mask("src_valid_lens", valid_lens, padding_mask, *src.shape,
                             "src_key_padding_mask")

    def _encode(self, src, padding, need_weights) -> torch.Tensor:
        x = self.src_embed(src, "src")                                         # (B, S, d)
        return self.encoder(x, src_key_padding_mask=padding, need_weights=need_weights)

    def _decode(self, tgt_in, memory, padding, tgt_padding, need_weights) -> torch.Tensor:
        y = self.tgt_embed(tgt_in, "tgt_in")                                   # (B, T, d)
        h = self.decoder(y, memory, tgt_key_padding_mask=tgt_padding,
                         memory_key_padding_mask=padding, tgt_is_causal=True,
                         need_weights=need_weights)                            # (B, T, d)
        return self.output_projection(h)                                       # (B, T, V)


class TransformerLM(nn.Module):
    r"""A decoder-only (GPT-style) language model: causal self-attention blocks, no encoder.

    .. code-block:: text

        x = PE(E[tokens] * sqrt(d))                          (B, T, d)
        x = block_N(... block_1(x))   causal self-attention + FFN, no cross-attention
        logits = norm(x) @ W_out^T + b_out                   (B, T, V)

    Each block is a :class:`TransformerEncoderLayer` run with a causal mask: a decoder layer
    without cross-attention is exactly that.

    Parameters
    ----------
    vocab_size : int
    d_model, nhead, num_layers, dim_feedforward, dropout, layer_norm_eps, bias
        As the layers'.
    activation : {"relu", "gelu"} or callable, default="gelu"
    norm_first : bool, default=True
        Pre-norm blocks, as GPT-2 and most language models.
    final_norm : bool, optional
        A layer norm after the last block; default: with ``norm_first``.
    max_len : int, default=1024
        Longest input of :meth:`forward`; :meth:`generate` keeps the last ``max_len``
        tokens as context.
    tie_weights : bool, default=True
        Share the output projection's weight with the token embedding.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> lm = TransformerLM(10, d_model=16, nhead=2, num_layers=2, dim_feedforward=32).eval()
    >>> prompt = torch.tensor([[1, 2, 3]])
    >>> out = lm.generate(prompt, 4, generator=torch.Generator().manual_seed(0))
    >>> out.shape, bool((out[:, :3] == prompt).all())
    (torch.Size([1, 7]), True)
    """

    def __init__(self, vocab_size: int, d_model: int = 512, nhead: int = 8,
                 num_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="gelu", layer_norm_eps: float = 1e-5, norm_first: bool = True,
                 final_norm: bool | None = None, max_len: int = 1024,
                 tie_weights: bool = True, bias: bool = True, device=None, dtype=None):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("max_len", max_len),
                            ("num_layers", num_layers)):
            _check_positive_int(name, value)
        _check_bool("tie_weights", tie_weights)
        factory = {"device": device, "dtype": dtype}
        block = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                        layer_norm_eps, norm_first=norm_first, bias=bias,
                                        **factory)
        self.d_model, self.max_len = d_model, max_len
        self.blocks = TransformerEncoder(
            block, num_layers,
            norm=_final_norm(final_norm, norm_first, d_model, layer_norm_eps, bias, factory))
        _torch_like_init(self.blocks)
        self.embed = _Embedder(vocab_size, d_model, max_len, dropout, factory)
        self.output_projection = nn.Linear(d_model, vocab_size, **factory)
        if tie_weights:
            self.output_projection.weight = self.embed.embedding.weight

    def forward(self, tokens: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None,
                need_weights: bool = False) -> torch.Tensor:
        """Next-token logits (B, T, V) for ``tokens`` (B, T): row t predicts token t + 1.

        ``key_padding_mask`` (B, T), bool ``True`` at padding (e.g. left-padded prompts).
        """
        x = self.embed(tokens, "tokens")                                       # (B, T, d)
        h = self.blocks(x, src_key_padding_mask=key_padding_mask, is_causal=True,
                        need_weights=need_weights)                             # (B, T, d)
        return self.output_projection(h)                                       # (B, T, V)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Extend ``prompt`` (B, T0) by ``max_new_tokens`` sampled tokens; returns (B, T0 + n).

        Each step samples from ``softmax(logits / temperature)`` of the last position,
        restricted to the ``top_k`` most likely tokens when given; ``temperature=0`` takes
        the most likely token (greedy). The context is the last ``max_len`` tokens. Runs in
        evaluation mode (no dropout) and restores the previous mode; ``generator`` (on the
        model's device) makes the samples reproducible. The whole context is recomputed
        every step (no key/value cache).
        """
        # a prompt longer than max_len is fine: only its last max_len tokens are read
        _check_tokens("prompt", prompt, self.embed.vocab_size, max_len=math.inf)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or (
                max_new_tokens < 0):
            raise ValueError(f"max_new_tokens must be a non-negative int, got "
                             f"{max_new_tokens!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
                math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        if top_k is not None:
            _check_positive_int("top_k", top_k)
        was_training = self.training
        self.eval()
        try:
            tokens = prompt
            for _ in range(max_new_tokens):
                logits = self(tokens[:, -self.max_len:])[:, -1]                 # (B, V)
                tokens = torch.cat((tokens, self._next(logits, temperature, top_k,
                                                       generator)), dim=1)      # (B, T + 1)
        finally:
            self.train(was_training)
        return tokens

    @staticmethod
    def _next(logits, temperature, top_k, generator) -> torch.Tensor:
        """The next token (B, 1) from last-position logits (B, V)."""
        if top_k is not None and top_k < logits.shape[-1]:
            kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]            # (B, 1)
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if temperature == 0:
            return logits.argmax(dim=-1, keepdim=True)                         # (B, 1)
        probs = torch.softmax(logits / temperature, dim=-1)                    # (B, V)
        return torch.multinomial(probs, 1, generator=generator)               # (B, 1)
