"""expbook notes/tags/sweep metadata, stored git-natively as one JSON note per commit in
`refs/notes/expbook` (read and written here; push/pull live in `expbook.share.sync`).

Used by `expbook note/tag`, by sweeps (trial metadata), by the registry and by sharing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import GitRepo, signature

NOTES_REF = "refs/notes/expbook"

# a repository path, or a GitRepo already open
RepoLike = str | os.PathLike[str] | GitRepo


def _open(repo: RepoLike) -> GitRepo:
    return repo if isinstance(repo, GitRepo) else GitRepo(repo)


def _parse(text: str, sha: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            return {"notes": [_replaced(str(doc))[0]], "tags": []}
        return _replaced(doc)[0]  # the next write stores the replaced text: the note is repaired
    except (ValueError, RecursionError):
        # a note written by hand with `git notes`, or JSON nested past the recursion limit
        # (`expbook note` died walking it): keep its text rather than fail
        return {"notes": [_replaced(text.strip())[0]], "tags": []}


# a JSON escape of a UTF-16 surrogate (\\ud800-\\udfff): what decodes to a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
BAD_TEXT = "note has text that is not valid Unicode (shown as \ufffd)"


def _replaced(value: Any) -> tuple[Any, bool]:
    """(`value` with every string that cannot be UTF-8 encoded (a lone surrogate: JSON's
    "\\ud800", or a non-UTF-8 byte that reached a str) made valid, each bad character
    replaced by U+FFFD; whether anything was replaced). Notes are read defensively: such text
    would raise UnicodeEncodeError in every command that prints it (issue 19)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value, False
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value), True
    if isinstance(value, list):
        items = [_replaced(v) for v in value]
        return [v for v, _ in items], any(bad for _, bad in items)
    if isinstance(value, dict):
        pairs = [(_replaced(k), _replaced(v)) for k, v in value.items()]
        return {k: v for (k, _), (v, _) in pairs}, any(a or b for (_, a), (_, b) in pairs)
    return value, False


def check_text(doc: Any) -> None:
    """ExpbookError naming the first string of a note that is not valid Unicode (a lone
    surrogate from the dashboard, a non-UTF-8 byte from the command line); nothing is written.
    The one check every note/tag/sweep writer passes through (_swap_many)."""
    if isinstance(doc, str):
        try:
            doc.encode("utf-8")
        except UnicodeEncodeError as exc:
            char = doc[exc.start]
            what = (
                f"the byte 0x{ord(char) - 0xDC00:02x}, which is not UTF-8"
                if 0xDC80 <= ord(char) <= 0xDCFF
                else f"a lone surrogate \\u{ord(char):04x}"
            )
            shown = "".join(
                f"\\x{ord(c) - 0xDC00:02x}"
                if 0xDC80 <= ord(c) <= 0xDCFF
                else f"\\u{ord(c):04x}"
                if 0xD800 <= ord(c) <= 0xDFFF
                else c
                for c in doc[:60]
            )
            raise ExpbookError(
                f"note text '{shown}{'...' if len(doc) > 60 else ''}' is not valid Unicode: "
                f"at position {exc.start} it has {what}; nothing was written"
            ) from None
    elif isinstance(doc, list):
        for item in doc:
            check_text(item)
    elif isinstance(doc, dict):
        for key, item in doc.items():
            check_text(key)
            check_text(item)


def read_tree(g: GitRepo, commit_sha: str) -> dict[str, dict[str, Any]]:
    """Every note of a notes commit, read from its tree (fan-out paths `ab/cdef..`), without
    asking git to resolve the ref (a corrupt packed-refs file does not stop it). A note that
    cannot be read keeps what it can and carries an "error" for the registry row."""
    out: dict[str, dict[str, Any]] = {}
    stack: list[tuple[str, Any]] = [("", g.tree_of(g.commit(commit_sha)))]
    while stack:
        prefix, tree = stack.pop()
        for entry in tree:
            name = prefix + entry.name
            if entry.type_str == "tree":
                stack.append((name, g.repo[entry.id]))
            elif len(name) == 40:
                out[name] = _checked(g.repo[entry.id].data)
    return out


