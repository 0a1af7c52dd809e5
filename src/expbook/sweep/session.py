"""What one sweep run holds and finds when it starts: the per-repo lock (one sweep at a
time), the baseline's params reader, the recovery of trials a killed run committed but never
recorded, and the result `run_sweep` returns.

Used by expbook.sweep.driver.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expbook.errors import ExpbookError
from expbook.registry import yamlio
from expbook.sweep import workspace
from expbook.sweep.spec import Spec


@dataclass
class SweepResult:
    name: str
    baseline: str
    trials: list[dict[str, Any]]
    ranked: list[dict[str, Any]]
    pareto: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    elapsed: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "baseline": self.baseline,
            "trials": self.trials,
            "best": self.ranked[:10],
            "pareto": self.pareto,
            "skipped": self.skipped,
            "elapsed": round(self.elapsed, 3),
            "warnings": self.warnings,
        }


def _read_params(g, baseline: str) -> Callable[[str], Any]:
    def read(file: str):
        try:
            blob = g.revparse_single(f"{baseline}:{file}")
        except (KeyError, ValueError):
            return None
        return yamlio.parse_params(f"{baseline[:7]}:{file}", blob.data) or {}

    return read


class _Lock:
    """One sweep at a time per repo (flock: a kill -9 releases it with the process)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a+")  # noqa: SIM115  (held for the sweep)
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise ExpbookError("another expbook sweep is running in this repository") from None

    def release(self) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _recover(g, repo: str, spec: Spec, baseline: str, records: list[dict]) -> list[dict]:
    """Trials whose exp ref + note exist but which the state missed (sweep killed meanwhile)."""
    from expbook.registry import notes

    known = {r["name"] for r in records if r.get("rev")}
    prefix = workspace.exp_ref(baseline, "")
    pattern = re.compile(re.escape(spec.name) + r"-(\d{3,})$")
    out = []
    for ref in g.references:
        if not ref.startswith(prefix):
            continue
        name = ref[len(prefix) :]
        if name in known or not pattern.match(name):
            continue
        sha = str(g.references[ref].peel().id)
        sweep = notes.get(repo, sha).get("sweep") or {}
        if sweep.get("name") != spec.name or "config" not in sweep:
            continue  # not ours, or its note never got written: the trial simply runs again
        out.append(
            {
                "number": sweep.get("trial"),
                "name": name,
                "baseline": baseline,
                "rev": sha,
                "ref": ref,
                "status": sweep.get("status", "success"),
                "values": sweep.get("values"),
                "config": sweep["config"],
                "seed": sweep.get("seed"),
                "params_hash": sweep.get("params_hash"),
                "overrides": sweep.get("overrides"),
                "parent": sweep.get("parent"),
                "kind": sweep.get("kind", "trial"),
                "error": None,
            }
        )
    return out
