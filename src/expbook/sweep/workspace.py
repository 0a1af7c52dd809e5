"""Trial workspaces: detached git worktrees of the baseline under .dvc/tmp/expbook/, sharing the
main repo's git objects and DVC cache; plus writing params and committing a trial as a DVC exp ref.

Used by the sweep worker processes (expbook.sweep.trial) and by the sweep driver for cleanup.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expbook.output import write_atomic
from expbook.registry.gitrepo import git

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.representer import RoundTripRepresenter

WS_ROOT = Path(".dvc") / "tmp" / "expbook"
WS_PREFIXES = ("ws-", "validate-")  # worktrees of ours under WS_ROOT (trials, --validate)
EXPS_NAMESPACE = "refs/exps"  # DVC's layout: refs/exps/<base[:2]>/<base[2:]>/<name>


def exp_ref(baseline: str, name: str) -> str:
    return f"{EXPS_NAMESPACE}/{baseline[:2]}/{baseline[2:]}/{name}"


def ws_root(repo: str | os.PathLike[str]) -> Path:
    return Path(repo).resolve() / WS_ROOT


def clean_stale(repo: str | os.PathLike[str]) -> list[str]:
    """Remove worktrees and prune files a killed sweep left behind; return what was removed."""
    root = ws_root(repo)
    removed = []
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.name.startswith(("ws-", "prune-", "validate-")):
                if path.is_dir():
                    remove(repo, path)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path.name)
    # a worker killed inside `git worktree add` leaves its entry locked ("initializing"),
    # which `git worktree prune` keeps: remove those of ours by force
    listing = git("worktree", "list", "--porcelain", cwd=repo, check=False)
    for line in listing.splitlines():
        if not line.startswith("worktree "):
            continue
        entry = Path(line[len("worktree ") :])
        if entry.parent == root and entry.name.startswith(WS_PREFIXES):
            remove(repo, entry)
            removed.append(entry.name)
    with worktree_lock(repo):
        git("worktree", "prune", cwd=repo, check=False)
    return sorted(set(removed))


@contextlib.contextmanager
def worktree_lock(repo: str | os.PathLike[str]) -> Iterator[None]:
    """Serialise `git worktree add/remove/prune` of one repo across processes (issue 19: 8-16
    workers adding worktrees at once made git fail with "failed to read
    .git/worktrees/ws-M/commondir" and the sweep exit with 0 trials). flock: a killed holder
    releases it with its process."""
    root = ws_root(repo)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "worktree.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def create(repo: str | os.PathLike[str], index: int | str, baseline: str, cache_dir: str) -> Path:
    """A fresh worktree ws-<index> at `baseline` whose DVC cache is the main repo's cache."""
    path = ws_root(repo) / f"ws-{index}"
    if path.exists():
        remove(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with worktree_lock(repo):  # git's worktree bookkeeping is not safe to run concurrently
        git("worktree", "add", "--detach", "-q", str(path), baseline, cwd=repo)
    main_local = Path(repo).resolve() / ".dvc" / "config.local"
    local = path / ".dvc" / "config.local"
    if main_local.exists():  # keep the user's local remotes/credentials settings
        shutil.copy2(main_local, local)
    from dvc.config import Config

    # one shared cache: trial outputs land straight in the main repo's cache, no copying later
    with Config(str(path / ".dvc")).edit("local") as conf:
        conf.setdefault("cache", {})["dir"] = cache_dir
    return path


def remove(repo: str | os.PathLike[str], path: Path) -> None:
    """Remove one worktree of ours, locked or half made (clean_stale removes whatever a killed
    sweep left)."""
    with worktree_lock(repo):
        git("worktree", "remove", "--force", "--force", str(path), cwd=repo, check=False)
    shutil.rmtree(path, ignore_errors=True)


def reset(path: Path, baseline: str) -> None:
    """Back to the baseline commit; ignored files (DVC outputs, .dvc/tmp) stay for reuse, but
    DVC's rwlock goes: DVC rewrites it in place, so a DVC process killed mid-write (a killed
    sweep or Ray driver) leaves JSON that fails every later stage here ("RWLock-file ...
    corrupted"); between trials no DVC process of ours holds it."""
    git("reset", "-q", "--hard", baseline, cwd=path)
    git("clean", "-q", "-fd", cwd=path)
    (path / ".dvc" / "tmp" / "rwlock").unlink(missing_ok=True)


def set_params(path: Path, overrides: dict[str, Any]) -> None:
    """Write `file:dotted.key` overrides with a round-trip YAML writer (keeps layout, as `dvc -S`)."""
    by_file: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        file, _, dotted = key.partition(":")
        by_file.setdefault(file, {})[dotted] = value
    for file, values in by_file.items():
        target = path / file
        yml = yaml_writer()
        with open(target) as fh:
            doc = yml.load(fh)
        for dotted, value in values.items():
            node = doc
            *parents, leaf = dotted.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
        buf = io.StringIO()
        yml.dump(doc, buf)
        write_atomic(target, buf.getvalue())


def yaml_writer() -> YAML:
    """A round-trip YAML (ruamel) that keeps quotes and writes floats every reader parses."""
    from ruamel.yaml import YAML

    yml = YAML()
    yml.preserve_quotes = True
    yml.representer.add_representer(float, _represent_float)
    return yml


def _represent_float(representer: RoundTripRepresenter, value: float) -> ScalarNode:
    """Floats every YAML reader takes as floats: `1.0e-05`, not `1e-05` (a string to PyYAML)."""
    text = repr(value)
    if text in ("inf", "-inf", "nan"):
        return representer.represent_float(value)
    mantissa, sep, exponent = text.partition("e")
    if sep and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def commit(path: Path, name: str, baseline: str, message: str) -> tuple[str, str]:
    """Commit the workspace (parent = baseline) and create its exp ref; returns (sha, ref)."""
    git("add", "-A", cwd=path)
    git(
        "commit", "-q", "--no-verify", "--allow-empty", "-m", message, cwd=path, env=_identity(path)
    )
    sha = _head(path)
    ref = exp_ref(baseline, name)
    # refs are shared by all worktrees; update-ref takes git's own lock, so parallel workers
    # never corrupt each other's refs
    git("update-ref", "-m", f"expbook sweep: {name}", ref, sha, cwd=path)
    return sha, ref


def _head(path: Path) -> str:
    """The commit of the worktree's detached HEAD, read from its file (one git process less a
    trial); `git rev-parse` when HEAD is a symbolic ref."""
    from expbook.registry.gitrepo import GitRepo

    with open(os.path.join(GitRepo(path).git_dir, "HEAD"), encoding="utf-8") as fh:
        text = fh.read().strip()
    if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text):
        return text
    return git("rev-parse", "HEAD", cwd=path).strip()


@functools.lru_cache(maxsize=64)
def _identity(path: Path) -> dict[str, str] | None:
    """DVC commits experiments even without a configured identity; so do we. (Asked once per
    workspace: its worker commits every trial with it.)"""
    if git("config", "user.email", cwd=path, check=False).strip():
        return None
    return {
        "GIT_AUTHOR_NAME": "expbook",
        "GIT_AUTHOR_EMAIL": "expbook@localhost",
        "GIT_COMMITTER_NAME": "expbook",
        "GIT_COMMITTER_EMAIL": "expbook@localhost",
    }
