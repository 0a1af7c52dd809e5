"""Seed groups: which rows form one group (same params but the seed) and the flat rows of
registry Experiments. Pure functions; used by `stats` (significance) and `groupplot`.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expbook.query import resolve_key

# params whose value is a random seed: runs differing only in these form one group
DEFAULT_SEED_KEYS = ("*.seed", "*:seed", "*_seed")


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None  # NaN/inf: no mean, no test


def hashable(value: Any) -> Any:
    return (
        tuple(hashable(v) for v in value)
        if isinstance(value, (list, tuple))
        else (repr(value) if isinstance(value, dict) else value)
    )


def is_seed_key(key: str, seed_keys: Iterable[str] = DEFAULT_SEED_KEYS) -> bool:
    return any(fnmatch.fnmatchcase(key, pat) for pat in seed_keys)


def differing_params(rows: Sequence[Mapping[str, Any]], param_keys: Iterable[str]) -> list[str]:
    """The params (in `param_keys` order) whose value is not the same in every row."""
    out = []
    for key in param_keys:
        if len({hashable(row.get(key)) for row in rows}) > 1:
            out.append(key)
    return out


def _short(key: str) -> str:
    return key.split(":", 1)[1] if ":" in key else key


def _label(keys: Sequence[str], values: Sequence[Any]) -> str:
    if not keys:
        return "all"
    return ", ".join(f"{_short(k)}={v}" for k, v in zip(keys, values))


@dataclass
class Grouping:
    keys: list[str]  # the params that define groups
    seed_keys: list[str]  # the seed params found
    # (label, params, rows), sorted
    groups: list[tuple[str, dict[str, Any], list[Mapping[str, Any]]]]


def key_spaces(
    rows: Sequence[Mapping[str, Any]], param_keys: list[str], metric_keys: Iterable[str] | None
) -> tuple[list[str], dict[str, list[str]]]:
    """(every column, {"params": ..., "metrics": ...}) for resolving `params.`/`metrics.` keys;
    without `metric_keys` every column that is not a param counts as a metric."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    metrics = (
        list(metric_keys)
        if metric_keys is not None
        else [c for c in columns if c not in set(param_keys)]
    )
    return columns, {"params": param_keys, "metrics": metrics}


def group_rows(
    rows: Sequence[Mapping[str, Any]],
    param_keys: Iterable[str],
    *,
    group_by: Sequence[str] | None = None,
    seed_keys: Iterable[str] = DEFAULT_SEED_KEYS,
    metric_keys: Iterable[str] | None = None,
) -> Grouping:
    """Rows grouped by `group_by` params (query keys), default every differing non-seed param.

    Used by group_stats and by `expbook plot --group` (mean curve per group).
    """
    param_keys = list(dict.fromkeys(param_keys))
    seeds = [k for k in param_keys if is_seed_key(k, list(seed_keys))]
    if group_by:
        columns, spaces = key_spaces(rows, param_keys, metric_keys)
        keys = [resolve_key(k, param_keys or columns, spaces) for k in group_by]
    else:
        keys = [k for k in differing_params(rows, param_keys) if k not in seeds]
    buckets: dict[tuple[Any, ...], tuple[str, dict[str, Any], list[Mapping[str, Any]]]] = {}
    for row in rows:
        values = tuple(hashable(row.get(k)) for k in keys)
        if values not in buckets:
            buckets[values] = (
                _label(keys, [row.get(k) for k in keys]),
                {k: row.get(k) for k in keys},
                [],
            )
        buckets[values][2].append(row)
    order = sorted(
        buckets,
        key=lambda vals: tuple(
            (0, v) if isinstance(v, (int, float)) else (1, str(v)) for v in vals
        ),
    )
    return Grouping(keys=keys, seed_keys=seeds, groups=[buckets[v] for v in order])


def rows_of(
    experiments: Iterable[Any], statuses: Iterable[str] | None = ("success",)
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Flat rows, param keys and metric keys of registry Experiments with one of `statuses`
    (None: any). The workspace row is left out: it repeats the commit it sits on, and a pruned
    or failed run's metric is not a sample of the finished config."""
    wanted = None if statuses is None else set(statuses)
    exps = [
        e
        for e in experiments
        if getattr(e, "kind", None) != "workspace" and (wanted is None or e.status in wanted)
    ]
    params = list(dict.fromkeys(k for e in exps for k in e.params))
    metrics = list(dict.fromkeys(k for e in exps for k in e.metrics))
    return [e.flat() for e in exps], params, metrics
