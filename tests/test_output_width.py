"""issue 18: `show`, `compare`, `stats`, `reproduce` and `best --by-group` fit the terminal they
print to, in a real pty of 80 and 120 columns (and $COLUMNS), and still show what matters: the
varied param (train.lr) and the key metric (test.acc / val.acc). Also the content of those
outputs: compare hides equal values and marks better/worse, stats picks a usable control and
clips an accuracy's CI, a passing reproduce is a verdict plus the rows that are not equal.

Real git + DVC repository (`dvc exp run`), no mocks; the commands run as a user runs them.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import commit_all, dvc, dvc_init, git_init, sh
from pty_helpers import max_width, run_in_pty

pytestmark = pytest.mark.slow

# deterministic: test.acc of lr=0.2 is 1.0, 0.95, 0.98 over seeds 1-3 (its t-interval passes 1);
# class_counts.* are the same in every run (a data-preparation breakdown); samples_seen is a
# large integer that changes with lr; environment.json holds a 4,000-character packages line
TRAIN_PY = textwrap.dedent("""\
    import json, os, time
    import yaml
    p = yaml.safe_load(open("params.yaml"))["train"]
    lr, seed = p["lr"], p["seed"]
    acc = round(min(1.0, 0.75 + lr + {1: 0.05, 2: 0.0, 3: 0.03}[seed]), 6)
    val = round(acc - 0.01, 6)
    metrics = {
        "val": {"acc": val, "loss": round(1 - val, 6)},
        "test": {"acc": acc},
        "train": {"samples_seen": int(60000 * (1 + lr * 10))},
        "class_counts": {str(i): 5000 + 37 * i for i in range(10)},
        "train_time": time.time(),
    }
    with open("metrics.json", "w") as f:
        json.dump(metrics, f)
    packages = " ".join(f"some-package-{i}==1.{i}.0" for i in range(160))
    with open("environment.json", "w") as f:
        json.dump({"python": "3.11.4", "packages": packages}, f)
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [train, model]
        outs:
          - environment.json:
              cache: false
        metrics:
          - metrics.json:
              cache: false
