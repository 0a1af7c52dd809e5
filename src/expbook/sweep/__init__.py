"""Hyperparameter sweeps over any DVC pipeline: every trial becomes a normal DVC experiment ref.

Library entry points for `expbook sweep`; see driver.run_sweep, spec.load_spec, status, best.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expbook.sweep.spec import Spec, load_spec, spec_from_options  # noqa: F401

if TYPE_CHECKING:
    from expbook.sweep.ranking import RankedConfig
    from expbook.sweep.session import SweepResult
    from expbook.sweep.state import SweepStatus


def run_sweep(spec: Spec, repo: str = ".", **kw: Any) -> SweepResult:
    """driver.run_sweep; with local workers, their forkserver starts first, so that it imports
    DVC while the driver opens the repo and runs the pre-flight checks."""
    from expbook.sweep import runner

    local = kw.get("backend_factory") is None
    if local:
        runner.prestart()
    try:
        from expbook.sweep.driver import run_sweep as _run

        return _run(spec, repo, **kw)
    finally:
        if local:
            runner.release()


def status(repo: str, name: str, baseline: str | None = None) -> SweepStatus:
    """The recorded state of sweep `name` (its latest baseline unless given), from git alone."""
    from expbook.sweep import state
    from expbook.sweep.ranking import rank_trials
    from expbook.sweep.report import metrics_of

    data = state.load_merged(repo, name)
    trials = sorted(state.baseline_trials(data, baseline), key=lambda t: t.number or 0)
    metrics = metrics_of(data.get("spec") or {})
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    return state.SweepStatus(
        name=name,
        baseline=baseline or data.get("baseline"),
        updated=data.get("updated"),
        spec=data.get("spec"),
        counts=counts,
        trials=trials,
        ranked=rank_trials(trials, metrics),
    )


def best(repo: str, name: str, top: int = 1) -> list[RankedConfig]:
    """The `top` best configs of sweep `name` (seeds averaged), best first."""
    ranked = [e for e in status(repo, name).ranked if e["status"] == "success"]
    return ranked[:top]
