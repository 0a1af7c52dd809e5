"""Where trials run: the `Backend` interface and the local backend (N spawned worker processes).

The sweep driver (expbook.sweep.driver) only talks to a Backend, so a distributed backend can be
added later without touching the search code.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from expbook.errors import ExpbookError
from expbook.sweep import workspace
from expbook.sweep.record import TrialResult, TrialTask


@dataclass
class Handle:
    """A submitted trial: which slot runs it and since when."""

    number: int
    slot: int
    started: float = field(default_factory=time.time)
    tsv: Path | None = None


class Backend(Protocol):
    """Runs trial tasks somewhere. A task is a JSON-able dict (number, name, overrides, ...)."""

    slots: int

    def start(self) -> None: ...  # may return before the workers are ready
    def free_slots(self) -> int: ...  # may wait for a first worker when none is ready or busy
    def submit(self, task: TrialTask) -> Handle: ...
    def poll(self, timeout: float) -> list[TrialResult]: ...  # results of finished trials
    def curve(self, handle: Handle, metric_key: str) -> list[tuple[int, float]]: ...
    def prune(self, handle: Handle) -> None: ...
    def close(self, kill: bool = False) -> None: ...


PRELOAD = "expbook.sweep.preload"  # what the forkserver imports once, for every worker


def _context() -> Any:
    """Workers fork from a forkserver that imported DVC once (`PRELOAD`): the second worker
    costs a fork, not another interpreter importing DVC on the same busy cores. Spawn where
    the platform has no forkserver."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([PRELOAD])  # no-op once the server runs (same list anyway)
    return ctx


def _stop_forkserver() -> None:
    """Stop the forkserver (it exits once every worker has): nothing of the sweep stays
    running, and the workers' process time is accounted to the sweep, as with spawn."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        with contextlib.suppress(OSError, ChildProcessError):
            stop()


def _kill_forkserver() -> None:
    """SIGKILL the forkserver (an interrupted sweep: it may still be importing DVC)."""
    import signal
    from multiprocessing import forkserver

    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def prestart() -> None:
    """Start the forkserver ahead of the workers (`expbook.sweep.run_sweep`): it imports DVC
    while the driver reads the repo. `release()` afterwards."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def release() -> None:
    """Stop a `prestart()`ed forkserver that is still running: the sweep started no worker
    (a pre-flight error, nothing left to run); a backend's close() stops it otherwise."""
    from multiprocessing import forkserver

    if getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None) is not None:
        _kill_forkserver()  # it may still be importing DVC: do not wait for that
        _stop_forkserver()


