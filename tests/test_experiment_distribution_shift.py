"""The covariate-shift and label-shift experiments: numbers that could go wrong."""


import numpy as np
import pytest

from experiment_runs import compute_again, run_quick
from mlnotebook.experiments import Results, get_experiment
from mlnotebook.experiments import distribution_shift as ds


@pytest.fixture(scope="module")
def covariate(tmp_path_factory):
    return run_quick(tmp_path_factory, "covariate-shift-weighting")


@pytest.fixture(scope="module")
def label(tmp_path_factory):
    return run_quick(tmp_path_factory, "label-shift-bbse")


def _replot(experiment_id, record):
    """Figures drawn from the stored JSON alone (lists, None for inf), then closed."""
    import matplotlib.pyplot as plt

    results = Results(metrics=record["metrics"], data=record["data"])
    figures = get_experiment(experiment_id).plot(results)
    for fig in figures.values():
        plt.close(fig)
    return set(figures)


# covariate-shift-weighting


def test_weighting_lowers_the_target_error_at_the_larger_shift(covariate):
    m, big = covariate["metrics"], max(covariate["params"]["shifts"])
    plain = m[f"target_mse[unweighted, shift={big:g}]"]
    for method in ("weighted (estimated w)", "weighted (true w)", "oracle (target labels)"):
        assert m[f"target_mse[{method}, shift={big:g}]"] < 0.6 * plain, method
    assert m[f"weighted_beats_unweighted[shift={big:g}]"] == 1.0


def test_the_oracle_is_the_best_line_for_the_target(covariate):
    rows = covariate["tables"]["target_error"]["rows"]
    for row in rows:
        mse = dict(zip(ds.FIT_METHODS, row[1:1 + len(ds.FIT_METHODS)], strict=True))
        assert mse["oracle (target labels)"] <= min(mse.values()) + 0.02, row[0]


def test_weights_are_accurate_and_cost_samples_as_the_shift_grows(covariate):
    shifts = covariate["params"]["shifts"]
    m = covariate["metrics"]
    ess = [m[f"ess_fraction[shift={s:g}]"] for s in shifts]
    assert all(0 < e <= 1 for e in ess) and ess == sorted(ess, reverse=True)
    for s in shifts:
        assert m[f"weight_rel_error[shift={s:g}]"] < 0.2


def test_covariate_figures_and_table(covariate):
    assert set(covariate["figures"]) == {"inputs_and_fits", "importance_weights", "target_error"}
    table = covariate["tables"]["target_error"]
    assert [row[0] for row in table["rows"]] == covariate["params"]["shifts"]
    assert _replot("covariate-shift-weighting", covariate) == set(covariate["figures"])


def test_covariate_same_seed_same_results(covariate):
    again = compute_again("covariate-shift-weighting", covariate)
    assert again.metrics == pytest.approx(covariate["metrics"], rel=0, abs=0)


# label-shift-bbse


def test_bbse_raises_target_accuracy_under_strong_shift(label):
    m, top = label["metrics"], max(label["params"]["strengths"])
    plain = m[f"target_accuracy[uncorrected, strength={top:g}]"]
    assert m[f"target_accuracy[BBSE: adjusted probabilities, strength={top:g}]"] > plain + 0.03
    assert m[f"target_accuracy[BBSE: reweighted refit, strength={top:g}]"] > plain + 0.03
    oracle = m[f"target_accuracy[oracle prior: adjusted probabilities, strength={top:g}]"]
    assert oracle > plain + 0.03


def test_without_shift_the_oracle_prior_changes_nothing(label):
    # at strength 0 the true weights are all 1, so the adjusted predictions are the plain ones
    m = label["metrics"]
    assert (m["target_accuracy[oracle prior: adjusted probabilities, strength=0]"]
            == m["target_accuracy[uncorrected, strength=0]"])


def test_estimated_prior_tracks_the_true_prior(label):
    for s in label["data"]["strengths"]:
        est, true = np.asarray(s["estimated_prior_mean"]), np.asarray(s["true_prior"])
        np.testing.assert_allclose(est.sum(), 1.0, atol=1e-12)
        np.testing.assert_allclose(true.sum(), 1.0, atol=1e-12)
        assert np.max(np.abs(est - true)) < 0.1, s["strength"]
        assert label["metrics"][f"prior_max_abs_error[strength={s['strength']:g}]"] < 0.15


def test_label_figures_and_table(label):
    assert set(label["figures"]) == {"samples", "target_prior", "accuracy"}
    rows = label["tables"]["label_shift"]["rows"]
    assert [row[0] for row in rows] == label["params"]["strengths"]
    assert _replot("label-shift-bbse", label) == set(label["figures"])


def test_label_same_seed_same_results(label):
    again = compute_again("label-shift-bbse", label)
    assert again.metrics == pytest.approx(label["metrics"], rel=0, abs=0)


def test_skewed_prior():
    np.testing.assert_allclose(ds.skewed_prior(3, 0.5), [4 / 7, 2 / 7, 1 / 7])
