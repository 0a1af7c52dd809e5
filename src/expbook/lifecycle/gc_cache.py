"""`expbook gc --cache/--remote`: the DVC cache objects nothing uses any more, and every check
that must pass before gc changes anything (the remote exists, no sweep or experiment is
running, a shared cache names every project that uses it).

Objects are DVC's own count: what `dvc gc --workspace --all-commits --all-experiments` keeps
after the removal, computed before it, so a dry run reports exactly what `--yes` frees. A
cache outside the repository's own `.dvc/cache` (DVC's shared cache: `dvc cache dir PATH` in
several projects) may hold other projects' objects: like `dvc gc --projects`, gc then needs
every project that shares it and keeps what any of them uses (docs/gc.md).

Used by `expbook gc` through `open_store(root, ...)`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expbook.errors import ExpbookError
from expbook.lifecycle.gc import Plan
from expbook.registry import Experiment
from expbook.registry.dvccache import dvc_cache_dir
from expbook.registry.gitrepo import find_root

if TYPE_CHECKING:  # DVC is imported on use (only gc --cache/--remote needs it)
    from dvc.repo import Repo
    from dvc_data.hashfile.db import HashFileDB

SWEEP_LOCK = os.path.join(".dvc", "tmp", "expbook", "sweep.lock")  # held by `expbook sweep`


@dataclass
class CacheReport:
    """Unused DVC cache objects: `objects` [(odb hash name, oid, path, size)] and their bytes."""

    where: str  # "local cache" or "remote NAME"
    objects: list[tuple[str, str, str, int]] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(o[3] for o in self.objects)


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _inside(path: str, directory: str) -> bool:
    path, directory = _real(path), _real(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def cache_of(root: str, dvc_repo: Repo) -> str:
    """The cache directory `root` uses: `cache.dir` from its .dvc/config(.local) (the one
    reader, expbook.registry.dvccache), else DVC's own answer (its global or system config)."""
    cache = dvc_cache_dir(root)
    if _inside(cache, os.path.join(root, ".dvc", "cache")) and dvc_repo.cache.local_cache_dir:
        cache = dvc_repo.cache.local_cache_dir
    return _real(cache)


def project_roots(root: str, projects: Sequence[str]) -> list[str]:
    """The roots of `projects` other than `root`, each checked to be a DVC repository: a
    mistyped path is an error, not a project with nothing to keep."""
    out: list[str] = []
    for path in projects:
        if not os.path.isdir(os.path.join(path, ".dvc")):
            raise ExpbookError(f"--projects {path}: not a DVC repository (no .dvc directory)")
        other = find_root(path)
        if _real(other) != _real(root) and _real(other) not in map(_real, out):
            out.append(other)
    return out


@contextmanager
def sweeps_paused(root: str, experiments: Iterable[Experiment]) -> Iterator[None]:
    """Refuse while a sweep or experiment runs in `root` (a running trial's outputs are in the
    cache before any ref names them), and hold `expbook sweep`'s lock until the gc is done so
    that no sweep starts in between."""
    path = os.path.join(root, SWEEP_LOCK)
    if not os.path.isdir(os.path.dirname(os.path.dirname(path))):  # no .dvc/tmp: no sweep ran
        fh = None
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115  (held for the gc)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise ExpbookError(
                f"an expbook sweep is running in {root}: its new outputs are not referenced "
                "yet; run gc --cache after it (nothing changed)"
            ) from None
    try:
        running = [e.name for e in experiments if e.status == "running"]
        if running:
            raise ExpbookError(
                f"experiments are running in {root} ({', '.join(running)}): run gc --cache "
                "after they finish (nothing changed)"
            )
        yield
    finally:
        if fh is not None:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()


# ---------------------------------------------------------------- DVC's object counts
def _used(dvc_repo: Repo, removed_refs: set[str]) -> set[tuple[str, str]]:
    """(hash name, value) of every object the workspace, every commit and every remaining
    experiment uses: `dvc gc -w --all-commits --all-experiments` as it would run after the
    removal (DVC's own brancher and index)."""
    from dvc.repo.experiments.utils import exp_commits, exp_refs

    remaining = [info for info in exp_refs(dvc_repo.scm) if str(info) not in removed_refs]
    # exp_commits() of an empty list means "all experiments": only call it with some
    revs = sorted(exp_commits(dvc_repo.scm, remaining)) if remaining else None
    from dvc.exceptions import DvcException

    try:
        used = dvc_repo.used_objs(all_commits=True, revs=revs, force=True)
    except (DvcException, AssertionError) as exc:
        # DVC asserts on an out outside the repository (`../../etc` in a dvc.yaml or lock of
        # some commit): one error line, raised before any ref or object is removed
        why = str(exc) or "a dvc.yaml or dvc.lock of some commit has an output outside it"
        raise ExpbookError(
            f"--cache/--remote: DVC cannot list the objects {dvc_repo.root_dir} uses ({why}); "
            "nothing was removed"
        ) from None
    return {(h.name, h.value) for objs in used.values() for h in objs if h.value}


def _unused(odb: HashFileDB, used: set[tuple[str, str]]) -> list[tuple[str, str, str, int]]:
    out = []
    for oid in odb.all():
        if (odb.hash_name, oid) in used:
            continue
        path = odb.oid_to_path(oid)
        try:
            size = int(odb.fs.size(path) or 0)
        except (OSError, FileNotFoundError):
            size = 0
        out.append((odb.hash_name, oid, path, size))
    return out


