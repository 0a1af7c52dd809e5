"""`expbook gc` on ten real experiments of the tiny pipeline (each with a DVC-cached model.bin):
keep-best policies, protected experiments, dry runs that change nothing, cache and remote
object removal that DVC's own gc agrees with, and a kill -9 in the middle of `--yes`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import dvc, sh
from gc_support import BRANCHED, NOTED, TAGGED, build_sweep_repo, copy_repo, gc
from test_sweep_support import exp_refs, exp_show, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path_factory, tmp_path: Path) -> Path:
    """A copy of ten finished experiments s-001..s-010, three of them protected
    (gc_support.build_sweep_repo: built once per test process)."""
    return copy_repo(build_sweep_repo(tmp_path_factory), tmp_path / "copy")


def snapshot(repo: Path) -> tuple:
    refs = sh("git", "for-each-ref", "--format=%(refname) %(objectname)", cwd=repo).stdout
    listed = sh("git", "notes", "--ref", "expbook", "list", cwd=repo).stdout
    cache = sorted(
        (str(p.relative_to(repo)), p.stat().st_size)
        for p in (repo / ".dvc" / "cache").rglob("*")
        if p.is_file()
    )
    return refs, listed, cache


def model_object(repo: Path, rev: str) -> Path:
    """The cache file of model.bin as the commit's dvc.lock records it."""
    lock = yaml.safe_load(sh("git", "show", f"{rev}:dvc.lock", cwd=repo).stdout)
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "model.bin")
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_dry_run_reports_and_changes_nothing(repo):
    before = snapshot(repo)
    out = gc(repo, "--keep-best", "2", "--metric", "val.acc", "--cache").output
    assert "would remove 5 experiment(s)" in out and "dry run: nothing changed" in out
    for name in ("s-001", "s-005", "s-006", "s-007", "s-008"):
        assert f"  {name}\t" in out
    assert "(tagged 'keep')" in out and "(noted 'keep')" in out and "branch fav" in out
    assert "local cache: would delete" in out and "bytes" in out
    assert snapshot(repo) == before


def test_keep_best_removes_the_rest_refs_notes_and_their_objects(repo):
    refs = exp_refs(repo)
    removed = ["s-001", "s-005", "s-006", "s-007", "s-008"]
    kept = ["s-009", "s-010", TAGGED, NOTED, BRANCHED]
    dry = gc(repo, "--keep-best", "2", "--metric", "val.acc", "--cache").output
    dry_objects = dry.split("local cache: would delete ")[1].split(" object")[0]
    out = gc(repo, "--keep-best", "2", "--metric", "val.acc", "--cache", "--yes").output
    assert f"local cache: deleted {dry_objects} object(s)" in out  # the dry run told the truth
    assert sorted(exp_refs(repo)) == sorted(kept)
    assert sorted(exp_show(repo)) == sorted(kept)  # DVC sees the same experiments
    noted = {
        line.split()[1]
        for line in sh("git", "notes", "--ref", "expbook", "list", cwd=repo).stdout.splitlines()
    }
    assert noted == {refs[n] for n in kept}  # notes of removed experiments are gone
    for name in removed:
        assert not model_object(repo, refs[name]).exists()  # only that experiment used it
    for name in kept:
        assert model_object(repo, refs[name]).exists()
    # DVC's own gc finds nothing more to delete: the same set of used objects
    before = snapshot(repo)[2]
    dvc("gc", "-w", "--all-commits", "--all-experiments", "-f", cwd=repo)
    assert snapshot(repo)[2] == before
    # a kept experiment's checkpoint comes back with DVC's own tools
    dvc("exp", "apply", "s-009", cwd=repo)
    (repo / "model.bin").unlink()
    dvc("checkout", "model.bin", cwd=repo)
    assert (repo / "model.bin").read_text() == "model 0.009 0.0 0"
    assert sh("git", "fsck", cwd=repo).returncode == 0


@pytest.mark.parametrize(
    "args, removed",
    [
        (["--keep-last", "3"], 4),  # 10 - 3 protected - 3 newest
        (["--older-than", "30d"], 0),  # all made a minute ago
        (["--older-than", "0s"], 7),
        (["--where", "val.acc < 0.97"], 3),  # s-001, s-005, s-006 (s-002..4 protected)
        (["--sweep", "s", "--keep-best", "1", "--metric", "acc", "--mode", "min"], 6),
    ],
)
def test_policies(repo, args, removed):
    assert f"would remove {removed} experiment(s)" in gc(repo, *args).output


