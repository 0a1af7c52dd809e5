"""Ranking experiments by a metric or a score expression, in the metric's direction.

Used by `expbook best` (and `compare.rank_experiments`, kept for Python users). The direction
comes from expbook.registry.directions: an explicit mode, the project's declaration, the
metric's name; an unknown one is an error that says "--mode min|max", never a silent max.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expbook.errors import ExpbookError
from expbook.query import (
    columns_of,
    compile_score,
    filter_experiments,
    is_number,
    namespaces_of,
    resolve_key,
)
from expbook.registry import directions
from expbook.registry.directions import Direction, DirectionError
from expbook.registry.experiment import Experiment

# statuses whose metrics are not a finished run's: never a "best"
NOT_RANKED = {"queued", "running", "failed", "pruned"}


@dataclass(frozen=True)
class Ranked:
    """Experiments best first with their values, and the direction they were ranked in."""

    pairs: list[tuple[Experiment, float]]
    direction: Direction
    column: str | None  # the full key ranked by (None for a score, or when no row was left)


def score_direction(score: str, mode: str | None) -> Direction:
    """A score expression has no name to read a direction from: only --mode says it."""
    if mode is None:
        raise DirectionError(
            f"--score {score!r}: cannot tell whether a higher or lower score is better: "
            "say --mode min|max"
        )
    return directions.resolve(score, mode)


def rank(
    experiments: Sequence[Experiment],
    *,
    metric: str | None = None,
    mode: str | None = None,
    score: str | None = None,
    where: str | None = None,
    include_unfinished: bool = False,
    declared: Mapping[str, str] | None = None,
) -> Ranked:
    """Rank by `metric` (direction: `mode`, else `declared`, else its name) or by a `score`
    expression (needs `mode`); rows lacking a numeric value are left out. DirectionError
    when the direction is unknown."""
    if mode is not None and mode not in directions.MODES:
        raise ExpbookError(f"--mode must be 'max' or 'min', not {mode!r}")
    if bool(metric) == bool(score):
        raise ExpbookError("give exactly one of --metric KEY or --score EXPR")
    pool = [e for e in experiments if e.kind != "workspace"] or list(experiments)
    if not include_unfinished:
        pool = [e for e in pool if e.status not in NOT_RANKED]
    pool = filter_experiments(pool, where)
    rows = [exp.flat() for exp in pool]
    columns, spaces = columns_of(rows), namespaces_of(pool)
    column = None
    if metric:
        column = resolve_key(metric, columns, spaces) if rows else metric
        direction = directions.resolve(column, mode, declared)
        if not direction.known:
            raise DirectionError(directions.unknown_message(column))
        values = [row.get(column) for row in rows]
    else:
        assert score is not None  # exactly one of metric/score, checked above
        func = compile_score(score, columns, spaces) if rows else None
        direction = score_direction(score, mode)
        values = [func(row) for row in rows] if func else []
    scored = [(exp, v) for exp, v in zip(pool, values) if is_number(v) and v == v]
    # a stable sort keeps registry order among ties
    scored.sort(key=lambda pair: pair[1], reverse=(direction.mode == "max"))
    return Ranked(scored, direction, column)


def metric_direction(
    rows: Sequence[Mapping[str, object]],
    metric: str,
    param_keys: Sequence[str],
    metric_keys: Sequence[str],
    mode: str | None = None,
    declared: Mapping[str, str] | None = None,
) -> tuple[str, Direction]:
    """(the full key `metric` names among flat `rows`, its direction; unknown allowed), for
    the commands over seed groups (`stats`, `best --by-group`)."""
    if not rows:
        return metric, directions.resolve(metric, mode, declared)
    spaces = {"params": list(param_keys), "metrics": list(metric_keys)}
    column = resolve_key(metric, columns_of(rows), spaces)
    return column, directions.resolve(column, mode, declared)


def group_verdict(group: Any, control: Any, direction: Direction | None) -> str | None:
    """ "better"/"worse" for a seed group (analysis.stats.GroupStats) that differs
    significantly from the `control` group, in the metric's direction; None when the
    difference is not significant, not tested, or the direction is unknown."""
    if direction is None or not direction.known or control is None or not group.significant:
        return None
    if group.mean is None or control.mean is None or group.mean == control.mean:
        return None
    return "better" if direction.better(group.mean, control.mean) else "worse"
