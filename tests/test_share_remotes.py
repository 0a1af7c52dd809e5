"""`expbook push` uses the remote the config names at each push and writes no config (issue 19:
it pinned the DVC remote in `.dvc/config.local`, so after the team committed a new URL both
`expbook push` and `dvc push` kept filling the old store); it says which remotes it uses; and
a DVC remote path that is a file, under a file or read-only, a default remote that is not
defined, or an empty URL is one error line before anything is pushed, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import commit_all, dvc, sh
from test_sweep_support import run_cli, tiny_repo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A repo with two sweep trials run before any DVC remote existed (built once)."""
    base = tmp_path_factory.mktemp("share-template")
    repo = tiny_repo(base / "repo", tmp_path_factory)
    run_cli(repo, "sweep", "-S", "train.lr=0.001,0.002", "-m", "val.acc", "--mode", "max",
            "--name", "s")  # fmt: skip
    return repo


@pytest.fixture
def repo(template, tmp_path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    sh("git", "init", "-q", "--bare", tmp_path / "remote.git")
    sh("git", "remote", "add", "origin", tmp_path / "remote.git", cwd=repo)
    return repo


def _objects(store: Path) -> int:
    return len([p for p in store.rglob("*") if p.is_file()]) if store.exists() else 0


def _remote_exp_refs(tmp_path: Path) -> str:
    return sh("git", "ls-remote", tmp_path / "remote.git", "refs/exps/*", "refs/notes/*").stdout


def test_a_committed_remote_url_change_is_followed_and_no_config_is_written(repo, tmp_path):
    """issue 19: remote A, push, the team commits URL B, push -> the objects land in B (not A),
    `.dvc/config.local` never appears, and each push names the remote and its URL."""
    a, b = tmp_path / "store-a", tmp_path / "store-b"
    dvc("remote", "add", "-d", "store", str(a), cwd=repo)
    commit_all(repo, "remote A")
    first = run_cli(repo, "push", "origin")
    assert f"DVC remote 'store' ({a})" in first.stdout
    assert f"git remote 'origin' ({tmp_path / 'remote.git'})" in first.stdout
    assert _objects(a) == 2 and not (repo / ".dvc/config.local").exists()
    dvc("remote", "modify", "store", "url", str(b), cwd=repo)
    commit_all(repo, "the team moves the store to B")
    second = run_cli(repo, "push", "origin")
    assert f"DVC remote 'store' ({b})" in second.stdout
    assert _objects(b) == 2 and _objects(a) == 2  # B filled, A untouched
    assert not (repo / ".dvc/config.local").exists()
    assert "config.local" not in sh("git", "status", "--porcelain", "--ignored", cwd=repo).stdout


def test_push_names_the_git_remote_even_without_a_dvc_remote(repo, tmp_path):
    """Neighbour: --no-cache still says where the refs go."""
    out = run_cli(repo, "push", "origin", "--no-cache").stdout
    assert f"pushing to git remote 'origin' ({tmp_path / 'remote.git'})" in out


@contextlib.contextmanager
def _read_only(folder: Path):
    """A directory nobody can write to: chmod for a user, `chattr +i` for root (root ignores
    permission bits). Skips when neither takes effect."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        made, undo = True, ["chmod", "755", str(folder)]
    try:
        probe = folder / "probe"
        try:
            probe.touch()
            probe.unlink()
            pytest.skip("cannot make a read-only directory here")
        except OSError:
            pass
        if not made:
            pytest.skip("cannot make a read-only directory here")
        yield folder
    finally:
        subprocess.run(undo, capture_output=True)


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("file", "the path is a file, not a directory"),
        ("file-url", "the path is a file, not a directory"),  # another remote kind: file://
        ("under-file", "the path lies under a file"),
        ("read-only", "is read-only"),
        ("read-only-parent", "its parent"),
    ],
)
def test_an_unusable_remote_path_is_one_error_line_before_anything_is_pushed(
    repo, tmp_path, kind, fragment
):
    """issue 19: a DVC remote path that is a file, under a file or read-only gave a traceback
    (NotADirectoryError from dvc_data) after the refs were pushed."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    with contextlib.ExitStack() as stack:
        if kind == "file":
            url = str(blocker)
        elif kind == "file-url":
            url = f"file://{blocker}"
        elif kind == "under-file":
            url = str(blocker / "store")
        elif kind == "read-only":
            url = str(stack.enter_context(_read_only(tmp_path / "ro")))
        else:
            url = str(stack.enter_context(_read_only(tmp_path / "ro")) / "store")
        dvc("remote", "add", "-d", "store", url, cwd=repo)
        commit_all(repo, "a remote that cannot be written")
        proc = run_cli(repo, "push", "origin", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "DVC remote 'store'" in lines[0]
    assert _remote_exp_refs(tmp_path) == ""  # refused before the first push
    assert not (repo / ".dvc/config.local").exists()


@pytest.mark.parametrize(
    "config, fragment",
    [
        ("[core]\n    remote = nowhere\n", "default remote 'nowhere' (core.remote)"),
        ("[core]\n    remote = store\n['remote \"store\"']\n    url = \n", "empty URL"),
    ],
)
def test_a_missing_remote_name_or_an_empty_url_is_one_error_line(repo, tmp_path, config, fragment):
    """Neighbours: a default remote that names no remote section; an empty URL."""
    (repo / ".dvc/config").write_text(config)
    commit_all(repo, "a broken remote config")
    proc = run_cli(repo, "push", "origin", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert _remote_exp_refs(tmp_path) == ""
