"""The search: an optuna study in ask/tell mode (grid, random, TPE, NSGA-II; median/ASHA pruning).

Used by the sweep driver: `ask()` gives the next config, `tell()` its result, `report()` a per-epoch
value for pruning, `add_finished()` feeds trials of a previous run back in (resume).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

from expbook.sweep.spec import Spec, qualify

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

    from expbook.sweep.shared import SharedStudy


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


class Search:
    """Wraps one optuna study (in memory, or shared through `shared`: see sweep.shared);
    configs are dicts of spec key -> value."""

    def __init__(self, spec: Spec, shared: SharedStudy | None = None) -> None:
        self.spec = spec
        self.shared = shared  # a SharedStudy: storage, study name, heartbeat
        self._trials: dict[int, optuna.trial.Trial] = {}  # config id -> its optuna trial
        self._reported: dict[int, set[int]] = {}
        if spec.method == "grid" and spec.prune == "none" and shared is None:
            # a plain grid asks nothing of a sampler or pruner: no optuna (~0.7 s of start-up)
            self.study: optuna.Study | None = None
            self.distributions: dict[str, BaseDistribution] = {}
            self._grid: list[dict[str, Any]] | None = self.grid()
            self._grid_total = len(self._grid)
            return
        import optuna

        _quiet()
        self.distributions = self._distributions()
        directions = [m.direction for m in spec.metrics]
        # workers sharing a study must not all draw the same sequence
        seed = spec.seed if shared is None else spec.seed + shared.seed_offset
        sampler = {
            "grid": lambda: optuna.samplers.RandomSampler(seed=seed),  # grid = enqueued
            "random": lambda: optuna.samplers.RandomSampler(seed=seed),
            "tpe": lambda: optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=min(10, max(3, (spec.trials or 10) // 3))
            ),
            "nsga2": lambda: optuna.samplers.NSGAIISampler(
                seed=seed, population_size=max(4, min(50, (spec.trials or 20) // 2))
            ),
        }[spec.method]()
        pruner = {
            "none": lambda: optuna.pruners.NopPruner(),
            "median": lambda: optuna.pruners.MedianPruner(
                n_startup_trials=max(2, spec.parallel), n_warmup_steps=spec.min_epochs
            ),
            "asha": lambda: optuna.pruners.SuccessiveHalvingPruner(
                min_resource=max(1, spec.min_epochs)
            ),
        }[spec.prune]()
        kw: dict[str, Any] = {"sampler": sampler}
        if len(directions) > 1:
            kw["directions"] = directions
        else:
            kw.update(direction=directions[0], pruner=pruner)
        self._grid = self.grid() if spec.method == "grid" else None
        self._grid_total = len(self._grid or [])
        if shared is None:
            self.study = optuna.create_study(**kw)
        else:
            self.study = shared.open(kw, self._grid)
            self._grid = [] if self._grid is not None else None  # enqueued in the study

    def _distributions(self) -> dict[str, BaseDistribution]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, BaseDistribution] = {}
        for p in self.spec.swept:
            if p.choices is not None or (self.spec.method == "grid"):
                out[p.key] = CategoricalDistribution(p.grid_values())
                continue
            low, high = p.low, p.high
            assert low is not None and high is not None  # a range without choices has both bounds
            if p.is_int:
                out[p.key] = IntDistribution(int(low), int(high), log=p.log, step=int(p.step or 1))
            else:
                out[p.key] = FloatDistribution(float(low), float(high), log=p.log, step=p.step)
        return out

    @property
    def is_grid(self) -> bool:
        return self._grid is not None

    def grid(self) -> list[dict[str, Any]]:
        """Every grid config, in a stable order (first key varies slowest)."""
        keys = [p.key for p in self.spec.swept]
        values = [p.grid_values() for p in self.spec.swept]
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]

    def planned(self) -> int:
        """How many configs the search will try."""
        return self._grid_total if self._grid is not None else int(self.spec.trials or 0)

    def add_finished(
        self,
        config: dict[str, Any],
        values: list[float | None] | None,
        status: str,
        curve: dict[int, float] | None = None,
    ) -> None:
        """Tell the sampler about a config run before (resume): it is not asked for again."""
        if self.study is None:
            return  # a plain grid skips finished configs by their params hash (`ask(skip=)`)
        import optuna
        from optuna.trial import TrialState

        params = {k: v for k, v in config.items() if k in self.distributions}
        dists = {k: self.distributions[k] for k in params}
        state = {"success": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(
            status, TrialState.FAIL
        )
        if state == TrialState.COMPLETE and (not values or any(v is None for v in values)):
            state = TrialState.FAIL
        try:
            trial = optuna.trial.create_trial(
                params=params,
                distributions=dists,
                state=state,
                values=[v for v in values or [] if v is not None]
                if state == TrialState.COMPLETE
                else None,
                intermediate_values=curve or {},
            )
            self.study.add_trial(trial)
        except ValueError:
            pass  # the search space changed since: the old trial no longer fits in it

    def ask(self, config_id: int, skip: set[str] | None = None) -> dict[str, Any] | None:
        """The next config to run (None when a grid is exhausted); `skip` = configs done already."""
        if self.shared is not None:
            assert self.study is not None  # a shared study is opened in __init__
            trial = self.shared.ask(self.study, self.distributions, busy=bool(self._trials))
            if trial is None:
                return None
            self._trials[config_id] = trial
            return dict(trial.params)
        if self._grid is not None:
            from expbook.sweep.spec import params_hash

            while self._grid:
                config = self._grid.pop(0)
                if skip and params_hash(config) in skip:
                    continue
                if self.study is None:
                    return config
                self.study.enqueue_trial(config)
                break
            else:
                return None
        assert self.study is not None
        trial = self.study.ask(self.distributions)
        self._trials[config_id] = trial
        return dict(trial.params)

    def report(self, config_id: int, step: int, value: float) -> bool:
        """Report a per-epoch value; True when the pruner says to stop this config."""
        trial = self._trials.get(config_id)
        if trial is None or len(self.spec.metrics) > 1 or self.spec.prune == "none":
            return False
        seen = self._reported.setdefault(config_id, set())
        if step in seen:
            return False
        seen.add(step)
        trial.report(value, step)
        return trial.should_prune()

    def tell(self, config_id: int, values: list[float | None] | None, status: str) -> None:
        trial = self._trials.pop(config_id, None)
        self._reported.pop(config_id, None)
        if trial is None:
            return
        from optuna.trial import TrialState

        if self.shared is not None:
            self.shared.done(trial)
        assert self.study is not None  # a config with an optuna trial came from the study
        finite = [v for v in values or [] if v is not None and math.isfinite(v)]
        if status == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        elif status == "success" and values and len(finite) == len(values):
            self.study.tell(trial, finite if len(finite) > 1 else finite[0])
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def trial_number(self, config_id: int) -> int:
        """The study's number of a config's trial (unique across workers sharing a study)."""
        trial = self._trials.get(config_id)
        if trial is None:  # a shared study's config always comes from an optuna trial
            raise KeyError(f"config {config_id} has no optuna trial")
        return int(trial.number)

    def pareto_optuna_trials(self) -> list[Any]:
        if self.study is None or len(self.spec.metrics) < 2:
            return []
        return list(self.study.best_trials)


def overrides_for(
    spec: Spec, config: dict[str, Any], seed: int | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Full `file:key -> value` params of one run: fixed + config (+ seed) (+ promote set)."""
    out = {qualify(k): v for k, v in spec.fixed.items()}
    out.update({qualify(k): v for k, v in config.items()})
    if seed is not None:
        out[qualify(spec.seed_key)] = seed
    out.update({qualify(k): v for k, v in (extra or {}).items()})
    return out
