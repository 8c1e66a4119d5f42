"""GaussianMixture against scikit-learn, the EM template's promises, the EM illustration."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from mlnotebook.mixture import GaussianMixture, gaussian_1d_em, two_coins_em
from mlnotebook.mixture._gaussian_mixture import (
    precision_cholesky,
    precision_cholesky_from_precisions,
    precisions_from_cholesky,
)
from mlnotebook.verify.mixture import _blobs, compare_fits, starting_values

TYPES = ["full", "tied", "diag", "spherical"]


@pytest.fixture(scope="module")
def X():
    return _blobs()


def _fit_pair(X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**kwargs).fit(X), SkGaussianMixture(**kwargs).fit(X)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("stop", [dict(tol=1e-6, max_iter=500), dict(tol=0.0, max_iter=25)])
def test_same_start_gives_sklearns_fit(X, covariance_type, stop):
    start = starting_values(X, 4, covariance_type)
    ours, ref = _fit_pair(X, n_components=4, covariance_type=covariance_type, **start, **stop)
    assert ours.n_iter_ == ref.n_iter_ > 1
    assert ours.converged_ == ref.converged_
    assert compare_fits(ours, ref, X) < 1e-6
    np.testing.assert_allclose(ours.precisions_, ref.precisions_, rtol=1e-6)
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    assert ours.bic(X) == pytest.approx(ref.bic(X), rel=1e-9)
    assert ours.aic(X) == pytest.approx(ref.aic(X), rel=1e-9)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_same_random_state_gives_sklearns_fit(X, init_params, covariance_type):
    ours, ref = _fit_pair(X, n_components=3, covariance_type=covariance_type,
                          init_params=init_params, n_init=2, random_state=3)
    assert ours.n_iter_ == ref.n_iter_
    assert compare_fits(ours, ref, X) < 1e-6


def test_lower_bound_never_decreases_and_fit_predict_equals_predict(X):
    gm = GaussianMixture(5, init_params="random", random_state=0, tol=1e-8, max_iter=300)
    labels = gm.fit_predict(X)
    bounds = np.array(gm.lower_bounds_)
    assert len(bounds) == gm.n_iter_ > 10
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    assert gm.lower_bound_ == bounds[-1]
    np.testing.assert_array_equal(labels, gm.predict(X))


def test_log_density_is_the_mixture_of_scipy_gaussians(X):
    gm = GaussianMixture(3, random_state=0).fit(X)
    dens = sum(w * multivariate_normal(m, c).pdf(X)
               for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_, strict=True))
    np.testing.assert_allclose(gm.score_samples(X), np.log(dens), rtol=1e-10)
    assert gm.score(X) == pytest.approx(np.log(dens).mean(), rel=1e-10)
    np.testing.assert_allclose(gm.predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_cholesky_factor_round_trip(covariance_type):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4, 4))
    cov = {"full": A @ A.transpose(0, 2, 1) + np.eye(4), "tied": A[0] @ A[0].T + np.eye(4),
           "diag": rng.uniform(0.5, 2, (3, 4)), "spherical": rng.uniform(0.5, 2, 3)}[
        covariance_type]
    U = precision_cholesky(cov, covariance_type)
    prec = precisions_from_cholesky(U, covariance_type)
    inverse = (np.linalg.inv(cov) if covariance_type in ("full", "tied") else 1 / cov)
    np.testing.assert_allclose(prec, inverse, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(precision_cholesky_from_precisions(prec, covariance_type), U,
                               rtol=1e-8, atol=1e-12)
    if covariance_type in ("full", "tied"):
        assert np.allclose(U, np.triu(U))   # upper triangular, as scikit-learn stores it


def test_warm_start_continues_where_it_stopped(X):
    kwargs = dict(n_components=3, covariance_type="diag", random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        once = GaussianMixture(max_iter=20, **kwargs).fit(X)
        twice = GaussianMixture(max_iter=10, warm_start=True, **kwargs).fit(X).fit(X)
    np.testing.assert_allclose(twice.means_, once.means_, rtol=1e-12)
    assert twice.n_iter_ == 10


def test_n_init_keeps_the_best_start(X):
    # the first of several starts draws exactly what a single start draws
    kwargs = dict(n_components=4, init_params="random", random_state=0)
    single = GaussianMixture(**kwargs).fit(X)
    best = GaussianMixture(n_init=5, **kwargs).fit(X)
    assert best.lower_bound_ >= single.lower_bound_


def test_max_iter_zero_keeps_the_start_and_sample_follows_the_model(X):
    start = starting_values(X, 2, "full")
    gm = GaussianMixture(2, max_iter=0, **start).fit(X)
    np.testing.assert_array_equal(gm.means_, start["means_init"])
    np.testing.assert_allclose(gm.precisions_, start["precisions_init"])
    assert gm.n_iter_ == 0 and gm.lower_bound_ == -np.inf

    model = GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    draws, labels = model.sample(40_000)
    assert draws.shape == (40_000, X.shape[1]) and np.all(np.diff(labels) >= 0)
    np.testing.assert_allclose(np.bincount(labels) / 40_000, model.weights_, atol=0.01)
    first = draws[labels == 0]
    np.testing.assert_allclose(first.mean(axis=0), model.means_[0], atol=0.1)
    np.testing.assert_allclose(np.cov(first.T), model.covariances_[0], atol=0.3)


def test_duplicates_and_constant_features_work():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(30, 3)), 4, axis=0)
    X[:, 1] = 7.0
    gm = GaussianMixture(3, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.score_samples(X)))


def test_not_fitted_and_bad_input(X):
    with pytest.raises(NotFittedError):
        GaussianMixture().predict(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(bad)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(0).fit(X)
    with pytest.raises(ValueError, match="n_components=5 must be <= n_samples=4"):
        GaussianMixture(5).fit(X[:4])
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(2, covariance_type="round").fit(X)
    with pytest.raises(ValueError, match="means_init must have shape"):
        GaussianMixture(2, means_init=np.zeros((3, 5))).fit(X)
    with pytest.raises(ValueError, match="weights_init must sum to 1"):
        GaussianMixture(2, weights_init=[0.5, 0.6]).fit(X)
    with pytest.raises(ValueError, match="precisions_init must have shape"):
        GaussianMixture(2, precisions_init=np.ones((2, 5))).fit(X)
    not_pd = np.stack([np.eye(5), -np.eye(5)])
    with pytest.raises(ValueError, match="precisions_init must be symmetric positive"):
        GaussianMixture(2, precisions_init=not_pd).fit(X)
    with pytest.raises(ValueError, match="precisions_init must be positive"):
        GaussianMixture(2, covariance_type="spherical", precisions_init=[1.0, 0.0]).fit(X)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        GaussianMixture(2).fit(X).sample(0)
    with pytest.raises(ValueError, match="could not convert|numeric"):
        GaussianMixture(2).fit([["a", "b"], ["c", "d"]])


def test_collapsed_component_is_reported():
    X = np.array([[0.0], [0.0], [0.0], [1.0]])
    with pytest.raises(ValueError, match="not positive definite.*reg_covar"):
        GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)


# ----------------------------------------------------------------------- EM illustration

def test_two_coins_reproduces_the_paper_and_rises():
    trace = two_coins_em()
    np.testing.assert_allclose(trace.params[-1], [0.80, 0.52], atol=5e-3)
    assert trace.params.shape == (11, 2) and trace.log_likelihood.shape == (10,)
    assert np.all(np.diff(trace.log_likelihood) > 0)
    # the first E step by hand: set 1 (5 heads) is coin A's with 0.6^5 0.4^5 / (.. + 0.5^10)
    a = 0.6**5 * 0.4**5
    first = two_coins_em(heads=[5], n_iter=1)
    np.testing.assert_allclose(first.responsibilities[0, 0], a / (a + 0.5**10))


@pytest.mark.parametrize("seed", range(5))
def test_gaussian_1d_em_never_decreases(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-1, 1, 200), rng.normal(1.5, 0.5, 100)])
    trace = gaussian_1d_em(x, means_init=rng.normal(0, 1, 2), n_iter=80)
    ll = trace.log_likelihood
    assert np.all(np.diff(ll) >= -1e-12 * np.abs(ll[1:]))
    assert ll[-1] > ll[0]


def test_em_illustration_bad_input():
    with pytest.raises(ValueError, match="heads"):
        two_coins_em(heads=[11])
    with pytest.raises(ValueError, match="theta_init"):
        two_coins_em(theta_init=(1.0, 0.5))
    with pytest.raises(ValueError, match="n_iter"):
        gaussian_1d_em([0.0, 1.0], n_iter=0)
    with pytest.raises(ValueError, match="sigmas"):
        gaussian_1d_em([0.0, 1.0], sigmas_init=(1.0, 0.0))


def test_passes_sklearns_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_estimator(GaussianMixture())   # raises on the first failing check
