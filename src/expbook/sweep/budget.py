"""How many runs a sweep may still start: the configs and runs it plans, less those that
finished on the same baseline before, capped by `budget: max_trials`. A shared study
(`--storage`) has no count of its own: its search says when it is done.

Used by the sweep driver (expbook.sweep.driver) to size its backend and stop asking.
"""

from __future__ import annotations

from dataclasses import dataclass

from expbook.sweep.search import Search
from expbook.sweep.spec import Spec

UNLIMITED = 10**9  # a shared study's count: its search decides when it is done


def most_workers(spec: Spec, previous: int) -> int:
    """The most runs this sweep can still have in flight (0: nothing left to run)."""
    runs = spec.planned_runs()
    if spec.max_trials:
        runs = min(runs, spec.max_trials)
    return max(runs - previous, spec.promote_top, 0)


@dataclass
class Budget:
    configs_left: int = 0  # configs the search may still give
    runs: int = 0  # trial runs (configs x seeds) this sweep may launch
    total: int = 0  # runs the progress bar counts: earlier ones + planned (+ promoted)
    launched: int = 0  # trial runs launched so far

    @classmethod
    def plan(cls, spec: Spec, search: Search, previous: int, finished: int, shared: bool) -> Budget:
        """`previous`: runs finished on this baseline before; `finished`: configs of them that
        ran with every seed (the search skips those)."""
        seeds = len(spec.seed_values())
        configs = search.planned()
        configs = max(0, configs - finished) if not search.is_grid else configs - finished
        runs = configs * seeds
        if shared:
            configs = runs = UNLIMITED
        if spec.max_trials:
            runs = min(runs, max(0, spec.max_trials - previous))
        return cls(configs, runs, previous + min(runs, search.planned() * seeds))

    def allows_more(self) -> bool:
        return self.launched < self.runs and self.configs_left > 0
