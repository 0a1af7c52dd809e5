"""Checks a sweep passes before anything runs or is written (issue 14): a DVC repository, a plan
no larger than --max-trials, params and metric keys that exist in the baseline.

Called by the sweep driver first thing in `run()`; each failure is one ExpbookError/SpecError.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from expbook.errors import ExpbookError, SpecError
from expbook.sweep.spec import Spec, check_against_params


def check(spec: Spec, repo: str, baseline: str, read_params: Callable[[str], Any]) -> list[str]:
    """Raise on a sweep that cannot run; returns warnings for what could not be checked."""
    if not os.path.isdir(os.path.join(repo, ".dvc")):
        raise ExpbookError(f"{repo} is not a DVC repository (no .dvc/): run `dvc init` first")
    spec.check_size()
    check_against_params(spec, read_params)
    return check_metrics(spec, repo, baseline)


def directions(spec: Spec, repo: str, baseline: str | None = None) -> None:
    """Spec.resolve_directions, before anything is created: an unknown direction is refused.
    When a metric key also names no metric of the baseline (`baseline` None: HEAD), that,
    the likelier slip, is said instead."""
    from expbook.registry.directions import DirectionError

    try:
        spec.resolve_directions(repo)
    except DirectionError:
        if baseline is None:
            from expbook.registry.gitrepo import git

            baseline = git("rev-parse", "--verify", "-q", "HEAD", cwd=repo, check=False).strip()
        if baseline:  # no commit: the direction is the message
            check_metrics(spec, repo, baseline)
        raise


def check_metrics(spec: Spec, repo: str, baseline: str) -> list[str]:
    """Every metric key must name one metric of the baseline, unless `spec.new_metrics`."""
    if spec.new_metrics:
        return []
    from expbook import registry
    from expbook.query import suffix_matches

    try:
        known = registry.resolve(repo, baseline).metrics
    except ExpbookError:
        known = {}
    if not known:
        return [
            f"the baseline ({baseline[:7]}) has no metrics to check --metric against; "
            "trials that do not write it get no value"
        ]
    for metric in spec.metrics:
        found = suffix_matches(metric.key, known)
        if len(found) == 1:
            continue
        line = spec.lines.get("metric")
        loc = f"{spec.source}:{line}" if line else spec.source
        if found:
            raise SpecError(
                f"{loc}: metric {metric.key!r} is ambiguous in the baseline's metrics "
                f"({', '.join(sorted(found)[:8])}); use a longer suffix"
            )
        close = sorted(k for k in known if metric.key.split(".")[-1] in k)[:8]
        shown = ", ".join(close or sorted(known)[:8])
        raise SpecError(
            f"{loc}: metric {metric.key!r} is not among the baseline's metrics ({shown}); "
            "pass --new-metric if the trials create it"
        )
    return []


def dirty_warning(repo: str, baseline: str) -> list[str]:
    """A warning when tracked files have uncommitted changes: trials run on the commit."""
    from expbook.registry.gitrepo import git

    changed = git("status", "--porcelain", "--untracked-files=no", cwd=repo).strip()
    if not changed:
        return []
    return [
        f"uncommitted changes are not part of the sweep: trials run on HEAD "
        f"({baseline[:7]}); commit first to include them"
    ]
