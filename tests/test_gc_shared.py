"""issue 18: with one DVC cache shared by two projects (`dvc cache dir PATH` in both, as DVC
documents it), `gc --cache --yes` in one project deleted the other's checkpoints, exit 0. gc
now refuses unless --projects names every project sharing the cache, and with it keeps what
any of them uses — the same set DVC's own `dvc gc --projects` keeps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import dvc, sh
from gc_support import build_sweep_repo, copy_repo, full_snapshot, gc, tree_digest
from test_sweep_support import exp_refs, tiny_repo

pytestmark = pytest.mark.slow


def model_object(repo: Path, rev: str, cache: Path) -> Path:
    """The cache file of model.bin as the commit's dvc.lock records it."""
    lock = yaml.safe_load(sh("git", "show", f"{rev}:dvc.lock", cwd=repo).stdout)
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "model.bin")
    return cache / "files" / "md5" / md5[:2] / md5[2:]


@pytest.fixture
def projects(tmp_path_factory, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Project a (ten experiments) and project b (one of its own), one cache in `shared`."""
    shared = tmp_path / "shared-cache"
    a = copy_repo(build_sweep_repo(tmp_path_factory), tmp_path / "a")
    (a / ".dvc" / "cache").rename(shared)
    dvc("cache", "dir", str(shared), cwd=a)
    b = tiny_repo(tmp_path / "b", tmp_path_factory)
    shutil.rmtree(b / ".dvc" / "cache")
    dvc("cache", "dir", str(shared), cwd=b)
    sh("git", "commit", "-q", "-am", "share the cache", cwd=b)
    dvc("exp", "run", "-q", "-S", "train.lr=0.077", "-n", "theirs", cwd=b)
    return a, b, shared


def test_shared_cache_needs_projects_and_keeps_theirs(projects):
    a, b, shared = projects
    theirs = model_object(b, exp_refs(b)["theirs"], shared)
    mine = model_object(a, exp_refs(a)["s-001"], shared)
    assert theirs.exists() and mine.exists()
    before = full_snapshot(a, shared)
    out = gc(a, "--where", "name = 's-001'", "--cache", "--yes", code=2).output
    assert "--projects" in out and str(shared) in out
    assert full_snapshot(a, shared) == before and theirs.exists()

    args = ["--where", "name = 's-001'", "--cache", "--projects", str(b)]
    dry = gc(a, *args).output
    count = dry.split("local cache: would delete ")[1].split(" object")[0]
    out = gc(a, *args, "--yes").output
    assert f"local cache: deleted {count} object(s)" in out  # the dry run told the truth
    assert "s-001" not in exp_refs(a) and len(exp_refs(a)) == 9
    assert not mine.exists() and theirs.exists()
    # DVC's own gc over both projects finds nothing more to delete: the same used set
    left = tree_digest(shared)
    dvc("gc", "-w", "--all-commits", "--all-experiments", "-p", str(b), "-f", cwd=a)
    assert tree_digest(shared) == left
    # b's checkpoint still comes back with DVC's own tools
    dvc("exp", "apply", "theirs", cwd=b)
    (b / "model.bin").unlink()
    dvc("checkout", "model.bin", cwd=b)
    assert (b / "model.bin").read_text() == "model 0.077 0.0 0"


def test_projects_must_share_the_cache(projects, tmp_path_factory, tmp_path):
    """A --projects path with its own cache is a mistake, not a project with nothing to keep."""
    a, _, shared = projects
    other = tiny_repo(tmp_path / "other", tmp_path_factory)
    before = full_snapshot(a, shared)
    out = gc(a, "--keep-last", "1", "--cache", "--projects", str(other), "--yes", code=2).output
    assert "not the shared cache" in out and str(other) in out
    assert full_snapshot(a, shared) == before
