"""PolynomialFeatures against sklearn.preprocessing.PolynomialFeatures, bit for bit."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import preprocessing as skpp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from mlnotebook.preprocessing import PolynomialFeatures


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices only; on a busy machine extra BLAS threads just spin."""
    with threadpool_limits(limits=1):
        yield


OPTIONS = [dict(degree=d, interaction_only=i, include_bias=b)
           for d, i, b in itertools.product([0, 1, 2, 3, 4, (2, 3), (0, 2), (3, 3)],
                                            [False, True], [True, False])
           if not (d == 0 and not b)]


def _no_columns(kwargs, n_features):
    """Options for which every monomial is excluded: both libraries refuse these."""
    low = kwargs["degree"][0] if isinstance(kwargs["degree"], tuple) else 0
    return kwargs["interaction_only"] and not kwargs["include_bias"] and low > n_features


@pytest.mark.parametrize("kwargs", OPTIONS, ids=str)
@pytest.mark.parametrize("n_features", [1, 2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_columns_in_the_same_order_as_sklearn(kwargs, n_features, dtype):
    if _no_columns(kwargs, n_features):
        with pytest.raises(ValueError, match="leaves no columns"):
            PolynomialFeatures(**kwargs).fit(np.ones((2, n_features)))
        return
    X = np.random.default_rng(n_features).standard_normal((30, n_features)).astype(dtype)
    ours, theirs = PolynomialFeatures(**kwargs).fit(X), skpp.PolynomialFeatures(**kwargs).fit(X)
    a, b = ours.transform(X), theirs.transform(X)
    assert a.dtype == b.dtype == dtype
    np.testing.assert_array_equal(a, b)  # exact: the products are formed in the same order
    np.testing.assert_array_equal(ours.powers_, theirs.powers_)
    assert ours.get_feature_names_out().tolist() == theirs.get_feature_names_out().tolist()
    assert ours.n_output_features_ == theirs.n_output_features_ == a.shape[1]


def test_two_features_degree_two_by_hand():
    XP = PolynomialFeatures(2).fit_transform(np.array([[2.0, 3.0], [-1.0, 0.5]]))
    np.testing.assert_array_equal(XP, [[1, 2, 3, 4, 6, 9], [1, -1, 0.5, 1, -0.5, 0.25]])
    XP = PolynomialFeatures(3, interaction_only=True, include_bias=False).fit_transform(
        np.array([[2.0, 3.0, 5.0]]))
    np.testing.assert_array_equal(XP, [[2, 3, 5, 6, 10, 15, 30]])


@pytest.mark.parametrize(("n_features", "degree"), [(1, 5), (3, 3), (4, 2), (6, 4)])
def test_column_count_is_n_plus_d_choose_d(n_features, degree):
    poly = PolynomialFeatures(degree).fit(np.ones((1, n_features)))
    assert poly.n_output_features_ == math.comb(n_features + degree, degree)
    assert np.all(poly.powers_.sum(axis=1) <= degree)
    assert len({tuple(row) for row in poly.powers_}) == poly.n_output_features_


def test_names_from_a_data_frame_and_from_input_features():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    poly = PolynomialFeatures(2).fit(frame)
    assert poly.get_feature_names_out().tolist() == ["1", "a", "b", "a^2", "a b", "b^2"]
    assert poly.get_feature_names_out(["a", "b"]).tolist()[-1] == "b^2"
    with pytest.raises(ValueError, match="differ from the names seen in fit"):
        poly.get_feature_names_out(["u", "v"])
    plain = PolynomialFeatures(2).fit(np.ones((2, 2)))
    assert plain.get_feature_names_out(["u", "v"]).tolist()[3:] == ["u^2", "u v", "v^2"]
    with pytest.raises(ValueError, match="input_features has 1 names but fit saw 2"):
        plain.get_feature_names_out(["u"])


def test_works_in_a_pipeline_and_clones():
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    x = np.linspace(-1, 1, 20)[:, None]
    y = 1 - 2 * x[:, 0] + 3 * x[:, 0] ** 3
    model = make_pipeline(PolynomialFeatures(3, include_bias=False), LinearRegression())
    np.testing.assert_allclose(model.fit(x, y).predict(x), y, atol=1e-12)
    assert clone(PolynomialFeatures(4, interaction_only=True)).get_params()["degree"] == 4


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(degree=-1), ValueError, "degree must be a non-negative integer, got -1"),
    (dict(degree=(3, 2)), ValueError, "0 <= min_degree <= max_degree"),
    (dict(degree=2.0), TypeError, "degree must be an int or a pair of ints"),
    (dict(degree=0, include_bias=False), ValueError, "would give no columns"),
    (dict(degree=2, interaction_only="yes"), TypeError, "interaction_only must be True or"),
])
def test_bad_parameters_are_refused_at_fit(kwargs, error, match):
    poly = PolynomialFeatures(**kwargs)  # __init__ only stores
    with pytest.raises(error, match=match):
        poly.fit(np.ones((3, 2)))


def test_transform_checks_fit_and_width():
    with pytest.raises(NotFittedError):
        PolynomialFeatures().transform(np.ones((2, 2)))
    poly = PolynomialFeatures().fit(np.ones((2, 2)))
    with pytest.raises(ValueError, match="X has 3 features, but PolynomialFeatures is "
                                         "expecting 2"):
        poly.transform(np.ones((2, 3)))
