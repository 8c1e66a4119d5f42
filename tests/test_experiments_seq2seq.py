"""The seq2seq-translation, seq2seq-attention-maps and beam-search experiments."""

import json

import numpy as np
import pytest
import torch

from experiment_runs import compute_again
from mlnotebook.experiments import _seq2seq_common as common
from mlnotebook.experiments import beam_search as bs
from mlnotebook.experiments import get_experiment, run_experiment
from mlnotebook.experiments import seq2seq_attention_maps as maps

IDS = ("seq2seq-translation", "seq2seq-attention-maps", "beam-search")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq2seq")
    return {i: json.loads(run_experiment(get_experiment(i), profile="quick", seed=0,
                                         out=out).read_text()) for i in IDS}


# seq2seq-translation


def test_translation_has_every_model_and_figure(runs):
    record = runs["seq2seq-translation"]
    assert set(record["figures"]) == {"learning_curves", "accuracy_vs_length"}
    dates, params = record["data"]["dates"], record["params"]["dates"]
    assert list(dates["models"]) == list(common.MODELS)
    for kind, m in dates["models"].items():
        # the quick profile has no time budget and no stop level: every epoch runs
        assert m["epochs"] == params["train"]["max_epochs"], kind
        # epoch 0 is the untrained model, evaluated at 0 seconds
        assert m["curve"]["epoch"] == list(range(m["epochs"] + 1))
        assert m["curve"]["train_seconds"][0] == 0.0
        assert np.all(np.diff(m["curve"]["train_seconds"]) > 0)
        assert 0.0 <= m["exact_match"] <= 1.0 and 0.0 <= m["bleu"] <= 1.0
        assert sum(m["length_counts"]) == dates["n_test"]
        for key in ("seconds_to_95", "seconds_to_98"):
            assert m[key] is None or 0 < m[key] <= m["train_seconds"]
    for name, met in record["metrics"].items():
        if name.startswith("target_met"):
            assert isinstance(met, bool), name


def test_translation_length_buckets_add_up_to_the_exact_match(runs):
    for part in ("dates", "reversal"):
        data = runs["seq2seq-translation"]["data"][part]
        for kind, m in data["models"].items():
            counts = np.array(m["length_counts"])
            acc = np.array([0.0 if a is None else a for a in m["accuracy_by_length"]])
            assert (acc * counts).sum() / counts.sum() == pytest.approx(m["exact_match"]), (
                part, kind)


def test_translation_final_scores_are_the_last_evaluation(runs):
    for kind, m in runs["seq2seq-translation"]["data"]["dates"]["models"].items():
        assert m["curve"]["test_exact_match"][-1] == pytest.approx(m["exact_match"]), kind
        assert m["curve"]["test_bleu"][-1] == pytest.approx(m["bleu"]), kind


def test_translation_same_seed_same_numbers(runs):
    record = runs["seq2seq-translation"]
    again = compute_again("seq2seq-translation", record)
    for kind, m in record["data"]["dates"]["models"].items():
        curve = again.data["dates"]["models"][kind]["curve"]
        for key in ("train_loss", "test_exact_match", "test_bleu"):
            assert curve[key] == m["curve"][key], (kind, key)
        assert (again.data["reversal"]["models"][kind]["accuracy_by_length"]
                == record["data"]["reversal"]["models"][kind]["accuracy_by_length"])


def test_accuracy_by_length_bins_half_open():
    correct = np.array([1.0, 0.0, 1.0, 1.0])
    acc, counts = common.accuracy_by_length(correct, np.array([3, 4, 5, 9]), [3, 5, 7, 9])
    assert counts == [2, 1, 0] and acc == [0.5, 1.0, None]   # 9 is past the last edge


def test_build_model_refuses_unknown_kind_and_odd_bahdanau_width():
    data = common.date_data(20, 5, 5, seed=0)
    sizes = {"embed": 4, "hidden": 7, "dropout": 0.0}
    with pytest.raises(ValueError, match="model kind"):
        common.build_model("lstm", data, sizes)
    with pytest.raises(ValueError, match="hidden size must be even"):
        common.build_model("bahdanau", data, sizes)


# seq2seq-attention-maps


