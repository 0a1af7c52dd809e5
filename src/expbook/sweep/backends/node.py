"""One sweep trial on a remote node (a Ray task): a node-local clone at the baseline, a reusable
workspace slot, the trial (expbook.sweep.trial.run_trial), then the exp ref pushed to the git
remote (or returned as a bundle) and the outputs pushed to the DVC remote.

Runs inside Ray workers started by expbook.sweep.backends.ray; it never writes into the user's
repository: the driver fetches the ref and writes the note (one writer of refs and notes).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from expbook import env as envnames
from expbook.sweep import workspace
from expbook.sweep.record import TrialResult, TrialTask
from expbook.sweep.workspace import git

if TYPE_CHECKING:
    from ray.actor import ActorHandle

MAX_SLOTS = 256


def node_root(key: str) -> Path:
    base = os.environ.get(envnames.WORKDIR) or os.path.join(
        tempfile.gettempdir(), f"expbook-ray-{os.getuid()}"
    )
    return Path(base) / key


@contextmanager
def _flock(path: Path, blocking: bool = True) -> Iterator[IO[str]]:
    with open(path, "a+") as fh:
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        fcntl.flock(fh, flags)  # BlockingIOError when non-blocking and taken
        try:
            yield fh
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _has_commit(repo: Path, sha: str) -> bool:
    found = git("rev-parse", "-q", "--verify", f"{sha}^{{commit}}", cwd=repo, check=False)
    return found.strip() == sha


def ensure_clone(source: dict[str, Any], baseline: str) -> Path:
    """The node's clone of the user's repo (no checkout) holding the baseline commit."""
    root = node_root(source["key"])
    root.mkdir(parents=True, exist_ok=True)
    clone = root / "repo"
    with _flock(root / "clone.lock"):
        if not (clone / ".git").is_dir():
            shutil.rmtree(clone, ignore_errors=True)
            clone.mkdir()
            git("init", "-q", cwd=clone)
        if not _has_commit(clone, baseline):
            ref = source["baseline_ref"]  # the driver put the baseline there (remote or bundle)
            if source.get("url"):
                git("fetch", "-q", "--no-tags", source["url"], f"+{ref}:{ref}", cwd=clone)
            else:
                bundle = root / f"baseline-{baseline[:12]}.bundle"
                bundle.write_bytes(_get(source["bundle"]))
                try:
                    git("fetch", "-q", "--no-tags", str(bundle), f"+HEAD:{ref}", cwd=clone)
                finally:
                    bundle.unlink()
        # the driver's git identity: a trial's commit is authored by whoever ran the sweep, as
        # a local trial's is (the registry's `author`), not by a node's fallback identity
        for key, value in (source.get("identity") or {}).items():
            git("config", key, value, cwd=clone)
        dvc_dir = clone / ".dvc"
        dvc_dir.mkdir(exist_ok=True)
        local = dvc_dir / "config.local"
        text = source.get("dvc_config_local")
        if text and (not local.exists() or local.read_text() != text):
            local.write_text(text)
    return clone


def _get(obj: Any) -> bytes:
    """A Ray ObjectRef's value (the bundle travels through the object store), or `obj`."""
    import ray

    return ray.get(obj) if isinstance(obj, ray.ObjectRef) else obj


def _slot(clone: Path, baseline: str, cache_dir: str) -> tuple[Path, IO[str]]:
    """A free workspace slot of this node: (path, held lock file). Reused across trials."""
    root = clone.parent
    for index in range(MAX_SLOTS):
        fh = open(root / f"slot-{index}.lock", "a+")  # noqa: SIM115  (held for the trial)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        ws = workspace.ws_root(clone) / f"ws-{index}"
        busy = root / f"slot-{index}.busy"
        # a marker left behind = a worker died mid-trial here (its DVC rwlock or git index may
        # be half-written): start that workspace afresh
        if busy.exists() or not (ws / ".git").exists():
            with _flock(root / "clone.lock"):
                ws = workspace.create(clone, index, baseline, cache_dir)
        busy.touch()
        return ws, fh
    raise RuntimeError(f"no free workspace slot under {root}")


