"""Nadaraya-Watson regression against statsmodels, its kernels, edge cases and the learned form."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

import mlnotebook.attention._nadaraya_watson as nw_module
from mlnotebook.attention import NadarayaWatson, ParametricNadarayaWatson

KERNELS = ["gaussian", "boxcar", "epanechnikov", "constant"]


def _data(n=60, d=1, seed=0, n_query=25):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, (n, d))
    y = 2 * np.sin(X).sum(axis=1) + X.sum(axis=1) ** 0.8 + 0.3 * rng.normal(size=n)
    return X, y, rng.uniform(0, 5, (n_query, d))


def _kernelreg(X, y, Xq, h):
    from statsmodels.nonparametric.kernel_regression import KernelReg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = KernelReg(y, X, var_type="c" * X.shape[1], reg_type="lc", bw=[h] * X.shape[1])
        return model.fit(Xq)[0]


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("h", [0.05, 0.3, 1.0, 5.0])
def test_gaussian_matches_statsmodels_local_constant(d, h):
    X, y, Xq = _data(d=d, seed=d)
    ours = NadarayaWatson(bandwidth=h).fit(X, y).predict(Xq)
    np.testing.assert_allclose(ours, _kernelreg(X, y, Xq, h), rtol=0, atol=1e-10)


def _kernel_by_hand(kernel, u):
    return {"gaussian": np.exp(-u**2 / 2), "boxcar": (u <= 1) * 1.0,
            "epanechnikov": np.maximum(0, 1 - u**2), "constant": np.ones_like(u)}[kernel]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("d", [1, 2])
def test_weights_are_the_normalised_radial_kernel(kernel, d):
    X, y, Xq = _data(n=40, d=d)
    model = NadarayaWatson(kernel=kernel, bandwidth=1.5).fit(X, y)
    u = np.sqrt(((Xq[:, None, :] - X[None, :, :]) ** 2).sum(-1)) / 1.5    # (Q, N)
    k = _kernel_by_hand(kernel, u)
    want = k / k.sum(axis=1, keepdims=True)
    weights = model.attention_weights(Xq)
    np.testing.assert_allclose(weights, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict(Xq), weights @ y, rtol=0, atol=1e-12)


def test_hand_computed_toy_answers():
    X = np.array([[0.0], [1.0], [3.0]])
    y = np.array([1.0, 2.0, 6.0])
    q = [[0.5]]
    fit = lambda kernel, h: NadarayaWatson(kernel=kernel, bandwidth=h).fit(X, y)  # noqa: E731
    assert fit("constant", 1.0).predict(q)[0] == pytest.approx(3.0, abs=1e-15)
    assert fit("boxcar", 1.0).predict(q)[0] == pytest.approx(1.5, abs=1e-15)
    # epanechnikov, h = 2: u = 0.25, 0.25, 1.25 -> weights 15/16, 15/16, 0
    assert fit("epanechnikov", 2.0).predict(q)[0] == pytest.approx(1.5, abs=1e-15)
    # gaussian, h = 1: weights exp(-1/8), exp(-1/8), exp(-25/8)
    w = np.exp(-np.array([1, 1, 25]) / 8)
    assert fit("gaussian", 1.0).predict(q)[0] == pytest.approx(w @ y / w.sum(), abs=1e-15)


@pytest.mark.parametrize("kernel", ["boxcar", "epanechnikov"])
def test_empty_window_falls_back_to_the_nearest_targets(kernel):
    X = np.array([[0.0], [1.0], [3.0], [5.0]])
    y = np.array([1.0, 2.0, 6.0, 10.0])
    model = NadarayaWatson(kernel=kernel, bandwidth=0.5).fit(X, y)
    pred = model.predict([[-7.0], [4.0], [2.2], [0.9]])      # 4.0: tie between 3 and 5
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(pred[:3], [1.0, 8.0, 6.0], rtol=0, atol=1e-15)
    assert pred[3] == 2.0                                   # inside a window: normal rule
    np.testing.assert_allclose(model.attention_weights([[4.0]]), [[0, 0, 0.5, 0.5]])


def test_gaussian_far_from_the_data_is_stable_and_tends_to_the_nearest_target():
    X = np.array([[0.0], [1.0], [2.0]])
    y = np.array([1.0, 2.0, 3.0])
    model = NadarayaWatson(bandwidth=0.01).fit(X, y)
    pred = model.predict([[1e3], [-1e3], [0.4]])
    np.testing.assert_allclose(pred, [3.0, 1.0, 1.0], rtol=0, atol=1e-12)


def test_constant_kernel_is_the_mean_and_multi_output_is_column_by_column():
    X, y, Xq = _data(n=30)
    Y = np.column_stack([y, -2 * y + 1])
    np.testing.assert_allclose(NadarayaWatson(kernel="constant").fit(X, y).predict(Xq),
                               np.full(len(Xq), y.mean()), rtol=0, atol=1e-12)
    model = NadarayaWatson(bandwidth=0.4).fit(X, Y)
    single = NadarayaWatson(bandwidth=0.4).fit(X, y).predict(Xq)
    np.testing.assert_allclose(model.predict(Xq), np.column_stack([single, -2 * single + 1]),
                               rtol=0, atol=1e-12)


def test_predict_in_blocks_equals_one_block(monkeypatch):
    X, y, Xq = _data(n=50, n_query=23)
    whole = NadarayaWatson(bandwidth=0.3).fit(X, y).predict(Xq)
    monkeypatch.setattr(nw_module, "_BLOCK_CELLS", 120)     # 2 query rows per block
    np.testing.assert_allclose(NadarayaWatson(bandwidth=0.3).fit(X, y).predict(Xq), whole,
                               rtol=0, atol=1e-14)


def test_passes_scikit_learns_estimator_checks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(NadarayaWatson(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results
              if r["status"] == "failed"]
    assert failed == []
    assert clone(NadarayaWatson(kernel="boxcar", bandwidth=2.0)).get_params() == {
        "kernel": "boxcar", "bandwidth": 2.0}


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"bandwidth": 0.0}, ValueError, "bandwidth must be a finite number > 0, got 0.0"),
        ({"bandwidth": -1}, ValueError, "bandwidth must be a finite number > 0, got -1"),
        ({"bandwidth": float("inf")}, ValueError, "bandwidth must be a finite number > 0"),
        ({"bandwidth": "wide"}, TypeError, "bandwidth must be a positive number, got 'wide'"),
        ({"kernel": "tricube"}, ValueError, "kernel must be one of .*; got 'tricube'"),
    ],
)
def test_bad_parameters_are_named_at_fit(params, error, match):
    X, y, _ = _data(n=10)
    model = NadarayaWatson(**params)                         # __init__ only stores
    with pytest.raises(error, match=match):
        model.fit(X, y)


def test_bad_data_and_unfitted_use():
    X, y, _ = _data(n=10, d=2)
    with pytest.raises(NotFittedError):
        NadarayaWatson().predict(X)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        NadarayaWatson().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        NadarayaWatson().fit(X, y[:5])
    model = NadarayaWatson().fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but NadarayaWatson is expecting 2"):
        model.attention_weights(np.zeros((4, 3)))


# --- the learned (parametric) version ---------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("d", [1, 2])
def test_parametric_equals_gaussian_nw_with_bandwidth_one_over_w(dtype, d):
    X, y, Xq = _data(n=40, d=d)
    w = 2.5
    model = ParametricNadarayaWatson(w=w, dtype=dtype)
    as_t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    q, k = (as_t(Xq[:, 0]), as_t(X[:, 0])) if d == 1 else (as_t(Xq), as_t(X))
    ours = model(q, k, as_t(y)).detach().double().numpy()
    ref = NadarayaWatson(bandwidth=1 / w).fit(X, y).predict(Xq)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-5)
    assert model.bandwidth == pytest.approx(1 / w)


def test_parametric_grads_match_a_torch_reference():
    X, y, Xq = _data(n=20)
    q, k, v = (torch.tensor(a[..., 0] if a.ndim == 2 else a, requires_grad=True)
               for a in (Xq, X, y))
    model = ParametricNadarayaWatson(w=1.7, dtype=torch.float64)
    model(q, k, v).pow(2).sum().backward()
    w_ref = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
    scores = -((q2[:, None] - k2[None, :]) * w_ref) ** 2 / 2
    (torch.nn.functional.softmax(scores, dim=1) @ v2).pow(2).sum().backward()
    for ours, ref in [(model.w.grad, w_ref.grad), (q.grad, q2.grad), (k.grad, k2.grad),
                      (v.grad, v2.grad)]:
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


def test_parametric_gradcheck_with_and_without_mask():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(6, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    model = ParametricNadarayaWatson(dtype=torch.float64)
    mask = torch.rand(5, 6, generator=gen) > 0.4
    mask[:, 0] = True

    def f(q, k, v, w, mask=None):
        return torch.func.functional_call(model, {"w": w}, (q, k, v), {"mask": mask})

    assert torch.autograd.gradcheck(f, (q, k, v, w))
    assert torch.autograd.gradcheck(lambda *a: f(*a, mask=mask), (q, k, v, w))
    weights = model.attention_weights(q, k, mask)
    assert torch.all(weights[~mask] == 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(5, dtype=torch.float64))


def test_learning_the_bandwidth_beats_a_bad_initial_one_on_held_out_data():
    rng = np.random.default_rng(3)
    f = lambda x: 2 * np.sin(x) + x ** 0.8  # noqa: E731
    x_train = np.sort(rng.uniform(0, 5, 60))
    y_train = f(x_train) + 0.5 * rng.normal(size=60)
    x_test = np.linspace(0.05, 4.95, 100)
    model = ParametricNadarayaWatson(w=0.2, dtype=torch.float64)   # h = 5: nearly the mean
    model.fit(x_train, y_train, epochs=0)
    before = np.mean((model.predict(x_test).numpy() - f(x_test)) ** 2)
    model.fit(x_train, y_train, epochs=100, lr=2.0)
    after = np.mean((model.predict(x_test).numpy() - f(x_test)) ** 2)
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert 0.1 < model.bandwidth < 1.5
    assert after < 0.3 * before


def test_leave_one_out_mask_excludes_each_points_own_key():
    x = torch.linspace(0, 1, 5, dtype=torch.float64)
    model = ParametricNadarayaWatson(w=3.0, dtype=torch.float64)
    others = ~torch.eye(5, dtype=torch.bool)
    weights = model.attention_weights(x, x, others)
    assert torch.all(torch.diagonal(weights) == 0)


def test_parametric_bad_inputs():
    model = ParametricNadarayaWatson()
    with pytest.raises(ValueError, match=r"got queries \(3, 2\), keys \(4, 3\)"):
        model(torch.zeros(3, 2), torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"keys \(4,\), values \(5,\)"):
        model(torch.zeros(3), torch.zeros(4), torch.zeros(5))
    with pytest.raises(ValueError, match=r"mask must be a bool tensor of shape \(3, 4\)"):
        model(torch.zeros(3), torch.zeros(4), torch.zeros(4), mask=torch.ones(4, 3).bool())
    with pytest.raises(ValueError, match=r"n >= 2 .* got x \(5,\), y \(4,\)"):
        model.fit(torch.zeros(5), torch.zeros(4))
    with pytest.raises(RuntimeError, match="not fitted"):
        ParametricNadarayaWatson().predict(torch.zeros(3))
    with pytest.raises(ValueError, match="w must be a finite number"):
        ParametricNadarayaWatson(w=float("nan"))


# --- the experiment ---------------------------------------------------------------------

def test_experiment_quick_numbers_and_figures():
    import matplotlib.pyplot as plt

    from mlnotebook.experiments import RunContext, get_experiment

    exp = get_experiment("nadaraya-watson")
    res = exp.compute(RunContext(params=dict(exp.profiles["quick"]), seed=0))
    m = res.metrics
    assert m["test_mse[learned]"] < 0.2 * m["test_mse[initial w]"]
    # constant ignores the width; a mid-sized width beats both extremes
    assert len({m[f"test_mse[constant, h={h:g}]"] for h in (0.1, 0.5, 2.0)}) == 1
    assert m["test_mse[gaussian, h=0.5]"] < min(m["test_mse[gaussian, h=0.1]"],
                                                m["test_mse[gaussian, h=2]"])
    for w in res.data["weights"].values():
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    figures = exp.plot(res)
    assert set(figures) == {"fits", "attention_weights", "learned_bandwidth"}
    for fig in figures.values():
        plt.close(fig)
