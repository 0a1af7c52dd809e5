"""Issue 18, "best is the worst for every loss": every ranking command takes a metric's
direction from --mode, the project's declaration ([tool.expbook.directions] in pyproject.toml)
or the metric's name, says which, and refuses a direction it cannot know. Before the fix
`--mode` defaulted to max: `best -m val.loss` named the run with the HIGHEST loss.

Real git + DVC repositories with real `dvc exp run` experiments (no mocks).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, dvc, dvc_init, git_init, sh
from expbook.cli import cli
from expbook.registry import directions
from expbook.sweep import load_spec

TRAIN_PY = textwrap.dedent("""\
    import json, yaml
    p = yaml.safe_load(open("params.yaml"))
    lr, seed = p["lr"], p["seed"]
    val = {"loss": round(lr + seed * 0.001, 6), "acc": round(1 - lr, 6), "score": round(lr * 10, 6)}
    json.dump({"val": val}, open("metrics.json", "w"))
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [lr, seed]
        metrics:
          - metrics.json:
              cache: false
""")
# experiment -> lr: the loss equals lr, so `low` has the lowest loss and `high` the highest
EXPS = {"low": 0.1, "mid": 0.5, "high": 0.9}


def _build(path: Path) -> Path:
    git_init(path)
    dvc_init(path)
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("lr: 0.3\nseed: 0\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "baseline")
    for name, lr in EXPS.items():
        dvc("exp", "run", "-q", "-n", name, "-S", f"lr={lr}", cwd=path)
    for name, lr in (("low", 0.1), ("high", 0.9)):  # seed groups of n=2 for stats
        dvc("exp", "run", "-q", "-n", f"{name}-s1", "-S", f"lr={lr}", "-S", "seed=1", cwd=path)
    sh("git", "checkout", "-q", "--", ".", cwd=path)  # dvc exp run left the last one applied
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("directions") / "repo"
    path.mkdir()
    return _build(path)


@pytest.fixture
def repo(built: Path, tmp_path: Path) -> Path:
    """A fresh copy per test: a test that writes pyproject.toml leaves the others alone."""
    dest = tmp_path / "repo"
    shutil.copytree(built, dest, symlinks=True)
    return dest


def run(repo: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, [*args, "--repo", str(repo)])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def declare(repo: Path, **modes: str) -> None:
    lines = ["[project]", 'name = "x"', "", "[tool.expbook.directions]"]
    lines += [f'"{key.replace("__", ".")}" = "{mode}"' for key, mode in modes.items()]
    (repo / "pyproject.toml").write_text("\n".join(lines) + "\n")


def refs(repo: Path) -> str:
    return sh("git", "for-each-ref", cwd=repo).stdout


# ---------------------------------------------------------------- best
def test_best_of_a_loss_is_the_lowest_and_says_why(repo):
    """issue 18: `best -m val.loss` named the run with the highest loss ([max])."""
    out = run(repo, "best", "-m", "val.loss").stdout
    assert out.startswith("best: low ("), out  # loss 0.1 (high: 0.9)
    assert "val.loss = 0.1 " in out and "[min, from the name]" in out
    data = json.loads(run(repo, "best", "-m", "val.loss", "--json").stdout)
    assert data["best"]["name"] == "low"
    assert (data["mode"], data["mode_source"]) == ("min", "name")


def test_best_of_an_accuracy_is_still_the_highest(repo):
    data = json.loads(run(repo, "best", "-m", "val.acc", "--top", "3", "--json").stdout)
    assert data["best"]["name"].startswith("low")  # acc 0.9: low and low-s1 tie
    assert (data["mode"], data["mode_source"]) == ("max", "name")


def test_declared_direction_beats_the_name(repo):
    """issue 18: one declaration per project; here it says a higher val.loss is better."""
    declare(repo, val__loss="max", val__score="min")
    out = run(repo, "best", "-m", "val.loss").stdout
    assert out.startswith("best: high"), out
    assert "[max, declared in pyproject.toml]" in out
    data = json.loads(run(repo, "best", "-m", "val.score", "--json").stdout)
    assert data["best"]["name"].startswith("low") and data["mode_source"] == "declared"
    # an explicit --mode beats both
    data = json.loads(run(repo, "best", "-m", "val.loss", "--mode", "min", "--json").stdout)
    assert data["best"]["name"] == "low" and data["mode_source"] == "--mode"


def test_best_of_a_metric_without_direction_asks_for_mode(repo):
    """issue 18: `best -m val.score` silently maximised; now one line naming --mode, exit 2."""
    result = run(repo, "best", "-m", "val.score", code=2)
    assert "--mode min|max" in result.output and "val.score" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    for args in (["-m", "val.score", "--by-group"], ["--score", "val.acc * 2"]):
        assert "--mode min|max" in run(repo, "best", *args, code=2).output
    data = json.loads(run(repo, "best", "-m", "val.score", "--mode", "max", "--json").stdout)
    assert data["best"]["name"].startswith("high")


def test_best_by_group_ranks_a_loss_lowest_first(repo):
    data = json.loads(run(repo, "best", "-m", "val.loss", "--by-group", "--json").stdout)
    assert (data["mode"], data["mode_source"]) == ("min", "name")
    assert data["groups"][0]["group"] == "lr=0.1"
    assert "[min, from the name]" in run(repo, "best", "-m", "val.loss", "--by-group").stdout


def test_bad_declaration_is_one_line_naming_the_file(repo):
    (repo / "pyproject.toml").write_text('[tool.expbook.directions]\n"val.loss" = "down"\n')
    out = run(repo, "best", "-m", "val.loss", code=2).output
    assert "pyproject.toml" in out and "'val.loss'" in out and "Traceback" not in out


# ---------------------------------------------------------------- sweep
def test_sweep_without_direction_refuses_before_creating_anything(repo):
    """issue 18: `sweep -m val.score` maximised it; now refused, naming the metric, with no
    experiment ref, no sweep state and no sweep workspace created."""
    before = refs(repo)
    result = run(repo, "sweep", "-S", "lr=0.2,0.4", "-m", "val.score", code=2)
    assert "sweep not started" in result.output and "'val.score'" in result.output
    assert "--mode min|max" in result.output
    assert refs(repo) == before and "refs/expbook/sweeps" not in refs(repo)
    tmp = repo / ".dvc" / "tmp" / "expbook"  # the registry's cache may be there, nothing else
    assert [p.name for p in tmp.glob("*") if not p.name.endswith(".pickle")] == []
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == ""


def test_spec_file_mode_wins_and_a_key_without_mode_is_resolved(tmp_path):
    """A spec's `mode:` is kept (also when -m names the same key); a metric without one gets
    its direction from the declaration or the name once the repo is known."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nmethod: nsga2\ntrials: 2\nparams: {lr: [0.1, 0.2]}\n"
        "metric: [{key: val.score, mode: min}, {key: val.loss}]\n"
    )
    spec = load_spec(path, {})
    assert [(m.key, m.mode, m.source) for m in spec.metrics] == [
        ("val.score", "min", "spec"),
        ("val.loss", None, None),
    ]
    spec.resolve_directions(tmp_path)
    assert [(m.mode, m.label) for m in spec.metrics] == [
        ("min", "[min, from the sweep spec]"),
        ("min", "[min, from the name]"),
    ]
    path.write_text("name: s\nparams: {lr: [0.1, 0.2]}\nmetric: {key: val.score, mode: min}\n")
    assert load_spec(path, {"metric": {"key": "val.score"}}).metrics[0].mode == "min"
    path.write_text("name: s\nparams: {lr: [0.1, 0.2]}\nmetric: {key: val.score}\n")
    with pytest.raises(directions.DirectionError, match=r"val\.score.*--mode min\|max"):
        load_spec(path, {}).resolve_directions(tmp_path)