class _Reporter(threading.Thread):
    """Sends the trial's per-epoch metric to the driver's board; touches the prune file when
    the driver asks this trial to stop (pruning across nodes)."""

    def __init__(
        self, board: ActorHandle[Any], number: int, ws: Path, key: str, prune_file: Path
    ) -> None:  # board: the driver's backends.ray.ProgressBoard
        super().__init__(daemon=True)
        self.board, self.number, self.ws, self.key = board, number, ws, key
        self.prune_file = prune_file
        self.started = time.time()
        self.done = threading.Event()

    def run(self) -> None:
        import ray

        from expbook.sweep.runner import find_tsv, read_tsv

        tsv, sent = None, -1
        while not self.done.wait(0.5):
            try:
                tsv = tsv or find_tsv(self.ws, self.key)
                curve = read_tsv(tsv, since=self.started) if tsv else []
                fresh = curve if len(curve) != sent else None
                sent = len(curve)
                if ray.get(self.board.report.remote(self.number, fresh)):
                    self.prune_file.touch()
            except Exception:  # the board went away (driver stopping): the trial goes on
                continue


def run_task(
    source: dict[str, Any], task: TrialTask, board: ActorHandle[Any] | None = None
) -> TrialResult:
    """The Ray task: run one trial and send its results to the remotes; never raises."""
    from expbook.sweep.trial import run_trial

    start = time.time()
    baseline = source["baseline"]
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", envnames.NUM_THREADS):
        os.environ[var] = str(max(1, int(source.get("threads") or 1)))
    result: TrialResult = {"number": task["number"], "name": task["name"], "node": os.uname()[1]}
    fh = None
    try:
        clone = ensure_clone(source, baseline)
        cache_dir = source.get("cache_dir") or str(clone / ".dvc" / "cache")
        ws, fh = _slot(clone, baseline, cache_dir)
        prune_file = ws.parent / f"prune-{ws.name}"
        task = {
            **task,
            "repo": str(clone),
            "write_note": False,
            "prune_file": str(prune_file),
            "log": str(ws.parent / "logs" / f"{task['name']}.log"),
            "reproduce": {"pull": True} if source.get("dvc_remote") else {},
        }
        reporter = None
        prune_key = task.get("prune_key")
        if board is not None and prune_key:
            reporter = _Reporter(board, task["number"], ws, prune_key, prune_file)
            reporter.start()
        try:
            result.update(run_trial(ws, baseline, task))
        finally:
            if reporter is not None:
                reporter.done.set()
        if result.get("status") in ("success", "pruned"):
            mark = time.time()
            _send(ws, clone, source, result)
            result.setdefault("timing", {})["send"] = round(time.time() - mark, 3)
    except Exception as exc:
        result.update({"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if fh is not None:
            Path(fh.name).with_suffix(".busy").unlink(missing_ok=True)
            fh.close()
    result["duration"] = round(time.time() - start, 3)
    return result


def _send(ws: Path, clone: Path, source: dict[str, Any], result: TrialResult) -> None:
    """Outputs to the DVC remote (what `dvc exp push` does), the exp commit to the git remote
    (force: a retried trial replaces its earlier attempt, never a second ref) or into a bundle."""
    if source.get("dvc_remote"):
        from dvc.repo import Repo

        with Repo(str(ws)) as dvc_repo:
            dvc_repo.push(remote=source["dvc_remote"])
    ref, sha = result["ref"], result["rev"]
    try:
        if source.get("url"):
            git("push", "-q", "--no-verify", source["url"], f"+{sha}:{ref}", cwd=ws)
        else:
            path = clone.parent / f"{result['name']}.bundle"
            git("bundle", "create", "-q", str(path), ref, f"^{source['baseline']}", cwd=ws)
            result["bundle"] = path.read_bytes()
            path.unlink()
    finally:  # the node clone keeps the objects only (it is no user-facing repo)
        git("update-ref", "-d", ref, cwd=ws, check=False)
