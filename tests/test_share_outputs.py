"""Sharing never silently leaves checkpoints behind (issue 11): experiments run first, a DVC
remote added and committed afterwards, `expbook push` -> the checkpoints reach the DVC remote
and a fresh clone restores them with `dvc exp apply` + `dvc pull`; without a remote push
exits 1 naming what is not shared, and pull names outputs that are nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import commit_all, dvc, git_init, sh
from test_sweep_support import run_cli, tiny_repo

pytestmark = pytest.mark.slow


def _with_experiments(tmp_path: Path, tmp_path_factory) -> Path:
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    run_cli(repo, "sweep", "-S", "train.lr=0.001,0.002", "--metric", "val.acc", "--name", "s")
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", remote)
    sh("git", "remote", "add", "origin", remote, cwd=repo)
    return repo


def _clone(tmp_path: Path, name: str) -> Path:
    clone = tmp_path / name
    sh("git", "clone", "-q", "-b", "main", tmp_path / "remote.git", clone)
    git_init(clone)  # identity (init on an existing repo only sets config)
    return clone


def test_push_shares_checkpoints_of_experiments_run_before_the_remote(tmp_path, tmp_path_factory):
    repo = _with_experiments(tmp_path, tmp_path_factory)
    store = tmp_path / "store"
    dvc("remote", "add", "-d", "store", str(store), cwd=repo)
    commit_all(repo, "a DVC remote, after the experiments")
    sh("git", "push", "-q", "origin", "main", cwd=repo)
    out = run_cli(repo, "push", "origin").stdout
    assert "2 cached output(s) checked on DVC remote 'store'" in out
    assert "pushed 2 missing object(s)" in out  # what `dvc exp push` left behind
    assert len([p for p in store.rglob("*") if p.is_file()]) == 2
    again = run_cli(repo, "push", "origin").stdout
    assert "pushed" in again and "missing object" not in again  # nothing left to push

    clone = _clone(tmp_path, "clone")
    pulled = run_cli(clone, "pull", "origin")
    # issue 19: told what to do, never pinned in .dvc/config.local behind the user's back
    assert "s-001, s-002 predate DVC remote 'store'" in pulled.stdout
    assert "warning" not in pulled.stderr and not (clone / ".dvc/config.local").exists()
    dvc("exp", "apply", "s-002", cwd=clone, check=False)  # its checkout step has no cache yet
    sh("git", "checkout", "HEAD", "--", ".dvc/config", cwd=clone)  # as the note says
    dvc("pull", cwd=clone)
    assert (clone / "model.bin").read_text() == "model 0.002 0.0 0"


def test_without_a_dvc_remote_push_fails_naming_outputs_and_pull_warns(tmp_path, tmp_path_factory):
    repo = _with_experiments(tmp_path, tmp_path_factory)
    sh("git", "push", "-q", "origin", "main", cwd=repo)
    failed = run_cli(repo, "push", "origin", check=False)
    assert failed.returncode == 1
    assert "2 output(s) of 2 experiment(s) are not on any DVC remote" in failed.stderr
    assert "s-001: model.bin; s-002: model.bin" in failed.stderr
    assert "Traceback" not in failed.stderr
    # the refs did go: a teammate sees the experiments, and is told their outputs are nowhere
    clone = _clone(tmp_path, "clone")
    pulled = run_cli(clone, "pull", "origin")
    assert "are neither in the local cache nor on any DVC remote" in pulled.stderr
    assert "s-001: model.bin" in pulled.stderr
    quiet = run_cli(repo, "push", "origin", "--no-cache")
    assert quiet.returncode == 0 and "not pushed or checked (--no-cache)" in quiet.stdout


def test_an_experiment_dvc_cannot_read_is_named_not_a_crash(dvc_repo):
    """An exp ref whose commit has a broken dvc.yaml: listed as not shared, push exits 1."""
    from expbook.share import outputs

    base = sh("git", "rev-parse", "HEAD", cwd=dvc_repo).stdout.strip()
    (dvc_repo / "dvc.yaml").write_text("stages: [unclosed\n")
    broken = commit_all(dvc_repo, "broken dvc.yaml")
    sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/broken", broken, cwd=dvc_repo)
    sh("git", "reset", "-q", "--hard", base, cwd=dvc_repo)
    check = outputs.ensure_shared(dvc_repo)
    assert list(check.missing) == ["broken"]
    assert check.missing["broken"][0].startswith("(outputs unreadable: ")
    assert "broken" in outputs.missing_outputs(dvc_repo, ["broken"]).missing
