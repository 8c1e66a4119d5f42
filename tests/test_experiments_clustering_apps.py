"""The colour-quantisation and kmeans-scaling experiments: numbers that could go wrong."""

import math

import numpy as np
import pytest

from experiment_runs import compute_again, run_quick
from mlnotebook.experiments import colour_quantisation as cq
from mlnotebook.experiments import kmeans_scaling as ks

# MiniBatchKMeans learns its palette from batches, so its error may exceed Lloyd's by this much.
MINIBATCH_ERROR_FACTOR = 1.25


@pytest.fixture(scope="module")
def quant(tmp_path_factory):
    return run_quick(tmp_path_factory, "colour-quantisation")


@pytest.fixture(scope="module")
def scaling(tmp_path_factory):
    return run_quick(tmp_path_factory, "kmeans-scaling")


def _column(record: dict, table: str, name: str) -> list:
    t = record["tables"][table]
    return [row[t["columns"].index(name)] for row in t["rows"]]


# colour-quantisation


def test_quantisation_table_has_every_method_and_k(quant):
    params = quant["params"]
    rows = quant["tables"]["quantisation"]["rows"]
    assert [(r[0], r[1]) for r in rows] == [(m, k) for k in params["ks"]
                                            for m in params["methods"]]
    assert params["methods"] == ["KMeans", "MiniBatchKMeans"]
    for seconds in _column(quant, "quantisation", "fit s (machine-dependent)"):
        assert seconds > 0


def test_quantisation_error_falls_as_k_rises(quant):
    for method, curve in quant["data"]["curves"].items():
        mse = curve["mse"]
        assert all(b < a for a, b in zip(mse, mse[1:], strict=False)), method
        assert all(b > a for a, b in zip(curve["psnr"], curve["psnr"][1:], strict=False))


def test_psnr_is_the_error_in_decibels(quant):
    for mse, psnr in zip(_column(quant, "quantisation", "mean squared error per channel"),
                         _column(quant, "quantisation", "PSNR (dB)"), strict=True):
        assert 0 < mse < 1
        assert psnr == pytest.approx(10 * math.log10(1 / mse), rel=1e-12)


def test_minibatch_error_is_close_to_lloyd(quant):
    curves = quant["data"]["curves"]
    ratios = np.divide(curves["MiniBatchKMeans"]["mse"], curves["KMeans"]["mse"])
    assert np.all(ratios < MINIBATCH_ERROR_FACTOR), ratios
    assert quant["metrics"]["max_mse_ratio[MiniBatchKMeans / KMeans]"] == pytest.approx(
        ratios.max())


def test_shown_images_are_palette_indices_of_the_right_shape(quant):
    data = quant["data"]
    assert set(quant["figures"]) == {"images", "error_and_time"}
    height, width = data["image_shape"]
    assert data["n_pixels"] == height * width
    assert data["n_fit_pixels"] == quant["params"]["fit_pixels"] < data["n_pixels"]
    assert np.asarray(data["original"]).shape == (*data["shown_shape"], 3)
    expected = {f"{m}, k={k}" for m in data["methods"] for k in quant["params"]["shown_ks"]}
    assert set(data["images"]) == expected
    for label, image in data["images"].items():
        k = int(label.rsplit("=", 1)[1])
        palette, labels = np.asarray(image["palette"]), np.asarray(image["labels"])
        assert palette.shape == (k, 3)
        assert np.all((palette >= 0) & (palette <= 1))
        assert labels.shape == tuple(data["shown_shape"])
        assert labels.min() >= 0 and labels.max() < k


