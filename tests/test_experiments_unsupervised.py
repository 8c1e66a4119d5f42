"""The Gaussian-mixture application experiments: numbers that could go wrong.

gmm-anomaly-detection, gmm-choosing-k, soft-vs-hard-clustering and em-log-likelihood, each
run once at its quick profile (seed 0), then checked and recomputed.
"""

import numpy as np
import pytest

from experiment_runs import compute_again, run_quick
from mlnotebook.experiments import em_log_likelihood as eml
from mlnotebook.experiments import soft_vs_hard_clustering as svh


@pytest.fixture(scope="module")
def anomaly(tmp_path_factory):
    return run_quick(tmp_path_factory, "gmm-anomaly-detection")


@pytest.fixture(scope="module")
def choosing(tmp_path_factory):
    return run_quick(tmp_path_factory, "gmm-choosing-k")


@pytest.fixture(scope="module")
def soft(tmp_path_factory):
    return run_quick(tmp_path_factory, "soft-vs-hard-clustering")


@pytest.fixture(scope="module")
def em(tmp_path_factory):
    return run_quick(tmp_path_factory, "em-log-likelihood")


# gmm-anomaly-detection


def test_anomaly_figures_and_tables(anomaly):
    assert set(anomaly["figures"]) == {"auc_vs_components", "roc", "density_2d"}
    rows = anomaly["tables"]["auc"]["rows"]
    assert [row[0] for row in rows] == ["full", "tied", "diag", "spherical",
                                        "k-means distance"]
    ks = anomaly["params"]["n_components"]
    for name, values in anomaly["data"]["auc"].items():
        assert len(values) == len(ks), name
        assert all(0.0 <= v <= 1.0 for v in values), name


def test_gmm_density_ranks_anomalies_well_above_chance(anomaly):
    m = anomaly["metrics"]
    assert m["best_auc"] > 0.85
    assert m["toy_auc"] > 0.9
    # more components describe the five normal digits better than one Gaussian
    full = anomaly["data"]["auc"]["full"]
    assert full[-1] > full[0] + 0.2


def test_one_component_full_tied_diag_agree(anomaly):
    # with one component the three types differ only in the off-diagonal covariances
    m = anomaly["metrics"]
    assert m["auc[full, k=1]"] == pytest.approx(m["auc[tied, k=1]"], abs=1e-12)


def test_one_spherical_gaussian_ranks_like_distance_to_the_mean(anomaly):
    # both scores are monotone in ||x - mean||, so their ROC curves coincide
    auc = anomaly["data"]["auc"]
    assert auc["spherical"][0] == pytest.approx(auc["k-means distance"][0], abs=1e-12)


def test_threshold_flags_few_normal_and_most_anomalous_points(anomaly):
    m = anomaly["metrics"]
    assert m["toy_false_alarm_rate"] <= 0.05
    assert m["toy_detection_rate"] >= 0.7
    toy = anomaly["data"]["toy"]
    flagged = np.asarray(toy["flagged"], bool)
    assert flagged.sum() > 0
    grid = np.asarray(toy["log_density"], float)
    assert grid.shape == (len(toy["grid"]), len(toy["grid"]))
    assert np.all(np.isfinite(grid))


def test_anomaly_same_seed_same_numbers(anomaly):
    again = compute_again("gmm-anomaly-detection", anomaly)
    assert again.data["auc"] == anomaly["data"]["auc"]
    assert again.metrics["toy_auc"] == anomaly["metrics"]["toy_auc"]


# gmm-choosing-k


def test_bic_picks_the_true_k_with_full_covariances(choosing):
    m = choosing["metrics"]
    n = choosing["params"]["n_samples"][0]
    assert m[f"bic_recovers[n={n}, full]"] == 1.0
    assert m[f"bic_joint_recovers[n={n}]"] > 0


def test_wrong_covariance_types_need_more_components(choosing):
    # elongated, rotated clusters: spherical components must be spent to cover each one
    rows = {row[1]: row for row in choosing["tables"]["recovery"]["rows"]}
    assert rows["spherical"][3] > choosing["params"]["true_k"]


def test_criteria_curves_have_one_value_per_type_and_k(choosing):
    curves = choosing["data"]["shown"]["curves"]
    k_max = choosing["params"]["k_max"]
    for criterion in ("bic", "aic"):
        values = np.asarray(curves[criterion])
        assert values.shape == (4, k_max)
        assert np.all(np.isfinite(values))
    # same likelihood, larger penalty: BIC exceeds AIC once ln n > 2
    assert np.all(np.asarray(curves["bic"]) > np.asarray(curves["aic"]))


def test_choosing_same_seed_same_numbers(choosing):
    again = compute_again("gmm-choosing-k", choosing)
    assert again.metrics == choosing["metrics"]
    assert np.array_equal(again.data["shown"]["curves"]["bic"],
                          choosing["data"]["shown"]["curves"]["bic"])


# soft-vs-hard-clustering