def test_bahdanau_rows_sum_to_one_over_real_source_characters(runs):
    heatmaps = runs["seq2seq-attention-maps"]["data"]["bahdanau"]
    assert len(heatmaps) == runs["seq2seq-attention-maps"]["params"]["n_samples"]
    padded = 0
    for m in heatmaps:
        w, n_src = np.asarray(m["weights"]), len(m["source"])
        assert w.shape[0] == len(m["output"]) >= 1
        np.testing.assert_allclose(w[:, :n_src].sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(w[:, n_src:] == 0.0)        # the batch's padding gets no weight
        padded += w.shape[1] > n_src
    assert padded >= 1                            # the samples differ in length


def test_samples_go_from_short_to_long(runs):
    lengths = [len(m["source"]) for m in runs["seq2seq-attention-maps"]["data"]["bahdanau"]]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]


def test_transformer_heads_have_the_right_shapes_and_sum_to_one(runs):
    record = runs["seq2seq-attention-maps"]
    t, sizes = record["data"]["transformer"], record["params"]["sizes"]
    n_src, n_out = len(t["source"]), len(t["output"])
    assert len(t["encoder"]) == len(t["cross"]) == sizes["layers"]
    for enc, cross in zip(t["encoder"], t["cross"], strict=True):
        enc, cross = np.asarray(enc), np.asarray(cross)
        assert enc.shape == (sizes["nhead"], n_src, n_src)
        assert cross.shape == (sizes["nhead"], n_out, n_src)
        np.testing.assert_allclose(enc.sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(cross.sum(-1), 1.0, rtol=1e-5)


def test_attention_maps_same_seed_same_numbers(runs):
    record = runs["seq2seq-attention-maps"]
    again = compute_again("seq2seq-attention-maps", record)
    assert again.metrics == record["metrics"]
    np.testing.assert_array_equal(np.asarray(again.data["bahdanau"][0]["weights"]),
                                  np.asarray(record["data"]["bahdanau"][0]["weights"]))


def test_copy_attention_counts_mass_on_the_same_digit():
    # "a1b2" -> "1", "2", "x": the digits sit at source positions 1 and 3
    weights = torch.zeros(1, 3, 5)
    weights[0, 0, 1] = 1.0                   # all on the "1"
    weights[0, 1, 3], weights[0, 1, 0] = 0.25, 0.75
    weights[0, 2, 2] = 1.0                   # "x" is no digit: not counted
    assert maps.copy_attention(weights, [list("a1b2")], [["1", "2", "x"]]) == 0.625


# beam-search


def _stages(record):
    return record["data"]["stages"].values()


def test_beam_of_width_one_is_greedy(runs):
    record = runs["beam-search"]
    for stage in _stages(record):
        rows = stage["decoders"]
        greedy = rows["greedy"]
        for alpha in record["params"]["alphas"]:
            one = rows[f"beam 1, alpha={alpha:g}"]
            for key in ("exact_match", "bleu", "mean_log_prob", "mean_length"):
                assert one[key] == pytest.approx(greedy[key], abs=1e-9), (alpha, key)
            assert one["differs_from_greedy"] == 0.0


def test_beam_table_lists_every_decoder_at_every_stage(runs):
    record = runs["beam-search"]
    p = record["params"]
    table = record["tables"]["decoders"]
    per_stage = 1 + len(p["beam_widths"]) * len(p["alphas"])
    assert len(table["rows"]) == per_stage * len(p["decode_after_epochs"])
    assert [row[0] for row in table["rows"][::per_stage]] == p["decode_after_epochs"]
    assert all(row[1] == "greedy" for row in table["rows"][::per_stage])
    seconds = [stage["train_seconds"] for stage in _stages(record)]
    assert seconds == sorted(seconds) and seconds[0] > 0
    for stage in _stages(record):
        for row in stage["decoders"].values():
            assert row["mean_log_prob"] <= 0.0 and row["seconds"] > 0
            assert 0.0 <= row["more_probable_than_greedy"] <= row["differs_from_greedy"] <= 1


def test_beam_search_same_seed_same_numbers(runs):
    record = runs["beam-search"]
    again = compute_again("beam-search", record)
    for name, stage in record["data"]["stages"].items():
        for label, row in stage["decoders"].items():
            for key in ("exact_match", "bleu", "mean_log_prob", "mean_length"):
                assert (again.data["stages"][name]["decoders"][label][key]
                        == row[key]), (name, label, key)


def test_number_data_holds_out_unseen_numbers():
    data = bs.number_data(200, 20, 50, seed=3)
    sources = {"".join(data.src_vocab.decode(ids)) for ids in data.train.src_ids}
    held_out = [s for s, _ in data.test_pairs + data.valid_pairs]
    assert len(held_out) == len(set(held_out)) == 70
    assert not sources & set(held_out)
