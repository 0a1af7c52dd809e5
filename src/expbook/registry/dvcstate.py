"""Queued, running and failed experiments as DVC records them, read from plain files.

Queued: entries of the `refs/exps/celery/stash` and `refs/exps/stash` reflogs; failed: the
`refs/exps/celery/failed` reflog; running: executor infofiles under .dvc/tmp/exps (see DVC's
dvc/repo/experiments/{stash,queue/base,queue/workspace,executor/base}.py). Used by the registry.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from expbook.registry.gitrepo import GitRepo

CELERY_STASH = "refs/exps/celery/stash"
WORKSPACE_STASH = "refs/exps/stash"
CELERY_FAILED = "refs/exps/celery/failed"
# dvc.repo.experiments.stash.ExpStash.MESSAGE_RE
_MESSAGE_RE = re.compile(
    r"(?:commit: )dvc-exp:(?P<rev>[0-9a-f]+):(?P<baseline_rev>[0-9a-f]+)"
    r":(?P<name>[^~^:\\?\[\]*]*)(:(?P<branch>.+))?$"
)
# dvc.repo.experiments.executor.base.TaskStatus: PENDING, PREPARING, RUNNING are "active"
_ACTIVE = {0, 1, 2}


@dataclass(frozen=True)
class PendingExp:
    """An experiment that has no exp ref (yet): queued, running or failed."""

    rev: str  # the stash commit holding its params (DVC's `stash_rev`)
    baseline: str
    name: str | None
    status: str  # queued | running | failed


def _stash_entries(g: GitRepo, ref: str, status: str) -> list[PendingExp]:
    out = []
    for sha, message in g.reflog(ref):
        match = _MESSAGE_RE.match(message.strip())
        if match:
            out.append(
                PendingExp(sha, match.group("baseline_rev"), match.group("name") or None, status)
            )
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_proc(path: str) -> bool:
    """Whether a dvc-task ProcessInfo file names a process that is still running."""
    try:
        with open(path, encoding="utf-8") as fh:
            proc = json.load(fh)
    except (OSError, ValueError):
        return False
    if not isinstance(proc, dict) or proc.get("returncode") is not None or not proc.get("pid"):
        return False
    return _pid_alive(int(proc["pid"]))


def _running(dvc_dir: str) -> list[PendingExp]:
    # an executor writes <name>.run (ExecutorInfo) and <name>.json (its process); a .run left
    # behind by a finished or killed run has no live process, as DVC's own check requires
    out = []
    tmp = os.path.join(dvc_dir, "tmp", "exps")
    for pid_dir in (os.path.join(tmp, "run"), os.path.join(tmp, "standalone", "run")):
        try:
            names = os.listdir(pid_dir)
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(pid_dir, name, f"{name}.run"), encoding="utf-8") as fh:
                    info = json.load(fh)
            except (OSError, ValueError):
                continue
            if (
                not isinstance(info, dict)
                or "baseline_rev" not in info
                or info.get("status") not in _ACTIVE
                or info.get("collected")
            ):
                continue
            if not _live_proc(os.path.join(pid_dir, name, f"{name}.json")):
                continue
            rev = name if re.fullmatch(r"[0-9a-f]{40}", name) else info["baseline_rev"]
            out.append(PendingExp(rev, info["baseline_rev"], info.get("name"), "running"))
    return out


def pending(g: GitRepo, dvc_dir: str) -> list[PendingExp]:
    """Every running, queued and failed experiment DVC knows about (running wins duplicates)."""
    seen: dict[str, PendingExp] = {}
    for exp in (
        _running(dvc_dir)
        + _stash_entries(g, CELERY_STASH, "queued")
        + _stash_entries(g, WORKSPACE_STASH, "queued")
        + _stash_entries(g, CELERY_FAILED, "failed")
    ):
        seen.setdefault(exp.rev, exp)
    return list(seen.values())
