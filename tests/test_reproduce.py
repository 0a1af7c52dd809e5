"""`expbook reproduce` on a tiny deterministic python pipeline in real git/DVC repos (no mocks).

Also home of `make_pipeline_repo`/`tamper`, the repo builders test_check.py imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, dvc, dvc_init, git_init, sh
from expbook.cli import cli
from expbook.errors import NotFoundError
from expbook.repro.reproduce import curve_name, normalised_digest, reproduce

# deterministic results, plus the things that change every run: a wall-clock metric and
# dvclive-style TSVs with a timestamp column
TRAIN_PY = textwrap.dedent("""\
    import json, os, random, sys, time
    import yaml
    p = yaml.safe_load(open("params.yaml"))["train"]
    if p.get("fail"):
        sys.exit("asked to fail")
    time.sleep(p.get("sleep", 0))
    rng = random.Random(f"{p['seed']}-{p['lr']}")  # str seeds hash the same in every run
    acc = round(0.5 + p["lr"] + rng.random() / 100, 6)
    os.makedirs("out", exist_ok=True)
    with open("out/model.bin", "w") as f:
        f.write(f"{p['lr']} {p['seed']} {acc}\\n")
    os.makedirs("live/plots/metrics", exist_ok=True)
    with open("live/metrics.json", "w") as f:
        json.dump({"test": {"acc": acc}, "train_time": time.time(), "step": 1}, f)
    with open("live/plots/metrics/acc.tsv", "w") as f:
        f.write(f"timestamp\\tstep\\tacc\\n{time.time_ns()}\\t0\\t{acc}\\n")
    with open("summary.json", "w") as f:
        json.dump({"best": {"acc": acc}}, f)
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [train]
        outs:
          - out/model.bin
          - live/plots:
              cache: false
        metrics:
          - live/metrics.json:
              cache: false
          - summary.json    # cached by DVC: git does not hold it
    plots:
      - live/plots/metrics/acc.tsv:
          x: step
          y: acc
""")


def make_pipeline_repo(path: Path, lr: float = 0.1, seed: int = 1) -> str:
    """A committed DVC repo whose baseline ran once; returns the baseline sha."""
    git_init(path)
    dvc_init(path)
    commit_all(path, "init dvc")
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text(f"train:\n  lr: {lr}\n  seed: {seed}\n")
    dvc("repro", "-q", cwd=path)
    return commit_all(path, "baseline")


def exp_run(path: Path, name: str, *sets: str) -> str:
    """`dvc exp run -n NAME -S ...`; returns the experiment's ref."""
    dvc("exp", "run", "-q", "-n", name, *[a for s in sets for a in ("-S", s)], cwd=path)
    refs = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=path).stdout.split()
    return next(r for r in refs if r.endswith(f"/{name}"))


def tamper(path: Path, rev: str, files: dict[str, str], ref: str) -> str:
    """Commit `rev`'s tree with `files` replaced, as a sibling of `rev`, under `ref` (git plumbing;
    the repo's own index and HEAD are untouched)."""
    env = {"GIT_INDEX_FILE": str(path / ".git" / "expbook-test-index")}
    sh("git", "read-tree", rev, cwd=path, env=env)
    for name, text in files.items():
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=path,
            input=text,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        sh(
            "git",
            "update-index",
            "--add",
            "--cacheinfo",
            f"100644,{blob},{name}",
            cwd=path,
            env=env,
        )
    tree = sh("git", "write-tree", cwd=path, env=env).stdout.strip()
    parent = sh("git", "rev-parse", f"{rev}^", cwd=path).stdout.strip()
    sha = sh(
        "git", "commit-tree", tree, "-p", parent, "-m", f"tampered {rev}", cwd=path
    ).stdout.strip()
    sh("git", "update-ref", ref, sha, cwd=path)
    return ref


def show(path: Path, rev: str, name: str) -> str:
    return sh("git", "show", f"{rev}:{name}", cwd=path).stdout


def worktrees(path: Path) -> int:
    return sh("git", "worktree", "list", "--porcelain", cwd=path).stdout.count("worktree ")


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("repro")
    make_pipeline_repo(path)
    exp_run(path, "seed2", "train.seed=2")
    sh("git", "checkout", "-q", "--", ".", cwd=path)  # dvc exp run left the workspace applied
    return path


def status(path: Path) -> str:
    return sh("git", "status", "--porcelain", cwd=path).stdout