def test_shown_image_error_agrees_with_the_table(quant):
    """At display step 1 the stored labels are every pixel: recompute the error from them."""
    assert quant["params"]["display_step"] == 1
    pixels, _shape = cq.load_pixels(quant["params"]["step"])
    original = np.asarray(quant["data"]["original"]).reshape(-1, 3)
    np.testing.assert_array_equal(original, np.round(pixels * 255))
    for label, image in quant["data"]["images"].items():
        method, k = label.split(", k=")
        quantised = np.asarray(image["palette"])[np.asarray(image["labels"]).ravel()]
        mse = np.mean((pixels - quantised) ** 2)
        assert mse == pytest.approx(quant["metrics"][f"mse[{method}, k={k}]"], rel=1e-12)


def test_quantisation_same_seed_same_errors(quant):
    again = compute_again("colour-quantisation", quant)
    for method, curve in quant["data"]["curves"].items():
        assert again.data["curves"][method]["mse"] == curve["mse"], method
    for label, image in quant["data"]["images"].items():
        np.testing.assert_array_equal(again.data["images"][label]["labels"], image["labels"])


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        cq.make_estimator("sklearn", 4, 0, cq.EXPERIMENT.profiles["quick"])


# kmeans-scaling


def test_scaling_table_is_complete(scaling):
    params = scaling["params"]
    rows = scaling["tables"]["fit_time"]["rows"]
    expected = ([("KMeans", dt, n) for dt in params["dtypes"] for n in params["ns"]]
                + [("GaussianMixture", "float64", n) for n in params["gmm"]["ns"]])
    assert [tuple(r[:3]) for r in rows] == expected
    for ours, theirs, ratio in zip(_column(scaling, "fit_time", "ours s"),
                                   _column(scaling, "fit_time", "sklearn s"),
                                   _column(scaling, "fit_time", "ours / sklearn"),
                                   strict=True):
        assert ours > 0 and theirs > 0
        assert ratio == pytest.approx(ours / theirs, rel=0.01, abs=1e-3)


def test_both_sides_do_the_same_work(scaling):
    params = scaling["params"]
    iterations = {"KMeans": params["max_iter"], "GaussianMixture": params["gmm"]["max_iter"]}
    table = scaling["tables"]["fit_time"]
    for row in table["rows"]:
        record = dict(zip(table["columns"], row, strict=True))
        assert record["ours iterations"] == record["sklearn iterations"] \
            == iterations[record["model"]], row
        assert record["relative difference (inertia or lower bound)"] < 1e-9, row


def test_slopes_are_fitted_for_every_series(scaling):
    curves = scaling["data"]["curves"]
    assert set(curves) == {"KMeans float64", "GaussianMixture float64"}
    for label, curve in curves.items():
        for side in ("ours", "sklearn"):
            slope = scaling["metrics"][f"slope[{label}, {side}]"]
            assert slope == curve[f"slope_{side}"]
            assert math.isfinite(slope)
            assert slope == pytest.approx(ks.loglog_slope(
                curve["ns"], curve[side], scaling["params"]["slope_min_n"]))
    assert scaling["figures"] == ["fit_time"]


def test_loglog_slope_recovers_a_power_law():
    ns = np.array([1e3, 1e4, 1e5, 1e6])
    assert ks.loglog_slope(ns, 3e-7 * ns, 1e3) == pytest.approx(1.0)
    assert ks.loglog_slope(ns, 1e-9 * ns**2, 1e4) == pytest.approx(2.0)
    # a fixed cost at small n is left out by min_n
    assert ks.loglog_slope(ns, np.where(ns < 1e4, 1.0, 2e-6 * ns), 1e4) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="slope_min_n"):
        ks.loglog_slope(ns, ns, 1e6)


def test_scaling_same_seed_same_fits(scaling):
    again = compute_again("kmeans-scaling", scaling)
    old, new = scaling["tables"]["fit_time"], again.tables["fit_time"]
    timing = {"ours s", "sklearn s", "ours / sklearn"}
    keep = [i for i, c in enumerate(old["columns"]) if c not in timing]
    assert [[r[i] for i in keep] for r in new.rows] == [[r[i] for i in keep]
                                                         for r in old["rows"]]
