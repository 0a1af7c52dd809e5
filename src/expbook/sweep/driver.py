"""The sweep driver: plans runs from the search, hands them to a Backend, prunes, records state.

`run_sweep(spec)` is what `expbook sweep` calls; it resumes from git (state ref + exp refs + notes).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError
from expbook.registry.dvccache import dvc_cache_dir
from expbook.sweep import preflight, session, workspace
from expbook.sweep import state as st
from expbook.sweep.budget import Budget, most_workers
from expbook.sweep.identity import cap_parallel
from expbook.sweep.ranking import rank_trials
from expbook.sweep.record import SETTLED, TrialRecord, TrialResult, TrialTask
from expbook.sweep.search import Search, overrides_for
from expbook.sweep.session import BestWatcher, SweepResult, _Lock, _read_params
from expbook.sweep.spec import Spec, params_hash

if TYPE_CHECKING:
    from expbook.sweep.backends import BackendFactory
    from expbook.sweep.report import Progress
    from expbook.sweep.runner import Backend, Handle
    from expbook.sweep.shared import Publisher, SharedStudy


@dataclass
class _Config:
    """A config the search gave (id `cid`; promote: < 0) and the runs (seeds) made of it."""

    config: dict[str, Any]
    runs: list[TrialRecord] = field(default_factory=list)
    pruned: bool = False


class Driver:
    def __init__(
        self,
        spec: Spec,
        repo: str,
        backend_factory: BackendFactory | None = None,
        progress: Progress | None = None,
        on_best: BestWatcher | None = None,
        storage: str | None = None,
        git_remote: str | None = None,
        heartbeat: int = 10,
    ) -> None:
        import pygit2

        from expbook.registry.gitrepo import find_root, open_repository

        self.spec, self.repo = spec, find_root(repo)
        self.g = open_repository(self.repo)
        try:
            self.baseline = str(self.g.head.peel().id)
        except pygit2.GitError as exc:
            raise ExpbookError(
                f"{self.repo}: no commit to sweep from (git HEAD is unborn)"
            ) from exc
        # an unknown metric direction: refused before anything is created (issue 18)
        preflight.directions(spec, self.repo, self.baseline)
        self.progress = progress
        self.backend_factory = backend_factory
        self.on_best = on_best  # new-best alerts
        self.records: list[TrialRecord] = []
        self.previous: list[TrialRecord] = []  # finished on this baseline before: skipped
        self.done_hashes: set[str | None] = set()
        self.configs: dict[int, _Config] = {}
        self.finished_configs: set[str] = set()
        self.queue: deque[TrialRecord] = deque()
        self.running: dict[int, tuple[Handle, TrialRecord]] = {}  # run number -> handle, record
        self.skipped = 0
        self.budget = Budget()
        self.search: Search | None = None
        self.warnings: list[str] = []
        self.state_name = spec.name
        self.shared: SharedStudy | None = None
        self.publisher: Publisher | None = None
        if storage:  # many workers, one study: see expbook.sweep.shared
            from expbook.sweep import shared

            self.shared, self.publisher, self.state_name = shared.join(
                self.repo, spec, self.baseline, storage, git_remote or "origin", heartbeat
            )

    # ------------------------------------------------------------------ bookkeeping
    def _save(self, other: list[TrialRecord]) -> None:
        st.save_trials(
            self.repo, self.state_name, self.baseline, self.spec.to_dict(), other + self.records
        )

    def _next_number(self) -> int:
        return max([r.number or 0 for r in self.records] + [self.spec.first_number - 1]) + 1

    def _new_run(
        self,
        cid: int,
        seed: int | None,
        kind: str = "trial",
        extra: dict[str, Any] | None = None,
        parent: str | None = None,
    ) -> TrialRecord | None:
        config = self.configs[cid].config
        overrides = overrides_for(self.spec, config, seed, extra)
        phash = params_hash(overrides)
        if phash in self.done_hashes:
            return None
        number = self._next_number()
        if self.shared is not None and kind == "trial":  # unique across the study's workers
            seeds = self.spec.seed_values()
            assert self.search is not None
            number = self.search.trial_number(cid) * len(seeds) + seeds.index(seed) + 1
        self.budget.launched += kind == "trial"
        record = TrialRecord(
            number=number,
            name=f"{self.spec.name}-{number:03d}",
            cid=cid,
            config=config,
            seed=seed,
            overrides=overrides,
            params_hash=phash,
            baseline=self.baseline,
            kind=kind,
            parent=parent,
        )
        self.records.append(record)
        self.configs[cid].runs.append(record)
        return record

    def _task(self, rec: TrialRecord) -> TrialTask:
        return {
            "number": rec.number or 0,
            "name": rec.name,
            "overrides": rec.overrides or {},
            "repo": self.repo,
            "metric_keys": [m.key for m in self.spec.metrics],
            "sweep": rec.note(self.spec.name),
        }

    # ------------------------------------------------------------------ main loop
    def run(self) -> SweepResult:
        start = time.time()
        spec = self.spec
        checked = preflight.check(
            spec, self.repo, self.baseline, _read_params(self.g, self.baseline)
        )
        lock = _Lock(workspace.ws_root(self.repo) / "sweep.lock")
        backend: Backend | None = None
        ok, other = False, []
        try:
            workspace.clean_stale(self.repo)
            replaced = session.check_identity(self.g, self.repo, spec, self.state_name, self.shared)
            earlier = session.earlier_runs(self.g, self.repo, spec, self.baseline, self.state_name)
            other, self.records, self.previous = earlier.other, earlier.records, earlier.previous
            if replaced:  # --force-new: the old trials stay in the state ref's git history
                other, self.records, self.previous = [], [], []
                self.warnings.append(replaced)
            self.done_hashes = earlier.done_hashes
            self.skipped = len(self.previous)
            if self.on_best is not None:  # a resumed sweep alerts only on beating its old best
                for r in self.previous:
                    self.on_best.seed(r.to_json())
            cache_dir = dvc_cache_dir(self.repo)
            # the workers import DVC and make their worktrees while the search is planned
            backend = self._start_backend(cache_dir)
            search = self.search = Search(spec, shared=self.shared)
            dirty = preflight.dirty_warning(self.repo, self.baseline)
            self.warnings = checked + dirty + self.warnings
            if self.shared is None:  # a shared study has them already
                seeds = len(spec.seed_values())
                self.finished_configs = session.feed(search, spec, self.previous, seeds)
            self.budget = Budget.plan(
                spec,
                search,
                len(self.previous),
                len(self.finished_configs),
                self.shared is not None,
            )
            if spec.validate:
                from expbook.sweep.validate import validate_plan

                validate_plan(spec, search, self.repo, self.baseline, cache_dir)
            self._save(other)
            if backend is not None:
                self._loop(search, backend, start, other)
            ok = True
        finally:
            if backend is not None:
                # a sweep that did not finish (Ctrl-C, SIGTERM, a dead worker, a spec error)
                # kills its workers at once, starting or busy: waiting for them to finish
                # setting up, or a trial submitted a moment before, made Ctrl-C take 20 s+
                backend.close(kill=not ok)
                if not ok and session.settle_interrupted(
                    self.g, self.repo, spec, self.baseline, self.records
                ):
                    self._save(other)
            lock.release()
            if self.on_best:
                self.on_best.close()
            if self.shared is not None:
                self.shared.close()
        return self._result(start)

    def _start_backend(self, cache_dir: str) -> Backend | None:
        """Start as many workers as the spec can still use (None when it has nothing to run)."""
        from expbook.sweep.runner import LocalBackend

        spec = self.spec
        most = most_workers(spec, len(self.previous))
        if most <= 0:
            return None
        factory = self.backend_factory or LocalBackend
        logs = workspace.ws_root(self.repo) / "logs" / spec.name
        workers, capped = cap_parallel(min(spec.parallel, most), spec.parallel_cap)
        if capped:
            self.warnings.append(capped)
        backend = factory(self.repo, self.baseline, cache_dir, workers, logs)
        if isinstance(backend, LocalBackend):
            backend.warm = spec.warm_stages
        backend.start()
        return backend

    def _loop(
        self, search: Search, backend: Backend, start: float, other: list[TrialRecord]
    ) -> None:
        spec = self.spec
        remaining = self.budget.total - len(self.previous)
        promote_done = spec.promote_top == 0
        if remaining <= 0 and promote_done:
            return
        if self.progress:
            self.progress.start(self.budget.total, len(self.previous))
        cid = 0
        exhausted = False
        try:
            while True:
                budget_left = not spec.max_time or time.time() - start < spec.max_time
                while backend.free_slots() and budget_left:
                    if not self.queue and not exhausted:
                        exhausted = not self._ask(search, cid)
                        cid += 1
                        continue
                    if not self.queue and exhausted and not promote_done:
                        if self.running:  # promotion ranks finished trials: wait for all
                            break
                        self._plan_promote()
                        promote_done = True
                        continue
                    if not self.queue:
                        break
                    rec = self.queue.popleft()
                    rec.status = "running"
                    self.running[rec.number or 0] = (backend.submit(self._task(rec)), rec)
                if not self.running:
                    break
                results = backend.poll(0.3)
                for result in results:
                    self._finish(search, result)
                if results:  # once per batch: a busy driver lands dozens per poll
                    self._save(other)
                if self.publisher is not None and results:
                    self._publish([r["name"] for r in results if r.get("rev")])
                self._prune(search, backend)
                if self.progress:
                    self.progress.update(self.records, len(self.running), spec.metrics)
            if self.publisher is not None:  # what a failed push left behind, and the state
                self._publish([])
        finally:
            if self.progress:
                self.progress.stop()

    def _publish(self, names: list[str]) -> None:
        """--storage: push finished trials for the other workers; a failed push warns, retries."""
        assert self.publisher is not None
        text = self.publisher.try_publish(names)
        if text is not None and text not in self.warnings:
            self.warnings.append(text)

    def _ask(self, search: Search, cid: int) -> bool:
        """Queue the runs of one new config; False when the search has nothing more to give."""
        if not self.budget.allows_more():
            return False
        config = search.ask(cid, skip=self.finished_configs)
        if config is None:
            return False
        self.budget.configs_left -= 1
        self.configs[cid] = _Config(config)
        for seed in self.spec.seed_values():
            rec = self._new_run(cid, seed)
            if rec is not None:
                self.queue.append(rec)
        if not self.configs[cid].runs:
            search.tell(cid, None, "success")  # all seeds ran before: nothing to wait for
        return True

    def _finish(self, search: Search, result: TrialResult) -> None:
        handle_rec = self.running.pop(result["number"], None)
        if handle_rec is None:
            return
        rec = handle_rec[1]
        rec.settle(result)
        if rec.status != "failed":
            self._check_metrics(rec, result.get("metrics") or {})
        cfg = self.configs.get(rec.cid) if rec.cid is not None else None
        if rec.status != "failed" and cfg is not None and cfg.pruned:
            rec.status = "pruned"  # a sibling seed was pruned and this one stopped too
        if self.on_best:
            self.on_best.offer(rec.to_json())
        if cfg is None or rec.kind != "trial" or rec.cid is None:
            return
        if all(r.status in SETTLED for r in cfg.runs):
            agg = rank_trials(cfg.runs, self.spec.metrics, include_failed=True)
            search.tell(
                rec.cid, agg[0]["values"] if agg else None, agg[0]["status"] if agg else "failed"
            )

    def _check_metrics(self, rec: TrialRecord, metrics: dict[str, Any]) -> None:
        """Warn once per key when a metric key matches nothing (or several things) in a trial."""
        for metric, value in zip(self.spec.metrics, rec.values or []):
            text = f"metric {metric.key!r} matched no single numeric metric of {rec.name}"
            if value is None and not any(
                w.startswith(text[: -len(rec.name)]) for w in self.warnings
            ):
                self.warnings.append(f"{text} (its metrics: {', '.join(sorted(metrics)[:8])})")

    def _prune(self, search: Search, backend: Backend) -> None:
        if self.spec.prune == "none" or len(self.spec.metrics) > 1:
            return
        key = self.spec.metrics[0].key
        for handle, rec in list(self.running.values()):
            cfg = self.configs.get(rec.cid) if rec.cid is not None else None
            if rec.cid is None or cfg is None or rec.kind != "trial" or cfg.pruned:
                continue
            if cfg.runs[0] is not rec:  # the first seed's curve speaks for the config
                continue
            for step, value in backend.curve(handle, key):
                if search.report(rec.cid, step, value):
                    cfg.pruned = True
                    for h, r in self.running.values():
                        if r.cid == rec.cid:
                            backend.prune(h)
                    # seeds of a pruned config not started yet are dropped
                    for r in [r for r in self.queue if r.cid == rec.cid]:
                        self.queue.remove(r)
                        self.records.remove(r)
                    break

    def _plan_promote(self) -> None:
        """Re-run the top-k configs with the promote overrides, linked to their best trial."""
        spec = self.spec
        ranked = [r for r in rank_trials(self.records, spec.metrics) if r["status"] == "success"]
        for i, entry in enumerate(ranked[: spec.promote_top]):
            cid = -(i + 1)
            self.configs[cid] = _Config(entry["config"])
            seed = 0 if spec.seeds > 1 else None
            rec = self._new_run(cid, seed, "promote", spec.promote_set, parent=entry["revs"][0])
            if rec is not None:
                self.queue.append(rec)
                self.budget.total += 1

    def _result(self, start: float) -> SweepResult:
        elapsed = time.time() - start
        return SweepResult.of(
            self.spec, self.baseline, self.records, self.skipped, elapsed, self.warnings
        )


def run_sweep(
    spec: Spec,
    repo: str = ".",
    *,
    backend_factory: BackendFactory | None = None,
    progress: Progress | None = None,
    on_best: BestWatcher | None = None,
    storage: str | None = None,
    git_remote: str | None = None,
    heartbeat: int = 10,
) -> SweepResult:
    """Run (or resume) a sweep in `repo`; every finished trial is a DVC experiment ref.

    `on_best`: a `expbook.lifecycle.alerts.BestWatch` told of each finished trial.
    `storage=URL` (with `git_remote`, `heartbeat`) joins a study shared with other workers.
    """
    driver = Driver(spec, repo, backend_factory, progress, on_best, storage, git_remote, heartbeat)
    return driver.run()
