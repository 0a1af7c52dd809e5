"""Rank sweep trials: group runs by config (seeds averaged), sort by the metric, Pareto fronts.

Used by the sweep driver (promotion, summary) and by `expbook sweep status/best`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from expbook.sweep.record import RankedConfig, TrialRecord
from expbook.sweep.spec import Metric, params_hash

_ORDER = {"success": 0, "pruned": 1, "failed": 2}


def _mean(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None and math.isfinite(v)]
    return sum(found) / len(found) if found else None


def rank_trials(
    records: Sequence[TrialRecord],
    metrics: list[Metric],
    include_failed: bool = False,
    kind: str = "trial",
) -> list[RankedConfig]:
    """One entry per config: mean values over its seeds, status, trial names/revs; best first."""
    groups: dict[str, list[TrialRecord]] = {}
    for r in records:
        if r.kind != kind or r.status not in _ORDER:
            continue
        groups.setdefault(params_hash(r.config), []).append(r)
    out: list[RankedConfig] = []
    for runs in groups.values():
        statuses = {r.status for r in runs}
        status = (
            "pruned" if "pruned" in statuses else "success" if "success" in statuses else "failed"
        )
        if status == "failed" and not include_failed:
            continue
        use = [r for r in runs if r.status == status] or runs
        values = [
            _mean([(r.values or [None] * len(metrics))[i] for r in use])
            for i in range(len(metrics))
        ]
        runs = sorted(runs, key=lambda r: r.number or 0)
        out.append(
            {
                "config": runs[0].config,
                "values": values,
                "status": status,
                "trials": [r.name for r in runs],
                "revs": [r.rev for r in runs if r.rev],
                "seeds": len(runs),
                "error": next((r.error for r in runs if r.error), None),
            }
        )
    first = metrics[0]

    def key(entry: RankedConfig) -> tuple[int, bool, float]:
        v = entry["values"][0]
        score = 0.0 if v is None else (-v if first.mode == "max" else v)
        return (_ORDER[entry["status"]], v is None, score)

    return sorted(out, key=key)


def pareto_trials(ranked: list[RankedConfig], metrics: list[Metric]) -> list[RankedConfig]:
    """The non-dominated successful configs (every metric at least as good, one better)."""

    def signed(entry: RankedConfig) -> list[float]:
        return [
            (-v if m.mode == "max" else v)
            for v, m in zip(entry["values"], metrics)
            if v is not None
        ]

    pool = [e for e in ranked if e["status"] == "success" and None not in e["values"]]
    front = []
    for e in pool:
        se = signed(e)
        dominated = any(
            all(a <= b for a, b in zip(signed(o), se)) and signed(o) != se
            for o in pool
            if o is not e
        )
        if not dominated:
            front.append(e)
    return front
