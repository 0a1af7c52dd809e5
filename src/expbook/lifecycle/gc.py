"""`expbook gc`: remove the experiments a keep-best / keep-last / age policy leaves out, drop
their notes, and (with `cache=True`) delete the DVC cache objects nothing references any more.

Ref removal is `dvc exp remove`'s (the exp ref, plus DVC's EXEC_APPLY ref when it points at a
removed experiment) done in one atomic `git update-ref --stdin` transaction; a journal in the
git dir lets a rerun finish an interrupted removal (notes included) after a kill -9. Cache
objects are DVC's own count: what `dvc gc --workspace --all-commits --all-experiments` keeps
after the removal, computed before it, so a dry run reports exactly what `--yes` frees.

Used by `expbook gc`; Python: `plan = gc.make_plan(".", keep_best=2, metric="val.acc")`,
`gc.cache_report(".", plan)`, `gc.apply(".", plan)`.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError
from expbook.registry import Experiment, collect
from expbook.registry.gitrepo import GitError, GitRepo, find_root, git, run_git
from expbook.registry.notes import NOTES_REF, _locked

if TYPE_CHECKING:  # DVC is imported on use (only gc --cache/--remote needs it)
    from dvc.repo import Repo
    from dvc_data.hashfile.db import HashFileDB

KEEP_WORD = "keep"  # an expbook tag, or a note starting with this word, protects an experiment
EXEC_APPLY = "refs/exps/exec/EXEC_APPLY"  # DVC drops it with the experiment it points at
JOURNAL = "expbook-gc.json"  # in the git common dir: refs/notes left to remove after a kill
SWEEP_LOCK = os.path.join(".dvc", "tmp", "expbook", "sweep.lock")  # held by `expbook sweep`
_KEEP_NOTE = re.compile(rf"\s*{KEEP_WORD}\b", re.I)  # "keep", "Keep: paper figure 3"
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds of an age like `30d`, `12h`, `2w`, `90m`, `45s`; ExpbookError otherwise."""
    match = _AGE.match(text or "")
    if not match:
        raise ExpbookError(f"--older-than {text!r}: give a number and a unit, e.g. 30d, 12h, 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class Plan:
    """What a gc would do: `remove` (experiments with exp refs), `kept` ((experiment, why))."""

    remove: list[Experiment] = field(default_factory=list)
    kept: list[tuple[Experiment, str]] = field(default_factory=list)

    @property
    def refs(self) -> dict[str, str]:
        return {e.ref: e.rev for e in self.remove if e.ref}


@dataclass
class CacheReport:
    """Unused DVC cache objects: `objects` [(odb hash name, oid, path, size)] and their bytes."""

    where: str  # "local cache" or "remote NAME"
    objects: list[tuple[str, str, str, int]] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(o[3] for o in self.objects)


def protection(exp: Experiment) -> str | None:
    """Why gc must never remove `exp` (None: it may)."""
    if exp.status in ("queued", "running"):
        return exp.status
    if KEEP_WORD in exp.tags:
        return f"tagged {KEEP_WORD!r}"
    if any(_KEEP_NOTE.match(n) for n in exp.notes):
        return f"noted {KEEP_WORD!r}"
    if exp.branches:
        return f"branch {exp.branches[0]} points at it"
    if exp.git_tags:
        return f"git tag {exp.git_tags[0]} points at it"
    return None


def _is_exp_ref(ref: str | None) -> bool:
    parts = (ref or "").split("/")
    return (
        len(parts) == 5
        and parts[:2] == ["refs", "exps"]
        and parts[2] not in ("celery", "exec", "apply", "temp", "stash")
    )


def _created_ts(exp: Experiment) -> float:
    if not exp.created:
        return 0.0
    return datetime.fromisoformat(exp.created.replace("Z", "+00:00")).timestamp()


def make_plan(
    repo: str | os.PathLike[str] = ".",
    *,
    keep_best: int | None = None,
    metric: str | None = None,
    mode: str = "max",
    keep_last: int | None = None,
    older_than: str | None = None,
    where: str | None = None,
    sweep: str | None = None,
    now: float | None = None,
    experiments: list[Experiment] | None = None,
) -> Plan:
    """Which experiments a policy removes. The scope is every experiment with an exp ref that
    is not protected (see `protection`), narrowed by `where` and `sweep`; within it the
    `keep_best` best by `metric` (finished runs only) and the `keep_last` newest are kept, and
    with `older_than` only experiments older than that go. With no keep/age rule, the whole
    (where/sweep-narrowed) scope goes."""
    from expbook.query import columns_of, filter_experiments, namespaces_of, resolve_key

    if keep_best is not None and not metric:
        raise ExpbookError("--keep-best needs --metric KEY (and --mode max|min)")
    if metric and keep_best is None:
        raise ExpbookError("--metric is used with --keep-best N")
    if mode not in ("max", "min"):
        raise ExpbookError(f"--mode must be 'max' or 'min', not {mode!r}")
    if not any(x is not None for x in (keep_best, keep_last, older_than, where, sweep)):
        raise ExpbookError(
            "give a policy: --keep-best N --metric KEY, --keep-last N, --older-than AGE, "
            "--where EXPR or --sweep NAME (gc never removes every experiment by default)"
        )
    max_age = parse_age(older_than) if older_than is not None else None
    rows = experiments if experiments is not None else collect(repo)
    plan = Plan()
    candidates = []
    for exp in rows:
        if exp.kind != "experiment":
            continue
        why = protection(exp)
        if why:
            plan.kept.append((exp, why))
        elif _is_exp_ref(exp.ref):
            candidates.append(exp)
    scope = filter_experiments(candidates, where)
    if sweep is not None:
        scope = [e for e in scope if (e.sweep or {}).get("name") == sweep]
    in_scope = {id(e) for e in scope}
    keep: dict[int, str] = {}
    if keep_best:
        flat = [e.flat() for e in rows if e.kind != "workspace"]
        column = resolve_key(metric or "", columns_of(flat), namespaces_of(rows))
        ranked = []
        for exp in scope:
            value = exp.flat().get(column)
            if exp.status == "success" and isinstance(value, int | float) and value == value:
                ranked.append((value, _created_ts(exp), exp))
        ranked.sort(key=lambda t: (-t[0] if mode == "max" else t[0], -t[1]))
        for value, _, exp in ranked[:keep_best]:
            keep[id(exp)] = f"best {column} = {value:.6g}"
    if keep_last:
        newest = sorted(scope, key=_created_ts, reverse=True)[:keep_last]
        for exp in newest:
            keep.setdefault(id(exp), f"one of the {keep_last} newest")
    now = time.time() if now is None else now
    for exp in candidates:
        if id(exp) not in in_scope:
            continue
        if id(exp) in keep:
            plan.kept.append((exp, keep[id(exp)]))
        elif max_age is not None and now - _created_ts(exp) <= max_age:
            plan.kept.append((exp, f"newer than {older_than}"))
        else:
            plan.remove.append(exp)
    plan.remove.sort(key=lambda e: (_created_ts(e), e.name))
    return plan


# ---------------------------------------------------------------- cache objects (DVC)
@contextmanager
def _dvc_repo(root: str) -> Iterator[Repo]:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(root) as dvc_repo, dvc_repo.lock:
            yield dvc_repo
    except DvcException as exc:
        raise ExpbookError(f"DVC: {exc}") from exc


def _used(dvc_repo: Repo, removed_refs: set[str]) -> set[tuple[str, str]]:
    """(hash name, value) of every object the workspace, every commit and every remaining
    experiment uses: `dvc gc -w --all-commits --all-experiments` as it would run after the
    removal (DVC's own brancher and index)."""
    from dvc.repo.experiments.utils import exp_commits, exp_refs

    remaining = [info for info in exp_refs(dvc_repo.scm) if str(info) not in removed_refs]
    # exp_commits() of an empty list means "all experiments": only call it with some
    revs = sorted(exp_commits(dvc_repo.scm, remaining)) if remaining else None
    used = dvc_repo.used_objs(all_commits=True, revs=revs, force=True)
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
    from dvc.config import NoRemoteError

    try:
        return [
            dvc_repo.cloud.get_remote_odb(remote, "gc -c", hash_name=name)
            for name in ("md5", "md5-dos2unix")
        ]
    except NoRemoteError as exc:
        raise ExpbookError(f"--remote {remote!r}: {exc}") from None


def cache_report(
    repo: str | os.PathLike[str], plan: Plan, remote: str | None = None
) -> CacheReport:
    """The objects (and bytes) a gc of `plan` would delete from the local cache or `remote`."""
    root = find_root(repo)
    with _dvc_repo(root) as dvc_repo:
        used = _used(dvc_repo, set(plan.refs))
        odbs = _remote_odbs(dvc_repo, remote) if remote else _local_odbs(dvc_repo)
        report = CacheReport(f"remote {remote}" if remote else "local cache")
        for odb in odbs:
            report.objects += _unused(odb, used)
    return report


def delete_unused(repo: str | os.PathLike[str], remote: str | None = None) -> CacheReport:
    """Delete the objects no commit, experiment or workspace output references (after a
    removal) from the local cache or `remote`, with DVC's own gc; returns what went."""
    from dvc_data.hashfile.db import get_index
    from dvc_data.hashfile.gc import gc as odb_gc
    from dvc_data.hashfile.hash_info import HashInfo

    root = find_root(repo)
    _refuse_while_running(root)
    with _dvc_repo(root) as dvc_repo:
        used = _used(dvc_repo, set())
        infos = [HashInfo(name, value) for name, value in used]
        report = CacheReport(f"remote {remote}" if remote else "local cache")
        for odb in _remote_odbs(dvc_repo, remote) if remote else _local_odbs(dvc_repo):
            report.objects += _unused(odb, used)
            if odb_gc(odb, infos, dry=False) and remote:
                get_index(odb).clear()
    return report


def _refuse_while_running(root: str) -> None:
    """Outputs of a running trial are in the cache before any ref names them: no cache gc."""
    path = os.path.join(root, SWEEP_LOCK)
    if os.path.exists(path):
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ExpbookError(
                    "an expbook sweep is running in this repository: its new outputs are not "
                    "referenced yet; run gc --cache after it"
                ) from None
            fcntl.flock(fh, fcntl.LOCK_UN)
    running = [e.name for e in collect(root) if e.status == "running"]
    if running:
        raise ExpbookError(
            f"experiments are running ({', '.join(running)}): run gc --cache after they finish"
        )


# ---------------------------------------------------------------- removing refs and notes
def _journal_path(g: GitRepo) -> str:
    return os.path.join(g.common_dir, JOURNAL)


def pending_journal(repo: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The removal an interrupted gc left unfinished ({"refs": {ref: sha}}), if any."""
    g = GitRepo(find_root(repo))
    try:
        with open(_journal_path(g), encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"refs": {}}  # torn write: the refs were not touched before it was complete
    return doc if isinstance(doc.get("refs"), dict) else {"refs": {}}


def apply(repo: str | os.PathLike[str], plan: Plan) -> list[str]:
    """Remove the plan's exp refs and their notes; returns the removed refs.

    Order: journal (atomic write) -> one atomic ref transaction -> notes -> journal removed.
    A kill at any point leaves git consistent; `finish_journal` (run by every gc) completes it.
    """
    from expbook.output import write_atomic

    g = GitRepo(find_root(repo))
    refs = plan.refs
    if not refs:
        return []
    write_atomic(_journal_path(g), json.dumps({"refs": refs}, sort_keys=True))
    return finish_journal(g.root)


def finish_journal(repo: str | os.PathLike[str]) -> list[str]:
    """Complete the journaled removal: refs still at their journaled sha go (with DVC's
    EXEC_APPLY when it points at one of them), then the notes of commits no ref keeps."""
    root = find_root(repo)
    g = GitRepo(root)
    doc = pending_journal(root)
    if doc is None:
        return []
    refs: dict[str, str] = doc["refs"]
    current = _ref_values(root)
    lines = [f"delete {ref} {sha}\n" for ref, sha in refs.items() if current.get(ref) == sha]
    removed_shas = set(refs.values())
    if current.get(EXEC_APPLY) in removed_shas:
        lines.append(f"delete {EXEC_APPLY} {current[EXEC_APPLY]}\n")
    if lines:
        proc = run_git("update-ref", "--stdin", cwd=root, input="".join(lines), check=False)
        if proc.returncode != 0:
            raise GitError("git update-ref --stdin (nothing removed)", proc.stderr.strip())
    still = set(_ref_values(root).values())
    orphans = sorted(removed_shas - still)
    if orphans:
        _drop_notes(g, orphans)
    os.unlink(_journal_path(g))
    return [line.split()[1] for line in lines]


def _ref_values(root: str) -> dict[str, str]:
    out = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=root)
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _committer_env(root: str) -> dict[str, str]:
    """Extra environment for a notes commit: expbook's fallback identity (as registry.notes
    signs) where git has none configured, so a gc never stops half-way on it."""
    if run_git("var", "GIT_COMMITTER_IDENT", cwd=root, check=False).returncode == 0:
        return {}
    who = {"NAME": "expbook", "EMAIL": "expbook@localhost"}
    return {f"GIT_{role}_{k}": v for role in ("COMMITTER", "AUTHOR") for k, v in who.items()}


def _drop_notes(g: GitRepo, shas: list[str]) -> None:
    """One notes commit removing the notes of `shas` (missing ones are fine)."""
    with _locked(g):
        if NOTES_REF not in _ref_values(g.root):
            return
        run_git(
            "notes",
            f"--ref={NOTES_REF}",
            "remove",
            "--ignore-missing",
            "--stdin",
            cwd=g.root,
            input="\n".join(shas) + "\n",
            env=_committer_env(g.root),
        )
