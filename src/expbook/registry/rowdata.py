"""One registry row: the Experiment of a ref or commit, made from its snapshot's data
(params, metrics, outs, errors), its note and its status; a ref naming no readable commit
gets an error row (`missing_data`). Used by expbook.registry.rows and .increment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from expbook.registry import reader as _col
from expbook.registry.experiment import Experiment
from expbook.registry.reader import NOTES_REF


def _iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def missing_data(ref: str, sha: str, why: str) -> dict:
    """The data of a row whose ref points at no readable commit: an object the repository
    does not have (or no object id at all: a corrupt packed-refs line), a blob, a tree, an
    annotated tag, a commit whose tree is damaged; `why` says which (commits.problem)."""
    return {
        "params": {},
        "metrics": {},
        "outs": {},
        "errors": {ref: f"{ref}: {why}"},
        "unreadable": [ref],
        "metric_files": [],
        "time": None,
        "message": "",
    }


def make_row(
    c: _col.RepoReader,
    data: dict,
    name: str,
    rev: str,
    kind: str,
    baseline: str | None,
    ref: str | None,
    status: str,
    notes: dict,
    branches: Sequence[str] = (),
    git_tags: Sequence[str] = (),
    models: Sequence[str] = (),
) -> Experiment:
    note = notes.get(rev, {}) if rev != "workspace" else notes.get("", {})
    sweep = note.get("sweep") if isinstance(note.get("sweep"), dict) else None
    if sweep and sweep.get("status") == "pruned" and status == "success":
        status = "pruned"
    metrics, errors = data["metrics"], data["errors"]
    if status == "queued":  # not run: metrics files are the workspace's old ones (DVC hides them)
        metrics = {}
        errors = {k: v for k, v in errors.items() if k not in data["metric_files"]}
    if status == "success" and any(f in errors for f in data["unreadable"]):
        status = "error"  # a file it has cannot be parsed: its values are not all there
    outs = {
        path: {
            "hash": o["hash"],
            "size": o["size"],
            "in_cache": bool(o["cache"]) and c.any_in_cache([o["cache"]]),
        }
        for path, o in data["outs"].items()
    }
    if note.get("error"):  # an unreadable note: named, the row's values are still good
        errors = {**errors, NOTES_REF: f"{NOTES_REF}: {note['error']}"}
    return Experiment(
        name=name,
        rev=rev,
        kind=kind,
        baseline=baseline,
        ref=ref,
        created=_iso(data.get("time")),
        author=data.get("author"),
        status=status,
        message=data.get("message", ""),
        branches=list(branches),
        git_tags=list(git_tags),
        params=_own(c, data["params"]),
        metrics=_own(c, metrics),
        outs=outs,
        notes=list(note.get("notes", [])),
        tags=list(note.get("tags", [])),
        sweep=sweep,
        errors=_own(c, errors),
        models=list(models),
    )


def _own(c: _col.RepoReader, values: dict) -> dict:
    """`values` for one row: the snapshot's dict itself the first time (no copy of 100k
    params dicts on a cold read), a copy when another row got it already (snapshots with
    identical files share their dicts), so no row changes another."""
    if id(values) in c.handed_out:
        return dict(values)
    c.handed_out.add(id(values))
    return values
