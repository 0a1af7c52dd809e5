"""Sweep state kept git-natively: a JSON blob committed under `refs/expbook/sweeps/<name>`,
plus the per-experiment `sweep` entry in the expbook notes ref.

Written by the sweep driver after every trial; read by `expbook sweep status/best` from git alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from expbook.errors import NotFoundError
from expbook.registry.gitrepo import open_repository, signature
from expbook.share.sync import SWEEPS_PREFIX as STATE_PREFIX

STATE_FILE = "state.json"


def names(repo: str = ".") -> list[str]:
    return sorted(
        r[len(STATE_PREFIX) :]
        for r in open_repository(repo).references
        if r.startswith(STATE_PREFIX)
    )


def load(repo: str, name: str, missing_ok: bool = False) -> dict[str, Any]:
    """The stored state of sweep `name`; NotFoundError (listing known sweeps) if there is none."""
    g = open_repository(repo)
    try:
        commit = g.references[STATE_PREFIX + name].peel()
    except (KeyError, ValueError):
        if missing_ok:
            return {"name": name, "trials": []}
        known = names(repo)
        hint = f"; known sweeps: {', '.join(known)}" if known else "; no sweeps recorded yet"
        raise NotFoundError(f"no sweep named {name!r}{hint}") from None
    return json.loads(commit.tree[STATE_FILE].data)


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


def save(repo: str, state: dict[str, Any], message: str = "expbook sweep state") -> str:
    """Commit `state` as the new tip of its sweep ref (history kept: parent = previous tip)."""
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


def write_note(repo: str, sha: str, sweep: dict[str, Any]) -> None:
    """Record the trial's sweep metadata in the experiment's expbook note (for the registry)."""
    from expbook.registry import notes

    notes.update(repo, sha, lambda doc: {**doc, "sweep": sweep})


def write_notes(repo: str, sweeps: dict[str, dict[str, Any]]) -> None:
    """`write_note` for several trials at once (one notes commit)."""
    from expbook.registry import notes

    def setter(sweep: dict[str, Any]) -> Callable[[dict], dict]:
        return lambda doc: {**doc, "sweep": sweep}

    notes.update_many(repo, {sha: setter(sweep) for sha, sweep in sweeps.items()})


def baseline_trials(state: dict[str, Any], baseline: str | None) -> list[dict[str, Any]]:
    """Trial records of one baseline (the sweep's latest baseline when None)."""
    trials = state.get("trials", [])
    if baseline is None:
        baseline = state.get("baseline")
    return [t for t in trials if t.get("baseline") == baseline]
