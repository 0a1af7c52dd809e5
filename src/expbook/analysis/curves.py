"""Read dvclive step curves (`<dir>/plots/metrics/**.tsv`) from an experiment's git tree and summarise them.

Used by `expbook show/plot/export`; the TSVs are committed (cache: false) so git has them.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expbook.errors import NotFoundError
from expbook.registry import directions
from expbook.registry.experiment import Experiment
from expbook.registry.gitrepo import GitRepo

MARKER = ("plots", "metrics")
_SKIP_DIRS = {".git", ".dvc", ".venv", "venv", "node_modules", "__pycache__"}


@dataclass
class Curve:
    """One dvclive metric over steps."""

    name: str  # e.g. "train/loss" ("dvclive-b:train/loss" if several dirs)
    path: str  # the TSV's path in the repo
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    timestamps: list[int | None] = field(default_factory=list)

    def summary(
        self, mode: str | None = None, declared: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        return summarize(self, mode, declared)


def parse_tsv(text: str, path: str = "<tsv>") -> tuple[list[int], list[float], list[int | None]]:
    """steps, values, timestamps of a dvclive TSV (header: [timestamp] step <metric>)."""
    reader = csv.reader(io.StringIO(text), delimiter="\t")
    header = next(reader, None)
    if not header or "step" not in header:
        raise NotFoundError(f"{path}: not a dvclive step TSV (no 'step' column)")
    step_i = header.index("step")
    ts_i = header.index("timestamp") if "timestamp" in header else None
    others = [i for i in range(len(header)) if i not in (step_i, ts_i)]
    if not others:
        raise NotFoundError(f"{path}: no metric column next to 'step'")
    value_i = others[0]
    steps, values, stamps = [], [], []
    for row in reader:
        if len(row) <= max(step_i, value_i):
            continue  # a half-written last line of a running experiment
        try:
            step, value = int(float(row[step_i])), float(row[value_i])
        except ValueError:
            continue
        steps.append(step)
        values.append(value)
        stamps.append(int(row[ts_i]) if ts_i is not None and row[ts_i].strip() else None)
    return steps, values, stamps


def summarize(
    curve: Curve, mode: str | None = None, declared: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """first/last/min/max/mean/std and the best value's step; the direction (`mode` max|min)
    from registry.directions: `mode`, else the project's `declared` table ("train/loss" is
    looked up as "train.loss"), else the name, else max (see guess_mode)."""
    values = [v for v in curve.values if not math.isnan(v)]
    key = curve.name.rpartition(":")[2].replace("/", ".")
    found = directions.resolve(key, mode, declared)
    out: dict[str, Any] = {
        "metric": curve.name,
        "steps": len(curve.values),
        "mode": found.mode or guess_mode(curve.name),
        "mode_source": found.source,
    }
    mode = out["mode"]
    if not values:
        return {
            **out,
            **dict.fromkeys(("first", "last", "min", "max", "mean", "std", "best", "best_step")),
        }
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    pairs = [(s, v) for s, v in zip(curve.steps, curve.values) if not math.isnan(v)]
    best_step, best = (max if mode == "max" else min)(pairs, key=lambda p: p[1])
    return {
        **out,
        "first": values[0],
        "last": values[-1],
        "min": min(values),
        "max": max(values),
        "mean": mean,
        "std": std,
        "best": best,
        "best_step": best_step,
    }


def guess_mode(name: str) -> str:
    """The direction a curve's name says (registry.directions.from_name), else "max".

    The "max" fallback is kept only because a curve summary destroys nothing: it picks which
    step `show` and the dashboard call "best" (its `mode_source` says "unknown"). Commands
    that act on a ranking (best, sweep, gc) never fall back: they ask for --mode."""
    return directions.from_name(name.rpartition(":")[2]) or "max"


# ---------------------------------------------------------------- locating TSVs
def _split(path: str) -> tuple[str, str] | None:
    """("dvclive", "train/loss") for "dvclive/plots/metrics/train/loss.tsv"; None otherwise."""
    parts = path.split("/")
    for i in range(len(parts) - 2):
        if tuple(parts[i : i + 2]) == MARKER and path.endswith(".tsv"):
            return "/".join(parts[:i]), "/".join(parts[i + 2 :])[: -len(".tsv")]
    return None


def _git_tsvs(repo_path: str, rev: str) -> Iterator[tuple[str, bytes]]:
    g = GitRepo(repo_path)
    commit, repo = g.rev_commit(rev), g.repo

    def walk(tree: Any, prefix: str) -> Iterator[tuple[str, bytes]]:
        for entry in tree:
            path = f"{prefix}{entry.name}"
            if entry.type_str == "tree":
                yield from walk(repo[entry.id], path + "/")
            elif entry.name.endswith(".tsv") and _split(path):
                yield path, repo[entry.id].read_raw()

    yield from walk(g.tree_of(commit), "")


def _valid_text(path: str) -> str:
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _warn(text: str) -> None:
    """One line on stderr (stdout stays parseable), control characters escaped."""
    from expbook.output.render import escape_control

    print(f"warning: {escape_control(text)}", file=sys.stderr)


def _workspace_tsvs(repo_path: str) -> Iterator[tuple[str, bytes]]:
    from expbook.registry.files import read_inside

    root = Path(repo_path)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for name in filenames:
            if name.endswith(".tsv"):
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                if _split(rel):
                    # a FIFO (hung `show workspace`), a link out of the repository or a
                    # 2 GB file is skipped with a warning, as the registry's rows name it
                    try:
                        data = read_inside(str(root), rel)
                    except OSError as exc:
                        _warn(f"{rel}: cannot be read: {exc.strerror or exc}; curve skipped")
                        continue
                    yield rel, data


def read_curves(repo: str | os.PathLike[str] = ".", rev: str = "workspace") -> dict[str, Curve]:
    """Every dvclive step curve of a commit (or the workspace), keyed by metric name."""
    repo = os.fspath(repo)
    found = _workspace_tsvs(repo) if rev == "workspace" else _git_tsvs(repo, rev)
    # a file name that is not UTF-8 (git and os.walk hand it over with surrogate escapes):
    # its bad bytes become U+FFFD, or every writer of the name (export, plot) raised
    found = ((_valid_text(path), data) for path, data in found)
    files = [(path, data, parts) for path, data in found if (parts := _split(path))]
    dirs = {parts[0] for _, _, parts in files}
    curves: dict[str, Curve] = {}
    for path, data, (live_dir, metric) in sorted(files):
        name = metric if len(dirs) == 1 else f"{live_dir or '.'}:{metric}"
        steps, values, stamps = parse_tsv(data.decode("utf-8", "replace"), path)
        curves[name] = Curve(name, path, steps, values, stamps)
    return curves


def match_metric(name: str, curves: dict[str, Curve], where: str = "") -> str:
    """The curve a user's metric name means: exact, or an unambiguous `/`-suffix (`loss` -> `train/loss`)."""
    from expbook.query import suffix_matches

    if name in curves:
        return name
    matches = suffix_matches(name, curves)
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(sorted(matches or curves)) or "none"
    what = "is ambiguous between" if matches else "matches no step curve; curves are"
    raise NotFoundError(f"metric {name!r}{where} {what}: {listing}")


