"""The Ray backend: each trial is a Ray task (expbook.sweep.backends.node.run_task) on any node
of a Ray cluster (or of a local Ray instance started here); results come back through the git
and DVC remotes, and this driver process alone writes the exp refs and notes into the repo.

Used by `expbook sweep SPEC --backend ray [--ray-address ADDR] [--git-remote NAME]`.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import open_repository, run_git
from expbook.sweep import state, workspace
from expbook.sweep.record import SweepNote, TrialResult, TrialTask
from expbook.sweep.runner import Handle
from expbook.sweep.trial import trial_note
from expbook.sweep.workspace import git

if TYPE_CHECKING:
    from ray import ObjectRef

BASELINE_PREFIX = "refs/expbook/baselines/"  # where Ray nodes fetch the baseline commit from


class ProgressBoard:
    """A Ray actor: running trials post their per-epoch curve, the driver posts prune requests."""

    def __init__(self) -> None:
        self.curves: dict[int, list[tuple[int, float]]] = {}
        self.stop: set[int] = set()

    def report(self, number: int, curve: list[tuple[int, float]] | None) -> bool:
        if curve is not None:
            self.curves[number] = curve
        return number in self.stop

    def prune(self, number: int) -> None:
        self.stop.add(number)

    def take(self) -> dict[int, list[tuple[int, float]]]:
        return self.curves

    def forget(self, number: int) -> None:
        self.curves.pop(number, None)
        self.stop.discard(number)


def _dvc_remote(repo: str) -> str | None:
    """The default DVC remote (`core.remote` of .dvc/config or config.local), None without."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read([os.path.join(repo, ".dvc", n) for n in ("config", "config.local")])
    return parser.get("core", "remote", fallback=None)


