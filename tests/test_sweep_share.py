"""`expbook push/pull` carry sweep state (refs/expbook/sweeps/*) with the experiments, so
`expbook sweep status/best` work in a fresh clone."""

from __future__ import annotations

import json

import pytest

from conftest import sh
from test_sweep_support import run_cli, tiny_repo


@pytest.mark.slow
def test_sweep_state_travels_through_push_and_pull(tmp_path, tmp_path_factory):
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    run_cli(
        repo, "sweep", "-S", "train.lr=0.001,0.01", "--metric", "val.acc", "--name", "s", "--json"
    )
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", remote)
    sh("git", "remote", "add", "origin", remote, cwd=repo)
    sh("git", "push", "-q", "origin", "HEAD:refs/heads/main", cwd=repo)
    run_cli(repo, "push", "origin", "--no-cache")  # no DVC remote here: refs and state only
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", "-b", "main", remote, clone)
    run_cli(clone, "pull", "origin")
    status = json.loads(run_cli(clone, "sweep", "status", "s", "--json").stdout)
    assert sorted(t["name"] for t in status["trials"]) == ["s-001", "s-002"]
    rows = json.loads(
        run_cli(clone, "registry", "--where", "sweep = 's'", "--format", "json").stdout
    )
    assert sorted(r["name"] for r in rows) == ["s-001", "s-002"]
