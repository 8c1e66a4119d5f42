"""Multi-head attention: project, split into heads, attend, merge, project back."""

from __future__ import annotations

import math

import torch
from torch import nn

from mlnotebook.attention._sdpa import attention


class MultiHeadAttention(nn.Module):
    r"""Multi-head scaled dot-product attention, batch first, as ``torch.nn.MultiheadAttention``.

    .. code-block:: text

        Q = query @ W_q^T + b_q,  K = key @ W_k^T + b_k,  V = value @ W_v^T + b_v   (B, *, E)
        split each into H heads of size D = E / H                                (B, H, *, D)
        head_h = softmax(Q_h K_h^T / sqrt(D) + mask) V_h                         (B, H, L, D)
        out = concat(head_1, ..., head_H) @ W_o^T + b_o                          (B, L, E)

    Parameters
    ----------
    embed_dim : int
        Model width E: size of a query and of the output.
    num_heads : int
        Number of heads H; must divide ``embed_dim``.
    dropout : float, default=0.0
        Dropout on the attention weights, in training mode only.
    bias : bool, default=True
        Whether the four projections have biases.
    kdim, vdim : int, optional
        Sizes of a key and of a value, default ``embed_dim`` (cross-attention to a memory of
        another width).

    Attributes
    ----------
    q_proj, k_proj, v_proj, out_proj : nn.Linear
        ``E -> E``, ``kdim -> E``, ``vdim -> E`` and ``E -> E``.
    head_dim : int
        D = E / H.
    attention_weights : Tensor of shape (B, H, L, S) or None
        Per-head weights of the last call with ``need_weights=True``, before dropout,
        detached (read-only).

    Notes
    -----
    Masks follow PyTorch's *SDPA*, not ``nn.MultiheadAttention``: a bool mask is ``True``
    where attending is allowed, a float mask is added to the scores, and one mask
    broadcastable to (B, H, L, S) covers both of torch's. From torch's masks (bool, ``True``
    = NOT allowed):

    - ``key_padding_mask`` (B, S)  ->  ``~key_padding_mask[:, None, None, :]``
      (or ``lengths_to_mask(valid_lens, S)[:, None, None, :]``);
    - ``attn_mask`` (L, S)  ->  ``~attn_mask``; per head (B * H, L, S)  ->
      ``~attn_mask.view(B, H, L, S)``; float masks pass unchanged;
    - both  ->  their conversions combined with ``&``.

    A query with no allowed key outputs the bias ``b_o`` (its attention output is zero);
    torch gives NaN there when it computes weights.

    Initialisation follows torch: Xavier-uniform projection weights (with the bound of the
    packed (3E, E) matrix when kdim = vdim = E), zero biases, default ``nn.Linear`` init of
    ``out_proj.weight``.

    Self-attention is this module called with one tensor three times, ``mha(x, x, x)``.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> mha = MultiHeadAttention(embed_dim=8, num_heads=2)
    >>> x = torch.randn(3, 5, 8)                                  # (B, L, E)
    >>> y = mha(x, x, x, is_causal=True)                          # causal self-attention
    >>> y.shape, mha.attention_weights.shape
    (torch.Size([3, 5, 8]), torch.Size([3, 2, 5, 5]))
    >>> bool((mha.attention_weights.triu(1) == 0).all())          # no weight on the future
    True
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, *, device=None, dtype=None):
        super().__init__()
        kdim = embed_dim if kdim is None else kdim
        vdim = embed_dim if vdim is None else vdim
        for name, size in (("embed_dim", embed_dim), ("num_heads", num_heads), ("kdim", kdim),
                           ("vdim", vdim)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by "
                             f"num_heads={num_heads}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
                0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        factory = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads, self.kdim, self.vdim = embed_dim, num_heads, kdim, vdim
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        self.k_proj = nn.Linear(kdim, embed_dim, bias=bias, **factory)
        self.v_proj = nn.Linear(vdim, embed_dim, bias=bias, **factory)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        self.attention_weights: torch.Tensor | None = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        packed = self.kdim == self.vdim == self.embed_dim
        bound = math.sqrt(6.0 / (4 * self.embed_dim))   # Xavier bound of a (3E, E) matrix
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            if packed:
                nn.init.uniform_(proj.weight, -bound, bound)
            else:
                nn.init.xavier_uniform_(proj.weight)
        for proj in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None, is_causal: bool = False,
                need_weights: bool = True) -> torch.Tensor:
        """Attend ``query`` (B, L, E) to ``key`` (B, S, kdim), averaging ``value`` (B, S, vdim).

        ``mask``: bool (``True`` = may attend) or float (added to the scores), broadcastable
        to (B, H, L, S). ``is_causal``: query i sees keys j <= i (top-left aligned).
        ``need_weights``: keep the (B, H, L, S) weights in ``attention_weights``.
        Returns (B, L, E).
        """
        self._check_inputs(query, key, value)
        batch, length, _ = query.shape
        heads, head_dim = self.num_heads, self.head_dim
        # Self-attention (query is key is value) gains nothing measurable on the CPU from
        # one product with the three weights stacked, so there is a single path.
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)  # (B, *, E)
        q = q.unflatten(-1, (heads, head_dim)).transpose(1, 2)        # (B, H, L, D)
        k = k.unflatten(-1, (heads, head_dim)).transpose(1, 2)        # (B, H, S, D)
        v = v.unflatten(-1, (heads, head_dim)).transpose(1, 2)        # (B, H, S, D)
        out, weights = attention(q, k, v, mask, is_causal,
                                 self.dropout if self.training else 0.0,
                                 need_weights=need_weights)           # (B, H, L, D)
        self.attention_weights = weights
        out = out.transpose(1, 2).reshape(batch, length, self.embed_dim)  # (B, L, E)
        return self.out_proj(out)

    def _check_inputs(self, query, key, value) -> None:
        for name, t, size in (("query", query, self.embed_dim), ("key", key, self.kdim),
                              ("value", value, self.vdim)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
            if t.dim() != 3 or t.shape[-1] != size:
                raise ValueError(f"{name} must have shape (batch, length, {size}) (batch "
                                 f"first), got shape {tuple(t.shape)}")
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(f"query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} must have the same batch size")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key of shape {tuple(key.shape)} and value of shape "
                             f"{tuple(value.shape)} must have the same length S")

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of a batch-first ``torch.nn.MultiheadAttention``, with the same weights.

        Packed (``in_proj_weight``) and separate (``q_proj_weight``, ... when kdim or vdim
        differ from embed_dim) layouts are both read; parameters are cloned, not shared, and
        keep their device and dtype. ValueError for ``batch_first=False`` (this module
        takes (B, L, E) inputs; build torch's with ``batch_first=True``, the weights are the
        same) and for ``bias_k``/``bias_v`` (``add_bias_kv``) or ``add_zero_attn``, which
        have no counterpart here.
        """
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(f"module must be a torch.nn.MultiheadAttention, got "
                            f"{type(module).__name__}")
        if not module.batch_first:
            raise ValueError("module.batch_first must be True: MultiHeadAttention takes "
                             "(batch, length, embed) inputs (the weights do not depend on "
                             "it, so rebuild torch's module with batch_first=True)")
        if module.bias_k is not None or module.bias_v is not None:
            raise ValueError("bias_k/bias_v (add_bias_kv=True) are not supported")
        if module.add_zero_attn:
            raise ValueError("add_zero_attn=True is not supported")
        weight = module.out_proj.weight
        ours = cls(module.embed_dim, module.num_heads, dropout=module.dropout,
                   bias=module.in_proj_bias is not None, kdim=module.kdim, vdim=module.vdim,
                   device=weight.device, dtype=weight.dtype)
        if module.in_proj_weight is not None:
            q_w, k_w, v_w = module.in_proj_weight.chunk(3)
        else:
            q_w, k_w, v_w = module.q_proj_weight, module.k_proj_weight, module.v_proj_weight
        biases = (module.in_proj_bias.chunk(3) if module.in_proj_bias is not None
                  else (None, None, None))
        with torch.no_grad():
            for proj, w, b in ((ours.q_proj, q_w, biases[0]), (ours.k_proj, k_w, biases[1]),
                               (ours.v_proj, v_w, biases[2]),
                               (ours.out_proj, module.out_proj.weight, module.out_proj.bias)):
                proj.weight.copy_(w)
                if b is not None:
                    proj.bias.copy_(b)
        return ours
