"""One sweep worker process: owns a workspace, imports DVC once, runs trials in-process.

Forked (from a forkserver that imported DVC: expbook.sweep.preload) by
expbook.sweep.runner.LocalBackend; a trial = reset worktree, write params,
`Repo.reproduce()`, commit, create the exp ref. No `dvc` CLI start-up is paid per trial.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expbook import env as envnames
from expbook.registry.dvcfiles import flatten_file
from expbook.sweep import state, workspace
from expbook.sweep.record import SweepNote, TrialResult, TrialTask

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.queues import Queue

    from dvc.repo import Repo

# worker -> driver: ("ready", slot, worktree path) | ("started", slot, trial number) |
# ("done", slot, TrialResult) | ("error", slot, message)
WorkerMessage = tuple[str, int, "str | int | TrialResult"]


def _watch_driver(alive: Connection) -> None:
    """A killed (-9) sweep must not leave workers committing behind its back: die with it
    (its end of the `alive` pipe closes with it)."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            alive.recv_bytes()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def worker_main(
    index: int,
    repo: str,
    baseline: str,
    cache_dir: str,
    threads: int,
    tasks: Queue[TrialTask | None],
    results: Queue[WorkerMessage],
    alive: Connection,
    environ: dict[str, str],
    cwd: str,
    warm: list[str] | None = None,
) -> None:
    # own process group, so the watchdog also takes down the stage commands DVC started
    os.setpgrp()
    threading.Thread(target=_watch_driver, args=(alive,), daemon=True).start()
    # the driver's environment and directory, as a spawned worker has them (a forked one
    # would have the forkserver's, from when it started)
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", envnames.NUM_THREADS):
        os.environ[var] = str(threads)
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    server = None
    if warm is not None:  # --warm-stages: its server imports torch & co while the worktree is made
        from expbook.sweep import warm as warmstages

        with contextlib.suppress(OSError):  # no server: every stage runs the normal way
            server = warmstages.WarmRunner(warm or warmstages.DEFAULT_MODULES)
            warmstages.install(server)
    where = f"worker {index}: importing DVC"
    try:
        import expbook.sweep.preload  # noqa: F401  (imported already when forked)

        where = f"workspace ws-{index}"
        ws = workspace.create(repo, index, baseline, cache_dir)
    except Exception as exc:
        results.put(("error", index, f"{where}: {exc}"))
        if server is not None:
            server.close()
        return
    results.put(("ready", index, str(ws)))
    fresh = True  # a new worktree is at the baseline already: the first trial skips the reset
    while True:
        task = tasks.get()
        if task is None:
            workspace.remove(repo, ws)  # here, so the workers remove theirs in parallel
            break
        results.put(("started", index, task["number"]))
        result: TrialResult
        try:
            result = run_trial(ws, baseline, task, reset=not fresh)
        except Exception as exc:
            result = {
                "number": task["number"],
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
            }
        fresh = False
        results.put(("done", index, result))
    # nothing left to clean up: skip the interpreter's teardown of DVC & co (~1 s), once
    # everything sent to the driver is flushed
    if server is not None:  # reaped here: its process time counts as the sweep's
        server.close()
    sys.stdout.flush(), sys.stderr.flush()
    results.close()
    results.join_thread()
    os._exit(0)