def test_gmm_beats_kmeans_on_anisotropic_clusters(soft):
    m = soft["metrics"]
    assert m["gmm_ari[anisotropic]"] > 0.9
    assert m["kmeans_ari[anisotropic]"] < 0.6
    assert m["gmm_wins[anisotropic]"] == soft["params"]["n_seeds"]
    assert m["gmm_ari[unequal]"] > m["kmeans_ari[unequal]"]


def test_confident_memberships_are_more_often_right(soft):
    m = soft["metrics"]
    assert m["confident_accuracy[anisotropic]"] > m["uncertain_accuracy[anisotropic]"]
    assert m["confident_accuracy[anisotropic]"] > 0.97


def test_soft_figures_show_each_data_set(soft):
    assert set(soft["figures"]) == {"clusters_anisotropic", "clusters_unequal", "ari"}
    for name in svh.DATASETS:
        shown = soft["data"]["shown"][name]
        entropy = np.asarray(shown["gmm_entropy"])
        assert np.all(entropy >= -1e-12) and np.all(entropy <= np.log(3) + 1e-12)
        assert np.asarray(shown["gmm_covariances"]).shape == (3, 2, 2)


def test_soft_same_seed_same_numbers(soft):
    again = compute_again("soft-vs-hard-clustering", soft)
    for name in svh.DATASETS:
        assert again.data["per_seed"][name] == soft["data"]["per_seed"][name]


def test_match_labels_undoes_a_permutation():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    assert np.array_equal(svh.match_labels(y, np.array([2, 2, 0, 0, 1, 1, 0]), 3),
                          np.array([0, 0, 1, 1, 2, 2, 1]))


def test_ellipse_points_lie_at_the_asked_mahalanobis_distance():
    cov = np.array([[2.0, 0.7], [0.7, 0.5]])
    ring = svh.ellipse_points([1.0, -2.0], cov, 2.0) - [1.0, -2.0]
    maha = np.einsum("ni,ij,nj->n", ring, np.linalg.inv(cov), ring)
    np.testing.assert_allclose(maha, 4.0, rtol=1e-12)


def test_make_data_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        svh.make_data("moons", 10, np.random.default_rng(0))


# em-log-likelihood


def test_every_em_trace_rises_monotonically(em):
    traces = [run["log_likelihood"] for run in em["data"]["coins"].values()]
    traces += [run["log_likelihood"] for run in em["data"]["mixtures"]]
    traces += [run["lower_bounds"] for run in em["data"]["gmm_runs"].values()]
    for trace in traces:
        assert np.all(np.diff(np.asarray(trace)) >= -1e-10)
    for key in ("coins_min_increase", "mixture_min_increase", "gmm_min_increase"):
        assert em["metrics"][key] >= -1e-10, key


def test_two_coins_reaches_the_papers_answer_and_its_mirror(em):
    m = em["metrics"]
    assert m["coins_theta_A[first start]"] == pytest.approx(0.80, abs=0.005)
    assert m["coins_theta_B[first start]"] == pytest.approx(0.52, abs=0.005)
    swapped = em["data"]["coins"]["(0.5, 0.6)"]["params"][-1]
    np.testing.assert_allclose(swapped, [0.5196, 0.7968], atol=1e-3)
    # equal coins stay equal: the symmetric start is a fixed point of EM
    stuck = np.asarray(em["data"]["coins"]["(0.5, 0.5)"]["params"])
    np.testing.assert_allclose(stuck[:, 0], stuck[:, 1], atol=1e-15)


def test_mixture_starts_reach_different_optima(em):
    m = em["metrics"]
    assert m["mixture_distinct_optima"] >= 2
    assert m["mixture_best_log_likelihood"] > m["mixture_worst_log_likelihood"] + 1.0
    assert m["symmetric_start_mean_gap"] == pytest.approx(0.0, abs=1e-12)
    lls = [row[1] for row in em["tables"]["mixture_optima"]["rows"]]
    assert lls == sorted(lls, reverse=True)


def test_gaussian_mixture_reproduces_the_1d_em(em):
    assert em["metrics"]["gmm_vs_1d_em_max_abs_diff"] < 1e-8


def test_em_same_seed_same_numbers(em):
    again = compute_again("em-log-likelihood", em)
    assert [list(r["log_likelihood"]) for r in again.data["mixtures"]] == \
        [r["log_likelihood"] for r in em["data"]["mixtures"]]
    assert [list(r["lower_bounds"]) for r in again.data["gmm_runs"].values()] == \
        [r["lower_bounds"] for r in em["data"]["gmm_runs"].values()]


def test_coins_surface_peaks_where_em_ends():
    grid = np.linspace(0.01, 0.99, 99)
    surface = eml.coins_surface((5, 9, 8, 4, 7), 10, grid)
    row, col = np.unravel_index(np.argmax(surface), surface.shape)
    ends = {(round(grid[col], 2), round(grid[row], 2))}
    assert ends <= {(0.8, 0.52), (0.52, 0.8)}


def test_iterations_to_settle():
    assert eml.iterations_to_settle([0.0, 1.0, 1.5, 1.5 + 1e-9, 1.5 + 2e-9], 1e-6) == 3
    assert eml.min_increase([1.0, 2.0, 1.5]) == -0.5