@pytest.mark.slow
def test_sweep_minimises_a_loss_and_honours_a_spec_mode(repo):
    """issue 18: `sweep -m val.loss` maximised the loss (its best trial had the highest)."""
    out = run(repo, "sweep", "-S", "lr=0.2,0.6", "-m", "val.loss", "--name", "l", "--json")
    data = json.loads(out.stdout)
    assert data["metrics"] == [{"key": "val.loss", "mode": "min", "mode_source": "name"}]
    assert data["best"][0]["config"] == {"lr": 0.2}
    spec = repo / "s.yaml"
    spec.write_text("name: sc\nparams: {lr: [0.2, 0.6]}\nmetric: {key: val.score, mode: min}\n")
    sh("git", "add", "s.yaml", cwd=repo)
    sh("git", "commit", "-q", "-m", "spec", cwd=repo)
    data = json.loads(run(repo, "sweep", str(spec), "--json").stdout)
    assert data["metrics"] == [{"key": "val.score", "mode": "min", "mode_source": "spec"}]
    assert data["best"][0]["config"] == {"lr": 0.2}


# ---------------------------------------------------------------- stats / check
def test_stats_says_the_direction_and_which_group_is_better(repo):
    """issue 18: stats had no direction: a significant difference was never called better or
    worse; now the loss's groups are judged lower-is-better."""
    args = ("stats", "-m", "val.loss", "--where", "name ~ 'low*' or name ~ 'high*'")
    data = json.loads(run(repo, *args, "--control", "lr=0.1", "--json").stdout)
    assert (data["mode"], data["mode_source"]) == ("min", "name")
    verdicts = {g["label"]: g["verdict"] for g in data["groups"]}
    assert verdicts == {"lr=0.1": None, "lr=0.9": "worse"}
    declare(repo, val__loss="max")
    data = json.loads(run(repo, *args, "--control", "lr=0.1", "--json").stdout)
    assert data["mode_source"] == "declared"
    assert {g["label"]: g["verdict"] for g in data["groups"]}["lr=0.9"] == "better"
    assert "[max, declared in pyproject.toml]" in run(repo, *args).stdout
    # a metric whose direction is unknown still has its statistics, without verdicts
    data = json.loads(run(repo, "stats", "-m", "val.score", "--json").stdout)
    assert data["mode"] is None and all(g["verdict"] is None for g in data["groups"])


