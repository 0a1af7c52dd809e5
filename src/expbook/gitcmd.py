"""git commands as expbook runs them: `run_git`/`git` (hooks off, the child stopped on
Ctrl-C/SIGTERM) and `remove_worktree`; a failure is a GitError naming the command and git's
message. The low level of the one git layer, at ground level so that `output` (is a file
git-tracked?) can use it too; expbook.registry.gitrepo reads refs and objects and re-exports
these names. Imports only errors and proc.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from expbook.errors import ExpbookError

if TYPE_CHECKING:
    import subprocess


class GitError(ExpbookError):
    """A git command or libgit2 call that failed; the message names it and quotes git."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"{command} failed: {message}")
        self.command, self.git_message = command, message


def run_git(
    *args: str,
    cwd: str | os.PathLike[str],
    check: bool = True,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `cwd` (text output captured), the child stopped on Ctrl-C/SIGTERM;
    GitError naming the command and git's message when it fails and `check` is set.

    Hooks are off for every git expbook runs: a `dvc install`ed post-checkout or pre-push hook
    would check out or push DVC data inside our worktree adds, resets and ref pushes.
    """
    from expbook.proc import run

    proc = run(
        ["git", "-c", "core.hooksPath=/dev/null", *args],
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        input=input,
        # git echoes paths and names as raw bytes: undecodable ones round-trip like file names
        # (os.fsdecode) instead of failing the decode after git ran
        errors="surrogateescape",
    )
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
        raise GitError(f"git {' '.join(args)}", message)
    return proc


def git(
    *args: str, cwd: str | os.PathLike[str], check: bool = True, env: dict[str, str] | None = None
) -> str:
    """run_git()'s stdout."""
    return run_git(*args, cwd=cwd, check=check, env=env).stdout


def remove_worktree(
    repo: str | os.PathLike[str], path: str | os.PathLike[str], prune: bool = True
) -> None:
    """Remove the worktree `path` and whatever is left of its directory; best effort."""
    import shutil

    git("worktree", "remove", "--force", os.fspath(path), cwd=repo, check=False)
    shutil.rmtree(path, ignore_errors=True)
    if prune:
        git("worktree", "prune", cwd=repo, check=False)
