"""The one git layer (expbook.registry.gitrepo, issue 13): one error type naming the command and
git's message, hooks off for every git expbook runs, and the registry's DVC cache directory used
by `expbook show` (it read a hard-coded .dvc/cache before).
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import commit_all, dvc, sh
from expbook.errors import ExpbookError, NotFoundError
from expbook.registry import gitrepo


def test_git_error_names_the_command_and_quotes_git(git_repo):
    with pytest.raises(gitrepo.GitError) as info:
        gitrepo.git("rev-parse", "--verify", "no-such-branch", cwd=git_repo)
    err = info.value
    assert isinstance(err, ExpbookError)
    assert err.command == "git rev-parse --verify no-such-branch"
    assert str(err).startswith("git rev-parse --verify no-such-branch failed: ")
    assert "fatal: Needed a single revision" in str(err)
    proc = gitrepo.run_git("rev-parse", "--verify", "no-such-branch", cwd=git_repo, check=False)
    assert proc.returncode != 0


def test_hooks_are_off_for_every_git_expbook_runs(git_repo, tmp_path_factory):
    """A `dvc install`ed post-checkout hook runs `dvc checkout` in trial worktrees otherwise."""
    (git_repo / "f").write_text("x")
    commit_all(git_repo, "one")
    marker = tmp_path_factory.mktemp("hook") / "ran"
    hook = git_repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    wt = tmp_path_factory.mktemp("wt") / "a"
    gitrepo.git("worktree", "add", "--detach", "-q", str(wt), "HEAD", cwd=git_repo)
    assert (wt / "f").read_text() == "x" and not marker.exists()
    gitrepo.remove_worktree(git_repo, wt)
    assert not wt.exists() and str(wt) not in gitrepo.git("worktree", "list", cwd=git_repo)
    sh("git", "worktree", "add", "--detach", "-q", str(wt), "HEAD", cwd=git_repo)
    assert marker.exists()  # the hook itself works: plain git runs it


def test_rev_commit_resolves_revisions_or_is_not_found(git_repo):
    (git_repo / "f").write_text("x")
    sha = commit_all(git_repo, "one")
    sh("git", "tag", "-a", "-m", "t", "v1", cwd=git_repo)
    g = gitrepo.GitRepo(git_repo)
    assert str(g.rev_commit("v1").id) == str(g.rev_commit("HEAD").id) == sha
    for bad in ("nope", "HEAD~5", "a..b:"):
        with pytest.raises(NotFoundError, match="unknown revision"):
            g.rev_commit(bad)


@pytest.mark.slow
def test_show_reads_a_cached_environment_from_a_custom_cache_dir(dvc_repo, tmp_path_factory):
    """Bug: compare._read_environment read `.dvc/cache`, ignoring `cache.dir` (issue 13)."""
    from expbook import registry
    from expbook.analysis.compare import describe

    cache = tmp_path_factory.mktemp("elsewhere") / "cache"
    dvc("config", "cache.dir", str(cache), cwd=dvc_repo)
    cmd = "import json; json.dump(dict(threads=3), open('environment.json', 'w'))"
    (dvc_repo / "dvc.yaml").write_text(
        f'stages:\n  env:\n    cmd: python -c "{cmd}"\n    outs: [environment.json]\n'
    )
    dvc("repro", "-q", cwd=dvc_repo)
    commit_all(dvc_repo, "env stage")
    assert not (dvc_repo / ".dvc" / "cache").exists() and any(cache.rglob("*"))
    os.remove(dvc_repo / "environment.json")  # only the cache holds it now
    exp = next(e for e in registry.collect(dvc_repo) if e.kind == "baseline")
    info = describe(str(dvc_repo), exp)
    assert info["environment"] == {"path": "environment.json", "content": {"threads": 3}}
    assert json.loads(json.dumps(info))  # still JSON-able