def _checked(data: bytes) -> dict[str, Any]:
    doc = _checked_doc(data)
    if _SURROGATE_ESCAPE.search(data) is None:
        return doc  # no `\\udXXX` escape: every string of the note encodes (no walk)
    try:
        doc, bad = _replaced(doc)
    except RecursionError:
        return {"notes": [], "tags": [], "error": "note is JSON nested too deeply to read"}
    if bad and "error" not in doc:
        doc["error"] = BAD_TEXT
    return doc


def _checked_doc(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # kept, decoded with replacement, and named
        text = data.decode("utf-8", "replace")
        return {**_checked_doc(text.encode("utf-8")), "error": BAD_TEXT}
    if not text.lstrip().startswith(("{", "[")):
        return {"notes": [text.strip()], "tags": []}  # written by hand with `git notes`
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return {"notes": [text.strip()], "tags": [], "error": f"note is not valid JSON ({exc})"}
    except RecursionError:  # `[[[[...` nested past Python's recursion limit (issue 19)
        return {"notes": [], "tags": [], "error": "note is JSON nested too deeply to read"}
    if not isinstance(doc, dict):
        return {"notes": [str(doc)], "tags": [], "error": "note is JSON but not an object"}
    bad = [
        key
        for key, kind in (("notes", list), ("tags", list), ("sweep", dict))
        if key in doc and not isinstance(doc[key], kind)
    ]
    if bad:
        doc = {k: v for k, v in doc.items() if k not in bad}
        doc["error"] = f"note has {', '.join(bad)} of the wrong type"
    for key in ("notes", "tags"):
        if key in doc:
            doc[key] = [str(v) for v in doc[key]]
    return doc


def read_all(repo: RepoLike, ref: str = NOTES_REF) -> dict[str, dict[str, Any]]:
    """Every note of the ref: commit sha -> {"notes": [...], "tags": [...], "sweep": {...}}."""
    g = _open(repo)
    if ref not in g.refs():
        return {}
    out = {}
    for note in g.repo.notes(ref):
        sha = str(note.annotated_id)
        out[sha] = _parse(note.message, sha)
    return out


def get(repo: RepoLike, sha: str) -> dict[str, Any]:
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
def _locked(g: GitRepo) -> Iterator[None]:
    # flock serialises writers across processes: the read-modify-write below is not atomic
    path = os.path.join(g.common_dir, "expbook-notes.lock")
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class _Moved(Exception):
    pass


def _tip(g: GitRepo) -> str | None:
    ref = g.repo.references.get(NOTES_REF)
    return str(ref.target) if ref is not None else None


def _swap(g: GitRepo, sha: str, doc: dict[str, Any], old_tip: str | None) -> bool:
    """Write the note on top of `old_tip` and move the notes ref only if it still points there
    (compare-and-swap); False when another writer won."""
    return _swap_many(g, {sha: doc}, old_tip)


def _swap_many(g: GitRepo, docs: dict[str, dict[str, Any]], old_tip: str | None) -> bool:
    """`_swap` of several notes at once: one ref move for all of them."""
    import secrets

    for doc in docs.values():
        check_text(doc)  # before anything is written: valid Unicode only (issue 19)
    repo = g.repo
    sig = signature(repo)
    # libgit2 writes a note straight to a ref: give it a private one, then swap the real ref
    tmp = f"{NOTES_REF}-tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        if old_tip:
            repo.references.create(tmp, old_tip)
        for sha, doc in docs.items():
            text = json.dumps(doc, sort_keys=True, indent=1) + "\n"
            repo.create_note(text, sig, sig, sha, tmp, True)
        new_tip = str(repo.references[tmp].target)
    finally:
        if tmp in repo.references:
            repo.references.delete(tmp)
    # git's compare-and-swap: lock the ref (git and libgit2 writers both honour the lock
    # file), and move it only if it still points at the tip the note was written on
    import pygit2

    try:
        with repo.transaction() as txn:
            txn.lock_ref(NOTES_REF)
            if _tip(GitRepo(g.root)) != old_tip:
                raise _Moved
            txn.set_target(NOTES_REF, new_tip, message="expbook note")
    except (_Moved, pygit2.GitError):  # moved, or locked by a writer right now: try again
        return False
    return True


def _write(g: GitRepo, sha: str, doc: dict[str, Any]) -> None:
    """Store `doc` as the note of `sha` (caller holds the lock; used by `expbook pull`)."""
    if not _swap(g, sha, doc, _tip(g)):
        raise ExpbookError(f"could not write the note of {sha[:7]}: {NOTES_REF} moved meanwhile")


def update(
    repo: RepoLike, sha: str, fn: Callable[[dict[str, Any]], dict[str, Any]], attempts: int = 50
) -> dict[str, Any]:
    """Apply `fn` to the commit's note and store the result; returns it.

    Writers of this process and other expbook processes are serialised by a lock; the ref
    itself moves by compare-and-swap, so a writer that bypasses the lock (`git notes`, another
    tool) is never overwritten: the read-modify-write is retried on its new tip.
    """
    g = _open(repo)
    commit = g.commit(sha)  # NotFoundError for an unknown sha
    sha = str(commit.id)
    with _locked(g):
        for attempt in range(attempts):
            # a fresh repository object: another process may have moved the notes ref
            fresh = GitRepo(g.root)
            old_tip = _tip(fresh)
            current = get(fresh, sha) if old_tip else {}
            new = fn(dict(current))
            if not isinstance(new, dict):
                raise ExpbookError(
                    f"note update for {sha[:7]} must return a dict, got {type(new).__name__}"
                )
            if _swap(fresh, sha, new, old_tip):
                return new
            time.sleep(0.005 * (1 + attempt % 10))  # let the other writer finish
    raise ExpbookError(f"could not update the note of {sha[:7]}: {NOTES_REF} kept moving")


def update_many(
    repo: RepoLike, fns: dict[str, Callable[[dict[str, Any]], dict[str, Any]]], attempts: int = 50
) -> None:
    """`update` of several commits' notes in one notes commit (a sweep driver landing a batch
    of finished trials: one ref move instead of one per trial)."""
    g = _open(repo)
    if not fns:
        return
    with _locked(g):
        for attempt in range(attempts):
            fresh = GitRepo(g.root)
            old_tip = _tip(fresh)
            docs = {sha: fn(dict(get(fresh, sha) if old_tip else {})) for sha, fn in fns.items()}
            if _swap_many(fresh, docs, old_tip):
                return
            time.sleep(0.005 * (1 + attempt % 10))
    raise ExpbookError(f"could not update {len(fns)} notes: {NOTES_REF} kept moving")


def add_note(repo: RepoLike, sha: str, text: str) -> dict[str, Any]:
    """Append a free-text note to a commit's note; returns the new note. Empty text is an error."""
    if not text.strip():
        raise ExpbookError("the note text is empty")
    return update(repo, sha, lambda d: {**d, "notes": [*d.get("notes", []), text]})


def check_tag(name: str, new: bool = True) -> str:
    """A tag is one word: no spaces (queries split on them) and no commas (lists do); a `new`
    one (not one being removed: a bad old tag can still go) is printable text."""
    if not name.strip() or any(c.isspace() for c in name) or "," in name:
        raise ExpbookError(f"tag {name!r} must be a non-empty word without spaces or commas")
    if not new:
        return name
    # a control or format character (ESC, U+202E) would reach every listing of the tag
    # (a surrogate, a non-UTF-8 byte, is named by check_text when the note is written)
    bad = next((c for c in name if not (c.isprintable() or "\ud800" <= c <= "\udfff")), None)
    if bad is not None:
        raise ExpbookError(
            f"tag '{name.encode('unicode_escape').decode('ascii')}' has the control "
            f"character U+{ord(bad):04X}; a tag is printable text"
        )
    return name


def set_tag(repo: RepoLike, sha: str, name: str, remove: bool = False) -> dict[str, Any]:
    """Add (or with remove=True, drop) a tag on a commit; returns the new note.
    Adding a tag twice keeps one; removing a tag the commit lacks is an error."""
    check_tag(name, new=not remove)

    def fn(d: dict[str, Any]) -> dict[str, Any]:
        tags = [t for t in d.get("tags", []) if t != name]
        if remove and len(tags) == len(d.get("tags", [])):
            raise ExpbookError(f"{sha[:7]} has no tag {name!r}")
        return {**d, "tags": tags if remove else [*tags, name]}

    return update(repo, sha, fn)