@pytest.mark.slow
def test_experiment_reproduces_bit_exactly_and_leaves_no_trace(repo):
    before = status(repo)
    ref = next(
        r
        for r in sh(
            "git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo
        ).stdout.split()
        if r.endswith("/seed2")
    )
    result = reproduce(repo, ref)
    assert result.error is None and result.bit_exact and result.exit_code == 0
    by_key = {d.key: d for d in result.diffs}
    assert by_key["live/metrics.json:test.acc"].status == "equal"
    assert by_key["live/metrics.json:train_time"].status == "ignored"
    assert by_key["out/model.bin"].status == "equal"
    # a DVC-cached metrics file: its recorded value comes from the original cache
    assert by_key["summary.json:best.acc"].status == "equal"
    assert by_key["summary.json:best.acc"].recorded == by_key["live/metrics.json:test.acc"].recorded
    # the dvclive-style TSV differs only in its timestamp column
    assert by_key["live/plots"].status == "equal"
    assert by_key["live/plots"].recorded != by_key["live/plots"].reproduced
    # issue 18: so the verdict does not claim every byte is the same
    assert result.summary().endswith("reproduced bit-exactly (ignored parts aside)")
    assert result.plots == ["live/plots/metrics/acc.tsv"]
    assert result.workspace is None and worktrees(repo) == 1 and status(repo) == before


@pytest.mark.slow
def test_tampered_metric_fails_with_diff_shown(repo):
    """Guards the core promise: a recorded metric that the code does not produce is caught."""
    metrics = json.loads(show(repo, "HEAD", "live/metrics.json"))
    metrics["test"]["acc"] = 0.99
    ref = tamper(repo, "HEAD", {"live/metrics.json": json.dumps(metrics)}, "refs/exps/tampered/acc")
    res = run_cli("reproduce", ref, "--repo", str(repo), "--format", "csv")
    assert res.exit_code == 1
    assert "live/metrics.json:test.acc,0.99," in res.output and ",differs," in res.output
    assert "NOT reproduced (1 difference)" in res.output


@pytest.mark.slow
def test_a_narrow_terminal_gets_the_differing_rows_as_blocks(repo, monkeypatch):
    """issue 18: at 40 columns the diff table left 5 characters a column ("metri c", "diffe
    rs"); under 60 columns each row is its kind and key, then aligned recorded/reproduced/
    status lines, every line within the width."""
    metrics = json.loads(show(repo, "HEAD", "live/metrics.json"))
    metrics["test"]["acc"] = 0.99
    ref = tamper(repo, "HEAD", {"live/metrics.json": json.dumps(metrics)}, "refs/exps/tampered/w")
    monkeypatch.setenv("COLUMNS", "40")
    res = run_cli("reproduce", ref, "--repo", str(repo))
    lines = res.output.splitlines()
    assert res.exit_code == 1 and max(len(line) for line in lines) <= 40
    assert "metric test.acc" in lines and "│" not in res.output
    assert "  recorded    0.99" in lines and "  status      differs" in lines


@pytest.mark.slow
@pytest.mark.parametrize(
    "delta, tolerance, code, word",
    [
        (1e-9, "1e-6", 0, "within tolerance"),
        (1e-3, "1e-6", 1, "NOT reproduced"),
    ],
)
def test_tolerance(repo, delta, tolerance, code, word):
    metrics = json.loads(show(repo, "HEAD", "live/metrics.json"))
    metrics["test"]["acc"] += delta
    ref = tamper(
        repo, "HEAD", {"live/metrics.json": json.dumps(metrics)}, f"refs/exps/tampered/tol-{code}"
    )
    res = run_cli("reproduce", ref, "--repo", str(repo), "--tolerance", tolerance)
    assert res.exit_code == code and word in res.output


@pytest.mark.slow
def test_tampered_output_hash_and_ignore_out(repo):
    lock = show(repo, "HEAD", "dvc.lock")
    model_md5 = next(
        line.split()[-1]
        for i, line in enumerate(lock.splitlines())
        if "md5:" in line and "out/model.bin" in lock.splitlines()[i - 2]
    )
    ref = tamper(
        repo, "HEAD", {"dvc.lock": lock.replace(model_md5, "ab" * 16)}, "refs/exps/tampered/model"
    )
    res = run_cli("reproduce", ref, "--repo", str(repo), "--format", "csv")
    assert res.exit_code == 1 and f"out,out/model.bin,{'ab' * 16},{model_md5},differs" in res.output
    res = run_cli("reproduce", ref, "--repo", str(repo), "--ignore-out", "out/*")
    assert res.exit_code == 0


@pytest.mark.slow
def test_failing_stage_is_an_error_and_the_worktree_is_removed(repo):
    ref = tamper(
        repo,
        "HEAD",
        {"params.yaml": "train:\n  lr: 0.1\n  seed: 1\n  fail: true\n"},
        "refs/exps/tampered/fail",
    )
    res = run_cli("reproduce", ref, "--repo", str(repo))
    assert res.exit_code == 2 and "asked to fail" in res.output
    assert worktrees(repo) == 1


@pytest.mark.slow
def test_keep_leaves_the_worktree(repo):
    res = run_cli("reproduce", "HEAD", "--repo", str(repo), "--keep")
    assert res.exit_code == 0, res.output
    kept = Path(res.output.split("worktree kept at ")[1].split()[0])
    assert (kept / "out" / "model.bin").is_file() and worktrees(repo) == 2
    sh("git", "worktree", "remove", "--force", str(kept), cwd=repo)


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["no-such-rev"], 2, "no-such-rev"),
        ([], 2, "either EXP or --sample"),
        (["HEAD", "--tolerance", "-1"], 2, "tolerance"),
        (["HEAD~1"], 2, "records no outputs or metrics"),  # the `dvc init` commit
    ],
)
def test_bad_input(repo, args, code, text):
    res = CliRunner().invoke(cli, ["reproduce", "--repo", str(repo), *args])
    assert res.exit_code == code and text in res.output