@pytest.mark.parametrize(
    "args, fragment",
    [
        ([], "give a policy"),
        (["--keep-best", "2"], "--keep-best needs --metric"),
        (["--metric", "val.acc"], "--metric is used with --keep-best"),
        (["--older-than", "soon"], "--older-than 'soon'"),
        (["--keep-best", "2", "--metric", "nope"], "unknown key 'nope'"),
        (["--where", "acc >"], ""),
        (["--keep-where", "acc >"], ""),
        (["--keep-last", "1", "--mode", "min"], "--mode is used with --keep-best"),
        (["--sweep", "other"], "--sweep 'other': no experiment of that sweep here (sweeps: s)"),
        (["--keep-last", "1", "--remote", "store", "--yes"], "--i-know-this-deletes-remote-data"),
    ],
)
def test_bad_input_changes_nothing(repo, args, fragment):
    before = snapshot(repo)
    assert fragment in gc(repo, *args, code=2).output
    assert snapshot(repo) == before


def test_remote_objects_go_only_with_confirmation(repo, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(repo / ".dvc" / "cache" / "files", store / "files")
    dvc("remote", "add", "-d", "store", str(store), cwd=repo)
    refs = exp_refs(repo)

    def on_remote(name: str) -> bool:
        return (
            store / model_object(repo, refs[name]).relative_to(repo / ".dvc" / "cache")
        ).exists()

    dry = gc(repo, "--keep-best", "2", "--metric", "val.acc", "--remote", "store").output
    assert "remote store: would delete" in dry and on_remote("s-001")
    args = ["--keep-best", "2", "--metric", "val.acc", "--remote", "store", "--yes"]
    gc(repo, *args, code=2)
    assert on_remote("s-001") and len(exp_refs(repo)) == 10
    out = gc(repo, *args, "--i-know-this-deletes-remote-data").output
    assert "remote store: deleted" in out
    assert not on_remote("s-001") and on_remote("s-009") and on_remote(TAGGED)


@pytest.mark.parametrize("when", ["journal", "cache"])
def test_kill_9_during_yes_leaves_a_repo_git_and_a_rerun_accept(repo, when):
    """kill -9 while refs/notes are removed (journal written) or while cache objects go."""
    args = ["gc", "--keep-best", "2", "--metric", "val.acc", "--cache", "--yes"]
    journal = repo / ".git" / "expbook-gc.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from expbook.cli import main; main()", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        if when == "journal":
            deadline = time.monotonic() + 60
            while not journal.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
        else:
            for line in proc.stdout:  # type: ignore[union-attr]
                if line.startswith("removed "):
                    break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert sh("git", "fsck", "--no-dangling", cwd=repo).returncode == 0
    rerun = run_cli(repo, *args)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(exp_refs(repo)) == sorted(["s-009", "s-010", TAGGED, NOTED, BRANCHED])
    assert not journal.exists()
    noted = sh("git", "notes", "--ref", "expbook", "list", cwd=repo).stdout.splitlines()
    assert len(noted) == 5
    before = snapshot(repo)[2]
    dvc("gc", "-w", "--all-commits", "--all-experiments", "-f", cwd=repo)
    assert snapshot(repo)[2] == before
    assert json.loads(run_cli(repo, "registry", "--format", "json").stdout)  # still readable


def test_gc_yes_works_without_a_git_identity(repo, monkeypatch):
    """The notes commit falls back to expbook's identity, as `expbook note` does."""
    sh("git", "config", "--unset", "user.name", cwd=repo)
    sh("git", "config", "--unset", "user.email", cwd=repo)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("EMAIL", "")
    gc(repo, "--where", "name = 's-001'", "--yes")
    assert "s-001" not in exp_refs(repo) and len(exp_refs(repo)) == 9
    listed = sh("git", "notes", "--ref", "expbook", "list", cwd=repo).stdout.splitlines()
    assert len(listed) == 9


def test_a_refused_gc_does_not_finish_an_interrupted_one(repo):
    """issue 18: every check comes before the first change, the journal of a gc killed midway
    included: a refused gc leaves it (and its ref) alone; the next accepted --yes finishes it."""
    journal = repo / ".git" / "expbook-gc.json"
    ref = sh("git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=repo)
    name, sha = next(line.split() for line in ref.stdout.splitlines() if "/s-001 " in line)
    journal.write_text(json.dumps({"refs": {name: sha}}))
    out = gc(repo, "--keep-best", "2", "-m", "step", "--yes", code=2).output
    assert "say --mode min|max" in out
    assert journal.exists() and "s-001" in exp_refs(repo)
    out = gc(repo, "--keep-last", "100", "--yes").output
    assert "finished an interrupted gc: removed 1 ref(s)" in out
    assert not journal.exists() and "s-001" not in exp_refs(repo)
