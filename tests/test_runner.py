"""The experiment runner: seeding, validation, atomic output, the registry."""

import json

import pytest

from mlnotebook._io import atomic_write_json, read_json
from mlnotebook.experiments import (
    Experiment,
    Results,
    Table,
    all_experiments,
    get_experiment,
    register,
    resolve_device,
    run_experiment,
)
from mlnotebook.experiments._base import _REGISTRY


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    def run(exp, seed, name):
        path = run_experiment(exp, profile="quick", seed=seed, out=tmp_path / name)
        record = json.loads(path.read_text())
        return record["metrics"], record["tables"], record["data"]

    exp = get_experiment("gd-learning-rate")
    assert run(exp, 1, "a") == run(exp, 1, "b")
    toy = _toy()  # draws from ctx.rng, so the seed must matter
    assert run(toy, 1, "c") == run(toy, 1, "d")
    assert run(toy, 1, "c")[2] != run(toy, 2, "e")[2]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"profile": "huge"}, ValueError, "profile must be one of"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
        ({"seed": 1.5}, ValueError, "seed must be a non-negative integer"),
        ({"device": "tpu"}, ValueError, "device must be 'cpu' or 'cuda'"),
        ({"device": 0}, TypeError, "device must be a string"),
    ],
)
def test_bad_run_arguments(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        run_experiment(get_experiment("gd-learning-rate"), out=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir()), "nothing is written for a refused run"


def test_cuda_refused_clearly_without_cuda():
    import torch

    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_unknown_experiment_lists_known_ones():
    with pytest.raises(KeyError, match="gd-learning-rate"):
        get_experiment("nope")


def _toy(exp_id="toy", compute=None):
    def default_compute(ctx):
        x = ctx.rng.normal(size=3)
        return Results(metrics={"mean": float(x.mean()), "bad": float("nan")},
                       tables={"t": Table(["a", "b"], [[1, 2.5]])}, data={"x": x})

    return Experiment(id=exp_id, title="Toy", entries=("gradient-descent",),
                      profiles={"quick": {}, "default": {}, "full": {}},
                      compute=compute or default_compute, plot=lambda results: {})


def test_results_are_plain_json_and_nan_becomes_null(tmp_path):
    path = run_experiment(_toy(), profile="quick", seed=0, out=tmp_path)
    record = json.loads(path.read_text())
    assert record["metrics"]["bad"] is None and len(record["data"]["x"]) == 3
    assert record["tables"]["t"] == {"columns": ["a", "b"], "rows": [[1, 2.5]]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


def test_compute_returning_the_wrong_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match="returned dict, not Results"):
        run_experiment(_toy(compute=lambda ctx: {}), out=tmp_path)


def test_experiment_definition_is_validated():
    with pytest.raises(ValueError, match=r"profiles \['full'\] are missing"):
        Experiment(id="x", title="x", entries=("adam",), profiles={"quick": {}, "default": {}},
                   compute=lambda c: Results(), plot=lambda r: {})
    with pytest.raises(ValueError, match="'entries' must name at least one entry"):
        Experiment(id="x", title="x", entries=(), profiles=dict.fromkeys(
            ("quick", "default", "full"), {}), compute=lambda c: Results(), plot=lambda r: {})
    with pytest.raises(ValueError, match="has 1 cells but there are 2 columns"):
        Table(["a", "b"], [[1]])


def test_registry_refuses_a_second_experiment_with_the_same_id():
    all_experiments()
    first = _toy("toy-registry")
    try:
        register(first)
        register(first)  # the same object again is fine (module re-import)
        with pytest.raises(ValueError, match="registered twice"):
            register(_toy("toy-registry", compute=lambda ctx: Results()))
    finally:
        _REGISTRY.pop("toy-registry", None)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"a": float("nan")})
    assert read_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert read_json(tmp_path / "missing.json") is None
