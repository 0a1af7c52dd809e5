"""expbook notes/tags/sweep metadata, stored git-natively as one JSON note per commit in
`refs/notes/expbook`; plus push/pull of that ref together with `dvc exp push/pull`.

Used by `expbook note/tag/push/pull`, by sweeps (trial metadata) and by the registry.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from typing import Callable

from expbook.errors import ExpbookError
from expbook.gitrepo import GitRepo

NOTES_REF = "refs/notes/expbook"
_REMOTE_TMP_REF = "refs/notes/expbook-remote"


def _open(repo) -> GitRepo:
    return repo if isinstance(repo, GitRepo) else GitRepo(repo)


def notes_sha(repo) -> str | None:
    """The commit the notes ref points at (changes whenever any note changes)."""
    return _open(repo).refs().get(NOTES_REF)


def _parse(text: str, sha: str) -> dict:
    try:
        doc = json.loads(text)
    except ValueError:
        # a note written by hand with `git notes`: keep its text rather than fail
        return {"notes": [text.strip()], "tags": []}
    if not isinstance(doc, dict):
        return {"notes": [str(doc)], "tags": []}
    return doc


def read_all(repo, ref: str = NOTES_REF) -> dict[str, dict]:
    """Every note of the ref: commit sha -> {"notes": [...], "tags": [...], "sweep": {...}}."""
    g = _open(repo)
    if ref not in g.refs():
        return {}
    out = {}
    for note in g.repo.notes(ref):
        sha = str(note.annotated_id)
        out[sha] = _parse(note.message, sha)
    return out


def get(repo, sha: str) -> dict:
    """The note of one commit ({} when it has none)."""
    g = _open(repo)
    if NOTES_REF not in g.refs():
        return {}
    try:
        note = g.repo.lookup_note(sha, NOTES_REF)
    except KeyError:
        return {}
    return _parse(note.message, sha)


@contextmanager
def _locked(g: GitRepo):
    # flock serialises writers across processes: the read-modify-write below is not atomic
    path = os.path.join(g.common_dir, "expbook-notes.lock")
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _signature(repo):
    import pygit2

    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return pygit2.Signature("expbook", "expbook@localhost")


def _write(g: GitRepo, sha: str, doc: dict) -> None:
    repo = g.repo
    sig = _signature(repo)
    text = json.dumps(doc, sort_keys=True, indent=1) + "\n"
    repo.create_note(text, sig, sig, sha, NOTES_REF, True)


def update(repo, sha: str, fn: Callable[[dict], dict]) -> dict:
    """Apply `fn` to the commit's note under a lock and store the result; returns it."""
    g = _open(repo)
    commit = g.commit(sha)  # NotFoundError for an unknown sha
    sha = str(commit.id)
    with _locked(g):
        # a fresh repository object: another process may have moved the notes ref
        fresh = GitRepo(g.root)
        current = get(fresh, sha)
        new = fn(dict(current))
        if not isinstance(new, dict):
            raise ExpbookError(f"note update for {sha[:7]} must return a dict, "
                               f"got {type(new).__name__}")
        _write(fresh, sha, new)
    return new


def add_note(repo, sha: str, text: str) -> dict:
    return update(repo, sha, lambda d: {**d, "notes": [*d.get("notes", []), text]})


def set_tag(repo, sha: str, name: str, remove: bool = False) -> dict:
    def fn(d: dict) -> dict:
        tags = [t for t in d.get("tags", []) if t != name]
        if not remove:
            tags.append(name)
        return {**d, "tags": tags}
    return update(repo, sha, fn)


