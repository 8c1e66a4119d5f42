"""Sinusoidal, learned and rotary position encodings: the formulas, their properties, errors."""

import math

import numpy as np
import pytest
import torch

from mlnotebook.attention import LearnedPositionalEmbedding, PositionalEncoding, RotaryEmbedding
from mlnotebook.attention._positional import sinusoidal_table

TOL = {torch.float64: 1e-12, torch.float32: 1e-6}
DTYPES = [torch.float64, torch.float32]


def _randn(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- sinusoidal -------------------------------------------------------------------------

@pytest.mark.parametrize("d_model", [1, 2, 7, 16, 64])
def test_table_matches_the_formula_entry_by_entry(d_model):
    table = sinusoidal_table(1000, d_model, dtype=torch.float64)
    for pos in (0, 1, 2, 17, 999):
        for col in range(d_model):
            i2 = col - col % 2                                          # 2i
            angle = pos / 10000 ** (i2 / d_model)
            want = math.sin(angle) if col % 2 == 0 else math.cos(angle)
            assert abs(float(table[pos, col]) - want) <= 1e-12, (pos, col)


@pytest.mark.parametrize("d_model", [6, 33, 128])
@pytest.mark.parametrize("dtype", DTYPES)
def test_buffer_matches_numpy_on_the_whole_matrix(d_model, dtype):
    pe = PositionalEncoding(d_model, max_len=1000, dtype=dtype)
    pos = np.arange(1000)[:, None]
    col = np.arange(d_model)[None, :]
    angle = pos / 10000.0 ** ((col - col % 2) / d_model)
    want = np.where(col % 2 == 0, np.sin(angle), np.cos(angle))
    assert pe.pe.shape == (1, 1000, d_model) and pe.pe.dtype == dtype
    np.testing.assert_allclose(pe.pe[0].double().numpy(), want, rtol=0, atol=TOL[dtype])
    assert "pe" in pe.state_dict()


@pytest.mark.parametrize("k", [1, 5, 37])
def test_shifting_by_k_is_one_fixed_rotation_per_frequency_pair(k):
    d, length = 16, 200
    table = sinusoidal_table(length + k, d, dtype=torch.float64)
    rot = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d // 2):
        a = k / 10000 ** (2 * i / d)
        # (sin, cos)(p + k) = [[cos a, sin a], [-sin a, cos a]] (sin, cos)(p)
        rot[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor(
            [[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=torch.float64)
    shifted = table[:length] @ rot.T                                    # every position at once
    torch.testing.assert_close(shifted, table[k:k + length], rtol=0, atol=1e-12)


def test_dot_products_between_positions_depend_on_the_offset_only():
    table = sinusoidal_table(64, 32, dtype=torch.float64)
    gram = table @ table.T                                              # (64, 64)
    for k in range(-63, 64):
        diag = torch.diagonal(gram, offset=k)
        theta = 10000.0 ** (-torch.arange(0, 32, 2, dtype=torch.float64) / 32)
        torch.testing.assert_close(diag, torch.cos(k * theta).sum().expand_as(diag),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0, 3])
def test_forward_adds_the_table_and_grads_flow_to_x(dtype, offset):
    pe = PositionalEncoding(8, max_len=20, dtype=dtype)
    x = _randn(3, 5, 8, dtype=dtype).requires_grad_()
    y = pe(x, offset=offset)
    want = x.detach() + sinusoidal_table(20, 8, dtype=dtype)[offset:offset + 5]
    torch.testing.assert_close(y, want, rtol=0, atol=TOL[dtype])
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, torch.ones_like(x), rtol=0, atol=0)


def test_table_is_cast_to_the_input_dtype():
    pe = PositionalEncoding(4, max_len=8, dtype=torch.float64)
    assert pe(torch.zeros(1, 3, 4)).dtype == torch.float32


def test_dropout_is_applied_to_the_sum_like_torch():
    pe = PositionalEncoding(8, max_len=10, dropout=0.3, dtype=torch.float64)
    x = _randn(4, 6, 8)
    torch.manual_seed(5)
    ours = pe(x)
    torch.manual_seed(5)
    ref = torch.nn.functional.dropout(x + pe.pe[:, :6], p=0.3, training=True)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    pe.eval()
    torch.testing.assert_close(pe(x), x + pe.pe[:, :6], rtol=0, atol=0)


def test_gradcheck_sinusoidal_and_learned():
    pe = PositionalEncoding(6, max_len=10, dtype=torch.float64)
    x = _randn(2, 4, 6).requires_grad_()
    assert torch.autograd.gradcheck(pe, (x,))
    learned = LearnedPositionalEmbedding(10, 6, dtype=torch.float64)
    weight = learned.embedding.weight.detach().clone().requires_grad_()

    def f(x, w):
        return torch.func.functional_call(learned, {"embedding.weight": w}, (x,),
                                          {"offset": 2})

    assert torch.autograd.gradcheck(f, (x, weight))


@pytest.mark.parametrize(
    ("make", "x", "match"),
    [
        (lambda: PositionalEncoding(4, max_len=5), torch.zeros(1, 6, 4),
         r"offset \+ L = 0 \+ 6 = 6 exceed max_len = 5"),
        (lambda: LearnedPositionalEmbedding(5, 4), torch.zeros(1, 6, 4),
         r"offset \+ L = 0 \+ 6 = 6 exceed max_len = 5"),
        (lambda: PositionalEncoding(4, max_len=5), torch.zeros(1, 3, 5),
         r"x must be a tensor of shape \(B, L, d_model=4\), got \(1, 3, 5\)"),
        (lambda: PositionalEncoding(4, max_len=5), torch.zeros(3, 4),
         r"\(B, L, d_model=4\), got \(3, 4\)"),
        (lambda: RotaryEmbedding(4), torch.zeros(2, 3, 6),
         r"\(\.\.\., L, head_dim=4\), got \(2, 3, 6\)"),
    ],
)
def test_bad_inputs_name_the_shapes(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(x)


def test_offset_past_max_len_is_refused():
    with pytest.raises(ValueError, match=r"offset \+ L = 3 \+ 3 = 6 exceed max_len = 5"):
        PositionalEncoding(4, max_len=5)(torch.zeros(1, 3, 4), offset=3)
    with pytest.raises(ValueError, match="offset must be >= 0"):
        RotaryEmbedding(4)(torch.zeros(3, 4), offset=-1)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: PositionalEncoding(0), ValueError, "d_model must be >= 1, got 0"),
        (lambda: PositionalEncoding(4.0), TypeError, "d_model must be an int"),
        (lambda: PositionalEncoding(4, max_len=0), ValueError, "max_len must be >= 1"),
        (lambda: PositionalEncoding(4, dropout=1.0), ValueError, r"dropout .* \[0, 1\)"),
        (lambda: LearnedPositionalEmbedding(0, 4), ValueError, "max_len must be >= 1"),
        (lambda: RotaryEmbedding(5), ValueError, "head_dim must be even.*got 5"),
        (lambda: RotaryEmbedding(4, base=1.0), ValueError, "base must be .* > 1, got 1.0"),
        (lambda: RotaryEmbedding(4, interleaved=1), TypeError, "interleaved must be a bool"),
    ],
)
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


