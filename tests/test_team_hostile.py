"""issue 23 review: `expbook fetch` against hostile situations: a fetch killed mid-way (its
git left ref lock files in the namespace), two fetches of one remote at once, a URL given
where a remote name goes. Plain git repositories (experiment refs made with git plumbing).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from conftest import git_init, sh
from expbook.cli import cli


def _remote_with_exps(tmp: Path, n: int = 3) -> tuple[Path, Path]:
    """A bare remote with a baseline and `n` experiment refs; a fresh clone of it."""
    (tmp / "author").mkdir()
    author = git_init(tmp / "author")
    (author / "params.yaml").write_text("lr: 0.1\n")
    sh("git", "add", ".", cwd=author)
    sh("git", "commit", "-q", "-m", "base", cwd=author)
    base = sh("git", "rev-parse", "HEAD", cwd=author).stdout.strip()
    for i in range(n):
        (author / "params.yaml").write_text(f"lr: 0.{i + 2}\n")
        sh("git", "add", ".", cwd=author)
        tree = sh("git", "write-tree", cwd=author).stdout.strip()
        commit = sh("git", "commit-tree", tree, "-p", base, "-m", f"e{i}", cwd=author)
        sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/e{i}", commit.stdout.strip(),
           cwd=author)  # fmt: skip
    remote = tmp / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", remote)
    sh("git", "push", "-q", remote, "main", "refs/exps/*:refs/exps/*", cwd=author)
    sh("git", "clone", "-q", remote, tmp / "carol")
    return remote, git_init(tmp / "carol")


def _fetch(path: Path, *args: str):
    return CliRunner().invoke(cli, ["fetch", "--repo", str(path), *args])


def _user_state(path: Path) -> tuple:
    refs = sh("git", "for-each-ref", "--format=%(refname) %(objectname)", cwd=path).stdout
    mine = [r for r in refs.splitlines() if not r.startswith("refs/expbook/remotes/")]
    config = hashlib.sha256((path / ".git" / "config").read_bytes()).hexdigest()
    return mine, config, (path / ".git" / "FETCH_HEAD").exists()


def test_a_lock_left_by_a_killed_fetch_does_not_break_every_later_fetch(tmp_path):
    """issue 23 review: Ctrl-C during `expbook fetch` of 1,100 experiments left
    `refs/expbook/remotes/origin/exps/.../exp-00380.lock` behind (git killed while it held
    the ref's lock), and every later fetch failed with "Unable to create '....lock': File
    exists" until the user found and removed it by hand."""
    remote, carol = _remote_with_exps(tmp_path)
    base = sh("git", "rev-parse", "HEAD", cwd=carol).stdout.strip()
    folder = carol / ".git/refs/expbook/remotes/origin/exps" / base[:2] / base[2:]
    folder.mkdir(parents=True)
    (folder / "e1.lock").write_text("")  # what the killed fetch left
    before = _user_state(carol)
    result = _fetch(carol, "origin")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("origin: 3 new experiments")
    assert not (folder / "e1.lock").exists()
    assert _user_state(carol) == before  # no ref of hers, .git/config, FETCH_HEAD


def test_two_fetches_of_one_remote_at_once_both_succeed(tmp_path):
    """issue 23 review: two `expbook fetch origin` at once (a dashboard's refresh and a
    user's look) take turns; neither fails on the other's ref locks."""
    remote, carol = _remote_with_exps(tmp_path, n=40)
    cmd = [sys.executable, "-c", "from expbook.cli import main; main()", "fetch", "origin"]
    procs = [subprocess.Popen(cmd, cwd=carol, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    refs = sh("git", "for-each-ref", "refs/expbook/remotes/origin/exps/", cwd=carol).stdout
    assert len(refs.splitlines()) == 40


def test_a_url_or_path_for_a_remote_name_says_how_to_name_it(tmp_path):
    """issue 23 review: `expbook fetch /path/to/bare.git` said "add one with `git remote add
    /path/to/bare.git URL`", advice git itself refuses."""
    remote, carol = _remote_with_exps(tmp_path, n=1)
    for given in (str(remote), f"file://{remote}"):
        result = _fetch(carol, given)
        assert result.exit_code == 2
        assert f"{given!r} is a URL or path, not a git remote name (remotes: origin)" in (
            result.output
        )
        assert f"`git remote add NAME {given}`" in result.output
    refs = sh("git", "for-each-ref", "refs/expbook/", cwd=carol).stdout
    assert refs == ""
