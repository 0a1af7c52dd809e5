"""Rank sweep trials: group runs by config (seeds averaged), sort by the metric, Pareto fronts.

Used by the sweep driver (promotion, summary) and by `expbook sweep status/best`.
"""

from __future__ import annotations

import math
from typing import Any

from expbook.sweep.spec import Metric, params_hash

_ORDER = {"success": 0, "pruned": 1, "failed": 2}


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else None


def rank_trials(
    records: list[dict[str, Any]],
    metrics: list[Metric],
    include_failed: bool = False,
    kind: str = "trial",
) -> list[dict[str, Any]]:
    """One entry per config: mean values over its seeds, status, trial names/revs; best first."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        if r.get("kind", "trial") != kind or r.get("status") not in _ORDER:
            continue
        groups.setdefault(params_hash(r.get("config") or {}), []).append(r)
    out = []
    for runs in groups.values():
        statuses = {r["status"] for r in runs}
        status = (
            "pruned" if "pruned" in statuses else "success" if "success" in statuses else "failed"
        )
        if status == "failed" and not include_failed:
            continue
        use = [r for r in runs if r["status"] == status] or runs
        values = [
            _mean([(r.get("values") or [None] * len(metrics))[i] for r in use])
            for i in range(len(metrics))
        ]
        runs = sorted(runs, key=lambda r: r.get("number") or 0)
        out.append(
            {
                "config": runs[0].get("config"),
                "values": values,
                "status": status,
                "trials": [r["name"] for r in runs],
                "revs": [r.get("rev") for r in runs if r.get("rev")],
                "seeds": len(runs),
                "error": next((r.get("error") for r in runs if r.get("error")), None),
            }
        )
    first = metrics[0]

    def key(entry):
        v = entry["values"][0]
        missing = v is None
        score = 0.0 if missing else (-v if first.mode == "max" else v)
        return (_ORDER[entry["status"]], missing, score)

    return sorted(out, key=key)


def pareto_trials(ranked: list[dict[str, Any]], metrics: list[Metric]) -> list[dict[str, Any]]:
    """The non-dominated successful configs (every metric at least as good, one better)."""

    def signed(entry):
        return [(-v if m.mode == "max" else v) for v, m in zip(entry["values"], metrics)]

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
