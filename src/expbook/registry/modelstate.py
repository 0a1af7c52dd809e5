"""GTO's state rules over a model registry's tags: `Event`s (one per annotated GTO tag) replayed
into `Model`s (versions, active or not, the version each stage points at, the latest version,
deprecation) by `build`; `models_at` gives each commit its active labels (`cnn@v1.0.0`,
`cnn#prod`), the `models` column of registry rows.

The ONE implementation of GTO's rules (gto/base.py): expbook.models reads the tags with
`git for-each-ref` and replays them here; the registry reads the tag refs it already listed
(`events_from_tags`, tag objects through pygit2, cached per object id). Events are ordered by
tag time and then by the artifact's counter `#N` (tag time has 1-second resolution; GTO breaks
such ties by tag-name order, so `m#prod!#10` sorts before `m#prod#9` there).

Rules: a version is active while its newest register/deregister event is a registration (a
version with stage events only, named by its commit, is active); the latest version is the
highest SemVer among active registered versions; a stage points at the active version whose
newest event for that stage is the most recent assignment (GTO orders stages by a version's
first assignment instead: see docs/models.md); a model is deprecated while its newest event is
a deprecation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expbook.registry.modeltags import (
    ASSIGN,
    DEPRECATE,
    DEREGISTER,
    REGISTER,
    UNASSIGN,
    SemVer,
    TagName,
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


# what an annotated tag object says: (time, UTC offset in minutes, tagger name, email,
# message, the commit it finally points at); None for a lightweight tag, a tag of no commit or
# a missing object (no registry event). Plain tuples: kept in the registry's marshal cache.
TagRecord = tuple[int, int, str, str, str, str]


def gto_tag(ref: str) -> TagName | None:
    """The parsed GTO tag a ref names (`refs/tags/cnn@v1.0.0#1`), None for any other ref."""
    if not ref.startswith(TAGS_PREFIX):
        return None
    name = ref[len(TAGS_PREFIX) :]
    # most tags (v1.2, release-3) have neither '@' nor '#': no regex for them
    return parse_tag(name) if ("@" in name or "#" in name) else None


def tag_record(repo: GitRepo, sha: str) -> TagRecord | None:
    """What the annotated tag object `sha` says (see TagRecord), read through pygit2."""
    import pygit2

    try:
        obj = repo.repo[pygit2.Oid(hex=sha)]
        if obj.type != pygit2.enums.ObjectType.TAG:
            return None  # a lightweight tag: GTO ignores it
        commit = str(obj.peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None  # a missing object, or a tag of no commit: no registry event
    tagger = obj.tagger
    if tagger is None:
        return (0, 0, "", "", (obj.message or "").strip(), commit)
    return (
        tagger.time,
        tagger.offset,
        tagger.name,
        tagger.email,
        (obj.message or "").strip(),
        commit,
    )


def tagged_commits(repo: GitRepo, refs: Mapping[str, str]) -> set[str]:
    """The commits the GTO-format tags among `refs` point at (the peeled lines of packed-refs
    where git wrote them, else the tag object is read); empty, reading nothing, without one."""
    out = set()
    for ref, sha in refs.items():
        if gto_tag(ref) is None:
            continue
        if ref in repo.peeled:
            out.add(repo.peeled[ref])
        elif (rec := tag_record(repo, sha)) is not None:
            out.add(rec[5])
    return out


def events_from_tags(
    repo: GitRepo, refs: Mapping[str, str], records: dict[str, TagRecord | None] | None = None
) -> list[Event]:
    """The Events of the GTO-format tags among `refs` (ref -> object id), oldest first.
    `records`: object id -> tag_record(), filled in as objects are read (a cache: tag objects
    never change), so a second read of the same tags reads no object."""
    records = {} if records is None else records
    out = []
    for ref, sha in refs.items():
        parsed = gto_tag(ref)
        if parsed is None:
            continue
        if sha not in records:
            records[sha] = tag_record(repo, sha)
        rec = records[sha]
        if rec is None:
            continue
        time, offset, author, email, message, commit = rec
        out.append(
            Event(
                tag=ref[len(TAGS_PREFIX) :],
                artifact=parsed.artifact,
                action=parsed.action,
                version=parsed.version,
                stage=parsed.stage,
                counter=parsed.counter if parsed.counter is not None else 0,
                time=time,
                offset=offset,
                author=author,
                email=email,
                message=message,
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


def labels_at(
    repo: GitRepo, refs: Mapping[str, str], records: dict[str, TagRecord | None] | None = None
) -> dict[str, list[str]]:
    """commit sha -> the active labels there (see models_at), from the GTO-format tags among
    `refs` (ref -> object id; `records` as for events_from_tags). No GTO tag: nothing read."""
    events = events_from_tags(repo, refs, records)
    return models_at(build(events)) if events else {}


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