def run_trial(ws: Path, baseline: str, task: TrialTask, reset: bool = True) -> TrialResult:
    """Run one trial in workspace `ws` (back at `baseline` first, unless it is there already:
    `reset=False`); never raises for a failing stage (status 'failed')."""
    start = time.time()
    timing: dict[str, float] = {}
    if reset:
        workspace.reset(ws, baseline)
    workspace.set_params(ws, task["overrides"])
    timing["prepare"] = time.time() - start
    prune_file = Path(task["prune_file"])
    prune_file.unlink(missing_ok=True)
    os.environ[envnames.PRUNE_FILE] = str(prune_file)
    log_path = Path(task["log"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result: TrialResult = {"number": task["number"], "name": task["name"]}
    cwd = os.getcwd()
    from dvc.repo import Repo

    error = None
    with _redirect_output(log_path):
        try:
            os.chdir(ws)
            with Repo(str(ws)) as dvc_repo:
                dvc_repo.scm_context.quiet = True
                mark = time.time()
                try:
                    # a Ray node passes pull=True: stage inputs come from the DVC remote
                    dvc_repo.reproduce(**task.get("reproduce", {}))
                except Exception as exc:
                    error = _describe(exc, log_path)
                timing["reproduce"] = time.time() - mark
                if error is None:
                    mark = time.time()
                    result["metrics"] = _metrics(dvc_repo)
                    timing["metrics"] = time.time() - mark
        finally:
            os.chdir(cwd)
    pruned = prune_file.exists()
    prune_file.unlink(missing_ok=True)
    if error is not None:
        result.update({"status": "failed", "error": error})
    else:
        mark = time.time()
        exp_hash = _lock_hash(ws)
        sha, ref = workspace.commit(
            ws, task["name"], baseline, f"dvc: commit experiment {exp_hash}"
        )
        result.update({"status": "pruned" if pruned else "success", "rev": sha, "ref": ref})
        result["values"] = match_values(result.get("metrics") or {}, task["metric_keys"])
        if task.get("write_note", True):  # remote backends: the driver writes it (one writer)
            # the note right after the ref: a sweep killed now still finds this trial on resume
            state.write_note(task["repo"], sha, trial_note(task, result))
        log_path.unlink(missing_ok=True)
        timing["commit"] = time.time() - mark
    result["timing"] = {k: round(v, 3) for k, v in timing.items()}
    result["duration"] = round(time.time() - start, 3)
    return result


def trial_note(task: TrialTask, result: TrialResult) -> SweepNote:
    """The `sweep` entry of a finished trial's expbook note (what the registry shows)."""
    return {**task["sweep"], "status": result["status"], "values": result["values"], "error": None}


class _redirect_output:
    """Stage output goes to a per-trial log, not over the driver's progress bar."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> _redirect_output:
        sys.stdout.flush(), sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        self.fh = open(self.path, "w")
        os.dup2(self.fh.fileno(), 1)
        os.dup2(self.fh.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in self.saved:
            os.close(fd)
        self.fh.close()


def _describe(exc: Exception, log_path: Path) -> str:
    """The error plus the last lines the stage printed (the useful part of a traceback)."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) not in text:
        text = f"{text}: {cause}"
    try:
        with open(log_path) as fh:
            tail = [ln.rstrip() for ln in fh.readlines() if ln.strip()][-5:]
    except OSError:
        tail = []
    if not tail:
        return text + "\n" + "".join(traceback.format_exception_only(type(exc), exc)).strip()
    # the stage's own last words first: that is what a user needs to see in one line
    return f"{tail[-1]} ({text})\n" + "\n".join(tail)


def _lock_hash(ws: Path) -> str:
    """Like DVC's exp hash: a digest of the resulting dvc.lock."""
    import hashlib

    lock = ws / "dvc.lock"
    data = lock.read_bytes() if lock.exists() else b""
    return hashlib.sha256(data).hexdigest()


def _metrics(dvc_repo: Repo) -> dict[str, Any]:
    """Flattened `file:dotted.key -> value` of every metrics file of the workspace."""
    out: dict[str, Any] = {}
    shown = dvc_repo.metrics.show(on_error="return")
    for rev_data in shown.values():
        for path, file_data in (rev_data.get("data") or {}).items():
            flatten_file(path, file_data.get("data") or {}, out)
    return out


def match_values(metrics: dict[str, Any], keys: list[str]) -> list[float | None]:
    """The value of each metric key (full key or unambiguous suffix), None when absent."""
    from expbook.query import suffix_matches

    out = []
    for key in keys:
        found = suffix_matches(key, metrics)
        value = metrics[found[0]] if len(found) == 1 else None
        out.append(
            float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else None
        )
    return out
