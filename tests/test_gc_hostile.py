"""issue 18, a hostile user's `expbook gc`: a damaged or planted journal never removes anything
but exp refs (and never prints a traceback), a declaration of the full metric column beats the
metric's name, and a mistyped --sweep is an error instead of a policy that matches nothing.
Real git + DVC repository (the ten-trial sweep of tests/gc_support.py), no mocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import sh
from gc_support import (
    PROTECTED,
    build_sweep_repo,
    copy_repo,
    full_snapshot,
    gc,
    kept_names,
)
from test_sweep_support import exp_refs

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path_factory, tmp_path: Path) -> Path:
    return copy_repo(build_sweep_repo(tmp_path_factory), tmp_path / "copy")


def _branches(repo: Path) -> str:
    return sh(
        "git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", cwd=repo
    ).stdout


@pytest.mark.parametrize(
    "journal",
    [
        "[]",
        "null",
        '{"refs": ["refs/exps/x"]}',
        '{"refs": {"refs/exps/aa/bb/s-001": 5}}',
        '{"refs": {"refs/heads/main": "MAIN"}}',
        '{"refs": {"refs/heads/fav": "FAV"}}',
        '{"refs": {"refs/exps/a/b/c\\ndelete refs/heads/main MAIN": "MAIN"}}',
    ],
)
def test_a_damaged_or_planted_journal_removes_nothing_but_exp_refs(repo, journal):
    """issue 18: a journal that is no object was an AttributeError traceback, a sha that is no
    string a TypeError, and a journal naming refs/heads/main made `gc --yes` delete the main
    branch. Only exp refs at a full sha are finished; the rest is dropped with the journal."""
    main = sh("git", "rev-parse", "main", cwd=repo).stdout.strip()
    fav = sh("git", "rev-parse", "fav", cwd=repo).stdout.strip()
    path = repo / ".git" / "expbook-gc.json"
    path.write_text(journal.replace("MAIN", main).replace("FAV", fav))
    branches, exps = _branches(repo), exp_refs(repo)
    dry = gc(repo, "--keep-last", "100")
    assert "Traceback" not in dry.output and path.exists()
    out = gc(repo, "--keep-last", "100", "--yes").output
    assert "Traceback" not in out
    assert _branches(repo) == branches and exp_refs(repo) == exps
    assert not path.exists()


def test_a_declared_full_column_beats_the_name(repo):
    """issue 18: `"live/metrics.json:val.acc" = "min"` (the form `expbook best` suggests) was
    ignored by `gc --keep-best -m val.acc`, which ranked by the name (max) and so kept the
    other end; a declaration of the column or of the key as typed beats the name."""
    decl = '[tool.expbook.directions]\n"live/metrics.json:val.acc" = "min"\n'
    (repo / "pyproject.toml").write_text(decl)
    out = gc(repo, "--keep-best", "1", "-m", "val.acc").output
    assert "[min, declared in pyproject.toml]" in out
    assert kept_names(out) == {"s-001"} | PROTECTED


def test_a_mistyped_sweep_is_an_error_that_changes_nothing(repo):
    """issue 18: `gc --sweep typo --yes` answered "removing 0 experiment(s)", exit 0, as if the
    sweep had nothing to remove; it names the sweeps there are."""
    before = full_snapshot(repo)
    out = gc(repo, "--sweep", "S", "--yes", code=2).output
    assert "--sweep 'S': no experiment of that sweep here (sweeps: s)" in out
    assert full_snapshot(repo) == before
    # a sweep whose trials are all gone still names itself by its state ref: no error
    gc(repo, "--sweep", "s", "--yes")
    again = gc(repo, "--sweep", "s", "--yes").output
    assert "removing 0 experiment(s)" in again


def _exp_without_val_acc(repo: Path, source: str, name: str) -> None:
    """A copy of experiment `source` whose live/metrics.json lacks val.acc (as a run made before
    the metric existed), under a new exp ref `name`."""
    ref = next(
        line.split()[0]
        for line in _refs(repo, "refs/exps").splitlines()
        if line.split()[0].endswith(f"/{source}")
    )
    sha = sh("git", "rev-parse", ref, cwd=repo).stdout.strip()
    doc = json.loads(sh("git", "show", f"{sha}:live/metrics.json", cwd=repo).stdout)
    del doc["val"]["acc"]
    (repo / ".git" / "tmp-metrics.json").write_text(json.dumps(doc))
    blob = sh("git", "hash-object", "-w", repo / ".git" / "tmp-metrics.json", cwd=repo).stdout
    env = {"GIT_INDEX_FILE": str(repo / ".git" / "tmp-index")}
    sh("git", "read-tree", sha, cwd=repo, env=env)
    sh(
        "git",
        "update-index",
        "--cacheinfo",
        f"100644,{blob.strip()},live/metrics.json",
        cwd=repo,
        env=env,
    )
    tree = sh("git", "write-tree", cwd=repo, env=env).stdout.strip()
    parent = sh("git", "rev-parse", f"{sha}^", cwd=repo).stdout.strip()
    commit = sh("git", "commit-tree", tree, "-p", parent, "-m", name, cwd=repo).stdout.strip()
    sh("git", "update-ref", ref.rsplit("/", 1)[0] + f"/{name}", commit, cwd=repo)


def _refs(repo: Path, prefix: str) -> str:
    return sh("git", "for-each-ref", "--format=%(refname) %(objectname)", prefix, cwd=repo).stdout


def test_runs_without_the_metric_are_counted_as_unranked(repo):
    """issue 18: --keep-best by a metric only some runs logged removed the others without a
    word (they cannot be ranked); the listing says how many go for that reason."""
    _exp_without_val_acc(repo, "s-010", "old-1")
    _exp_without_val_acc(repo, "s-009", "old-2")
    out = gc(repo, "--keep-best", "1", "-m", "val.acc").output
    assert "would remove 8 experiment(s)" in out
    assert "\n(2 removed without a live/metrics.json:val.acc to rank by)\n" in out
    # --where narrows the policy to the runs that have it: the old ones are not touched
    out = gc(repo, "--keep-best", "1", "-m", "val.acc", "--where", "val.acc >= 0").output
    assert "would remove 6 experiment(s)" in out and "removed without a" not in out
