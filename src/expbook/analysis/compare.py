"""Library side of `expbook compare` and `expbook best`: side-by-side diffs and ranking by a metric or score.

Pure functions over registry Experiments; the CLI in expbook.cli.registry_cmds prints their results.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from expbook.errors import ExpbookError
from expbook.query import is_number
from expbook.registry.directions import Direction, resolve
from expbook.registry.experiment import Experiment
from expbook.registry.rows import SCHEMA_KEYS


def _same(values: Sequence[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True, default=str)
    return all(json.dumps(v, sort_keys=True, default=str) == first for v in values[1:])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _delta(value: Any, base: Any) -> float | int | None:
    """value - base; an int when both are ints (a count's delta is a count, issue 18); None
    when either is no number or the difference is none (NaN, inf - inf: no `(+nan)`)."""
    if not (is_number(value) and is_number(base)):
        return None
    if _is_int(value) and _is_int(base):
        return int(value) - int(base)
    delta = float(value) - float(base)
    return None if delta != delta else delta


def _direction(key: str, declared: Mapping[str, str]) -> Direction:
    """The metric's direction by its full key, else by its name inside the file
    (`live/metrics.json:val.acc` -> `val.acc`, which a declaration more likely names)."""
    found = resolve(key, None, declared)
    if not found.known and ":" in key:
        inner = resolve(key.split(":", 1)[1], None, declared)
        return Direction(key, inner.mode, inner.source)
    return found


# a result on held-out data (val.acc, test/f1, eval_loss): the metrics a reader compares first
_HELD_OUT = re.compile(r"(^|[:/])(val|valid|validation|test|eval|dev)[./_]")


def metric_order(key: str, declared: Mapping[str, str] | None = None) -> int:
    """Where `compare` lists a metric: 0 a key metric (held-out data, known direction: val.acc,
    test.loss), 1 another with a known direction (train_time), 2 the rest, 3 a per-item
    breakdown (`class_counts.3`)."""
    if re.split(r"[./:_]", key)[-1].isdigit():
        return 3
    if not _direction(key, declared or {}).known:
        return 2
    return 0 if _HELD_OUT.search(key) else 1


def _mark(delta: Any, direction: Direction) -> str | None:
    if delta is None or not direction.known or delta == 0:
        return None
    return "better" if direction.better(delta, 0) else "worse"


def compare(
    experiments: Sequence[Experiment],
    *,
    all_params: bool = False,
    declared: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Params and metrics that differ (every one with all_params), each metric with its delta
    vs the first experiment, its direction and a better/worse mark per delta.

    Metrics come key metrics first (see metric_order); `declared` is the project's direction
    table (registry.directions.load_declared); `hidden` counts the equal keys left out.
    """
    if len(experiments) < 2:
        raise ExpbookError("compare needs at least two experiments")
    declared = declared or {}
    params_keys = sorted({k for exp in experiments for k in exp.params})
    metric_keys = sorted({k for exp in experiments for k in exp.metrics})
    hidden = {"params": 0, "metrics": 0}
    params = {}
    for key in params_keys:
        values = [exp.params.get(key) for exp in experiments]
        if all_params or not _same(values):
            params[key] = values
        else:
            hidden["params"] += 1
    metrics = {}
    for key in sorted(metric_keys, key=lambda k: metric_order(k, declared)):
        values = [exp.metrics.get(key) for exp in experiments]
        if not all_params and _same(values):
            hidden["metrics"] += 1
            continue
        deltas = [None] + [_delta(v, values[0]) for v in values[1:]]
        direction = _direction(key, declared)
        metrics[key] = {
            "values": values,
            "deltas": deltas,
            "direction": direction.mode,
            "direction_label": direction.label,
            "marks": [_mark(d, direction) for d in deltas],
        }
    return {
        "experiments": [
            {"name": e.name, "rev": e.rev, "kind": e.kind, "status": e.status} for e in experiments
        ],
        "params": params,
        "metrics": metrics,
        "hidden": hidden,
    }


def rank_experiments(
    experiments: Sequence[Experiment],
    *,
    metric: str | None = None,
    mode: str | None = None,
    score: str | None = None,
    where: str | None = None,
    include_unfinished: bool = False,
    declared: dict[str, str] | None = None,
) -> list[tuple[Experiment, float]]:
    """(experiment, value) pairs best first, by `metric` or a `score` expression; rows lacking
    it are left out. The direction: `mode`, else `declared`, else the metric's name; unknown
    is a DirectionError (expbook.analysis.ranking.rank, which also returns the direction)."""
    from expbook.analysis.ranking import rank

    return rank(
        experiments,
        metric=metric,
        mode=mode,
        score=score,
        where=where,
        include_unfinished=include_unfinished,
        declared=declared,
    ).pairs


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
    from expbook.registry.directions import load_declared
    from expbook.registry.gitrepo import find_root

    try:
        # each curve's "best" step in the project's declared direction, else its name's
        declared = load_declared(find_root(repo))
        curves = {
            name: curve.summary(declared=declared)
            for name, curve in read_curves(repo, exp.rev).items()
        }
        curve_error = None
    except ExpbookError as err:
        curves, curve_error = {}, str(err)
    if exp.ref and exp.ref in exp.errors:  # no readable commit: its ref's error says why
        curve_error = None
    env = _read_environment(repo, exp)
    # the row's own fields up to its git tags (tags and notes follow, as lists)
    info = {k: getattr(exp, k) for k in SCHEMA_KEYS[: SCHEMA_KEYS.index("git_tags") + 1]}
    errors = dict(exp.errors)
    if curve_error:
        errors["curves"] = curve_error
    return {
        **info,
        "tags": list(exp.tags),
        "models": list(exp.models),  # its model versions and stages (issue 22)
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