def _local_odbs(dvc_repo: Repo) -> list[HashFileDB]:
    seen, out = set(), []
    for _scheme, odb in dvc_repo.cache.by_scheme():
        if odb is not None and odb.path not in seen:
            seen.add(odb.path)
            out.append(odb)
    return out


def _remote_odbs(dvc_repo: Repo, remote: str) -> list[HashFileDB]:
    from dvc.config import ConfigError, NoRemoteError

    try:
        return [
            dvc_repo.cloud.get_remote_odb(remote, "gc -c", hash_name=name)
            for name in ("md5", "md5-dos2unix")
        ]
    except (NoRemoteError, ConfigError) as exc:
        raise ExpbookError(f"--remote {remote!r}: {exc} (see `dvc remote list`)") from None


class Store:
    """The DVC side of one gc, opened once (and locked) after every check passed: the local
    cache and/or a remote, and the other projects sharing the cache."""

    def __init__(self, dvc_repo: Repo, others: list[Repo], cache: bool, remote: str | None):
        self.dvc_repo, self.others, self.cache, self.remote = dvc_repo, others, cache, remote
        self.local = _local_odbs(dvc_repo) if cache else []
        self.remote_odbs = _remote_odbs(dvc_repo, remote) if remote else []

    def _used(self, removed_refs: set[str]) -> set[tuple[str, str]]:
        used = _used(self.dvc_repo, removed_refs)
        for other in self.others:
            used |= _used(other, set())
        return used

    def _targets(self) -> list[tuple[str, list[HashFileDB]]]:
        out = [("local cache", self.local)] if self.cache else []
        return out + ([(f"remote {self.remote}", self.remote_odbs)] if self.remote else [])

    def reports(self, plan: Plan) -> list[CacheReport]:
        """The objects (and bytes) a gc of `plan` would delete, per target."""
        used = self._used(set(plan.refs))
        out = []
        for where, odbs in self._targets():
            report = CacheReport(where)
            for odb in odbs:
                report.objects += _unused(odb, used)
            out.append(report)
        return out

    def in_use(self, plan: Plan) -> set[tuple[str, str]]:
        """The objects still used once `plan`'s refs are gone: asked of DVC before the refs
        are removed, so a DVC failure changes nothing (delete_unused takes it)."""
        return self._used(set(plan.refs))

    def delete_unused(self, used: set[tuple[str, str]] | None = None) -> list[CacheReport]:
        """Delete the objects no commit, experiment or workspace output of this project (or of
        a project sharing its cache) uses, with DVC's own gc; returns what went."""
        from dvc_data.hashfile.db import get_index
        from dvc_data.hashfile.gc import gc as odb_gc
        from dvc_data.hashfile.hash_info import HashInfo

        used = self._used(set()) if used is None else used
        infos = [HashInfo(name, value) for name, value in used]
        out = []
        for where, odbs in self._targets():
            report = CacheReport(where)
            for odb in odbs:
                report.objects += _unused(odb, used)
                if odb_gc(odb, infos, dry=False) and where != "local cache":
                    get_index(odb).clear()
            out.append(report)
        return out


def _shared_message(cache: str) -> str:
    return (
        f"the DVC cache {cache} (cache.dir) is outside this repository and may be shared: "
        "other projects' objects would look unused. Name every project that uses it with "
        "--projects PATH (repeat it; this one included or not), as for `dvc gc --projects`. "
        "Nothing changed"
    )


@contextmanager
def open_store(
    root: str,
    experiments: Sequence[Experiment],
    *,
    cache: bool,
    remote: str | None,
    projects: Sequence[str] = (),
    deleting: bool,
) -> Iterator[Store | None]:
    """Check everything the cache side of a gc needs, then open DVC once (locked) for it.

    Refuses (ExpbookError, before anything changes): a shared cache without `projects`, a
    project that is not a DVC repo or uses another cache, a remote DVC does not know and, when
    `deleting`, a sweep or experiment running here or in a project sharing the cache. Yields
    None when neither `cache` nor `remote` is asked for.
    """
    if not cache and not remote:
        yield None
        return
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with ExitStack() as stack:
            dvc_repo = stack.enter_context(Repo(root))
            stack.enter_context(dvc_repo.lock)
            own = _real(os.path.join(root, ".dvc", "cache"))
            used = cache_of(root, dvc_repo)
            shared = None if used == own else used
            if projects and not shared and not remote:
                raise ExpbookError(
                    f"--projects: the DVC cache of {root} is its own .dvc/cache, "
                    "shared with no project"
                )
            if shared and cache and not projects:
                raise ExpbookError(_shared_message(shared))
            others = project_roots(root, projects)
            opened = []
            for other in others:
                repo = stack.enter_context(Repo(other))
                stack.enter_context(repo.lock)
                theirs = cache_of(other, repo)
                if cache and theirs != shared:
                    raise ExpbookError(
                        f"--projects {other}: its DVC cache is {theirs}, "
                        f"not the shared cache {shared}"
                    )
                opened.append(repo)
            if deleting:
                from expbook.registry import collect

                stack.enter_context(sweeps_paused(root, experiments))
                for other in others:
                    stack.enter_context(sweeps_paused(other, collect(other)))
            yield Store(dvc_repo, opened, cache, remote)
    except DvcException as exc:
        raise ExpbookError(f"DVC: {exc}") from exc
