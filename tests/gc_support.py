"""Shared builders for the gc tests (holds no tests): ten finished experiments of the tiny
sweep pipeline, built once per process and copied per test, the CLI runner, and a snapshot of
everything gc may change (refs, the notes ref, every cache file's bytes)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from click.testing import CliRunner

from conftest import sh
from expbook.cli import cli
from expbook.registry import notes
from test_sweep_support import exp_refs, run_cli, tiny_repo

# quality = 1 - |lr - 0.01| * 10: s-010 (lr 0.01) is the best, then s-009, s-008, ...
LRS = ",".join(f"{i / 1000:g}" for i in range(1, 11))
TAGGED, NOTED, BRANCHED = "s-003", "s-002", "s-004"  # protected: tag keep, note keep, a branch
PROTECTED = {TAGGED, NOTED, BRANCHED}
_BUILT: dict[str, Path] = {}


def build_sweep_repo(tmp_path_factory) -> Path:
    """Ten finished experiments s-001..s-010 plus three protected ones among them (built once
    per test process: copy it before changing it)."""
    if "repo" not in _BUILT:
        repo = tiny_repo(tmp_path_factory.mktemp("gc") / "repo", tmp_path_factory)
        run_cli(repo, "sweep", "-S", f"train.lr={LRS}", "--metric", "val.acc", "--name", "s")
        refs = exp_refs(repo)
        assert len(refs) == 10
        notes.set_tag(repo, refs[TAGGED], "keep")
        notes.add_note(repo, refs[NOTED], "keep: the paper's figure 3")
        sh("git", "branch", "fav", refs[BRANCHED], cwd=repo)
        _BUILT["repo"] = repo
    return _BUILT["repo"]


def copy_repo(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def gc(repo: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["gc", "--repo", str(repo), *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def kept_names(output: str) -> set[str]:
    """The experiment names of gc's `  keep NAME ...` lines."""
    return {line.split()[1] for line in output.splitlines() if line.startswith("  keep ")}


def tree_digest(path: Path) -> list[tuple[str, str]]:
    """(relative path, sha256) of every file under `path`."""
    return sorted(
        (str(p.relative_to(path)), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in path.rglob("*")
        if p.is_file()
    )


def full_snapshot(repo: Path, cache: Path | None = None) -> tuple:
    """Refs, the notes ref and its notes, and the cache's files byte for byte."""
    refs = sh("git", "for-each-ref", "--format=%(refname) %(objectname)", cwd=repo).stdout
    notes_ref = sh(
        "git", "rev-parse", "-q", "--verify", "refs/notes/expbook", cwd=repo, check=False
    )
    listed = sh("git", "notes", "--ref", "expbook", "list", cwd=repo).stdout
    return refs, notes_ref.stdout, listed, tree_digest(cache or repo / ".dvc" / "cache")
