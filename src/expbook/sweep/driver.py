"""The sweep driver: plans runs from the search, hands them to a Backend, prunes, records state.

`run_sweep(spec)` is what `expbook sweep` calls; it resumes from git (state ref + exp refs + notes).
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import git
from expbook.registry.snapshot import dvc_cache_dir
from expbook.sweep import preflight, workspace
from expbook.sweep import state as st
from expbook.sweep.ranking import rank_trials
from expbook.sweep.search import Search, overrides_for
from expbook.sweep.session import SweepResult, _Lock, _read_params, _recover
from expbook.sweep.spec import Spec, params_hash


class Driver:
    def __init__(
        self,
        spec: Spec,
        repo: str,
        backend_factory=None,
        progress=None,
        on_best=None,
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
        self.progress = progress
        self.backend_factory = backend_factory
        self.on_best = on_best  # a lifecycle.alerts.BestWatch (or None): new-best alerts
        self.records: list[dict] = []
        self.configs: dict[int, dict] = {}
        self.queue: deque = deque()
        self.running: dict[int, tuple[Any, dict]] = {}  # run number -> (handle, record)
        self.skipped = 0
        self.warnings: list[str] = []
        self.state_name = spec.name
        self.shared: Any = None
        self.publisher: Any = None
        if storage:  # many workers, one study: see expbook.sweep.shared
            self._share(storage, git_remote or "origin", heartbeat)

    def _share(self, storage: str, remote: str, heartbeat: int) -> None:
        from expbook.sweep import shared

        worker = shared.worker_id(self.repo)
        self.shared = shared.SharedStudy(storage, self.spec, self.baseline, worker, heartbeat)
        # one state ref per worker (each pushes its own); `sweep status` merges them
        self.state_name = f"{self.spec.name}@{worker}"
        state_ref = st.STATE_PREFIX + self.state_name
        self.publisher = shared.Publisher(self.repo, remote, state_ref)

    # ------------------------------------------------------------------ bookkeeping
    def _save(self, other: list[dict]) -> None:
        st.save(
            self.repo,
            {
                "name": self.state_name,
                "baseline": self.baseline,
                "spec": self.spec.to_dict(),
                "trials": other + self.records,
            },
        )

    def _next_number(self) -> int:
        return max([r.get("number") or 0 for r in self.records] + [0]) + 1

    def _new_run(
        self,
        cid: int,
        seed: int | None,
        kind: str = "trial",
        extra: dict | None = None,
        parent: str | None = None,
    ) -> dict | None:
        config = self.configs[cid]["config"]
        overrides = overrides_for(self.spec, config, seed, extra)
        phash = params_hash(overrides)
        if phash in self.done_hashes:
            return None
        number = self._next_number()
        if self.shared is not None and kind == "trial":  # unique across the study's workers
            seeds = self._seeds()
            number = search_number(self.search, cid) * len(seeds) + seeds.index(seed) + 1
        self.launched += kind == "trial"
        record = {
            "number": number,
            "name": f"{self.spec.name}-{number:03d}",
            "cid": cid,
            "config": config,
            "seed": seed,
            "overrides": overrides,
            "params_hash": phash,
            "baseline": self.baseline,
            "status": "queued",
            "kind": kind,
            "parent": parent,
            "rev": None,
            "ref": None,
            "values": None,
            "error": None,
        }
        self.records.append(record)
        self.configs[cid]["runs"].append(record)
        return record

    def _seeds(self) -> list[int | None]:
        return list(range(self.spec.seeds)) if self.spec.seeds > 1 else [None]

    def _task(self, rec: dict) -> dict:
        sweep = {
            "name": self.spec.name,
            "trial": rec["number"],
            "params_hash": rec["params_hash"],
            "parent": rec["parent"],
            "config": rec["config"],
            "seed": rec["seed"],
            "overrides": rec["overrides"],
            "kind": rec["kind"],
        }
        return {
            "number": rec["number"],
            "name": rec["name"],
            "overrides": rec["overrides"],
            "repo": self.repo,
            "metric_keys": [m.key for m in self.spec.metrics],
            "sweep": sweep,
        }

    # ------------------------------------------------------------------ main loop
    def run(self) -> SweepResult:
        start = time.time()
        spec = self.spec
        checked = preflight.check(
            spec, self.repo, self.baseline, _read_params(self.g, self.baseline)
        )
        lock = _Lock(workspace.ws_root(self.repo) / "sweep.lock")
        backend, ok = None, False
        try:
            workspace.clean_stale(self.repo)
            old = st.load(self.repo, self.state_name, missing_ok=True)
            mine = st.baseline_trials(old, self.baseline)
            other = [t for t in old.get("trials", []) if t not in mine]
            # runs an interrupted sweep left queued/running never finished: they run again
            mine = [t for t in mine if t.get("status") in ("success", "pruned", "failed")]
            mine += _recover(self.g, self.repo, spec, self.baseline, mine)
            self.previous = [r for r in mine if r["status"] in ("success", "pruned")]
            self.done_hashes = {r["params_hash"] for r in self.previous}
            self.skipped = len(self.previous)
            for r in self.previous if self.on_best else ():
                self.on_best.seed(r)  # a resumed sweep alerts only on beating its old best
            # failed trials are retried; their old records stay for history (state only)
            self.records = [dict(r) for r in mine]
            cache_dir = dvc_cache_dir(self.repo)
            # the workers import DVC and make their worktrees while the search is planned
            backend = self._start_backend(cache_dir)
            search = self.search = Search(spec, shared=self.shared)
            self.warnings = checked + self._dirty_warning()
            self.finished_configs: set[str] = set()
            if self.shared is None:  # a shared study has them already
                self._feed(search)
            self._plan_total(search)
            if spec.validate:
                self._validate(search, cache_dir, spec.validate)
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
                if not ok:
                    self._mark_interrupted(other)
            lock.release()
            if self.on_best:
                self.on_best.close()
            if self.shared is not None:
                self.shared.close()
        return self._result(search, start)

    def _start_backend(self, cache_dir: str):
        """Start as many workers as the spec can still use (None when it has nothing to run)."""
        from expbook.sweep.runner import LocalBackend

        spec = self.spec
        if spec.method == "grid":
            configs = math.prod(len(p.grid_values()) for p in spec.swept)
        else:
            configs = spec.trials or 0
        runs = configs * len(self._seeds())
        if spec.max_trials:
            runs = min(runs, spec.max_trials)
        most = max(runs - len(self.previous), spec.promote_top)
        if most <= 0:
            return None
        factory = self.backend_factory or LocalBackend
        logs = workspace.ws_root(self.repo) / "logs" / spec.name
        backend = factory(self.repo, self.baseline, cache_dir, min(spec.parallel, most), logs)
        backend.start()
        return backend

    def _dirty_warning(self) -> list[str]:
        changed = git("status", "--porcelain", "--untracked-files=no", cwd=self.repo).strip()
        if not changed:
            return []
        return [
            f"uncommitted changes are not part of the sweep: trials run on HEAD "
            f"({self.baseline[:7]}); commit first to include them"
        ]

    def _feed(self, search: Search) -> None:
        """Previous trials of this baseline go back into the study (resume, not repeat)."""
        by_config: dict[str, list[dict]] = {}
        for r in self.previous:
            if r.get("kind", "trial") == "trial":
                by_config.setdefault(params_hash(r["config"]), []).append(r)
        self.finished_configs = set()
        for key, runs in by_config.items():
            if len(runs) >= len(self._seeds()):
                self.finished_configs.add(key)
            if not search.is_grid:
                agg = rank_trials(runs, self.spec.metrics)
                if agg:
                    search.add_finished(runs[0]["config"], agg[0]["values"], agg[0]["status"])

    def _plan_total(self, search: Search) -> None:
        configs = search.planned()
        if not search.is_grid:
            configs = max(0, configs - len(self.finished_configs))
        else:
            configs -= len(self.finished_configs)
        runs = configs * len(self._seeds())
        if self.shared is not None:  # the shared study decides when the search is done
            configs = runs = 10**9
        if self.spec.max_trials:
            runs = min(runs, max(0, self.spec.max_trials - len(self.previous)))
        self.configs_left = configs
        self.budget_runs = runs
        self.launched = 0
        self.total = len(self.previous) + min(runs, search.planned() * len(self._seeds()))

    def _validate(self, search: Search, cache_dir: str, cmd: str) -> None:
        from expbook.sweep.validate import run_validation

        if search.is_grid:
            configs = search.grid()
        else:  # sampled spaces: every choice and both ends of every range
            lows = {p.key: (p.choices[0] if p.choices else p.low) for p in self.spec.swept}
            highs = {p.key: (p.choices[-1] if p.choices else p.high) for p in self.spec.swept}
            configs = [lows, highs] + [
                {**lows, p.key: c} for p in self.spec.swept for c in (p.choices or [])
            ]
        runs = [
            {"overrides": overrides_for(self.spec, c, s)} for c in configs for s in self._seeds()
        ]
        run_validation(self.repo, self.baseline, cache_dir, cmd, runs)

    def _loop(self, search: Search, backend, start: float, other: list[dict]) -> None:
        spec = self.spec
        remaining = self.total - len(self.previous)
        promote_done = spec.promote_top == 0
        if remaining <= 0 and promote_done:
            return
        if self.progress:
            self.progress.start(self.total, len(self.previous))
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
                        self._plan_promote(search)
                        promote_done = True
                        continue
                    if not self.queue:
                        break
                    rec = self.queue.popleft()
                    rec["status"] = "running"
                    self.running[rec["number"]] = (backend.submit(self._task(rec)), rec)
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

    def _mark_interrupted(self, other: list[dict]) -> None:
        """An interrupted (Ctrl-C, SIGTERM, error) sweep: its queued and running trials become
        "interrupted" in the state, so `sweep status` tells the truth; a rerun runs them again."""
        open_ = [r for r in self.records if r["status"] in ("queued", "running")]
        if not open_:
            return
        settled = [r for r in self.records if r["status"] not in ("queued", "running")]
        # a trial may have committed its exp ref and note just before the signal arrived
        done = {
            r["name"]: r for r in _recover(self.g, self.repo, self.spec, self.baseline, settled)
        }
        for rec in open_:
            if rec["name"] in done and done[rec["name"]]["params_hash"] == rec["params_hash"]:
                rec.update(done[rec["name"]])
            else:
                rec["status"] = "interrupted"
        self._save(other)

    def _publish(self, names: list[str]) -> None:
        """--storage: push finished trials for the other workers; a failed push warns, retries."""
        try:
            self.publisher.publish(names)
        except ExpbookError as exc:
            text = f"could not push trials to {self.publisher.remote} (will retry): {exc}"
            if text not in self.warnings:
                self.warnings.append(text)

    def _ask(self, search: Search, cid: int) -> bool:
        """Queue the runs of one new config; False when the search has nothing more to give."""
        if self.launched >= self.budget_runs or self.configs_left <= 0:
            return False
        config = search.ask(cid, skip=self.finished_configs)
        if config is None:
            return False
        self.configs_left -= 1
        self.configs[cid] = {"config": config, "runs": [], "pruned": False}
        for seed in self._seeds():
            rec = self._new_run(cid, seed)
            if rec is not None:
                self.queue.append(rec)
        if not self.configs[cid]["runs"]:
            search.tell(cid, None, "success")  # all seeds ran before: nothing to wait for
        return True

    def _finish(self, search: Search, result: dict) -> None:
        handle_rec = self.running.pop(result["number"], None)
        if handle_rec is None:
            return
        rec = handle_rec[1]
        rec.update(
            {
                k: result.get(k)
                for k in ("status", "rev", "ref", "values", "error", "duration", "timing")
            }
        )
        if rec["status"] == "failed":
            rec["values"] = None
        else:
            self._check_metrics(rec, result.get("metrics") or {})
        if rec["status"] != "failed" and self.configs.get(rec["cid"], {}).get("pruned"):
            rec["status"] = "pruned"  # a sibling seed was pruned and this one stopped too
        if self.on_best:
            self.on_best.offer(rec)
        cfg = self.configs.get(rec["cid"])
        if cfg is None or rec["kind"] != "trial":
            return
        if all(r["status"] in ("success", "pruned", "failed") for r in cfg["runs"]):
            agg = rank_trials(cfg["runs"], self.spec.metrics, include_failed=True)
            search.tell(
                rec["cid"], agg[0]["values"] if agg else None, agg[0]["status"] if agg else "failed"
            )

    def _check_metrics(self, rec: dict, metrics: dict) -> None:
        """Warn once per key when a metric key matches nothing (or several things) in a trial."""
        for metric, value in zip(self.spec.metrics, rec.get("values") or []):
            text = f"metric {metric.key!r} matched no single numeric metric of {rec['name']}"
            if value is None and not any(
                w.startswith(text[: -len(rec["name"])]) for w in self.warnings
            ):
                self.warnings.append(f"{text} (its metrics: {', '.join(sorted(metrics)[:8])})")

    def _prune(self, search: Search, backend) -> None:
        if self.spec.prune == "none" or len(self.spec.metrics) > 1:
            return
        key = self.spec.metrics[0].key
        for _number, (handle, rec) in list(self.running.items()):
            cfg = self.configs.get(rec["cid"])
            if cfg is None or rec["kind"] != "trial" or cfg["pruned"] or cfg["runs"][0] is not rec:
                continue
            for step, value in backend.curve(handle, key):
                if search.report(rec["cid"], step, value):
                    cfg["pruned"] = True
                    for h, r in self.running.values():
                        if r["cid"] == rec["cid"]:
                            backend.prune(h)
                    # seeds of a pruned config not started yet are dropped
                    for r in [r for r in self.queue if r["cid"] == rec["cid"]]:
                        self.queue.remove(r)
                        self.records.remove(r)
                    break

    def _plan_promote(self, search: Search) -> None:
        """Re-run the top-k configs with the promote overrides, linked to their best trial."""
        spec = self.spec
        ranked = [r for r in rank_trials(self.records, spec.metrics) if r["status"] == "success"]
        for i, entry in enumerate(ranked[: spec.promote_top]):
            cid = -(i + 1)
            self.configs[cid] = {"config": entry["config"], "runs": [], "pruned": False}
            seed = 0 if spec.seeds > 1 else None
            rec = self._new_run(cid, seed, "promote", spec.promote_set, parent=entry["revs"][0])
            if rec is not None:
                self.queue.append(rec)
                self.total += 1

    def _result(self, search: Search, start: float) -> SweepResult:
        ranked = rank_trials(self.records, self.spec.metrics)
        pareto = []
        if len(self.spec.metrics) > 1:
            from expbook.sweep.ranking import pareto_trials

            pareto = pareto_trials(ranked, self.spec.metrics)
        return SweepResult(
            self.spec.name,
            self.baseline,
            sorted(self.records, key=lambda r: r["number"] or 0),
            ranked,
            pareto,
            self.skipped,
            time.time() - start,
            self.warnings,
        )


def search_number(search: Search, cid: int) -> int:
    number = search.trial_number(cid)
    assert number is not None  # a shared study's config always comes from an optuna trial
    return number


def run_sweep(
    spec: Spec,
    repo: str = ".",
    *,
    backend_factory=None,
    progress=None,
    on_best=None,
    **shared: Any,
) -> SweepResult:
    """Run (or resume) a sweep in `repo`; every finished trial is a DVC experiment ref.

    `on_best`: a `expbook.lifecycle.alerts.BestWatch` told of each finished trial.
    `storage=URL` (with `git_remote`, `heartbeat`) joins a study shared with other workers.
    """
    return Driver(spec, repo, backend_factory, progress, on_best, **shared).run()
