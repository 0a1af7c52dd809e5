"""Library side of `expbook compare` and `expbook best`: side-by-side diffs and ranking by a metric or score.

Pure functions over registry Experiments; the CLI in expbook.cli.registry_cmds prints their results.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
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
from expbook.registry.experiment import Experiment
from expbook.registry.rows import SCHEMA_KEYS

# statuses whose metrics are not a finished run's: never a "best"
NOT_RANKED = {"queued", "running", "failed", "pruned"}


def _same(values: Sequence[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True, default=str)
    return all(json.dumps(v, sort_keys=True, default=str) == first for v in values[1:])


def compare(experiments: Sequence[Experiment], *, all_params: bool = False) -> dict[str, Any]:
    """Params that differ (all with all_params) and every metric with its delta vs the first experiment."""
    if len(experiments) < 2:
        raise ExpbookError("compare needs at least two experiments")
    params_keys = sorted({k for exp in experiments for k in exp.params})
    metric_keys = sorted({k for exp in experiments for k in exp.metrics})
    params = {}
    for key in params_keys:
        values = [exp.params.get(key) for exp in experiments]
        if all_params or not _same(values):
            params[key] = values
    metrics = {}
    for key in metric_keys:
        values = [exp.metrics.get(key) for exp in experiments]
        base = values[0]
        deltas = [v - base if is_number(v) and is_number(base) else None for v in values]
        metrics[key] = {"values": values, "deltas": [None] + deltas[1:]}
    return {
        "experiments": [
            {"name": e.name, "rev": e.rev, "kind": e.kind, "status": e.status} for e in experiments
        ],
        "params": params,
        "metrics": metrics,
    }


def rank_experiments(
    experiments: Sequence[Experiment],
    *,
    metric: str | None = None,
    mode: str = "max",
    score: str | None = None,
    where: str | None = None,
    include_unfinished: bool = False,
) -> list[tuple[Experiment, float]]:
    """(experiment, value) pairs best first, by `metric` or a `score` expression; rows lacking it are left out."""
    if mode not in ("max", "min"):
        raise ExpbookError(f"--mode must be 'max' or 'min', not {mode!r}")
    if bool(metric) == bool(score):
        raise ExpbookError("give exactly one of --metric KEY or --score EXPR")
    pool = [e for e in experiments if e.kind != "workspace"] or list(experiments)
    if not include_unfinished:
        pool = [e for e in pool if e.status not in NOT_RANKED]
    pool = filter_experiments(pool, where)
    if not pool:
        return []
    rows = [exp.flat() for exp in pool]
    columns, spaces = columns_of(rows), namespaces_of(pool)
    if metric:
        column = resolve_key(metric, columns, spaces)
        values = [row.get(column) for row in rows]
    else:
        assert score is not None  # exactly one of metric/score, checked above
        func = compile_score(score, columns, spaces)
        values = [func(row) for row in rows]
    scored = [(exp, v) for exp, v in zip(pool, values) if is_number(v) and v == v]
    # a stable sort keeps registry order among ties
    scored.sort(key=lambda pair: pair[1], reverse=(mode == "max"))
    return scored


def dvc_handover(action: str, exp: Experiment, branch: str | None = None) -> list[str]:
    """The argument list for `dvc exp apply EXP` / `dvc exp branch EXP NAME` (never a shell string)."""
    if exp.kind != "experiment":
        raise ExpbookError(
            f"{exp.name!r} is a {exp.kind}, not a DVC experiment; "
            "dvc exp apply/branch only take experiments"
        )
    target = exp.name or exp.rev
    if action == "apply":
        return ["dvc", "exp", "apply", exp.rev]
    if action == "branch":
        if not branch:
            raise ExpbookError("--branch needs a branch name")
        return ["dvc", "exp", "branch", target, branch]
    raise ExpbookError(f"unknown action {action!r}")


# ---------------------------------------------------------------- show
_ENV_NAMES = ("environment", "env.json", "env.yaml", "environ")


def _read_environment(repo: str, exp: Experiment) -> tuple[str, Any] | None:
    """The first environment.json-like out of the experiment: from its git tree, else the DVC cache
    (the registry's: `cache.dir` honoured)."""
    from expbook.analysis.curves import read_file_at
    from expbook.registry.dvccache import dvc_cache_dir
    from expbook.registry.dvcfiles import cache_path
    from expbook.registry.gitrepo import find_root

    cache_dir = dvc_cache_dir(find_root(repo))

    for path, info in sorted(exp.outs.items()):
        base = path.rsplit("/", 1)[-1].lower()
        if not any(word in base for word in _ENV_NAMES):
            continue
        data = read_file_at(repo, exp.rev, path)
        digest = str((info or {}).get("hash") or "").split(":", 1)[-1]
        if data is None and len(digest) > 2 and not digest.endswith(".dir"):
            for legacy in (False, True):  # DVC 3's files/md5/ layout, then DVC 2's
                cached = cache_path(cache_dir, digest, legacy)
                if os.path.isfile(cached):
                    with open(cached, "rb") as fh:
                        data = fh.read()
                    break
        if data is None:
            continue
        text = data.decode("utf-8", "replace")
        try:
            return path, json.loads(text)
        except ValueError:
            return path, text
    return None


def describe(repo: str, exp: Experiment) -> dict[str, Any]:
    """Everything about one experiment as a JSON-able dict (what `expbook show` prints)."""
    from expbook.analysis.curves import exists_at, read_curves

    try:
        curves = {name: curve.summary() for name, curve in read_curves(repo, exp.rev).items()}
        curve_error = None
    except ExpbookError as err:
        curves, curve_error = {}, str(err)
    env = _read_environment(repo, exp)
    # the row's own fields up to its git tags (tags and notes follow, as lists)
    info = {k: getattr(exp, k) for k in SCHEMA_KEYS[: SCHEMA_KEYS.index("git_tags") + 1]}
    errors = dict(exp.errors)
    if curve_error:
        errors["curves"] = curve_error
    return {
        **info,
        "tags": list(exp.tags),
        "notes": list(exp.notes),
        "sweep": exp.sweep,
        "params": dict(exp.params),
        "metrics": dict(exp.metrics),
        "curves": curves,
        "environment": {"path": env[0], "content": env[1]} if env else None,
        "outs": {
            path: {**(info or {}), "in_git": exists_at(repo, exp.rev, path)}
            for path, info in exp.outs.items()
        },
        "errors": errors,
    }


def hand_over(
    repo: str | os.PathLike[str], action: str, exp: Experiment, branch: str | None = None
) -> str:
    """Run `dvc exp apply` / `dvc exp branch` (dvc_handover) on `exp` in `repo`; returns dvc's
    output, ExpbookError naming the command when it fails."""
    import subprocess
    import sys

    args = dvc_handover(action, exp, branch)
    # the dvc of this interpreter, so an un-activated venv still works
    proc = subprocess.run([sys.executable, "-m", *args], cwd=repo, capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).rstrip()
    if proc.returncode != 0:
        raise ExpbookError(
            f"`{' '.join(args)}` failed with exit code {proc.returncode}"
            + (f":\n{text}" if text else "")
        )
    return text