""")
ARCH = "resnet-50-with-squeeze-excitation-and-a-long-descriptive-name-v2"
EXP = "lr-0.2-seed-1"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """main: train.lr=0.05 seed 1 (a group of one); experiments lr=0.1 and lr=0.2, seeds 1-3."""
    path = git_init(tmp_path_factory.mktemp("width"))
    dvc_init(path)
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text(
        f"train:\n  lr: 0.05\n  seed: 1\n  epochs: 2\nmodel:\n  arch: {ARCH}\n"
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "baseline")
    for lr in (0.1, 0.2):
        for seed in (1, 2, 3):
            name = f"lr-{lr}-seed-{seed}"
            dvc(
                "exp",
                "run",
                "-q",
                "-n",
                name,
                "-S",
                f"train.lr={lr}",
                "-S",
                f"train.seed={seed}",
                cwd=path,
            )
    sh("git", "checkout", "-q", "--", ".", cwd=path)  # dvc exp run left the last one applied
    return path


COMMANDS = {
    "show": ["show", EXP],
    "compare": ["compare", "main", "lr-0.1-seed-1", EXP],
    "stats": ["stats", "-m", "test.acc"],
    "best --by-group": [
        "best",
        "-m",
        "test.acc",
        "--by-group",
        "--group-by",
        "train.lr,model.arch",
    ],
}


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_output_fits_the_terminal(repo, command, columns):
    """issue 18: measured at 80 columns: stats 263 wide, best --by-group 204, show 4,123
    (the packages line), compare of 3 runs 84."""
    res = run_in_pty(COMMANDS[command], cwd=repo, columns=columns)
    assert res.returncode == 0, res.text
    assert max_width(res.text) <= columns, res.text
    assert "lr" in res.text and "0.2" in res.text, res.text  # the varied param and its value
    assert "acc" in res.text, res.text  # the key metric


@pytest.mark.parametrize("columns", [80, 120])
def test_reproduce_fits_and_is_a_verdict(repo, columns):
    """issue 18: a passing `reproduce` printed every equal row (219 wide) before the verdict;
    now the rows that are not equal (here: the ignored timing metric and environment.json),
    then one line that says it reproduced."""
    res = run_in_pty(["reproduce", EXP], cwd=repo, columns=columns)
    assert res.returncode == 0, res.text
    assert max_width(res.text) <= columns, res.text
    assert "reproduced bit-exactly" in res.text
    assert "train_time" in res.text and "environment.json" in res.text  # ignored: shown
    assert "class_counts" not in res.text and "test.acc" not in res.text  # equal: hidden
    assert "--verbose" in res.text
    verbose = run_in_pty(["reproduce", EXP, "--verbose"], cwd=repo, columns=columns)
    assert verbose.returncode == 0 and max_width(verbose.text) <= columns, verbose.text
    assert "class_counts.9" in verbose.text and "test.acc" in verbose.text


def test_show_folds_long_values(repo):
    """issue 18: `show` printed environment.json's packages on one 4,123-character line; every
    package is still there, folded."""
    res = run_in_pty(["show", EXP], cwd=repo, columns=80)
    flat = " ".join(res.text.split())
    assert "some-package-0==1.0.0" in flat and "some-package-159==1.159.0" in flat
    assert max_width(res.text) <= 80


def cli(repo: Path, *args: str, columns: int = 100) -> str:
    """stdout of `python -m expbook ARGS` through a pipe, as wide as $COLUMNS says."""
    proc = sh(sys.executable, "-m", "expbook", *args, cwd=repo, env={"COLUMNS": str(columns)})
    return proc.stdout


def test_compare_hides_equal_values_and_marks_direction(repo):
    """issue 18: `compare` listed ~30 unchanged class_counts.* rows as (+0), mixed params and
    metrics, and said nothing of which way is better."""
    out = cli(repo, "compare", "main", "lr-0.1-seed-1", EXP)
    assert "class_counts" not in out  # equal everywhere: hidden
    assert "--all" in out
    params_at, metrics_at = out.index("params"), out.index("metrics (delta vs main)")
    assert params_at < metrics_at and out.index("train.lr") < metrics_at
    # key metrics (a known direction) before the others
    assert out.index("test.acc", metrics_at) < out.index("samples_seen", metrics_at)
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert "better" in lines["test.acc"] and "worse" not in lines["test.acc"]
    assert "(-0.05 better)" in lines["val.loss"]  # a loss that went down: better
    # a direction unknown from the name: a delta without a mark
    seen = lines["train.samples_seen"]
    assert "(+30000)" in seen and "better" not in seen and "worse" not in seen
    every = cli(repo, "compare", "main", EXP, "--all")
    assert "class_counts.9" in every and "model.arch" in every


def test_compare_integer_deltas_are_integers(repo):
    """issue 18: deltas of integers printed as floats (+3e+04 for 30000 more samples)."""
    out = cli(repo, "compare", "main", "lr-0.1-seed-1", EXP)
    assert "(+30000)" in out and "(+90000)" in out and "e+04" not in out
    data = json.loads(cli(repo, "compare", "main", EXP, "--json"))
    seen = data["metrics"]["metrics.json:train.samples_seen"]
    assert seen["deltas"] == [None, 90000] and seen["marks"] == [None, None]
    acc = data["metrics"]["metrics.json:test.acc"]
    assert acc["direction"] == "max" and acc["marks"][1] == "better"
    assert data["hidden"]["metrics"] >= 10


def test_stats_default_control_and_clipped_interval(repo):
    """issue 18: `stats` with no options compared against main's group of n=1 (every row "no
    test"), and printed an accuracy's upper CI as more than 1."""
    data = json.loads(cli(repo, "stats", "-m", "test.acc", "--json"))
    groups = {g["label"]: g for g in data["groups"]}
    assert groups["train.lr=0.1"]["baseline"] is True and data["control_reason"] == "largest"
    high = groups["train.lr=0.2"]
    assert high["p_welch"] is not None and high["ci_high"] == 1.0 and high["ci_clipped"] is True
    out = cli(repo, "stats", "-m", "test.acc")
    assert "control: train.lr=0.1 (the largest group" in " ".join(out.split())
    assert "--control" in out and "clipped to [0, 1]" in " ".join(out.split())
    assert "1]*" in out  # the clipped interval is marked


def test_show_escapes_control_characters(repo):
    """issue 18: user strings reach the terminal with control characters shown escaped, so a
    note cannot clear the screen or recolour what follows."""
    cli(repo, "note", "lr-0.1-seed-2", "see \x1b[2J\x1b[31mthis\rnote")
    out = cli(repo, "show", "lr-0.1-seed-2")
    assert "\x1b" not in out and "\r" not in out
    assert "see \\x1b[2J\\x1b[31mthis\\rnote" in out
