"""The model registry's state, read from GTO's annotated tags by GTO's state rules.

`read_events(repo)` turns every GTO tag into an `Event` (lightweight tags are ignored, as GTO
ignores them); `build(events)` replays them into `Model`s: versions (registered, active),
the version each stage points at, the latest version, deprecation. Events are ordered by tag
time and then by the artifact's counter `#N` (tag time has 1-second resolution; GTO breaks such
ties by tag-name order, so `m#prod!#10` sorts before `m#prod#9` there).

Rules (gto/base.py): a version is active while its newest register/deregister event is a
registration (a version with stage events only — named by its commit — is active); the latest
version is the highest SemVer among active registered versions; a stage points at the active
version whose newest event for that stage is the most recent assignment (GTO orders stages by a
version's first assignment instead: see docs/models.md); a model is deprecated while its newest
event is a deprecation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expbook.registry.modeltags import (
    ASSIGN,
    DEPRECATE,
    DEREGISTER,
    REGISTER,
    UNASSIGN,
    SemVer,
    parse_tag,
)

if TYPE_CHECKING:
    from expbook.registry.gitrepo import GitRepo

TAGS_PREFIX = "refs/tags/"


@dataclass(frozen=True)
class Event:
    """One GTO tag: who did what to which model, when, on which commit."""

    tag: str
    artifact: str
    action: str
    version: str | None  # for assign/unassign: filled in by build() from the commit's version
    stage: str | None
    counter: int
    time: int  # seconds since the epoch (the tagger's time)
    offset: int  # the tagger's UTC offset in minutes
    author: str
    email: str
    message: str
    commit: str

    @property
    def order(self) -> tuple[int, int]:
        return (self.time, self.counter)

    @property
    def timestamp(self) -> str:
        tz = dt.timezone(dt.timedelta(minutes=self.offset))
        return dt.datetime.fromtimestamp(self.time, tz).isoformat()

    def as_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "model": self.artifact,
            "event": self.action,
            "version": self.version,
            "stage": self.stage,
            "commit": self.commit,
            "author": self.author,
            "author_email": self.email,
            "message": self.message,
            "tag": self.tag,
            "counter": self.counter,
        }


@dataclass
class Version:
    name: str
    commit: str
    registered: bool = False  # has a registration tag (vs. named by its commit only)
    direct: list[Event] = field(default_factory=list)  # register/deregister, oldest first
    stage_events: dict[str, list[Event]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        if self.direct:
            return self.direct[-1].action == REGISTER
        return bool(self.stage_events)

    def stage_active(self, stage: str) -> bool:
        events = self.stage_events.get(stage) or []
        return bool(events) and events[-1].action == ASSIGN

    def stages(self) -> list[str]:
        return sorted(s for s in self.stage_events if self.stage_active(s))


@dataclass
class Model:
    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)  # every event, oldest first

    @property
    def deprecated(self) -> bool:
        return bool(self.events) and self.events[-1].action == DEPRECATE

    def active_versions(self, registered_only: bool = True) -> list[Version]:
        """Active versions, highest SemVer first (commit-named ones after, as GTO sorts)."""
        found = [
            v for v in self.versions.values() if v.active and (v.registered or not registered_only)
        ]
        # equal precedence (v1.0.0 and v1.0.0+b): the later registered first, as GTO's
        # sorted(...)[::-1] puts them
        order = {name: i for i, name in enumerate(self.versions)}
        semver = sorted(
            (v for v in found if SemVer.valid(v.name)),
            key=lambda v: (SemVer.parse(v.name).key, order[v.name]),
            reverse=True,
        )  # SemVer.parse is cached: one parse per version name
        other = sorted(
            (v for v in found if not SemVer.valid(v.name)), key=lambda v: v.name, reverse=True
        )
        return semver + other

    @property
    def latest(self) -> Version | None:
        found = self.active_versions(registered_only=True)
        return found[0] if found else None

    def stage_versions(self, stage: str) -> list[Version]:
        """The active versions in `stage`, most recently assigned first."""
        found = [v for v in self.active_versions(registered_only=False) if v.stage_active(stage)]
        return sorted(found, key=lambda v: v.stage_events[stage][-1].order, reverse=True)

    def stage(self, stage: str) -> Version | None:
        found = self.stage_versions(stage)
        return found[0] if found else None

    def used_stages(self) -> list[str]:
        return sorted({s for v in self.versions.values() for s in v.stage_events})

    def version_at(self, commit: str) -> Version | None:
        """The registered version at `commit` (the active one when there are several)."""
        found = [v for v in self.versions.values() if v.commit == commit and v.direct]
        if not found:
            return None
        active = [v for v in found if v.active]
        return (active or found)[-1]

    @property
    def next_counter(self) -> int:
        return max((e.counter for e in self.events), default=0) + 1


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

    try:
        text = run_git("for-each-ref", f"--format={_FORMAT}", "refs/tags/", cwd=repo.root).stdout
    except GitError:  # a damaged tag (its object missing) fails it all: read them one by one
        return _read_events_one_by_one(repo)
    parts = text.split("\0")
    width = len(_FIELDS)
    found: list[tuple[str, Any, str, list[str]]] = []
    nested: list[str] = []
    for i in range(0, len(parts) - width + 1, width):
        ref, kind, target_kind, target = parts[i].lstrip("\n"), *parts[i + 1 : i + 4]
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
    import pygit2

    out = []
    for ref, sha in repo.refs().items():
        parsed = parse_tag(ref[len(TAGS_PREFIX) :]) if ref.startswith(TAGS_PREFIX) else None
        if parsed is None:
            continue
        try:
            obj = repo.repo[pygit2.Oid(hex=sha)]
            if obj.type != pygit2.enums.ObjectType.TAG:
                continue  # a lightweight tag: GTO ignores it
            commit = str(obj.peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            continue  # a missing object, or a tag of no commit: no registry event
        tagger = obj.tagger
        out.append(
            Event(
                tag=ref[len(TAGS_PREFIX) :],
                artifact=parsed.artifact,
                action=parsed.action,
                version=parsed.version,
                stage=parsed.stage,
                counter=parsed.counter if parsed.counter is not None else 0,
                time=tagger.time if tagger else 0,
                offset=tagger.offset if tagger else 0,
                author=tagger.name if tagger else "",
                email=tagger.email if tagger else "",
                message=(obj.message or "").strip(),
                commit=commit,
            )
        )
    out.sort(key=lambda e: (e.order, e.tag))
    return out


def build(events: list[Event]) -> dict[str, Model]:
    """Replay `events` (oldest first) into one Model per artifact name."""
    models: dict[str, Model] = {}
    for e in events:
        models.setdefault(e.artifact, Model(e.artifact)).events.append(e)
    for model in models.values():
        # versions first (GTO indexes registrations before stage tags): a stage tag on a
        # commit belongs to the version registered there, whenever that was registered
        for e in model.events:
            if e.action in (REGISTER, DEREGISTER) and e.version:
                v = model.versions.setdefault(e.version, Version(e.version, e.commit))
                v.direct.append(e)
                v.registered = v.registered or e.action == REGISTER
        at: dict[str, Version | None] = {}  # commit -> version_at(commit), asked once each
        for i, e in enumerate(model.events):
            if e.action not in (ASSIGN, UNASSIGN) or not e.stage:
                continue
            if e.commit not in at:
                at[e.commit] = model.version_at(e.commit)
            v = at[e.commit] or model.versions.setdefault(e.commit, Version(e.commit, e.commit))
            resolved = dataclasses.replace(e, version=v.name)
            model.events[i] = resolved
            v.stage_events.setdefault(e.stage, []).append(resolved)
    return models


def load(repo: GitRepo) -> dict[str, Model]:
    """The registry state of `repo`."""
    return build(read_events(repo))


def models_at(models: dict[str, Model]) -> dict[str, list[str]]:
    """commit sha -> ["name@v1.0.0", "name#prod", ...] for every active version and stage:
    the model column of registry rows and what gc must keep."""
    out: dict[str, list[str]] = {}
    for model in models.values():
        for v in model.versions.values():
            if not v.active:
                continue
            labels = [f"{model.name}@{v.name}"] if v.registered else []
            labels += [f"{model.name}#{s}" for s in v.stages()]
            if labels:
                out.setdefault(v.commit, []).extend(labels)
    return out


def protected_commits(models: dict[str, Model]) -> set[str]:
    """Every commit a model version (active or not) or stage tag points at: gc keeps these."""
    return {e.commit for m in models.values() for e in m.events}