def _run(args: list[str], cwd: str) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExpbookError(f"{' '.join(args[:4])} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _merge_docs(local: dict, remote: dict) -> dict:
    merged = dict(remote)
    merged.update(local)
    for key in ("notes", "tags"):
        seen = list(remote.get(key, []))
        seen += [x for x in local.get(key, []) if x not in seen]
        merged[key] = seen
    return merged


def _dvc_cache_flag(root: str, with_cache: bool | None) -> list[str]:
    # without a default DVC remote `dvc exp push/pull` fails on the cache step: skip it then
    if with_cache is None:
        import configparser

        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read([os.path.join(root, ".dvc", n) for n in ("config", "config.local")],
                    encoding="utf-8")
        with_cache = parser.has_option("core", "remote")
    return [] if with_cache else ["--no-cache"]


SWEEPS_PREFIX = "refs/expbook/sweeps/"  # expbook.sweep.state keeps one state ref per sweep


def push(repo=".", remote: str = "origin", with_cache: bool | None = None) -> None:
    """`dvc exp push REMOTE --all-commits` then push refs/notes/expbook to the git remote.

    Cached outputs go to the default DVC remote when one is configured (or `with_cache`).
    """
    g = _open(repo)
    _run([sys.executable, "-m", "dvc", "exp", "push", remote, "--all-commits",
          *_dvc_cache_flag(g.root, with_cache)], g.root)
    if NOTES_REF in g.refs():
        _run(["git", "push", remote, f"{NOTES_REF}:{NOTES_REF}"], g.root)
    if any(ref.startswith(SWEEPS_PREFIX) for ref in g.refs()):
        # sweep state (expbook sweep status/best), fast-forward only
        _run(["git", "push", remote, f"{SWEEPS_PREFIX}*:{SWEEPS_PREFIX}*"], g.root)


def pull(repo=".", remote: str = "origin", with_cache: bool | None = None) -> int:
    """`dvc exp pull REMOTE --all-commits`, fetch the remote notes and merge them into ours.

    Lists (notes, tags) are unioned; other keys keep the local value. Returns how many
    commits' notes changed.
    """
    g = _open(repo)
    _run([sys.executable, "-m", "dvc", "exp", "pull", remote, "--all-commits",
          *_dvc_cache_flag(g.root, with_cache)], g.root)
    # sweep state: fast-forward only; a diverged local state is kept (git refuses the update)
    subprocess.run(["git", "fetch", "--no-tags", remote, f"{SWEEPS_PREFIX}*:{SWEEPS_PREFIX}*"],
                   cwd=g.root, capture_output=True, text=True)
    probe = subprocess.run(["git", "ls-remote", remote, NOTES_REF], cwd=g.root,
                           capture_output=True, text=True)
    if probe.returncode != 0 or not probe.stdout.strip():
        return 0
    _run(["git", "fetch", "--no-tags", remote, f"+{NOTES_REF}:{_REMOTE_TMP_REF}"], g.root)
    changed = 0
    with _locked(g):
        fresh = GitRepo(g.root)
        theirs = read_all(fresh, _REMOTE_TMP_REF)
        ours = read_all(fresh)
        for sha, doc in theirs.items():
            merged = _merge_docs(ours.get(sha, {}), doc)
            if merged != ours.get(sha):
                # kept even when the experiment itself was not pulled: our next push must not
                # drop the remote's note
                _write(fresh, sha, merged)
                changed += 1
        _record_merge(fresh.repo, remote)
        fresh.repo.references.delete(_REMOTE_TMP_REF)
    return changed


def _record_merge(repo, remote: str) -> None:
    """Make the remote's notes commit an ancestor of ours (a merge commit with our merged tree)
    so the next `git push` of the notes ref is a fast-forward, not a rejection."""
    theirs = repo.references[_REMOTE_TMP_REF].target
    head = repo.references.get(NOTES_REF)
    if head is None:
        repo.references.create(NOTES_REF, theirs)
        return
    ours = head.target
    if ours == theirs or repo.descendant_of(ours, theirs):
        return
    if repo.descendant_of(theirs, ours):
        head.set_target(theirs)  # nothing of ours is missing there: fast-forward
        return
    sig = _signature(repo)
    merge = repo.create_commit(None, sig, sig, f"Merge expbook notes from {remote}",
                               repo[ours].tree_id, [ours, theirs])
    head.set_target(merge)
