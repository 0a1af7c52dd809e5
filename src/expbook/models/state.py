"""The model registry's state, read from GTO's annotated tags by GTO's state rules.

`read_events(repo)` turns every GTO tag into an `Event` with one `git for-each-ref`
(lightweight tags are ignored, as GTO ignores them); `load(repo)` replays them into `Model`s.
The rules themselves (`Event`, `Version`, `Model`, `build`, `models_at`) live in
expbook.registry.modelstate, the one implementation the registry's `models` column uses too;
they are re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expbook.registry.modelstate import (  # noqa: F401  (the public names of this module)
    TAGS_PREFIX,
    Event,
    Model,
    Version,
    build,
    events_from_tags,
    models_at,
    protected_commits,
)
from expbook.registry.modeltags import parse_tag

if TYPE_CHECKING:
    from expbook.registry.gitrepo import GitRepo


# one `git for-each-ref` reads every tag object (C speed, no pygit2 import): name, type, the
# type and id of what it points at, tagger, date, message; NUL-separated (no NUL in any field)
_FIELDS = (
    "refname",
    "objecttype",
    "*objecttype",
    "*objectname",
    "taggername",
    "taggeremail",
    "taggerdate:raw",
    "contents",
)
_FORMAT = "".join(f"%({f})%00" for f in _FIELDS)


def _offset_minutes(text: str) -> int:
    """`+0130` -> 90, `-0500` -> -300; 0 when unreadable."""
    if len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        return 0
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return -minutes if text[0] == "-" else minutes


def _peel_nested(repo: GitRepo, tag_ids: list[str]) -> dict[str, str]:
    """The commit each (annotated) tag object id in `tag_ids` finally points at, where it does."""
    from expbook.registry.gitrepo import run_git

    if not tag_ids:
        return {}
    asked = "".join(f"{sha}^{{commit}}\n" for sha in tag_ids)
    proc = run_git(
        "cat-file", "--batch-check=%(objectname) %(objecttype)", cwd=repo.root, input=asked
    )
    out = {}
    for sha, line in zip(tag_ids, proc.stdout.splitlines(), strict=False):
        found = line.split()
        if len(found) == 2 and found[1] == "commit":
            out[sha] = found[0]
    return out


def read_events(repo: GitRepo) -> list[Event]:
    """Every GTO-format annotated tag of `repo` as an Event, oldest first. Lightweight tags and
    tags of a tree or a blob are no events; a tag of a tag is followed to its commit."""
    from expbook.registry.gitrepo import GitError, run_git
    from expbook.registry.view import namespace

    # a view of a remote (issue 23): its tags are kept in its namespace, read as refs/tags/
    prefix = TAGS_PREFIX if repo.view is None else f"{namespace(repo.view)}tags/"
    try:
        text = run_git("for-each-ref", f"--format={_FORMAT}", prefix, cwd=repo.root).stdout
    except GitError:  # a damaged tag (its object missing) fails it all: read them one by one
        return _read_events_one_by_one(repo)
    parts = text.split("\0")
    width = len(_FIELDS)
    found: list[tuple[str, Any, str, list[str]]] = []
    nested: list[str] = []
    for i in range(0, len(parts) - width + 1, width):
        ref, kind, target_kind, target = parts[i].lstrip("\n"), *parts[i + 1 : i + 4]
        if prefix != TAGS_PREFIX and ref.startswith(prefix):
            ref = TAGS_PREFIX + ref[len(prefix) :]
        if kind != "tag" or not ref.startswith(TAGS_PREFIX):
            continue  # a lightweight tag: GTO ignores it
        name = ref[len(TAGS_PREFIX) :]
        parsed = parse_tag(name)
        if parsed is None or target_kind in ("tree", "blob"):
            continue  # not GTO's, or a tag of no commit: no registry event
        if target_kind == "tag":
            nested.append(target)
        found.append((name, parsed, target, parts[i + 4 : i + 8]))
    peeled = _peel_nested(repo, nested)
    out = []
    for name, parsed, target, (author, email, date, message) in found:
        commit = peeled.get(target) if target in nested else target
        if not commit:
            continue
        when, _, zone = date.partition(" ")
        out.append(
            Event(
                tag=name,
                artifact=parsed.artifact,
                action=parsed.action,
                version=parsed.version,
                stage=parsed.stage,
                counter=parsed.counter if parsed.counter is not None else 0,
                time=int(when) if when.isdigit() else 0,
                offset=_offset_minutes(zone),
                author=author,
                email=email[1:-1] if email.startswith("<") and email.endswith(">") else email,
                message=message.strip(),
                commit=commit,
            )
        )
    out.sort(key=lambda e: (e.order, e.tag))
    return out


def _read_events_one_by_one(repo: GitRepo) -> list[Event]:
    """read_events through pygit2, skipping a tag whose object cannot be read."""
    return events_from_tags(repo, repo.refs())


def load(repo: GitRepo) -> dict[str, Model]:
    """The registry state of `repo`."""
    return build(read_events(repo))
