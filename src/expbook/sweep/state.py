"""Sweep state kept git-natively: a JSON blob committed under `refs/expbook/sweeps/<name>`,
plus the per-experiment `sweep` entry in the expbook notes ref.

Written by the sweep driver after every trial; read by `expbook sweep status/best` from git alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from expbook.errors import ExpbookError, NotFoundError
from expbook.registry.gitrepo import open_repository, signature
from expbook.share.sync import SWEEPS_PREFIX as STATE_PREFIX
from expbook.sweep.record import RankedConfig, SweepNote, TrialRecord

STATE_FILE = "state.json"
MODES = ("max", "min")


@dataclass
class SweepStatus:
    """A recorded sweep as `expbook sweep status` and the dashboard show it (one baseline)."""

    name: str
    baseline: str | None
    updated: str | None  # when the state was last written (UTC, ISO 8601)
    spec: dict[str, Any] | None  # Spec.to_dict() as stored
    counts: dict[str, int]  # status -> trials
    trials: list[TrialRecord]  # by number
    ranked: list[RankedConfig]  # best first

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "baseline": self.baseline,
            "updated": self.updated,
            "spec": self.spec,
            "counts": self.counts,
            "trials": [t.to_json() for t in self.trials],
            "ranked": self.ranked,
        }


def _prefix(repo: str) -> str:
    """Where sweep state refs are read: a remote's view (issue 23) reads its namespace."""
    from expbook.registry.view import namespace, view_of

    remote = view_of(repo)
    return STATE_PREFIX if remote is None else f"{namespace(remote)}sweeps/"


def names(repo: str = ".") -> list[str]:
    prefix = _prefix(repo)
    return sorted(
        r[len(prefix) :] for r in open_repository(repo).references if r.startswith(prefix)
    )


def load(repo: str, name: str, missing_ok: bool = False) -> dict[str, Any]:
    """The stored state of sweep `name`; NotFoundError (listing known sweeps) if there is none."""
    import pygit2

    g = open_repository(repo)
    ref = _prefix(repo) + name
    try:
        target = g.references[ref]
    except (KeyError, ValueError):
        if missing_ok:
            return {"name": name, "trials": []}
        known = names(repo)
        hint = f"; known sweeps: {', '.join(known)}" if known else "; no sweeps recorded yet"
        raise NotFoundError(f"no sweep named {name!r}{hint}") from None
    try:  # a ref to a blob, a tree, a missing object (a pulled remote's): named, no traceback
        doc = json.loads(target.peel(pygit2.Commit).tree[STATE_FILE].data)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise ExpbookError(f"{ref}: not a readable sweep state commit ({exc})") from None
    except RecursionError:  # `[[[[...` past Python's recursion limit
        raise ExpbookError(f"{ref}: {STATE_FILE} is JSON nested too deeply to read") from None
    # valid JSON of the wrong shape (a list, trials that are no list): named, no TypeError
    if not isinstance(doc, dict):
        raise ExpbookError(f"{ref}: {STATE_FILE} is JSON but not an object")
    if not isinstance(doc.get("trials", []), list):
        raise ExpbookError(f"{ref}: {STATE_FILE} has trials that are not a list")
    _check_spec(ref, doc.get("spec"))
    return doc


def _check_spec(ref: str, spec: Any) -> None:
    """ExpbookError naming the ref when a stored spec is no object or has no usable metrics
    (status, best and a resumed run rank by them: an AttributeError/IndexError otherwise)."""
    where = f"{ref}: {STATE_FILE}'s spec"
    if not isinstance(spec, dict):
        raise ExpbookError(f"{where} is {'missing' if spec is None else 'not a JSON object'}")
    metrics = spec.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise ExpbookError(f"{where} has no metrics list")
    for m in metrics:
        if not (isinstance(m, dict) and isinstance(m.get("key"), str) and m.get("mode") in MODES):
            raise ExpbookError(
                f"{where} has a metric that is not {{key, mode: max|min}}: {m!r:.80}"
            )


def load_merged(repo: str, name: str) -> dict[str, Any]:
    """Sweep `name` with the states of its shared-storage workers (`name@worker`) merged in."""
    parts = [n for n in names(repo) if n == name or n.startswith(name + "@")]
    if not parts:
        return load(repo, name)  # NotFoundError listing the known sweeps
    states: list[dict[str, Any]] = [load(repo, n) for n in parts]
    newest = sorted(states, key=lambda s: str(s["updated"]) if "updated" in s else "")[-1]
    merged = dict(newest)
    merged["name"] = name
    merged["trials"] = [t for s in states for t in s.get("trials", [])]
    return merged


def save_trials(
    repo: str, name: str, baseline: str, spec: dict[str, Any], trials: Sequence[TrialRecord]
) -> str:
    """`save` the state of sweep `name`: the commit it ran on last, its Spec.to_dict(), and
    the records of its trials (every baseline)."""
    doc = {"name": name, "baseline": baseline, "spec": spec}
    return save(repo, {**doc, "trials": [t.to_json() for t in trials]})


def save(repo: str, state: dict[str, Any], message: str = "expbook sweep state") -> str:
    """Commit `state` (the JSON document) as the new tip of its sweep ref (history kept:
    parent = previous tip)."""
    g = open_repository(repo)
    ref = STATE_PREFIX + state["name"]
    state = {**state, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    blob = g.create_blob(json.dumps(state, indent=1, sort_keys=True, default=str) + "\n")
    builder = g.TreeBuilder()
    import pygit2

    builder.insert(STATE_FILE, blob, pygit2.enums.FileMode.BLOB)
    tree = builder.write()
    parents = []
    if ref in g.references:
        parents = [g.references[ref].target]
    sig = signature(g)
    sha = g.create_commit(None, sig, sig, message, tree, parents)
    # a concurrent sweep of the same name is prevented by the driver's lock; force is safe
    g.references.create(ref, sha, force=True)
    return str(sha)


def write_note(repo: str, sha: str, sweep: SweepNote) -> None:
    """Record the trial's sweep metadata in the experiment's expbook note (for the registry)."""
    from expbook.registry import notes

    notes.update(repo, sha, lambda doc: {**doc, "sweep": sweep})


def write_notes(repo: str, sweeps: dict[str, SweepNote]) -> None:
    """`write_note` for several trials at once (one notes commit)."""
    from expbook.registry import notes

    def setter(sweep: SweepNote) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda doc: {**doc, "sweep": sweep}

    notes.update_many(repo, {sha: setter(sweep) for sha, sweep in sweeps.items()})


def trials(state: dict[str, Any]) -> list[TrialRecord]:
    """The trial records of a loaded state (every baseline)."""
    where = f"sweep state {STATE_PREFIX}{state.get('name')}"
    return [TrialRecord.from_json(t, where) for t in state.get("trials") or []]


def baseline_trials(state: dict[str, Any], baseline: str | None) -> list[TrialRecord]:
    """Trial records of one baseline (the sweep's latest baseline when None)."""
    if baseline is None:
        baseline = state.get("baseline")
    return [t for t in trials(state) if t.baseline == baseline]
