"""Notes and tags written straight to a git remote's notes ref (issue 23: the team dashboard's
writes): the change is made on top of the remote's notes commit, as the given git identity,
and pushed with `--force-with-lease` naming the commit it was made on (a compare-and-swap on
the remote, as expbook.registry.notes does on the local ref). When another writer pushed
first, the push is rejected: the remote's notes are fetched again, the change is made again
on the new commit (lists of notes and tags are per-commit documents: re-applying the change
keeps the other writer's) and pushed again. Two users tagging at once both land.

The remote's notes are kept in the namespace `expbook fetch` reads
(`refs/expbook/remotes/<remote>/notes/expbook`); the user's own refs/notes/expbook is never
touched. Used by expbook.ui.team.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from expbook.errors import ExpbookError
from expbook.registry import notes as notes_lib
from expbook.registry.gitrepo import GitRepo, run_git
from expbook.registry.view import namespace

ATTEMPTS = 20


def kept_ref(remote: str) -> str:
    """Where the remote's notes ref is kept (the namespace of `expbook fetch`)."""
    return f"{namespace(remote)}notes/expbook"


def _fetch_notes(root: str, remote: str) -> str | None:
    """Fetch the remote's notes ref into the namespace; its sha, or None when it has none."""
    listed = run_git("ls-remote", remote, notes_lib.NOTES_REF, cwd=root, check=False)
    if listed.returncode != 0:
        raise ExpbookError(f"cannot reach git remote {remote!r}: {listed.stderr.strip()}")
    if not listed.stdout.strip():
        return None
    ref = kept_ref(remote)
    proc = run_git(
        "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", remote,
        f"+{notes_lib.NOTES_REF}:{ref}", cwd=root, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ExpbookError(f"git fetch of {remote}'s notes failed: {proc.stderr.strip()}")
    return run_git("rev-parse", "--verify", "-q", ref, cwd=root).stdout.strip() or None


def _note_on(g: GitRepo, tip: str | None, sha: str) -> dict[str, Any]:
    if tip is None:
        return {}
    try:
        note = g.repo.lookup_note(sha, _ref_at(g, tip))
    except KeyError:
        return {}
    return notes_lib._parse(note.message, sha)


def _ref_at(g: GitRepo, tip: str) -> str:
    """A private ref at `tip` (libgit2 reads notes through a ref name)."""
    ref = f"refs/expbook/tmp/notes-{os.getpid()}-{secrets.token_hex(4)}"
    g.repo.references.create(ref, tip, force=True)
    return ref


def _commit_note(
    g: GitRepo, tip: str | None, sha: str, doc: dict[str, Any], name: str, email: str
) -> str:
    """A notes commit on top of `tip` with `doc` as the note of `sha`, by name <email>."""
    import pygit2

    notes_lib.check_text(doc)
    sig = pygit2.Signature(name, email)
    tmp = f"refs/expbook/tmp/notes-{os.getpid()}-{secrets.token_hex(4)}"
    repo = g.repo
    try:
        if tip:
            repo.references.create(tmp, tip)
        text = json.dumps(doc, sort_keys=True, indent=1) + "\n"
        repo.create_note(text, sig, sig, sha, tmp, True)
        return str(repo.references[tmp].target)
    finally:
        if tmp in repo.references:
            repo.references.delete(tmp)


def _drop_tmp(root: str) -> None:
    out = run_git("for-each-ref", "--format=%(refname)", "refs/expbook/tmp/", cwd=root).stdout
    lines = "".join(f"delete {ref}\n" for ref in out.split() if f"-{os.getpid()}-" in ref)
    if lines:
        run_git("update-ref", "--stdin", cwd=root, input=lines, check=False)


def update(
    repo: str | os.PathLike[str],
    remote: str,
    sha: str,
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    name: str,
    email: str,
    attempts: int = ATTEMPTS,
) -> dict[str, Any]:
    """Apply `fn` to the note of commit `sha` on `remote` and push the result as name <email>
    (see the module); returns the new note. ExpbookError when the remote cannot be reached or
    kept moving for `attempts` tries."""
    root = GitRepo(repo).root
    why = ""
    for attempt in range(attempts):
        tip = _fetch_notes(root, remote)
        g = GitRepo(root)
        sha = str(g.commit(sha).id)  # NotFoundError for an unknown commit
        try:
            current = _note_on(g, tip, sha)
            new = fn(dict(current))
            new_tip = _commit_note(g, tip, sha, new, name, email)
        finally:
            _drop_tmp(root)
        lease = f"--force-with-lease={notes_lib.NOTES_REF}:{tip or ''}"
        proc = run_git(
            "push", "--quiet", "--no-verify", lease, remote,
            f"{new_tip}:{notes_lib.NOTES_REF}", cwd=root, check=False,
        )  # fmt: skip
        if proc.returncode == 0:
            # the namespace follows (a fetch may have moved it already: then it is newer)
            run_git("update-ref", kept_ref(remote), new_tip, tip or "", cwd=root, check=False)
            return new
        why = (proc.stderr or proc.stdout).strip()
        if "rejected" not in why and "stale info" not in why:
            raise ExpbookError(f"git push of the note to {remote} failed: {why}")
        time.sleep(0.05 * (1 + attempt % 5))  # another writer won: fetch, redo, push again
    raise ExpbookError(f"git push of the note to {remote} kept being rejected: {why}")


def add_note(
    repo: str | os.PathLike[str], remote: str, sha: str, text: str, *, name: str, email: str
) -> dict[str, Any]:
    """`notes.add_note` on the remote's notes (see update)."""
    if not text.strip():
        raise ExpbookError("the note text is empty")
    return update(
        repo,
        remote,
        sha,
        lambda d: {**d, "notes": [*d.get("notes", []), text]},
        name=name,
        email=email,
    )


def set_tag(
    repo: str | os.PathLike[str],
    remote: str,
    sha: str,
    tag: str,
    *,
    remove: bool = False,
    name: str,
    email: str,
) -> dict[str, Any]:
    """`notes.set_tag` on the remote's notes (see update)."""
    notes_lib.check_tag(tag, new=not remove)

    def fn(d: dict[str, Any]) -> dict[str, Any]:
        tags = [t for t in d.get("tags", []) if t != tag]
        if remove and len(tags) == len(d.get("tags", [])):
            raise ExpbookError(f"{sha[:7]} has no tag {tag!r}")
        return {**d, "tags": tags if remove else [*tags, tag]}

    return update(repo, remote, sha, fn, name=name, email=email)
