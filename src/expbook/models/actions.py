"""Model registry actions, written as GTO writes them: one annotated tag per action.

register (an experiment becomes `name@vX.Y.Z`), assign / unassign a stage, deregister a
version, deprecate a model. Every check runs before the tag is written; a refusal writes
nothing. Tags are made by `git tag -a` (the user's git identity is the tagger, as with GTO).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec

from expbook.models import artifacts
from expbook.models.query import active_version, find
from expbook.models.state import TAGS_PREFIX, Model, Version, load
from expbook.registry.gitrepo import GitError, run_git
from expbook.registry.modeltags import (
    ASSIGN,
    DEPRECATE,
    DEREGISTER,
    REGISTER,
    UNASSIGN,
    ModelError,
    SemVer,
    check_name,
    check_stage,
    format_tag,
    parse_tag,
)

if TYPE_CHECKING:
    from expbook.registry.gitrepo import GitRepo

P = ParamSpec("P")
FIRST_VERSION = "v0.0.1"  # GTO's first version when none is given
BUMPS = ("patch", "minor", "major")


@dataclass(frozen=True)
class Done:
    """What an action wrote."""

    action: str
    model: str
    tag: str
    commit: str
    version: str | None = None
    stage: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "action": self.action,
            "model": self.model,
            "tag": self.tag,
            "commit": self.commit,
            "version": self.version,
            "stage": self.stage,
        }


def _next_counter(repo: GitRepo, name: str) -> int:
    # every tag of the artifact counts, lightweight ones too (as GTO's name_tag counts them)
    top = 0
    for ref in repo.refs():
        if ref.startswith(TAGS_PREFIX):
            parsed = parse_tag(ref[len(TAGS_PREFIX) :])
            if parsed and parsed.artifact == name and parsed.counter:
                top = max(top, parsed.counter)
    return top + 1


@contextlib.contextmanager
def _locked(repo: GitRepo) -> Iterator[None]:
    """One registry writer at a time per repository: two `model register` at once would read
    the same counter (and version) and write `#N` twice. flock: a killed holder releases it."""
    path = os.path.join(repo.common_dir, "expbook-models.lock")
    try:
        fh = open(path, "a")  # noqa: SIM115 (closed below)
    except OSError as err:
        raise ModelError(
            f"cannot write tags in {repo.root}: {err.strerror or err} ({path})"
        ) from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write(
    repo: GitRepo, action: str, name: str, sha: str, message: str, **what: str | None
) -> Done:
    tag = format_tag(action, name, _next_counter(repo, name), **what)
    try:
        # `git tag` (no -f) refuses a tag that exists: a writer outside expbook (gto) that
        # took this counter meanwhile is never overwritten
        run_git("tag", "-a", tag, "-m", message, sha, cwd=repo.root)
    except GitError as err:
        why = (err.git_message.strip().splitlines() or ["git tag failed"])[-1]
        raise ModelError(f"could not write tag {tag!r}: {why}") from None
    return Done(action, name, tag, sha, what.get("version"), what.get("stage"))


def _model(repo: GitRepo, name: str, create: bool = False) -> Model:
    check_name(name)
    models = load(repo)
    if create and name not in models:
        return Model(name)
    return find(models, name)


def _same_precedence(name: str, key: tuple[object, ...]) -> bool:
    return SemVer.valid(name) and SemVer.parse(name).key == key


def _serialized(func: Callable[P, Done]) -> Callable[P, Done]:
    """Run an action (its checks and its tag) holding the repository's registry lock."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Done:
        repo = args[0] if args else kwargs["repo"]
        with _locked(repo):  # type: ignore[arg-type]
            return func(*args, **kwargs)

    return wrapper


NOT_RUN = {"queued": "is queued (not run yet)", "running": "is still running", "failed": "failed"}


def experiment_commit(root: str, exp: str) -> str:
    """The commit of experiment `exp` (any name the registry resolves, or a git revision) to
    register; ExpbookError for the workspace row and for a queued, running or failed
    experiment (its commit holds the baseline's outputs, not its own)."""
    from expbook.errors import NotFoundError
    from expbook.registry.lookup import require_commit, resolve, resolve_commit

    try:
        row = resolve(root, exp)
    except NotFoundError:
        return resolve_commit(root, exp)[0]
    if row.rev == "workspace":
        raise ModelError(f"{exp!r} is the uncommitted workspace: commit it, then register it")
    why = NOT_RUN.get(row.status)
    if why:
        raise ModelError(
            f"experiment {row.name!r} {why}: its commit holds the outputs of its baseline, "
            "not its own (register an experiment that ran)"
        )
    return require_commit(row).rev


