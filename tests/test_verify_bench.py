"""The verify and bench registries report failures honestly and time fairly."""

import pytest

from mlnotebook.bench import all_benchmarks
from mlnotebook.bench._base import BenchCase, Benchmark, run_benchmark, time_interleaved
from mlnotebook.entries import load_notebook
from mlnotebook.experiments import all_experiments
from mlnotebook.verify import all_checks
from mlnotebook.verify._base import Check, check, run_check


def _check(fn, tolerance=1e-9):
    return Check("t.fn", "t", "adam", "torch.optim.Adam", tolerance, fn)


@pytest.mark.parametrize(
    ("fn", "passed", "error"),
    [
        (lambda: 0.0, [True], None),
        (lambda: 1e-3, [False], None),
        (lambda: float("nan"), [False], "difference is not finite"),
        (lambda: {"a": 0.0, "b": 1.0}, [True, False], None),
        (lambda: 1 / 0, [False], "ZeroDivisionError: division by zero"),
    ],
)
def test_check_rows(fn, passed, error):
    rows = run_check(_check(fn))
    assert [r.passed for r in rows] == passed
    if error:
        assert rows[-1].error == error
        assert rows[-1].as_dict()["max_abs_diff"] is None


def test_check_needs_positive_tolerance():
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        check(topic="t", concept="adam", reference="x", tolerance=0)


def test_interleaving_alternates_who_goes_first():
    calls = []
    case = BenchCase(ours=lambda: calls.append("o"), reference=lambda: calls.append("r"))
    ours, ref = time_interleaved(case, repeats=4, warmup=0)
    assert len(ours) == len(ref) == 4
    assert "".join(calls) == "orroorro"
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        time_interleaved(case, repeats=0)


def test_benchmark_reports_ratio_of_medians_and_bandwidth():
    import time

    def setup(device, quick):
        return BenchCase(ours=lambda: time.sleep(0.002), reference=lambda: time.sleep(0.004),
                         bytes_moved=1e6)

    res = run_benchmark(Benchmark("t.sleep", "t", "adam", "ref", setup), repeats=5)
    assert 0.2 < res.ratio < 0.9
    assert res.info["ours_GB_per_s"] > res.info["reference_GB_per_s"]
    assert res.as_dict()["ratio"] == res.ratio


def test_every_registered_thing_points_at_a_real_entry():
    nb = load_notebook()
    for chk in all_checks():
        assert chk.concept in nb.entries, chk.name
    for bench in all_benchmarks():
        assert bench.concept in nb.entries, bench.name
    for exp in all_experiments().values():
        for entry_id in exp.entries:
            assert entry_id in nb.entries, (exp.id, entry_id)
            assert exp.id in nb.entries[entry_id].experiments, (exp.id, entry_id)
    for entry in nb.entries.values():
        for exp_id in entry.experiments:
            assert entry.id in all_experiments()[exp_id].entries, (entry.id, exp_id)


def test_a_case_can_cap_its_repeats():
    calls = []

    def setup(device, quick):
        return BenchCase(ours=lambda: calls.append("o"), reference=lambda: calls.append("r"),
                         max_repeats=2)

    res = run_benchmark(Benchmark("t.cap", "t", "adam", "ref", setup), repeats=9)
    assert res.repeats == 2 and calls.count("o") == 3  # one warm-up call, then two timed


@pytest.mark.parametrize("bench", all_benchmarks(), ids=lambda b: b.name)
def test_every_benchmark_runs_at_quick_size(bench):
    res = run_benchmark(bench, quick=True, repeats=1)
    assert res.ours_s > 0 and res.reference_s > 0 and res.info["device"] == "cpu"