def test_unknown_rev_in_library(repo):
    with pytest.raises(NotFoundError, match="nope"):
        reproduce(repo, "nope")


@pytest.mark.parametrize(
    "name, a, b, same",
    [
        ("x.tsv", "timestamp\tstep\tacc\n1\t0\t0.5\n", "timestamp\tstep\tacc\n2\t0\t0.5\n", True),
        ("x.tsv", "timestamp\tstep\tacc\n1\t0\t0.5\n", "timestamp\tstep\tacc\n1\t0\t0.6\n", False),
        ("x.json", '{"acc": 1, "wall_time": 3}', '{"wall_time": 4, "acc": 1}', True),
        ("x.json", '{"acc": 1}', '{"acc": 2}', False),
        ("x.yaml", "a: {timestamp: 1, b: 2}\n", "a: {timestamp: 9, b: 2}\n", True),
        ("x.bin", "time 1", "time 2", False),
        ("x.json", "{not json", "{not json", True),
    ],
)
def test_normalised_digest_drops_ignored_keys_and_columns(tmp_path, name, a, b, same):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / name).write_text(a)
    (tmp_path / "b" / name).write_text(b)
    ignore = ["*time*"]
    assert (
        normalised_digest(tmp_path / "a" / name, ignore)
        == normalised_digest(tmp_path / "b" / name, ignore)
    ) is same


@pytest.mark.slow
def test_sample_reports_how_many_reproduced_bit_exactly(repo):
    pytest.importorskip("expbook.registry")
    res = run_cli(
        "reproduce", "--repo", str(repo), "--sample", "5", "--where", "kind = 'experiment'"
    )
    assert "1/1 reproduced bit-exactly" in res.output and res.exit_code == 0, res.output
    # --json: one parseable document on stdout, the summary lines on stderr (issue 13)
    res = run_cli(
        "reproduce",
        "--repo",
        str(repo),
        "--sample",
        "5",
        "--where",
        "kind = 'experiment'",
        "--json",
    )
    data = json.loads(res.stdout)
    assert data["summary"].startswith("1/1 reproduced bit-exactly") and res.exit_code == 0
    assert data["results"][0]["bit_exact"] and "1/1" in res.stderr


@pytest.mark.parametrize(
    "path, name",
    [
        ("metrics/train/plots/metrics/time/epoch_s.tsv", "time.epoch_s"),
        ("dvclive/plots/metrics/loss.tsv", "loss"),
        ("plots/metrics/step/wallclock_s.tsv", "step.wallclock_s"),
        ("metrics/train/plots/sklearn/roc.json", None),
        ("metrics/train/metrics.json", None),
    ],
)
def test_curve_name_of_dvclive_tsvs(path, name):
    """Curves of ignored metrics (time/epoch_s.tsv) are skipped like the metric key itself."""
    assert curve_name(path) == name


@pytest.mark.slow
def test_ctrl_c_removes_the_worktree(repo):
    """Guards the cleanup promise: an interrupted reproduction leaves no worktree behind."""
    import signal
    import sys
    import time

    from conftest import ROOT

    ref = tamper(
        repo,
        "HEAD",
        {"params.yaml": "train:\n  lr: 0.1\n  seed: 1\n  sleep: 60\n"},
        "refs/exps/tampered/slow",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from expbook.cli import main; main()",
            "reproduce",
            ref,
            "--repo",
            str(repo),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60

    def repro_started() -> bool:
        listing = sh("git", "worktree", "list", "--porcelain", cwd=repo).stdout
        paths = [
            Path(line.split(" ", 1)[1])
            for line in listing.splitlines()
            if line.startswith("worktree ")
        ][1:]
        return any((p.parent / "repro.log").exists() for p in paths)

    while not repro_started():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    time.sleep(1)  # let `dvc repro` start the sleeping stage
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    assert worktrees(repo) == 1


def test_a_nan_metric_reproduced_as_nan_is_equal():
    """issue 18: a pipeline logging a NaN metric could never pass `reproduce` or `check`: NaN
    recorded and NaN reproduced was "differs" (NaN != NaN); a number against NaN still is."""
    from expbook.repro.reproduce import Snapshot, compare

    nan = float("nan")
    before = Snapshot(metrics={"m.json:val.x": nan, "m.json:val.y": nan, "m.json:val.z": 0.5})
    after = Snapshot(metrics={"m.json:val.x": nan, "m.json:val.y": 0.5, "m.json:val.z": nan})
    status = {d.key: d.status for d in compare(before, after, tolerance=1.0)}
    assert status == {"m.json:val.x": "equal", "m.json:val.y": "differs", "m.json:val.z": "differs"}
