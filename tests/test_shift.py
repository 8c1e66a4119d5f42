"""Distribution-shift corrections: domain-classifier weights, BBSE, and the simulated problems."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlnotebook.shift import (
    BlackBoxShiftEstimator,
    CovariateShiftProblem,
    DomainClassifierWeights,
    LabelShiftProblem,
    adjust_proba,
    bbse_weights,
    covariate_shift_weights,
    effective_sample_size,
)
from mlnotebook.verify.distribution_shift import (
    GaussianBayesDomainClassifier,
    gaussian_density_ratio,
    population_confusion,
)


def _gaussians(mean_source, mean_target, n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    d = len(mean_source)
    X_train = rng.normal(size=(n_train, d)) + mean_source
    X_test = rng.normal(size=(n_test, d)) + mean_target
    return X_train, X_test


# ---------------------------------------------------------------- covariate shift


@pytest.mark.parametrize(("a", "b"), [([0.0], [0.7]), ([0.0, 0.0], [1.0, -0.5])],
                         ids=["d=1", "d=2"])
def test_weights_approach_the_analytic_density_ratio(a, b):
    # 2,000 inputs per domain, seed 0. Over seeds 0-9 the mean relative error stayed below
    # 0.075 and the correlation above 0.996; the bounds leave room for other BLAS builds.
    X_train, X_test = _gaussians(a, b, 2000, 2000)
    w_hat = DomainClassifierWeights().fit(X_train, X_test).weights(X_train)
    w = gaussian_density_ratio(X_train, a, b)
    assert np.mean(np.abs(w_hat - w)) / np.mean(w) < 0.1
    assert np.corrcoef(w_hat, w)[0, 1] > 0.99


@pytest.mark.parametrize(("n_train", "n_test"), [(300, 300), (1200, 300), (200, 800)])
def test_weights_equal_the_ratio_exactly_when_the_odds_are_exact(n_train, n_test):
    # The Bayes-optimal domain classifier has odds (n_test / n_train) q / p; only the
    # n_train / n_test factor turns them into q / p.
    a, b = [0.0, 0.0], [0.8, 0.3]
    X_train, X_test = _gaussians(a, b, n_train, n_test)
    dcw = DomainClassifierWeights(GaussianBayesDomainClassifier(a, b)).fit(X_train, X_test)
    assert dcw.prior_ratio_ == n_train / n_test
    X = np.random.default_rng(1).normal(size=(50, 2))
    np.testing.assert_allclose(dcw.weights(X), gaussian_density_ratio(X, a, b),
                               rtol=1e-12, atol=0)


def test_weights_average_to_one_over_the_source_whatever_the_sample_sizes():
    # E_p[q(x)/p(x)] = 1. Leaving out n_train / n_test would give a mean near 1/4 here.
    X_train, X_test = _gaussians([0.0], [0.5], 4000, 1000)
    w = covariate_shift_weights(X_train, X_test)
    assert abs(w.mean() - 1) < 0.1


def test_the_function_is_the_estimator_on_the_training_inputs():
    X_train, X_test = _gaussians([0.0], [1.0], 300, 200)
    dcw = DomainClassifierWeights(LogisticRegression(C=10.0), clip=5.0).fit(X_train, X_test)
    np.testing.assert_array_equal(
        covariate_shift_weights(X_train, X_test, classifier=LogisticRegression(C=10.0),
                                clip=5.0),
        dcw.weights(X_train))


def test_clip_caps_the_weights_and_leaves_the_rest():
    X_train, X_test = _gaussians([0.0], [1.5], 500, 500)
    free = DomainClassifierWeights().fit(X_train, X_test).weights(X_train)
    clipped = DomainClassifierWeights(clip=3.0).fit(X_train, X_test).weights(X_train)
    assert free.max() > 3.0
    np.testing.assert_array_equal(clipped, np.minimum(free, 3.0))


def test_the_classifier_is_cloned_not_fitted_in_place():
    classifier = LogisticRegression()
    dcw = DomainClassifierWeights(classifier).fit(*_gaussians([0.0], [1.0], 100, 100))
    assert not hasattr(classifier, "coef_")
    assert dcw.classifier_ is not classifier
    params = clone(dcw).get_params(deep=False)
    assert set(params) == {"classifier", "clip"} and params["clip"] is None
    assert isinstance(params["classifier"], LogisticRegression)


def test_weighted_fit_has_lower_target_error_than_the_unweighted_fit():
    problem = CovariateShiftProblem(target_mean=1.5)
    X_src, y_src = problem.sample(500, "source", 0)
    X_unl, _ = problem.sample(500, "target", 1)
    X_eval, y_eval = problem.sample(20000, "target", 2)
    w = covariate_shift_weights(X_src, X_unl)

    def target_mse(sample_weight):
        model = LinearRegression().fit(X_src, y_src, sample_weight=sample_weight)
        return np.mean((model.predict(X_eval) - y_eval) ** 2)

    plain, weighted = target_mse(None), target_mse(w)
    assert weighted < 0.6 * plain
    # and what it aims at: the fit to target labels, within 25% of its error
    oracle = LinearRegression().fit(*problem.sample(500, "target", 3))
    assert weighted < 1.25 * np.mean((oracle.predict(X_eval) - y_eval) ** 2)


def test_effective_sample_size():
    assert effective_sample_size(np.ones(40)) == pytest.approx(40)
    assert effective_sample_size([0.0, 0.0, 3.0]) == pytest.approx(1)
    assert effective_sample_size([1.0, 3.0]) == pytest.approx(16 / 10)
    for bad in ([], [[1.0]], [1.0, -1.0], [np.inf, 1.0], [0.0, 0.0]):
        with pytest.raises(ValueError, match="weights"):
            effective_sample_size(bad)


@pytest.mark.parametrize(("X_train", "X_test", "match"), [
    (np.empty((0, 1)), np.ones((3, 1)), "X_train"),
    (np.ones((3, 1)), np.empty((0, 1)), "X_test"),
    (np.ones(3), np.ones((3, 1)), "X_train"),
    (np.ones((3, 1)), np.ones((3, 2)), "X_test has 2 features but 1"),
    (np.ones((3, 1)), np.array([[1.0], [np.nan]]), "X_test"),
])
def test_domain_classifier_refuses_bad_inputs(X_train, X_test, match):
    with pytest.raises(ValueError, match=match):
        DomainClassifierWeights().fit(X_train, X_test)


def test_domain_classifier_refuses_bad_parameters_and_unfitted_use():
    X_train, X_test = _gaussians([0.0], [1.0], 50, 50)
    for clip in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="clip"):
            DomainClassifierWeights(clip=clip).fit(X_train, X_test)
    for clip in ("3", True):
        with pytest.raises(TypeError, match="clip"):
            DomainClassifierWeights(clip=clip).fit(X_train, X_test)
    with pytest.raises(TypeError, match="predict_proba"):
        DomainClassifierWeights(LinearRegression()).fit(X_train, X_test)
    with pytest.raises(NotFittedError):
        DomainClassifierWeights().weights(X_train)
    dcw = DomainClassifierWeights().fit(X_train, X_test)
    with pytest.raises(ValueError, match="X has 2 features but 1"):
        dcw.weights(np.ones((4, 2)))


# ---------------------------------------------------------------- label shift


def _random_population(k: int, seed: int):
    """A diagonally dominant P(f = i | y = j), a source prior and a target prior."""
    rng = np.random.default_rng(seed)
    given_y = 0.6 * np.eye(k) + 0.4 * rng.dirichlet(np.ones(k), size=k).T   # columns sum to 1
    return given_y, rng.dirichlet(np.ones(k)) + 0.01, rng.dirichlet(np.ones(k))


@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bbse_is_exact_on_the_population_system(k, seed):
    given_y, p, q = _random_population(k, seed)
    p /= p.sum()
    w = bbse_weights(given_y * p, given_y @ q)
    np.testing.assert_allclose(w, q / p, rtol=0, atol=1e-12)
    np.testing.assert_allclose((w * p).sum(), 1.0, rtol=0, atol=1e-12)


def test_bbse_accepts_counts_and_a_gaussian_population():
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.3, 0.1])
    given_y = population_confusion(3, spacing=1.5)
    np.testing.assert_allclose(given_y.sum(axis=0), 1.0, atol=1e-15)
    w = bbse_weights(1000 * given_y * p, 7 * (given_y @ q))      # scale does not matter
    np.testing.assert_allclose(w, q / p, rtol=0, atol=1e-12)


def test_negative_solutions_are_clipped_and_the_prior_renormalised():
    # C w = mu has the solution w = (2.5, -0.5): mu lies outside what any prior can give.
    C = np.array([[0.4, 0.1], [0.1, 0.4]])
    np.testing.assert_allclose(np.linalg.solve(C, [0.95, 0.05]), [2.5, -0.5])
    np.testing.assert_allclose(bbse_weights(C, [0.95, 0.05]), [2.0, 0.0], atol=1e-15)


def test_bbse_from_samples_is_close_to_the_true_prior():
    # 20,000 validation and target predictions, seed 3. Over seeds 0-9 the largest error
    # in a class proportion stayed below 0.018 (in a weight: below 0.1).
    problem = LabelShiftProblem(n_classes=5)
    p, q = np.full(5, 0.2), np.array([0.05, 0.1, 0.15, 0.3, 0.4])
    rng = np.random.default_rng(3)
    classifier = LogisticRegression().fit(*problem.sample(2000, p, rng))
    X_val, y_val = problem.sample(20000, p, rng)
    X_target, _ = problem.sample(20000, q, rng)
    bbse = BlackBoxShiftEstimator().fit(y_val, classifier.predict(X_val),
                                        classifier.predict(X_target))
    assert bbse.n_classes_ == 5
    assert np.max(np.abs(bbse.target_prior_ - q)) < 0.03
    assert np.max(np.abs(bbse.weights_ - q / p)) < 0.2
    np.testing.assert_allclose(bbse.target_prior_, bbse.weights_ * bbse.source_prior_)
    np.testing.assert_allclose(bbse.target_prior_.sum(), 1.0, atol=1e-12)
    np.testing.assert_allclose(bbse.confusion_matrix_.sum(), 1.0, atol=1e-12)
    assert 1 <= bbse.condition_number_ < 10


def test_bbse_estimator_counts_by_hand():
    y_val = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred_val = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    pred_target = np.array([0] * 7 + [1] * 3)
    bbse = BlackBoxShiftEstimator().fit(y_val, pred_val, pred_target)
    np.testing.assert_array_equal(bbse.confusion_matrix_, [[3 / 8, 1 / 8], [1 / 8, 3 / 8]])
    np.testing.assert_array_equal(bbse.target_pred_marginal_, [0.7, 0.3])
    np.testing.assert_allclose(bbse.weights_, [1.8, 0.2], atol=1e-14)
    np.testing.assert_allclose(bbse.sample_weight([1, 0, 0]), [0.2, 1.8, 1.8], atol=1e-14)


def test_adjust_proba_by_hand():
    proba = np.array([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    out = adjust_proba(proba, [3.0, 1.0])
    np.testing.assert_allclose(out, [[0.75, 0.25], [27 / 28, 1 / 28], [1.0, 0.0]])
    np.testing.assert_array_equal(adjust_proba(proba, [1.0, 1.0]), proba)
    # all the probability is on a class of weight 0: the row cannot move and is kept
    np.testing.assert_array_equal(adjust_proba(proba, [0.0, 2.0])[2], [1.0, 0.0])


def test_bbse_corrected_classifier_beats_the_uncorrected_one_on_the_target():
    problem = LabelShiftProblem(n_classes=5)
    p, q = np.full(5, 0.2), np.array([0.6, 0.2, 0.1, 0.05, 0.05])
    rng = np.random.default_rng(0)
    X_train, y_train = problem.sample(2000, p, rng)
    classifier = LogisticRegression().fit(X_train, y_train)
    X_val, y_val = problem.sample(2000, p, rng)
    X_unl, _ = problem.sample(2000, q, rng)
    X_eval, y_eval = problem.sample(20000, q, rng)
    bbse = BlackBoxShiftEstimator(5).fit(y_val, classifier.predict(X_val),
                                         classifier.predict(X_unl))
    proba = classifier.predict_proba(X_eval)
    plain = np.mean(proba.argmax(axis=1) == y_eval)
    adjusted = np.mean(bbse.adjust_proba(proba).argmax(axis=1) == y_eval)
    refit = LogisticRegression().fit(X_train, y_train,
                                     sample_weight=bbse.sample_weight(y_train))
    assert adjusted > plain + 0.05
    assert np.mean(refit.predict(X_eval) == y_eval) > plain + 0.05
    bayes = np.mean(problem.posterior(X_eval, q).argmax(axis=1) == y_eval)
    assert adjusted <= bayes + 0.01            # nobody beats the Bayes rule by much


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    (([0, 1, 2], [0, 1, -1], [0, 1]), {}, "y_pred_val has labels outside"),
    (([0, 1, 3], [0, 1, 2], [0, 1]), {"n_classes": 3}, "y_true_val has labels outside 0..2"),
    (([0, 1], [0, 1], [0, 5]), {"n_classes": 3}, "y_pred_target has labels outside"),
    (([0, 1, 1], [0, 1], [0, 1]), {}, "y_true_val and y_pred_val must have the same length"),
    (([], [], [0, 1]), {}, "y_true_val is empty"),
    (([0, 1], [0, 1], []), {}, "y_pred_target is empty"),
    (([0, 1.5], [0, 1], [0, 1]), {}, "y_true_val must hold integer"),
    (([[0, 1]], [0, 1], [0, 1]), {}, "y_true_val must be a 1-D"),
    ((["a", "b"], [0, 1], [0, 1]), {}, "y_true_val must hold integer"),
    (([0, 0], [0, 0], [0, 0]), {}, "only class 0"),
    # class 2 never a true label / never predicted: C is singular
    (([0, 1, 0, 1], [0, 1, 0, 2], [0, 1]), {}, "class 2 never occurs as a true label"),
    (([0, 1, 2, 2], [0, 1, 1, 1], [0, 1]), {}, "never predicts class 2"),
    # both classes predicted at the same rate: the columns of C are equal
    (([0, 0, 1, 1], [0, 1, 0, 1], [0, 1]), {}, "singular or ill-conditioned"),
    (([0, 1], [0, 1], [0, 1]), {"n_classes": 1}, "n_classes must be >= 2"),
    (([0, 1], [0, 1], [0, 1]), {"max_condition": 0.5}, "max_condition"),
])
def test_bbse_refuses_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        BlackBoxShiftEstimator(**kwargs).fit(*args)


def test_bbse_refuses_an_ill_conditioned_matrix_and_bad_types():
    y_val = np.array([0] * 50 + [1] * 50)
    pred_val = np.array([0] * 26 + [1] * 24 + [0] * 25 + [1] * 25)      # barely better than chance
    fit = BlackBoxShiftEstimator(max_condition=20).fit
    with pytest.raises(ValueError, match=r"condition number .* > max_condition=20"):
        fit(y_val, pred_val, [0, 1])
    assert BlackBoxShiftEstimator(max_condition=200).fit(y_val, pred_val, [0, 1])
    for bad in ({"n_classes": 2.0}, {"n_classes": True}, {"max_condition": "big"}):
        with pytest.raises(TypeError, match=next(iter(bad))):
            BlackBoxShiftEstimator(**bad).fit([0, 1], [0, 1], [0, 1])
    with pytest.raises(NotFittedError):
        BlackBoxShiftEstimator().sample_weight([0, 1])
    bbse = BlackBoxShiftEstimator().fit([0, 1], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="y has labels outside 0..1"):
        bbse.sample_weight([0, 2])


@pytest.mark.parametrize(("C", "mu", "match"), [
    (np.eye(3)[:2], [0.5, 0.5], "confusion_matrix must be square"),
    ([[1.0]], [1.0], "confusion_matrix must be square with >= 2"),
    (np.eye(2), [0.2, 0.3, 0.5], "target_pred_marginal must have shape"),
    ([[0.5, -0.1], [0.1, 0.5]], [0.5, 0.5], "confusion_matrix must be finite, >= 0"),
    (np.eye(2), [0.0, 0.0], "target_pred_marginal must be finite, >= 0 and not all zero"),
    ([[0.5, 0.5], [0.0, 0.0]], [0.5, 0.5], "never predicts class 1"),
    ([[0.5, 0.5], [0.5, 0.5]], [0.5, 0.5], "singular or ill-conditioned"),
])
def test_bbse_weights_refuses_bad_systems(C, mu, match):
    with pytest.raises(ValueError, match=match):
        bbse_weights(C, mu)


@pytest.mark.parametrize(("proba", "weights", "match"), [
    (np.ones(3), [1.0], "proba must be a non-empty 2-D"),
    (np.empty((0, 2)), [1.0, 1.0], "proba must be a non-empty 2-D"),
    (np.ones((2, 2)) / 2, [1.0], r"weights must have shape \(2,\)"),
    (np.ones((2, 2)) / 2, [1.0, -1.0], "weights must be finite and >= 0"),
])
def test_adjust_proba_refuses_bad_input(proba, weights, match):
    with pytest.raises(ValueError, match=match):
        adjust_proba(proba, weights)


# ---------------------------------------------------------------- simulated problems


def test_covariate_problem_ratio_is_the_ratio_of_its_densities():
    problem = CovariateShiftProblem(source_mean=-0.5, target_mean=1.0, scale=0.8)
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(
        problem.density_ratio(x[:, None]),
        problem.input_density(x, "target") / problem.input_density(x, "source"), rtol=1e-12)
    X, y = problem.sample(20000, "target", 0)
    assert X.shape == (20000, 1) and y.shape == (20000,)
    assert abs(X.mean() - 1.0) < 0.02 and abs(X.std() - 0.8) < 0.02
    residual = y - problem.regression_function(X[:, 0])
    assert abs(residual.std() - problem.noise) < 0.01
    np.testing.assert_array_equal(problem.sample(5, "source", 7)[0],
                                  problem.sample(5, "source", 7)[0])
    with pytest.raises(ValueError, match="domain"):
        problem.sample(5, "test", 0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        problem.sample(0, "source", 0)
    with pytest.raises(ValueError, match="scale"):
        CovariateShiftProblem(scale=0.0)


def test_label_problem_samples_its_prior_and_posterior_is_bayes():
    problem = LabelShiftProblem(n_classes=4, radius=2.0)
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    X, y = problem.sample(40000, prior, 0)
    np.testing.assert_allclose(np.bincount(y, minlength=4) / len(y), prior, atol=0.01)
    np.testing.assert_allclose(X[y == 2].mean(axis=0), problem.means[2], atol=0.03)
    post = problem.posterior(X[:100], prior)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # moving the posterior from one prior to another is adjust_proba with w = q / p
    uniform = np.full(4, 0.25)
    np.testing.assert_allclose(adjust_proba(problem.posterior(X[:100], uniform), prior / 0.25),
                               post, rtol=0, atol=1e-12)
    for bad in ([0.5, 0.5], [0.5, 0.5, 0.5, -0.5], [0.3, 0.3, 0.3, 0.3]):
        with pytest.raises(ValueError, match="prior"):
            problem.sample(10, bad, 0)
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        LabelShiftProblem(n_classes=1)