def _second_commit(repo: Path, lr: float) -> None:
    (repo / "params.yaml").write_text(f"lr: {lr}\nseed: 0\n")
    dvc("repro", "-q", cwd=repo)
    commit_all(repo, f"lr {lr}")


@pytest.mark.slow
def test_check_fail_if_worse_uses_the_direction(repo):
    """issue 18: `check` had no rule that knows a metric's direction; --fail-if-worse KEY
    fails when KEY moved the wrong way: a higher loss, a lower accuracy."""
    _second_commit(repo, 0.5)  # val.loss 0.3 -> 0.5, val.acc 0.7 -> 0.5: both worse
    out = run(repo, "check", "--against", "HEAD~1", "--fail-if-worse", "val.loss", code=1).stdout
    assert "val.loss > ref" in out and "FAILED" in out
    assert "worse" in out  # the metrics table marks the move against the direction
    run(repo, "check", "--against", "HEAD~1", "--fail-if-worse", "val.acc", code=1)
    declare(repo, val__loss="max")
    out = run(repo, "check", "--against", "HEAD~1", "--fail-if-worse", "val.loss").stdout
    assert "val.loss < ref" in out and "passed" in out


def test_check_fail_if_worse_refuses_an_unknown_direction_before_reproducing(repo):
    result = run(repo, "check", "--fail-if-worse", "val.score", code=2)
    assert "val.score" in result.output and "--fail-if" in result.output
    assert not list((repo / ".dvc" / "tmp").glob("*worktree*"))


# ---------------------------------------------------------------- dashboard
def test_dashboard_table_says_each_metrics_direction(repo):
    """issue 18: the dashboard's /api/table had no direction, so the page could only guess
    which way a metric is better; now columns.directions says it per metric key."""
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from expbook.ui import create_app

    declare(repo, val__acc="min")
    answer = TestClient(create_app(str(repo)), base_url="http://127.0.0.1").get("/api/table")
    found = answer.json()["columns"]["directions"]
    assert found["metrics.json:val.loss"] == {
        "mode": "min",
        "source": "name",
        "label": "[min, from the name]",
    }
    assert found["metrics.json:val.acc"]["mode"] == "min"  # declared beats the name
    assert found["metrics.json:val.score"]["mode"] is None