class LocalBackend:
    """N long-lived worker processes, each with its own worktree under .dvc/tmp/expbook/ws-K."""

    def __init__(self, repo: str, baseline: str, cache_dir: str, slots: int, logs: Path) -> None:
        self.repo, self.baseline, self.cache_dir = str(Path(repo).resolve()), baseline, cache_dir
        self.slots = slots
        self.logs = logs
        self.threads = max(1, (os.cpu_count() or 1) // slots)
        self._ctx = _context()
        self._results = self._ctx.Queue()
        self._tasks: list[Any] = []
        self._procs: list[Any] = []
        self._ws: dict[int, Path] = {}
        self._busy: dict[int, Handle] = {}
        self._alive: Any = None  # the driver's end of the pipe whose EOF stops the workers
        self._starter: threading.Thread | None = None
        self._stopping = False
        self.warm: list[str] | None = None  # --warm-stages: modules to preload ([]: default)

    def start(self) -> None:
        """Start the workers and return at once: a thread starts them (with a forkserver, a
        start returns once the server has imported DVC) while the driver plans the search;
        each makes its worktree; `free_slots()` waits for the first one only when it has to."""
        # a killed driver closes this pipe: its workers (children of the forkserver, not of the
        # driver) see EOF and kill themselves with their stage commands
        watch, self._alive = self._ctx.Pipe(duplex=False)
        self._tasks = [self._ctx.Queue() for _ in range(self.slots)]
        self._starter = threading.Thread(
            target=self._start_workers, args=(watch, dict(os.environ), os.getcwd()), daemon=True
        )
        self._starter.start()

    def _start_workers(self, watch: Any, environ: dict[str, str], cwd: str) -> None:
        from expbook.sweep.trial import worker_main

        try:
            for slot in range(self.slots):
                if self._stopping:
                    return
                proc = self._ctx.Process(
                    target=worker_main,
                    daemon=True,
                    name=f"expbook-sweep-{slot}",
                    args=(
                        slot,
                        self.repo,
                        self.baseline,
                        self.cache_dir,
                        self.threads,
                        self._tasks[slot],
                        self._results,
                        watch,
                        environ,  # a forked worker would have the forkserver's
                        cwd,
                        self.warm,
                    ),
                )
                proc.start()
                self._procs.append(proc)
        except Exception as exc:  # the driver learns it from the results queue
            if not self._stopping:
                self._results.put(("error", -1, f"could not start the sweep workers: {exc}"))
        finally:
            watch.close()

    def free_slots(self) -> int:
        if not self._busy and not self._ws:  # nothing to wait on but the first ready worker
            while not self._ws:
                self._handle(*self._get(timeout=120))
        return len(self._ws) - len(self._busy)

    def submit(self, task: TrialTask) -> Handle:
        slot = next(s for s in sorted(self._ws) if s not in self._busy)
        task = {
            **task,
            "prune_file": str(self.prune_path(slot)),
            "log": str(self.logs / f"{task['name']}.log"),
        }
        handle = Handle(task["number"], slot)
        self._busy[slot] = handle
        self._tasks[slot].put(task)
        return handle

    def prune_path(self, slot: int) -> Path:
        return workspace.ws_root(self.repo) / f"prune-{slot}"

    def poll(self, timeout: float) -> list[TrialResult]:
        done: list[TrialResult] = []
        deadline = time.time() + timeout
        while True:
            try:
                kind, slot, payload = self._get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                break
            if self._handle(kind, slot, payload, done):
                deadline = time.time()  # drain what is queued, then return at once
        return done

    def _handle(
        self, kind: str, slot: int, payload: Any, done: list[TrialResult] | None = None
    ) -> bool:
        """Apply one worker message; True when it finished a trial (appended to `done`)."""
        if kind == "error":
            raise ExpbookError(payload)
        if kind == "ready":
            self._ws[slot] = Path(payload)
        elif kind == "started" and slot in self._busy:
            self._busy[slot].started = time.time()
        elif kind == "done":
            self._busy.pop(slot, None)
            if done is not None:
                done.append(payload)
            return True
        return False

    def _get(self, timeout: float) -> tuple[str, int, Any]:  # a trial.WorkerMessage
        try:
            return self._results.get(timeout=timeout)
        except queue.Empty:
            dead = [p.name for p in self._procs if not p.is_alive() and p.exitcode not in (0, None)]
            if dead:
                raise ExpbookError(f"sweep worker(s) died: {', '.join(dead)}") from None
            raise

    def curve(self, handle: Handle, metric_key: str) -> list[tuple[int, float]]:
        """Per-epoch values of the metric, read live from the trial's dvclive TSV."""
        if handle.tsv is None:
            handle.tsv = find_tsv(self._ws[handle.slot], metric_key)
            if handle.tsv is None:
                return []
        return read_tsv(handle.tsv, since=handle.started)

    def prune(self, handle: Handle) -> None:
        self.prune_path(handle.slot).touch()

    def close(self, kill: bool = False) -> None:
        """Stop the workers (at once with `kill`: an interrupted sweep) and remove workspaces."""
        import signal

        self._stopping = True
        if self._starter is not None:
            if kill and self._starter.is_alive() and self._ctx.get_start_method() == "forkserver":
                _kill_forkserver()  # a start waiting for it to import DVC fails at once
            self._starter.join()
        for tasks in self._tasks:
            tasks.put(None)
        for proc in self._procs:
            if not kill:
                proc.join(timeout=30)
            if proc.is_alive():
                try:  # its process group holds the stage command it is running
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
                proc.join()
        if self._alive is not None:
            self._alive.close()
        if self._ctx.get_start_method() == "forkserver":
            _stop_forkserver()
        for slot in range(self.slots):
            self.prune_path(slot).unlink(missing_ok=True)
        workspace.clean_stale(self.repo)
        for path in (self.logs, self.logs.parent):  # keep logs only of failed trials
            with contextlib.suppress(OSError):
                path.rmdir()


def find_tsv(ws: Path, metric_key: str) -> Path | None:
    """The dvclive per-step TSV of a metric key (`val.acc`, or `dir/metrics.json:val.acc`)."""
    file, _, dotted = metric_key.rpartition(":")
    tail = Path("plots", "metrics", *dotted.split(".")).with_suffix(".tsv")
    if file:
        path = ws / Path(file).parent / tail
        return path if path.exists() else None
    for root, dirs, _files in os.walk(ws):
        dirs[:] = [d for d in dirs if d not in (".git", ".dvc", "node_modules", ".venv")]
        cand = Path(root) / tail
        if cand.exists():
            return cand
    return None


def read_tsv(path: Path, since: float = 0.0) -> list[tuple[int, float]]:
    """(step, value) rows of a dvclive TSV written after `since` (older = previous trial's)."""
    try:
        if path.stat().st_mtime < since:
            return []
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except (OSError, csv.Error):
        return []
    out = []
    for row in rows:
        try:
            value_col = [k for k in row if k not in ("timestamp", "step")][-1]
            out.append((int(float(row["step"])), float(row[value_col])))
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # a half-written last line while the trial is writing
    return out