# --- learned ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_learned_adds_rows_of_the_table_and_trains_only_those(dtype):
    torch.manual_seed(0)
    learned = LearnedPositionalEmbedding(10, 4, dtype=dtype)
    assert 0.005 < float(learned.embedding.weight.detach().std()) < 0.05        # N(0, 0.02^2) init
    x = _randn(3, 5, 4, dtype=dtype).requires_grad_()
    up = _randn(3, 5, 4, dtype=dtype, seed=1)
    (learned(x, offset=2) * up).sum().backward()
    w = learned.embedding.weight.detach().clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    ((x_ref + w[2:7]) * up).sum().backward()
    torch.testing.assert_close(learned(x, offset=2), x_ref + w[2:7], rtol=0, atol=TOL[dtype])
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=TOL[dtype])
    torch.testing.assert_close(learned.embedding.weight.grad, w.grad, rtol=0, atol=TOL[dtype])
    assert learned.embedding.weight.grad[[0, 1, 7, 8, 9]].abs().max() == 0


# --- rotary -----------------------------------------------------------------------------

def _rotation(length: int, head_dim: int, offset: int = 0, base: float = 10000.0):
    """Block-diagonal rotation matrices R_m (L, d, d) from math.cos/sin, interleaved pairs."""
    rot = torch.zeros(length, head_dim, head_dim, dtype=torch.float64)
    for j in range(length):
        for i in range(head_dim // 2):
            a = (offset + j) / base ** (2 * i / head_dim)
            c, s = math.cos(a), math.sin(a)
            rot[j, 2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor(
                [[c, -s], [s, c]], dtype=torch.float64)
    return rot


def _half_to_pairs(head_dim):
    """Permutation p with x_pairs = x_half[..., p]: (i, i + d/2) -> (2i, 2i + 1)."""
    half = head_dim // 2
    return torch.arange(head_dim).view(2, half).T.reshape(-1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [True, False])
@pytest.mark.parametrize("offset", [0, 7])
def test_rope_matches_explicit_rotation_matrices_values_and_grads(dtype, interleaved, offset):
    d, length = 8, 6
    rope = RotaryEmbedding(d, base=100.0, interleaved=interleaved)
    x = _randn(2, 3, length, d, dtype=dtype).requires_grad_()
    up = _randn(2, 3, length, d, dtype=dtype, seed=1)
    ours = rope(x, offset=offset)
    (ours * up).sum().backward()
    perm = torch.arange(d) if interleaved else _half_to_pairs(d)
    x_ref = x.detach().double().clone().requires_grad_()
    rot = _rotation(length, d, offset, base=100.0)
    ref = torch.einsum("lij,bhlj->bhli", rot, x_ref[..., perm])[..., torch.argsort(perm)]
    (ref * up.double()).sum().backward()
    torch.testing.assert_close(ours.double(), ref.detach(), rtol=0, atol=TOL[dtype])
    torch.testing.assert_close(x.grad.double(), x_ref.grad, rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("interleaved", [True, False])
def test_rope_scores_depend_only_on_the_offset_between_positions(interleaved):
    d, length = 16, 12
    rope = RotaryEmbedding(d, interleaved=interleaved)
    q, k = _randn(d), _randn(d, seed=1)
    qs, ks = q.expand(length, d), k.expand(length, d)                   # same q, k everywhere
    unshifted = rope(qs) @ rope(ks).T                                   # (L, L), [m, n]
    for shift in (0, 1, 50, 1000):
        scores = rope(qs, offset=shift) @ rope(ks, offset=shift).T
        for lag in range(-length + 1, length):
            diag = torch.diagonal(scores, offset=lag)                    # n - m = lag
            torch.testing.assert_close(diag, diag[:1].expand_as(diag), rtol=0, atol=1e-12)
        torch.testing.assert_close(scores, unshifted, rtol=0, atol=1e-12)
    qr, kr = rope(qs), rope(ks)
    assert abs(float(qr[0] @ kr[0]) - float(q @ k)) <= 1e-12             # lag 0: no rotation


@pytest.mark.parametrize("interleaved", [True, False])
def test_rope_preserves_norms_and_offset_continues_the_sequence(interleaved):
    rope = RotaryEmbedding(10, interleaved=interleaved)
    x = _randn(4, 9, 10)
    full = rope(x)
    torch.testing.assert_close(full.norm(dim=-1), x.norm(dim=-1), rtol=0, atol=1e-12)
    torch.testing.assert_close(rope(x[:, 5:], offset=5), full[:, 5:], rtol=0, atol=1e-12)


def test_rope_layouts_are_permutations_of_each_other():
    d = 12
    perm = _half_to_pairs(d)
    x = _randn(3, 5, d)
    pairs = RotaryEmbedding(d)(x[..., perm])
    half = RotaryEmbedding(d, interleaved=False)(x)
    torch.testing.assert_close(half[..., perm], pairs, rtol=0, atol=0)


def test_rope_angles_are_the_sinusoidal_table_angles():
    cos, sin = RotaryEmbedding(16).cos_sin(30, dtype=torch.float64)
    table = sinusoidal_table(30, 16, dtype=torch.float64)
    torch.testing.assert_close(sin, table[:, 0::2], rtol=0, atol=0)
    torch.testing.assert_close(cos, table[:, 1::2], rtol=0, atol=0)


@pytest.mark.parametrize("interleaved", [True, False])
def test_rope_gradcheck(interleaved):
    rope = RotaryEmbedding(6, interleaved=interleaved)
    x = _randn(2, 4, 6).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: rope(x, offset=3), (x,))
    assert torch.autograd.gradgradcheck(lambda x: rope(x, offset=3), (x,))


# --- the experiment ---------------------------------------------------------------------

def test_experiment_quick_numbers_and_figures():
    import matplotlib.pyplot as plt

    from mlnotebook.experiments import RunContext, get_experiment

    exp = get_experiment("positional-encoding")
    res = exp.compute(RunContext(params=dict(exp.profiles["quick"]), seed=0))
    assert res.metrics["pe_gram_diagonal_spread"] < 1e-12
    assert res.metrics["rope_score_diagonal_spread"] < 1e-12
    for _k, pe0, pe_mid, rope0, rope_mid in res.tables["by_offset"].rows:
        assert abs(pe0 - pe_mid) < 1e-12 and abs(rope0 - rope_mid) < 1e-12
    figures = exp.plot(res)
    assert set(figures) == {"sinusoidal_table", "dot_products", "rope_scores"}
    for fig in figures.values():
        plt.close(fig)
