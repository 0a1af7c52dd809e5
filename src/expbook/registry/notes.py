"""expbook notes/tags/sweep metadata, stored git-natively as one JSON note per commit in
`refs/notes/expbook` (read and written here; push/pull live in `expbook.share.sync`).

Used by `expbook note/tag`, by sweeps (trial metadata), by the registry and by sharing.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from contextlib import contextmanager

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import GitRepo

NOTES_REF = "refs/notes/expbook"


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
            raise ExpbookError(
                f"note update for {sha[:7]} must return a dict, got {type(new).__name__}"
            )
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