class RayBackend:
    """Trials as Ray tasks; `slots` of them in flight at once."""

    def __init__(
        self,
        repo: str,
        baseline: str,
        cache_dir: str,
        slots: int,
        logs: Path,
        *,
        address: str | None = None,
        num_cpus_per_trial: float = 1.0,
        num_gpus_per_trial: float = 0.0,
        git_remote: str | None = None,
        max_retries: int = 1,
    ) -> None:
        self.repo, self.baseline, self.cache_dir = str(Path(repo).resolve()), baseline, cache_dir
        self.slots, self.logs = slots, logs
        self.address, self.git_remote = address, git_remote
        self.cpus, self.gpus, self.max_retries = num_cpus_per_trial, num_gpus_per_trial, max_retries
        self._pending: dict[ObjectRef[TrialResult], Handle] = {}
        self._tasks: dict[int, TrialTask] = {}
        self._curves: dict[int, list[tuple[int, float]]] = {}
        self._curves_at = 0.0
        # a ProgressBoard actor; Any: ray's stubs do not type actor method calls
        self._board: Any = None
        self._started_ray = False

    # ------------------------------------------------------------------ start
    def _source(self) -> dict[str, Any]:
        """How a node gets the baseline (git remote or bundle) and where outputs go."""
        import ray

        remote = self.git_remote
        if remote is None and "origin" in git("remote", cwd=self.repo).split():
            remote = "origin"
        dvc_remote = _dvc_remote(self.repo)
        mode = "shared-cache" if dvc_remote is None else "dvc-remote"
        key = hashlib.sha256(f"{socket.gethostname()}:{self.repo}:{mode}".encode()).hexdigest()
        source: dict[str, Any] = {
            "key": key[:16],
            "baseline": self.baseline,
            "baseline_ref": BASELINE_PREFIX + self.baseline,
            "dvc_remote": dvc_remote,
            "threads": max(1, int(self.cpus)),
            # no DVC remote: trials share this repo's cache, so they must run on this node
            "cache_dir": self.cache_dir if dvc_remote is None else None,
        }
        identity = {}
        for key in ("user.name", "user.email"):
            value = git("config", key, cwd=self.repo, check=False).strip()
            if value:
                identity[key] = value
        source["identity"] = identity
        local = Path(self.repo, ".dvc", "config.local")
        if local.exists():  # the user's local remote settings/credentials, as local trials get
            source["dvc_config_local"] = local.read_text()
        if remote is not None:
            url = git("remote", "get-url", remote, cwd=self.repo, check=False).strip()
            if not url:
                raise ExpbookError(f"--git-remote {remote!r}: no such git remote in {self.repo}")
            source["url"] = url
            git(
                "push",
                "-q",
                "--no-verify",
                url,
                f"{self.baseline}:{source['baseline_ref']}",
                cwd=self.repo,
            )
        else:
            source["bundle"] = ray.put(self._bundle())
        return source

    def _bundle(self) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "baseline.bundle")
            git("bundle", "create", "-q", path, "HEAD", cwd=self.repo)
            heads = git("bundle", "list-heads", path, cwd=self.repo).split()
            if not heads or heads[0] != self.baseline:
                raise ExpbookError("HEAD moved while the sweep was starting; run it again")
            return Path(path).read_bytes()

    def start(self) -> None:
        import ray

        from expbook.sweep.backends import node

        t0 = time.time()
        # Ray's driver thread prints raylet errors ("a worker died ...") to sys.stdout, which
        # is where `--json` writes its result: send them to stderr while the sweep runs
        self._stdout, sys.stdout = sys.stdout, sys.stderr
        if not ray.is_initialized():
            import expbook

            kw: dict[str, Any] = {
                "logging_level": "ERROR",
                "log_to_driver": False,
                # this very expbook travels to every node: nodes need its dependencies only
                "runtime_env": {"py_modules": [os.path.dirname(expbook.__file__)]},
            }
            if self.address:
                kw["address"] = self.address
            elif not os.environ.get("RAY_ADDRESS"):
                self._started_ray = True
                kw.update(
                    num_cpus=max(1, int(self.slots * max(self.cpus, 1))),
                    num_gpus=int(self.slots * self.gpus + 0.999),
                    include_dashboard=False,
                )
            try:
                ray.init(**kw)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExpbookError(
                    f"cannot reach the Ray cluster at {self.address}: {exc}"
                ) from exc
        self.source = self._source()
        self._board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        options: dict[str, Any] = {
            "num_cpus": self.cpus,
            "num_gpus": self.gpus,
            "max_retries": self.max_retries,  # a dead worker: the trial runs once more
            "retry_exceptions": False,  # run_task never raises for a failing trial
        }
        if self.source["cache_dir"] is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = ray.get_runtime_context().get_node_id()
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(here, soft=False)
        self._remote = ray.remote(node.run_task).options(**options)
        self.startup = time.time() - t0

    # ------------------------------------------------------------------ Backend interface
    def free_slots(self) -> int:
        return self.slots - len(self._pending)

    def submit(self, task: TrialTask) -> Handle:
        handle = Handle(task["number"], len(self._pending))
        task = {**task, "prune_key": task["metric_keys"][0] if task.get("metric_keys") else None}
        self._tasks[task["number"]] = task
        self._pending[self._remote.remote(self.source, task, self._board)] = handle
        return handle

    def poll(self, timeout: float) -> list[TrialResult]:
        import ray

        if not self._pending:
            time.sleep(min(timeout, 0.05))
            return []
        ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if not ready:
            return []
        ready, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        results = []
        for oref in ready:
            handle = self._pending.pop(oref)
            try:
                results.append(ray.get(oref))
            except Exception as exc:  # the worker died (twice) or the node went away
                cause = getattr(exc, "cause", None) or exc
                lines = [ln for ln in str(cause).splitlines() if ln.strip()]
                reason = lines[-1].strip() if lines else type(exc).__name__  # the cause, last
                results.append(
                    {
                        "number": handle.number,
                        "name": self._tasks[handle.number]["name"],
                        "status": "failed",
                        "error": f"Ray task lost: {type(exc).__name__}: {reason}",
                    }
                )
        self._land(results)
        for result in results:
            self._tasks.pop(result["number"], None)
            self._curves.pop(result["number"], None)
            self._board.forget.remote(result["number"])
        return results

    def _land(self, results: list[TrialResult]) -> None:
        """Bring the finished trials' commits into the repo, write their notes, then their refs
        (driver only; a kill in between leaves a commit without ref, so the trial runs again)."""
        ok = [r for r in results if r.get("status") in ("success", "pruned")]
        if not ok:
            return
        try:
            if self.source.get("url"):  # objects only (FETCH_HEAD): no ref before its note
                refs = [r["ref"] for r in ok]
                git(
                    "fetch",
                    "-q",
                    "--no-tags",
                    "--no-write-fetch-head",
                    self.source["url"],
                    *refs,
                    cwd=self.repo,
                )
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    for r in ok:
                        path = os.path.join(tmp, f"{r['name']}.bundle")
                        Path(path).write_bytes(r.pop("bundle"))
                        git(
                            "fetch",
                            "-q",
                            "--no-tags",
                            "--no-write-fetch-head",
                            path,
                            r["ref"],
                            cwd=self.repo,
                        )
        except ExpbookError as exc:
            for r in ok:
                error = f"could not fetch the trial's exp commit: {exc}"
                r.update({"status": "failed", "error": error})
            return
        import pygit2

        g = open_repository(self.repo)
        lines: list[str] = []
        sweeps: dict[str, SweepNote] = {}
        for r in ok:
            r.pop("bundle", None)
            obj = g.get(r["rev"])
            if obj is None or not isinstance(obj, pygit2.Commit):
                r.update(
                    {"status": "failed", "error": f"{r['rev']} did not arrive with {r['ref']}"}
                )
                continue
            sweeps[r["rev"]] = trial_note(self._tasks[r["number"]], r)
            lines.append(f"update {r['ref']} {r['rev']}\n")
        state.write_notes(self.repo, sweeps)  # one notes commit for the batch
        if lines:  # one transaction: git's own ref locking, one packed-refs writer (us)
            run_git("update-ref", "--stdin", cwd=self.repo, input="".join(lines))

    def curve(self, handle: Handle, metric_key: str) -> list[tuple[int, float]]:
        """Per-epoch values reported by the trial's node (refreshed at most twice a second)."""
        import ray

        if time.time() - self._curves_at > 0.5 and self._board is not None:
            self._curves = ray.get(self._board.take.remote())
            self._curves_at = time.time()
        return [(p[0], p[1]) for p in self._curves.get(handle.number, [])]  # Ray: lists

    def prune(self, handle: Handle) -> None:
        self._board.prune.remote(handle.number)

    def close(self, kill: bool = False) -> None:
        """Cancel what still runs, drop the baseline ref from the remote, leave Ray."""
        try:
            self._leave()
        finally:
            if getattr(self, "_stdout", None) is not None:
                sys.stdout, self._stdout = self._stdout, None
            workspace.clean_stale(self.repo)

    def _leave(self) -> None:
        import ray

        if not ray.is_initialized():
            return
        for oref in list(self._pending):
            with contextlib.suppress(Exception):  # already finished or gone
                ray.cancel(oref, force=True)
        self._pending.clear()
        if getattr(self, "source", {}).get("url"):
            ref = self.source["baseline_ref"]
            git(
                "push",
                "-q",
                "--no-verify",
                self.source["url"],
                f":{ref}",
                cwd=self.repo,
                check=False,
            )
        if self._board is not None:
            ray.kill(self._board)
        ray.shutdown()