@_serialized
def register(
    repo: GitRepo,
    name: str,
    sha: str,
    version: str | None = None,
    bump: str = "patch",
    message: str | None = None,
    check_artifact: bool = True,
) -> Done:
    """Register the experiment commit `sha` as a version of model `name`."""
    model = _model(repo, name, create=True)
    existing = model.version_at(sha)
    if existing is not None and existing.active and existing.registered:
        raise ModelError(f"{sha[:7]} is registered already as {name}@{existing.name}")
    if existing is not None:
        # a deregistered version's commit: GTO allows only that version there again (two
        # versions at one commit make `gto show` fail with ManyVersions)
        if version is not None and version != existing.name:
            SemVer.parse(version)
            raise ModelError(
                f"{sha[:7]} was {name}@{existing.name} (deregistered): register it again as "
                f"{existing.name}, or register another commit as {version}"
            )
        version = existing.name
    elif version is not None:
        key = SemVer.parse(version).key
        if version in model.versions:
            raise ModelError(f"{name}@{version} exists already: choose another version")
        same = [v.name for v in model.versions.values() if _same_precedence(v.name, key)]
        if same:
            raise ModelError(
                f"{name}@{version} has the precedence of {name}@{same[0]} (SemVer ignores "
                "'+build'): choose another version"
            )
    else:
        if bump not in BUMPS:
            raise ModelError(f"--bump {bump!r}: one of {', '.join(BUMPS)}")
        registered = [v for v in model.versions.values() if v.registered and SemVer.valid(v.name)]
        if registered:
            top = max(registered, key=lambda v: SemVer.parse(v.name).key)
            version = SemVer.parse(top.name).bump(bump)
            while version in model.versions:  # a deregistered version's number stays taken
                version = SemVer.parse(version).bump("patch")
        else:
            version = FIRST_VERSION
    if check_artifact:
        art = artifacts.declared(repo, sha, name)
        if art.md5 is None:
            raise ModelError(f"{art.path} is not tracked by DVC at {sha[:7]} (no dvc.lock entry)")
        if not artifacts.in_local_cache(repo.root, art) and not artifacts.on_remote(repo.root, art):
            raise ModelError(
                f"{art.path} of {sha[:7]} is neither in the local DVC cache nor on the DVC "
                "remote: its bytes could never be fetched (run it again, or `dvc pull` it)"
            )
    text = message or f"Registering artifact {name} version {version}"
    return _write(repo, REGISTER, name, sha, text, version=version)


@_serialized
def assign(
    repo: GitRepo,
    name: str,
    stage: str,
    version: str,
    message: str | None = None,
    force: bool = False,
    gate: Callable[[Model, Version], object] | None = None,
) -> Done:
    """Assign `stage` to an active registered version. `gate(model, version)`, given, runs
    last before the tag is written (under the lock) and refuses by raising (expbook.models.gate)."""
    check_stage(stage)
    model = _model(repo, name)
    v = active_version(model, version)
    if v.stage_active(stage) and not force:
        raise ModelError(f"{name}@{version} is in stage {stage!r} already (--force to tag again)")
    if gate is not None:
        gate(model, v)
    text = message or f"Assigning stage {stage} to artifact {name} version {version}"
    return _write(repo, ASSIGN, name, v.commit, text, stage=stage)


@_serialized
def unassign(
    repo: GitRepo, name: str, stage: str, version: str | None = None, message: str | None = None
) -> Done:
    """Take `stage` from `version` (default: the version the stage points at)."""
    check_stage(stage)
    model = _model(repo, name)
    if version is None:
        current = model.stage(stage)
        if current is None:
            raise ModelError(f"no version of {name} is in stage {stage!r}")
        v = current
    else:
        v = active_version(model, version)
        if not v.stage_active(stage):
            raise ModelError(f"{name}@{version} is not in stage {stage!r}")
    text = message or f"Unassigning stage '{stage}' to artifact '{name}' version '{v.name}'"
    return _write(repo, UNASSIGN, name, v.commit, text, stage=stage)


@_serialized
def deregister(repo: GitRepo, name: str, version: str, message: str | None = None) -> Done:
    model = _model(repo, name)
    v = active_version(model, version)
    text = message or f"Deregistering artifact {name} version {version}"
    return _write(repo, DEREGISTER, name, v.commit, text, version=version)


@_serialized
def deprecate(repo: GitRepo, name: str, message: str | None = None) -> Done:
    model = _model(repo, name)
    if model.deprecated:
        raise ModelError(f"{name} is deprecated already")
    # on the commit of the model's newest event, as GTO does
    sha = model.events[-1].commit
    return _write(repo, DEPRECATE, name, sha, message or f"Deprecating artifact '{name}'")
