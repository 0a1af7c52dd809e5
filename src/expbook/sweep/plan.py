"""What a sweep plans: the `Spec` (method, params, metrics, budget, backend) with its `Param`s
and `Metric`s, how many runs it plans (counted, never built), and the params hash that
identifies a trial. Built by expbook.sweep.spec from a YAML file or `-S` options.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from expbook.errors import SpecError

# the most runs a sweep may plan (grid points or `trials`, times seeds) unless --max-trials
# raises it: a typo'd 10^12-point grid is refused, not built (issue 14)
MAX_TRIALS = 10_000


@dataclass
class Metric:
    key: str
    # max | min; None until expbook.sweep.spec.resolve_directions reads it from the project's
    # declaration or the name (a sweep never starts without it)
    mode: str | None = None
    source: str | None = None  # "spec", "--mode", "declared" or "name" (registry.directions)

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        if self.mode is None:
            raise SpecError(f"metric {self.key!r}: no direction (say --mode min|max)")
        return "maximize" if self.mode == "max" else "minimize"

    @property
    def label(self) -> str:
        """``[min, from the name]`` (registry.directions.Direction.label)."""
        from expbook.registry.directions import Direction

        return Direction(self.key, self.mode, self.source or "spec").label


@dataclass
class Param:
    """One swept or fixed parameter; `key` is `file:dotted.path` (file defaults to params.yaml)."""

    key: str
    choices: list[Any] | None = None  # categorical / grid values
    low: float | int | None = None  # range
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    fixed: Any = None
    is_fixed: bool = False

    @property
    def is_int(self) -> bool:
        return all(
            isinstance(v, int) and not isinstance(v, bool)
            for v in (self.low, self.high, self.step)
            if v is not None
        )

    def grid_count(self) -> int:
        """How many grid values this param has, counted without building them."""
        if self.is_fixed:
            return 1
        if self.choices is not None:
            return len(self.choices)
        if self.step is None:
            raise SpecError(f"{self.key}: a grid needs a list of values or a range with `step`")
        assert self.low is not None and self.high is not None  # a range always has both
        count = (self.high - self.low) / self.step + 1e-9
        return int(math.floor(count)) + 1 if math.isfinite(count) else 10**18

    def grid_values(self) -> list[Any]:
        if self.is_fixed:
            return [self.fixed]
        if self.choices is not None:
            return list(self.choices)
        if self.step is None:
            raise SpecError(f"{self.key}: a grid needs a list of values or a range with `step`")
        low, high = self.low, self.high
        assert low is not None and high is not None  # a range without choices has both bounds
        count = int(math.floor((high - low) / self.step + 1e-9)) + 1
        values = [low + i * self.step for i in range(count)]
        return values if self.is_int else [round(v, 12) for v in values]


@dataclass
class Spec:
    name: str
    params: list[Param]
    metrics: list[Metric]
    method: str = "grid"
    trials: int | None = None
    seeds: int = 1
    seed_key: str = "base.seed"
    seed: int = 0  # search seed (random/tpe/nsga2 samplers)
    parallel: int = 1
    prune: str = "none"
    min_epochs: int = 1
    max_trials: int | None = None
    max_time: float | None = None  # seconds
    promote_top: int = 0
    promote_set: dict[str, Any] = field(default_factory=dict)
    validate: str | None = None
    backend: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    source: str = "<spec>"
    lines: dict[str, int] = field(default_factory=dict)  # "params.train.lr" -> line in source
    trial_limit: int = MAX_TRIALS  # `--max-trials`: refuse a plan with more runs than this
    new_metrics: bool = False  # `--new-metric`: the metric need not exist in the baseline yet
    # `--warm-stages` / `warm_stages:`: python stage commands run forked from a warm process
    # that preloaded these modules ([]: expbook.sweep.warm.DEFAULT_MODULES); None: off
    warm_stages: list[str] | None = None
    parallel_cap: bool = True  # `parallel_cap: false` / --no-parallel-cap: no 4 x CPUs cap
    force_new: bool = False  # --force-new: a changed spec starts the sweep afresh
    first_number: int = 1  # trials numbered below this belong to a replaced (--force-new) spec

    def seed_values(self) -> list[int | None]:
        """The `seed_key` value of each run of a config (None: one run, the seed untouched)."""
        return list(range(self.seeds)) if self.seeds > 1 else [None]

    def planned_runs(self) -> int:
        """Runs the spec plans (grid points or `trials`, times seeds), counted, never built."""
        if self.method == "grid":
            configs = 1
            for p in self.swept:
                configs *= p.grid_count()
        else:
            configs = self.trials or 0
        return configs * self.seeds

    def check_size(self) -> int:
        """`planned_runs()`, or SpecError when it is past `trial_limit`."""
        runs = self.planned_runs()
        if runs > self.trial_limit:
            what = (
                " x ".join(f"{p.key} {p.grid_count()}" for p in self.swept)
                if self.method == "grid"
                else f"trials {self.trials}"
            )
            if self.seeds > 1:
                what += f" x seeds {self.seeds}"
            raise SpecError(
                f"{self.source}: the sweep plans {runs:,} runs ({what}), past --max-trials "
                f"{self.trial_limit:,}; shrink it or raise the limit with --max-trials N"
            )
        return runs

    @property
    def swept(self) -> list[Param]:
        return [p for p in self.params if not p.is_fixed]

    @property
    def fixed(self) -> dict[str, Any]:
        return {p.key: p.fixed for p in self.params if p.is_fixed}

    def resolve_directions(self, root: str | os.PathLike[str]) -> None:
        """Give each metric without a `mode` its direction: the project's declaration
        (pyproject.toml at `root`), else its name. A metric whose direction is still unknown
        is a DirectionError naming it: the sweep must not start (nothing is created yet)."""
        from expbook.registry import directions

        declared: dict[str, str] | None = None
        for metric in self.metrics:
            if metric.mode is not None:
                continue
            if declared is None:
                declared = directions.load_declared(root)
            found = directions.resolve(metric.key, None, declared)
            if not found.known:
                hint = "" if self.source == "-S options" else f" (or `mode:` in {self.source})"
                raise directions.DirectionError(
                    f"sweep not started: {directions.unknown_message(metric.key)}{hint}"
                )
            metric.mode, metric.source = found.mode, found.source

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy, stored in the sweep state so `sweep status` can show it."""
        from dataclasses import asdict

        return asdict(self)


def params_hash(overrides: dict[str, Any]) -> str:
    """Stable short hash of a trial's full overrides: the identity used to skip finished trials."""
    blob = json.dumps(overrides, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def qualify(key: str) -> str:
    """`train.lr` -> `params.yaml:train.lr` (keys naming a file keep it)."""
    return key if ":" in key else f"params.yaml:{key}"
