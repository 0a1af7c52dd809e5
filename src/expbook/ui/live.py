"""Runs in progress, and runs whose process died, for the dashboard's live view.

DVC records a running `dvc exp run` (workspace, `dvc queue` worker or `--temp`) as an executor
info file `.dvc/tmp/exps/[standalone/]run/<name>/<name>.run` (its `root_dir` is where the stage
writes its dvclive files) beside a dvc-task process file `<name>.json` (`pid`, `stdout`,
`returncode`); a finished run removes both or marks the info `collected`. So an info file whose
status is still active (pending, preparing, running) but whose process is gone is a crashed run
(killed, out of memory, power cut): DVC itself then shows nothing. A sweep trial that is
training is `running` in the sweep state, and writes into one of the sweep's worktrees
(`.dvc/tmp/expbook/ws-N`, found by its params) and a log `.dvc/tmp/expbook/logs/<sweep>/<trial>.log`.

Used by expbook.ui.server (`/api/live`) and expbook.ui.views (curves of a running row).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from expbook.errors import ExpbookError

TAIL_BYTES = 4000  # of a run's captured output shown
MAX_WALK = 20_000  # files looked at for a run's newest write
STARTING_S = 15.0  # an info file this young without a process file is a run starting up
# dvc.repo.experiments.executor.base.TaskStatus: PENDING, PREPARING, RUNNING are "active"
_ACTIVE = {0, 1, 2}
_FAILED = 4


@dataclass
class LiveRun:
    """One run the registry cannot show from git alone: running, crashed or failed."""

    key: str  # stable id: dvc:<executor name> or sweep:<sweep>/<trial>
    name: str
    source: str  # workspace | queue | temp | sweep
    status: str  # running | crashed | failed
    baseline: str | None = None
    pid: int | None = None
    started: float | None = None  # epoch seconds
    updated: float | None = None  # newest write to its files (epoch seconds)
    root: str | None = None  # the directory its stage writes dvclive files into
    log: str | None = None  # its captured output
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "source": self.source,
            "status": self.status,
            "baseline": self.baseline,
            "pid": self.pid,
            "started": self.started,
            "updated": self.updated,
            "error": self.error,
            "tail": tail(self.log) or self.last_rows(),
            "has_log": bool(self.log and os.path.isfile(self.log)),
            **self.extra,
        }

    def last_rows(self) -> str:
        """Without captured output (a workspace run prints to its terminal): the last rows of
        the dvclive file it wrote last, so a crashed run still shows how far it got."""
        if self.status == "running" or not self.root:
            return ""
        found = _newest_file(self.root)
        if found is None or not found[1].endswith(".tsv"):
            return ""
        rel = os.path.relpath(found[1], self.root)
        return f"(no captured output; the last rows it wrote to {rel}:)\n" + tail(found[1], 600)


def tail(path: str | None, size: int = TAIL_BYTES) -> str:
    """The last `size` bytes of a text file (from a line start), "" when there is none."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - size))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    if end > size and "\n" in text:
        text = text[text.index("\n") + 1 :]
    return text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _pid_in(root: str | None) -> int | None:
    """A process whose working directory is `root` or below (Linux /proc), else None."""
    if not root or not os.path.isdir("/proc"):
        return None
    real = os.path.realpath(root)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == real or cwd.startswith(real + os.sep):
            return int(entry)
    return None


def _load(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _newest(root: str | None) -> float | None:
    """mtime of the newest dvclive TSV/JSON under `root` (a cheap 'last written' stamp)."""
    found = _newest_file(root)
    return found[0] if found else None


def _newest_file(root: str | None) -> tuple[float, str] | None:
    """(mtime, path) of the newest dvclive TSV/JSON under `root`."""
    if not root or not os.path.isdir(root):
        return None
    newest: float | None = None
    where = ""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".dvc", ".venv", "node_modules")]
        seen += len(filenames)
        if seen > MAX_WALK:  # a big data tree: the stamp is a hint, not worth a long walk
            break
        for name in filenames:
            if name.endswith((".tsv", ".json")):
                try:
                    m = os.stat(os.path.join(dirpath, name)).st_mtime
                except OSError:
                    continue
                if newest is None or m > newest:
                    newest, where = m, os.path.join(dirpath, name)
    return (newest, where) if newest is not None else None


