"""Crash safety of sweeps: kill -9 of the whole sweep or of one trial loses no finished trial,
leaves the repo clean (fsck, no worktrees/temp dirs/exec refs), and a rerun resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import commit_all, dvc, git_init, sh
from test_sweep_support import exp_refs, run_cli, tiny_repo

pytestmark = pytest.mark.slow

SPEC = (
    "name: rs\nmetric: val.acc\nparams:\n  train.lr: [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]\n"
    "  train.epochs: 3\n  train.sleep: 0.25\nparallel: 2\n"
)


def wait_for(predicate, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.1)
    raise AssertionError("timed out")


def assert_clean(repo):
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == ""
    assert len(sh("git", "worktree", "list", cwd=repo).stdout.splitlines()) == 1
    assert "refs/exps/exec" not in sh("git", "for-each-ref", cwd=repo).stdout
    sh("git", "fsck", "--no-progress", cwd=repo)
    assert not list((repo / ".dvc/tmp/expbook").glob("ws-*"))
    assert not list((repo / ".dvc/tmp/expbook").glob("prune-*"))


def test_kill_9_of_the_sweep_keeps_finished_trials_and_rerun_resumes(tmp_path, tmp_path_factory):
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    spec = tmp_path / "rs.yaml"  # outside the repo: the repo must end up clean
    spec.write_text(SPEC)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from expbook.cli import main; main()",
            "sweep",
            str(spec),
            "--json",
        ],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: len(exp_refs(repo)) >= 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.5)  # the orphaned workers notice and take their stage commands down
    before = exp_refs(repo)
    assert 2 <= len(before) < 6
    # the workers died with the sweep: nothing committed after the kill
    time.sleep(1.0)
    assert exp_refs(repo) == before

    out = json.loads(run_cli(repo, "sweep", str(spec), "--json").stdout)
    after = exp_refs(repo)
    assert sorted(after) == sorted(set(after))
    assert {k: after[k] for k in before} == before  # finished trials kept, not re-run
    assert out["skipped"] == len(before)
    lrs = sorted(t["config"]["train.lr"] for t in out["trials"] if t["status"] == "success")
    assert lrs == [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]
    assert len(after) == 6
    assert_clean(repo)
    assert "changed" not in dvc("status", cwd=repo).stdout
    again = json.loads(run_cli(repo, "sweep", str(spec), "--json").stdout)
    assert again["skipped"] == 6 and exp_refs(repo) == after


def test_kill_9_of_one_trial_marks_it_failed_and_the_sweep_goes_on(tmp_path, tmp_path_factory):
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    pidfile = tmp_path / "trial.pid"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from expbook.cli import main; main()",
            "sweep",
            "-S",
            "train.lr=0.01,0.05,0.02",
            "-S",
            "train.sleep=0.5",
            "-S",
            "train.epochs=3",
            "-S",
            f"train.pidfile={pidfile}",
            "--metric",
            "val.acc",
            "--name",
            "k",
            "--json",
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(pidfile.exists)
    time.sleep(0.2)
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    status = {t["name"]: t["status"] for t in json.loads(stdout)["trials"]}
    assert status == {"k-001": "success", "k-002": "failed", "k-003": "success"}
    assert sorted(exp_refs(repo)) == ["k-001", "k-003"]
    assert_clean(repo)


@pytest.mark.parametrize("dir_left", [True, False], ids=["dir-left", "dir-gone"])
def test_a_worktree_locked_by_a_killed_worktree_add_is_removed(tmp_path, dir_left):
    """Issue 12: a worker killed inside `git worktree add` (Ctrl-C now kills workers that are
    still setting up) leaves the entry locked "initializing", which `git worktree prune` keeps
    and `git worktree remove --force` refuses; the next cleanup removes it all the same."""
    from expbook.sweep import workspace

    repo = tmp_path / "repo"
    repo.mkdir()
    git_init(repo)
    (repo / "a.txt").write_text("a\n")
    commit_all(repo, "one file")
    ws = workspace.ws_root(repo) / "ws-0"
    ws.parent.mkdir(parents=True)
    sh("git", "worktree", "add", "--detach", "-q", str(ws), "HEAD", cwd=repo)
    (repo / ".git/worktrees/ws-0/locked").write_text("initializing")
    if not dir_left:
        sh("rm", "-rf", str(ws))
    assert "locked" in sh("git", "worktree", "list", cwd=repo).stdout
    assert workspace.clean_stale(repo) == ["ws-0"]
    assert len(sh("git", "worktree", "list", cwd=repo).stdout.splitlines()) == 1
    assert not ws.exists() and not (repo / ".git/worktrees/ws-0").exists()


def test_reset_drops_a_rwlock_a_killed_dvc_left_half_written(tmp_path, tmp_path_factory):
    """A DVC process killed while rewriting .dvc/tmp/rwlock (a killed sweep or Ray driver)
    left truncated JSON that failed every later trial in that reused workspace."""
    from expbook.registry.dvccache import dvc_cache_dir
    from expbook.sweep import workspace

    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    baseline = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    ws = workspace.create(repo, 0, baseline, dvc_cache_dir(str(repo)))
    (ws / ".dvc" / "tmp").mkdir(parents=True, exist_ok=True)
    (ws / ".dvc" / "tmp" / "rwlock").write_text('{"read": {}, "wri')
    assert "corrupted" in dvc("repro", "-f", cwd=ws, check=False).stderr
    workspace.reset(ws, baseline)
    assert dvc("repro", "-f", cwd=ws).returncode == 0
    workspace.remove(repo, ws)
