"""Seed groups and significance: per-group summaries and tests versus a baseline group (scipy).

Pure functions over flat registry rows, grouped by `grouping` (its `rows_of`, `group_rows`,
`is_seed_key` and `differing_params` are importable from here too); used by `expbook stats`,
`best --by-group` and Python users.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from expbook.analysis.grouping import DEFAULT_SEED_KEYS as DEFAULT_SEED_KEYS
from expbook.analysis.grouping import Grouping as Grouping
from expbook.analysis.grouping import differing_params as differing_params
from expbook.analysis.grouping import finite_number, hashable, key_spaces
from expbook.analysis.grouping import group_rows as group_rows
from expbook.analysis.grouping import is_seed_key as is_seed_key
from expbook.analysis.grouping import rows_of as rows_of
from expbook.analysis.significance import (
    cohen_d,
    holm,
    paired_p,
    proportion_bounds,
    summarize,
    welch_p,
)
from expbook.errors import NotFoundError, QueryError
from expbook.query import resolve_key

ALPHA = 0.05


@dataclass
class GroupStats:
    """One group of runs (same params except seeds) and its metric summary."""

    label: str  # "train.lr=0.01, train.weight_decay=0" ("all": none differs)
    params: dict[str, Any]  # the grouping params' values (full keys)
    names: list[str]  # experiment names in the group
    seeds: list[Any]  # seed value(s) of each run, aligned with `values`
    values: list[float]
    revs: list[str] = field(default_factory=list)
    n: int = 0
    mean: float | None = None
    std: float | None = None  # sample standard deviation (ddof=1)
    sem: float | None = None  # standard error of the mean
    ci_low: float | None = None  # 95 % confidence interval, t distribution
    ci_high: float | None = None
    min: float | None = None
    max: float | None = None
    baseline: bool = False
    diff: float | None = None  # mean - baseline mean
    p_welch: float | None = None
    p_paired: float | None = None  # only when both groups ran the same seeds
    cohen_d: float | None = None
    p_holm: float | None = None  # Holm-adjusted p (of the paired test when there is one)
    significant: bool | None = None
    ci_clipped: bool = False  # the interval ran past the metric's bounds and was cut to them
    note: str = ""

    def row(self) -> dict[str, Any]:
        """A flat dict for tables (values/seeds/names left out)."""
        out = asdict(self)
        for key in ("values", "seeds", "names", "params", "revs", "ci_clipped"):
            out.pop(key)
        return {"group": out.pop("label"), **out}


@dataclass
class StatsResult:
    metric: str  # the full metric key
    group_keys: list[str]  # the params that define groups
    seed_keys: list[str]  # the seed params found
    groups: list[GroupStats] = field(default_factory=list)
    alpha: float = ALPHA
    skipped: list[str] = field(default_factory=list)  # runs without a finite metric
    control_reason: str = ""  # why the control group is the control ("--control", "largest")
    bounds: tuple[float, float] | None = None  # the metric's range when it is a proportion

    @property
    def baseline(self) -> GroupStats | None:
        return next((g for g in self.groups if g.baseline), None)


def group_stats(
    rows: Sequence[Mapping[str, Any]],
    metric: str,
    param_keys: Iterable[str],
    *,
    group_by: Sequence[str] | None = None,
    seed_keys: Iterable[str] = DEFAULT_SEED_KEYS,
    baseline: str | None = None,
    alpha: float = ALPHA,
    metric_keys: Iterable[str] | None = None,
) -> StatsResult:
    """Group runs by params (default: every differing non-seed param) and test each vs a baseline.

    `metric`/`group_by` are query keys (suffixes allowed); `baseline` is a group label, a
    `key=value[,key=value]` spec or an experiment name; default: the largest group (among
    equals the newest baseline commit's, else the first). Rows lacking the metric are listed
    in `skipped`. An accuracy-like metric's intervals are clipped to [0, 1] (`bounds`).
    """
    param_keys = list(dict.fromkeys(param_keys))
    columns, spaces = key_spaces(rows, param_keys, metric_keys)
    metric_col = resolve_key(metric, columns, spaces) if rows else metric
    used: list[Mapping[str, Any]] = []
    skipped: list[Mapping[str, Any]] = []
    for row in rows:
        (used if finite_number(row.get(metric_col)) is not None else skipped).append(row)
    grouping = group_rows(
        used, param_keys, group_by=group_by, seed_keys=seed_keys, metric_keys=spaces["metrics"]
    )
    keys, seeds = grouping.keys, grouping.seed_keys
    result = StatsResult(
        metric=metric_col,
        group_keys=keys,
        seed_keys=seeds,
        alpha=alpha,
        skipped=[str(r.get("name")) for r in skipped],
    )
    for label, params, members in grouping.groups:
        group = GroupStats(label=label, params=params, names=[], seeds=[], values=[])
        for row in members:
            group.names.append(str(row.get("name")))
            group.revs.append(str(row.get("rev")))
            seed = tuple(hashable(row.get(k)) for k in seeds)
            group.seeds.append(seed[0] if len(seed) == 1 else seed)
            group.values.append(float(row[metric_col]))  # `used`: a number
        result.groups.append(group)
    result.bounds = proportion_bounds(metric_col, [float(r[metric_col]) for r in used])
    for group in result.groups:
        for key, value in summarize(group.values).items():
            setattr(group, key, value)
        if result.bounds and group.ci_low is not None and group.ci_high is not None:
            low, high = result.bounds
            group.ci_clipped = bool(group.ci_low < low or group.ci_high > high)
            group.ci_low = float(max(group.ci_low, low))
            group.ci_high = float(min(group.ci_high, high))
        if group.n < 2:
            group.note = "n<2: no spread, no test"
    if result.groups:
        base, result.control_reason = _find_baseline(
            result.groups, used, keys, baseline, param_keys, spaces
        )
        base.baseline = True
        _compare_all(result, base)
    return result


def _find_baseline(
    groups: list[GroupStats],
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    baseline: str | None,
    param_keys: Sequence[str],
    spaces: Mapping[str, Iterable[str]],
) -> tuple[GroupStats, str]:
    """The control group and why: ("--control", the one asked for) or ("largest", the
    group with the most runs; among equals the newest baseline commit's, else the first).
    A lone baseline commit makes a poor control: n=1 gets no test (issue 18)."""
    if baseline is None:
        most = max(g.n for g in groups)
        largest = [g for g in groups if g.n == most]
        bases = [r for r in rows if r.get("kind") == "baseline"]
        if bases:
            newest = max(bases, key=lambda r: str(r.get("created") or ""))
            hit = next((g for g in largest if str(newest.get("name")) in g.names), None)
            if hit is not None:
                return hit, "largest"
        return largest[0], "largest"
    for group in groups:
        if group.label == baseline:
            return group, "--control"
    if "=" in baseline:
        wanted = {}
        for part in baseline.split(","):
            key, _, raw = part.partition("=")
            wanted[resolve_key(key.strip(), param_keys, spaces)] = raw.strip()
        hits = [
            g
            for g in groups
            if all(
                str(g.params.get(k)) == v or _same_number(g.params.get(k), v)
                for k, v in wanted.items()
            )
        ]
        if len(hits) == 1:
            return hits[0], "--control"
        raise NotFoundError(
            f"baseline {baseline!r} matches {len(hits)} groups; groups: "
            + "; ".join(g.label for g in groups)
        )
    hits = [g for g in groups if baseline in g.names]
    if len(hits) == 1:
        return hits[0], "--control"
    raise NotFoundError(
        f"baseline {baseline!r} is neither a group nor an experiment in the "
        "selection; groups: " + "; ".join(g.label for g in groups)
    )


def _same_number(value: Any, text: str) -> bool:
    try:
        return finite_number(value) is not None and float(text) == float(value)
    except ValueError:
        return False


def _compare_all(result: StatsResult, base: GroupStats) -> None:
    base_by_seed = dict(zip(base.seeds, base.values))
    compared, primary = [], []
    for group in result.groups:
        if group is base:
            continue
        if group.mean is not None and base.mean is not None:  # both n >= 1
            group.diff = group.mean - base.mean
        if group.n < 2 or base.n < 2:
            group.note = group.note or "baseline n<2: no test"
            continue
        group.p_welch = welch_p(group.values, base.values)
        by_seed = dict(zip(group.seeds, group.values))
        if len(by_seed) == group.n and len(base_by_seed) == base.n:
            group.p_paired = paired_p(by_seed, base_by_seed)
        group.cohen_d = cohen_d(group.values, base.values)
        compared.append(group)
        primary.append(group.p_paired if group.p_paired is not None else group.p_welch)
    for group, adjusted in zip(compared, holm(primary)):
        group.p_holm = adjusted
        group.significant = None if adjusted is None else adjusted < result.alpha


# ---------------------------------------------------------------- ranking
@dataclass
class Ranking:
    groups: list[GroupStats]  # best first
    higher_is_better: bool
    p_best_vs_runner_up: float | None
    significant: bool | None  # best significantly better than the runner-up at alpha
    alpha: float

    def verdict(self) -> str:
        if not self.groups:
            return "no group has the metric"
        best = self.groups[0]
        if len(self.groups) == 1:
            return f"only one group: {best.label}"
        runner = self.groups[1]
        if self.p_best_vs_runner_up is None:
            return (
                f"best {best.label} vs runner-up {runner.label}: not testable "
                "(a group has n<2 or no spread)"
            )
        word = "significantly" if self.significant else "NOT significantly"
        return (
            f"best {best.label} is {word} better than runner-up {runner.label} "
            f"(Welch p={self.p_best_vs_runner_up:.3g}, alpha={self.alpha:g})"
        )


def best_by_group(
    rows: Sequence[Mapping[str, Any]],
    metric: str,
    param_keys: Iterable[str],
    *,
    higher_is_better: bool | None = None,
    alpha: float = ALPHA,
    group_by: Sequence[str] | None = None,
    seed_keys: Iterable[str] = DEFAULT_SEED_KEYS,
    metric_keys: Iterable[str] | None = None,
) -> Ranking:
    """Groups ranked by mean metric, and whether the best beats the runner-up (Welch, one test).

    `higher_is_better` None: the metric's name says it (registry.directions; `best --by-group`
    passes the project's declared direction); a name that does not is a DirectionError."""
    check_alpha(alpha)
    result = group_stats(
        rows,
        metric,
        param_keys,
        group_by=group_by,
        seed_keys=seed_keys,
        alpha=alpha,
        metric_keys=metric_keys,
    )
    if higher_is_better is None:
        from expbook.registry import directions

        higher_is_better = directions.require(result.metric).mode == "max"
    # every group holds at least one used row, so its mean is a number
    ranked = sorted(result.groups, key=lambda g: g.mean or 0.0, reverse=higher_is_better)
    p = sig = None
    if len(ranked) >= 2:
        p = welch_p(ranked[0].values, ranked[1].values)
        sig = None if p is None else p < alpha
    return Ranking(
        groups=ranked,
        higher_is_better=higher_is_better,
        p_best_vs_runner_up=p,
        significant=sig,
        alpha=alpha,
    )


def check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise QueryError(f"--alpha must be between 0 and 1, got {alpha}")
    return alpha