def dvc_runs(dvc_dir: str) -> list[LiveRun]:
    """DVC's executors that are running, or whose process died while active (crashed)."""
    out = []
    tmp = os.path.join(dvc_dir, "tmp", "exps")
    for pid_dir, source in (
        (os.path.join(tmp, "run"), "queue"),
        (os.path.join(tmp, "standalone", "run"), "temp"),
    ):
        try:
            names = sorted(os.listdir(pid_dir))
        except OSError:
            continue
        for name in names:
            info_path = os.path.join(pid_dir, name, f"{name}.run")
            info = _load(info_path)
            if info is None or "baseline_rev" not in info or info.get("collected"):
                continue
            status = info.get("status")
            proc = _load(os.path.join(pid_dir, name, f"{name}.json"))
            code = proc.get("returncode") if proc else None
            if status not in _ACTIVE and not (isinstance(code, int) and code != 0):
                continue  # finished or cancelled
            try:
                started = os.stat(info_path).st_mtime
            except OSError:
                continue
            pid = int(proc["pid"]) if proc and isinstance(proc.get("pid"), int) else None
            root = info.get("root_dir") if isinstance(info.get("root_dir"), str) else None
            if root and isinstance(info.get("wdir"), str) and info["wdir"] not in ("", "."):
                root = os.path.join(root, info["wdir"])
            if proc is None and info.get("location") != "tempdir":
                continue  # a workspace run's prepare-time info file, left behind by DVC
            if proc is None:  # `dvc exp run --temp` records no process: who works in its dir?
                pid = _pid_in(root)
                recent = time.time() - max(started, _newest(root) or 0.0) < STARTING_S
                state = "running" if pid is not None or recent else "crashed"
            elif status not in _ACTIVE:
                state = "failed"  # its worker saw it die: DVC's failed reflog lists it too
            elif code is not None:
                state = "crashed" if code != 0 else "running"
            else:
                state = "running" if pid is not None and _alive(pid) else "crashed"
            kind = "workspace" if name == "workspace" else source
            label = info.get("name") or (name if name == "workspace" else name[:7])
            out.append(
                LiveRun(
                    key=f"dvc:{name}",
                    name=str(label),
                    source=kind,
                    status=state,
                    baseline=info.get("baseline_rev"),
                    pid=pid,
                    started=started,
                    updated=_newest(root),
                    root=root,
                    log=proc.get("stdout")
                    if proc and isinstance(proc.get("stdout"), str)
                    else None,
                    error=_why(state, pid, code),
                )
            )
    return out


def _why(state: str, pid: int | None, code: Any) -> str | None:
    """What happened to a run that is not running, in words."""
    if state == "running":
        return None
    if isinstance(code, int) and code < 0:
        how = f"its process (pid {pid}) was killed by signal {-code}"
    elif isinstance(code, int) and code != 0:
        how = f"its process (pid {pid}) exited with code {code}"
    elif pid:
        return f"its process (pid {pid}) is gone but DVC still records it as active"
    else:
        return "no process recorded for it"
    return how + " (`dvc queue logs` shows its output; `dvc queue remove --failed` clears it)"


def _param(root: str, key: str) -> Any:
    """The value of an override key `file:dotted.key` in a worktree's params file."""
    import yaml

    file, _, dotted = key.partition(":")
    try:
        with open(os.path.join(root, file), encoding="utf-8") as fh:
            node: Any = yaml.safe_load(fh)
        for part in dotted.split("."):
            node = node[part]
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return KeyError
    return node


def sweep_runs(root: str) -> list[LiveRun]:
    """Running and failed trials of every sweep (failed ones with their error)."""
    from expbook.sweep import state
    from expbook.sweep.workspace import ws_root

    base = ws_root(root)
    try:
        trees = sorted(p for p in base.iterdir() if p.name.startswith("ws-") and p.is_dir())
    except OSError:
        trees = []
    out = []
    for sweep in state.names(root):
        try:
            doc = state.load(root, sweep, missing_ok=True)
        except ExpbookError:
            continue
        for t in state.trials(doc):
            if t.status not in ("running", "failed"):
                continue
            log = str(base / "logs" / sweep / f"{t.name}.log")
            run = LiveRun(
                key=f"sweep:{sweep}/{t.name}",
                name=t.name,
                source="sweep",
                status=t.status,
                baseline=t.baseline,
                log=log,
                error=t.error,
                extra={"sweep": sweep, "trial": t.number, "config": t.config},
            )
            if t.status == "running" and t.overrides:
                for tree in trees:
                    if all(_param(str(tree), k) == v for k, v in t.overrides.items()):
                        run.root = str(tree)
                        run.updated = _newest(run.root)
                        break
            out.append(run)
    return out


def scan(root: str, dvc_dir: str | None = None) -> list[LiveRun]:
    """Every running, crashed and failed run DVC's executors and expbook's sweeps record."""
    runs = dvc_runs(dvc_dir or os.path.join(root, ".dvc"))
    with contextlib.suppress(OSError, ExpbookError):
        runs += sweep_runs(root)
    return runs


def find(runs: list[LiveRun], name: str) -> LiveRun | None:
    """The live run `name` names (its key, run name or executor name)."""
    for run in runs:
        if name in (run.key, run.name) or run.key.endswith(":" + name):
            return run
    return None