def not_in_cache_hint(exp: Experiment, repo: str | os.PathLike[str] = ".") -> str:
    """ "; ... not in the local cache" when some of the experiment's DVC-cached outputs (where
    curves may sit) are missing locally, else "" (so `plot` never just says "no curve").
    Outputs committed to git at the experiment (`cache: false` plots and metrics) are not
    missing: `dvc pull` cannot bring them, git has them already (issue 18)."""
    candidates = sorted(
        path for path, out in exp.outs.items() if out.get("hash") and not out.get("in_cache")
    )
    missing = [p for p in candidates if not exists_at(repo, exp.rev, p)] if candidates else []
    if not missing:
        return ""
    return (
        f"; its cached output(s) {', '.join(missing)} are not in the local cache and may hold "
        "the curves (fetch them with `dvc pull` or `dvc exp pull`)"
    )


def read_file_at(repo: str | os.PathLike[str], rev: str, path: str) -> bytes | None:
    """A file's bytes at a commit (or in the workspace); None when it is not there."""
    repo = os.fspath(repo)
    if rev == "workspace":
        target = Path(repo) / path
        return target.read_bytes() if target.is_file() else None
    g = GitRepo(repo)
    try:
        entry = g.tree_of(g.rev_commit(rev))[path]
    except (KeyError, NotFoundError):
        return None
    obj = g.repo[entry.id]
    return obj.read_raw() if obj.type_str == "blob" else None


def exists_at(repo: str | os.PathLike[str], rev: str, path: str) -> bool:
    """Whether a file or directory is committed at `rev` (or present in the workspace)."""
    repo = os.fspath(repo)
    if rev == "workspace":
        return (Path(repo) / path).exists()
    try:
        g = GitRepo(repo)
        g.tree_of(g.rev_commit(rev))[path]
    except (KeyError, NotFoundError):
        return False
    return True


def metric_series(
    repo: str | os.PathLike[str], experiments: Iterable[Experiment], metric: str
) -> list[tuple[str, Curve]]:
    """(experiment name, its `metric` curve) for each experiment; `metric` may be a suffix."""
    series = []
    for exp in experiments:
        curves = read_curves(repo, exp.rev)
        try:
            name = match_metric(metric, curves, where=f" in {exp.name}")
        except NotFoundError as err:  # maybe the curves are in a cached output not here
            raise NotFoundError(f"{err}{not_in_cache_hint(exp, repo)}") from err
        series.append((exp.name, curves[name]))
    return series
