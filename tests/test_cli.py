"""The mlnb command, called the way a user calls it."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from mlnotebook.cli import main


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    # rich folds table cells to the terminal width; make it wide so cells stay whole
    monkeypatch.setenv("COLUMNS", "250")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["show", "adam"], "Adam"),
        (["show", "scaled", "dot", "product"], "Scaled dot-product attention"),
        (["show", "SGD"], "torch.optim.SGD"),
        (["list", "--chapter", "optimisation"], "gradient-descent"),
        (["search", "momentum"], "momentum"),
    ],
)
def test_read_commands_succeed(capsys, tmp_path, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert needle in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "adma"], "no entry matches 'adma'; did you mean: adam"),
        (["show", "no-such-thing"], "no entry matches 'no-such-thing'; did you mean: "),
        (["list", "--chapter", "nope"], "unknown chapter 'nope'"),
        (["run", "no-such-experiment"], "unknown experiment 'no-such-experiment'"),
        (["run", "gd-learning-rate", "--seed", "-1"], "--seed must be >= 0"),
        (["run", "gd-learning-rate", "--device", "tpu"], "device must be 'cpu' or 'cuda'"),
        (["run", "gd-learning-rate", "--profile", "huge"], "invalid choice: 'huge'"),
        (["verify", "nope"], "unknown topic 'nope'"),
        (["bench", "nope"], "unknown topic 'nope'"),
        (["bench", "optim", "--repeats", "0"], "--repeats must be >= 1"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("mlnb: error: ")


def test_search_without_hits_exits_1(capsys):
    code, out, _ = run(capsys, "search", "qwertyuiop")
    assert code == 1 and "no entry mentions" in out


def test_verify_writes_rows_and_passes(capsys, tmp_path):
    code, out, err = run(capsys, "verify", "optim", "--out", str(tmp_path))
    assert code == 0, out + err
    rows = json.loads((tmp_path / "verify.json").read_text())["rows"]
    assert rows and all(r["passed"] for r in rows)
    assert {"sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta",
            "learning-rate-schedules"} <= {r["concept"] for r in rows}
    assert "0 failed" in out


def test_bench_quick_writes_ratios(capsys, tmp_path):
    code, out, err = run(capsys, "bench", "optim", "--quick", "--repeats", "2",
                         "--out", str(tmp_path))
    assert code == 0, err
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert rows and all(r["ratio"] > 0 and r["repeats"] == 2 for r in rows)


def test_run_quick_writes_results_figures_and_site(capsys, tmp_path):
    code, out, err = run(capsys, "run", "gd-learning-rate", "--profile", "quick",
                         "--seed", "3", "--out", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / "gd-learning-rate"
    record = json.loads((folder / "results.json").read_text())
    assert record["seed"] == 3 and record["profile"] == "quick" and record["device"] == "cpu"
    assert record["versions"]["torch"].startswith("2.")
    assert record["figures"]
    for name in record["figures"]:
        assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        ET.parse(folder / f"{name}.svg")  # well-formed XML
    index = tmp_path / "site" / "index.html"
    assert index.exists()
    assert not list(tmp_path.rglob(".*.json.*")), "temporary files were left behind"

    # the list command now shows when the experiment last ran
    code, out, _ = run(capsys, "list", "--chapter", "optimisation", "--results", str(tmp_path))
    assert code == 0 and record["started"][:10] in out

    code, out, _ = run(capsys, "build", "--results", str(tmp_path), "--out",
                       str(tmp_path / "site2"))
    assert code == 0 and (tmp_path / "site2" / "index.html").exists()


def test_console_script_and_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "mlnotebook", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("mlnb ")
    done = subprocess.run([sys.executable, "-m", "mlnotebook", "show"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "mlnb: error:" in done.stderr
