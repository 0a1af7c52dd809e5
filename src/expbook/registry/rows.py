"""The experiment registry: every DVC experiment of a repository as one row, read from git.

`collect()` returns Experiment objects (expbook.registry.experiment, each made by
expbook.registry.rowdata); `load()`/`resolve()` live in expbook.registry.lookup, cached
rendered tables in expbook.registry.table. Used by the expbook CLI and by Python users; never
imports DVC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from expbook.errors import ExpbookError, NotFoundError
from expbook.registry import cache as _cache
from expbook.registry import modelstate
from expbook.registry import reader as _col
from expbook.registry.commits import problem
from expbook.registry.experiment import (  # noqa: F401  (public names of this module too)
    SCHEMA_KEYS,
    Experiment,
    _from_plain,
    _to_plain,
)
from expbook.registry.modeltags import parse_tag
from expbook.registry.reader import NOTES_REF as NOTES_REF  # a public name of this module too
from expbook.registry.rowdata import make_row, missing_data

EXPS_PREFIX = "refs/exps/"


def _describe(
    sha: str,
    head: str | None,
    head_branch: str | None,
    tags: dict[str, list[str]],
    branches: dict[str, list[str]],
) -> str:
    # DVC's order (dvc/repo/experiments/utils.py:describe): current branch, tags, branches
    if sha == head and head_branch:
        return head_branch
    if tags.get(sha):
        return tags[sha][0]
    if branches.get(sha):
        return branches[sha][0]
    return sha[:7]


def _parse_exp_ref(ref: str) -> tuple[str, str] | None:
    parts = ref.split("/")
    if len(parts) != 5 or parts[2] in ("celery", "exec", "apply", "temp", "stash"):
        return None
    return parts[2] + parts[3], parts[4]


def collect(
    repo: str | os.PathLike = ".",
    *,
    all_commits: bool = False,
    baseline: str | None = None,
    exp_commits: bool = False,
) -> list[Experiment]:
    """Every experiment of the repository as Experiment rows (workspace first).

    Rows: the workspace, HEAD, every baseline that has experiments, branch and tag heads,
    every exp ref, and queued/running/failed experiments; `all_commits` lists instead every
    commit reachable from HEAD, branches, remote branches and tags with their experiments, as
    `dvc exp show -A` does (`exp_commits` adds the commits reachable only from experiment
    refs, kind `exp-only`),
    `baseline` (a name, sha prefix, branch or tag) keeps one baseline and its experiments.
    Results are cached by a fingerprint of refs, HEAD, DVC's queue state, the work-tree
    files read and the DVC cache directories, so an unchanged repository is answered
    without reading git objects.
    """
    mode = "exp" if all_commits and exp_commits else bool(all_commits)
    return _unless_cache_misshapen(lambda fresh: _read_rows(repo, mode, baseline, fresh))[0]


# what reading a cache entry of an unexpected shape raises (well-formed marshal, wrong shape)
_SHAPE_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)


def _unless_cache_misshapen(read: Callable[[bool], Any]) -> Any:
    """read(fresh=False); if a cache entry of another shape broke it, read(fresh=True), which
    reads no cache file and overwrites them: a wrongly shaped entry is a miss, never a crash.
    A real bug raises again on the fresh read."""
    try:
        return read(False)
    except ExpbookError:
        raise
    except _SHAPE_ERRORS:
        return read(True)


def error_summary(experiments: list[Experiment]) -> str | None:
    """The one-line warning `expbook registry` prints when rows have errors (None if none)."""
    bad = [e for e in experiments if e.errors]
    if not bad:
        return None
    names = ", ".join(e.name for e in bad[:5]) + (", ..." if len(bad) > 5 else "")
    return (
        f"warning: {len(bad)} of {len(experiments)} rows have errors ({names}); "
        'list them with --columns name,errors or --where "errors is not null"'
    )


def _read_rows(
    repo: str | os.PathLike,
    all_commits: bool | str,
    baseline: str | None,
    fresh: bool = False,
    keep_rows: bool = True,
) -> tuple[list[Experiment], dict | None]:
    """(rows, stamp): stamp = the fingerprint, time and work-tree files the rows were read
    under, or None when the rows must not be reused (a cache file they need is missing)."""
    c = _col.RepoReader(repo, fresh)
    saved = c.load_cache("rows")
    refs = c.g.refs(saved.get("ref_state"))
    fingerprint, pending = _col.fingerprint(c, refs, all_commits, baseline)
    key = fingerprint[0]
    entry = saved.get("entries", {}).get(key)
    if entry and _col.still_valid(c, entry, fingerprint):
        rows = [_from_plain(values) for values in entry["rows"]]
        return rows, {
            "fingerprint": fingerprint,
            "time_ns": entry["time_ns"],
            "workspace_seen": entry["workspace_seen"],
            "refs": c.g.ref_stamp(),
            "ref_state": c.g.ref_state,  # kept beside a rendered text (registry.increment)
        }
    start_ns = time.time_ns()
    with _cache.no_gc():
        rows, ws = _build(c, refs, pending, all_commits, baseline)
        c.save()
    stamp = {
        "fingerprint": fingerprint,
        "time_ns": start_ns,
        "workspace_seen": ws["seen"] if ws else None,
    }
    entries = {k: v for k, v in saved.get("entries", {}).items() if k != key}
    if keep_rows:
        entries[key] = {**stamp, "rows": [_to_plain(r) for r in rows]}
    stamp["refs"] = c.g.ref_stamp()
    stamp["ref_state"] = c.g.ref_state
    missing = bool(ws and ws["missing"])
    if missing:
        entries.pop(key, None)  # a missing cache file may appear: never reuse these rows as is
    _cache.save(
        c.root, "rows", {"ref_state": c.g.ref_state, "entries": dict(list(entries.items())[-4:])}
    )
    return rows, None if missing else stamp


def _build(
    c: _col.RepoReader,
    refs: dict[str, str],
    pending: list,
    all_commits: bool | str,
    baseline: str | None,
) -> tuple[list[Experiment], dict | None]:
    head, head_branch = c.g.head()
    branches: dict[str, list[str]] = {}
    tags: dict[str, list[str]] = {}
    for ref, sha in sorted(refs.items()):
        if ref.startswith("refs/heads/"):
            branches.setdefault(sha, []).append(ref[11:])
    peeled = c.state.setdefault("peeled", {})
    gto: dict[str, str] = {}  # GTO-format tag ref -> its object id (issue 22: `models`)
    for ref, sha in sorted(c.g.peel_tags(refs).items()):
        if modelstate.gto_tag(ref):
            gto[ref] = refs[ref]
        if sha not in c.commits and ref not in c.g.peeled:
            if sha not in peeled:  # a loose tag: maybe an annotated tag object, peel it once
                try:
                    peeled[sha] = str(c.g.commit(sha).id)
                except NotFoundError:
                    tags.setdefault(sha, []).append(ref[10:])  # listed as an error row
                    continue
                c.dirty = True
            sha = peeled[sha]
        tags.setdefault(sha, []).append(ref[10:])

    exps: list[tuple[str, str, str, str]] = []  # (baseline, name, sha, ref)
    for ref, sha in refs.items():
        if ref.startswith(EXPS_PREFIX):
            parsed = _parse_exp_ref(ref)
            if parsed:
                exps.append((parsed[0], parsed[1], sha, ref))

    baselines: list[str] = [head] if head else []
    exp_only: set[str] = set()
    if all_commits:
        # as `dvc exp show -A` (scmrepo list_all_commits): every commit reachable from HEAD,
        # branches, remote branches and tags
        remotes = [s for r, s in refs.items() if r.startswith("refs/remotes/")]
        reachable = _col.all_commits(c, baselines + list(branches) + remotes + list(tags))
        baselines = list(dict.fromkeys(baselines + reachable))
        if all_commits == "exp":  # and, asked for, those reachable only from exp refs
            more = _col.all_commits(c, [e[0] for e in exps] + [p.baseline for p in pending])
            exp_only = set(more) - set(baselines)
            baselines += [sha for sha in more if sha in exp_only]
    else:
        seen = set(baselines)
        # a commit tagged only by model-registry tags (GTO's `name@v1.0.0#1`) that is an
        # experiment already is listed once, as that experiment, not again as a tag head
        exp_shas = {e[2] for e in exps}
        heads = [
            sha
            for sha, names in tags.items()
            if sha not in exp_shas or not all(parse_tag(n) for n in names)
        ]
        for sha in [e[0] for e in exps] + [p.baseline for p in pending] + list(branches) + heads:
            if sha not in seen:
                baselines.append(sha)
                seen.add(sha)
    only = None
    if baseline is not None:
        only = c.resolve_baseline(baseline, refs, branches, tags, exps)
        baselines = [only]

    c.prefetch(baselines + [e[2] for e in exps] + [p.rev for p in pending])
    notes = c.notes(refs)
    # GTO tags' objects are read once each, cached by object id in the commits cache
    records = c.state.setdefault("model_tags", {}) if gto else {}
    known = len(records)
    labels = modelstate.labels_at(c.g, gto, records)
    c.dirty = c.dirty or len(records) != known
    rows: list[Experiment] = []
    ws = None
    if (only is None or only == head) and c.g.view is None:  # a remote has no workspace
        ws = c.workspace_data(head)
        rows.append(
            make_row(c, ws, "workspace", "workspace", "workspace", head, None, "success", notes)
        )
    by_baseline: dict[str, list] = {}
    for base, name, sha, ref in exps:
        by_baseline.setdefault(base, []).append((name, sha, ref, "success"))
    for p in pending:
        by_baseline.setdefault(p.baseline, []).append((p.name or p.rev[:7], p.rev, None, p.status))

    base_rows = []
    for sha in baselines:
        # a baseline commit missing locally (exps pulled without it) still lists its exps
        data = c.commit_data(sha)
        row = None
        if data is None and (branches.get(sha) or tags.get(sha)):
            # a branch or tag naming a missing object: listed, with the problem named
            first = (
                f"refs/heads/{branches[sha][0]}"
                if branches.get(sha)
                else f"refs/tags/{tags[sha][0]}"
            )
            data = missing_data(first, sha, problem(c.g, sha))
        if data is not None:
            name = _describe(sha, head, head_branch, tags, branches)
            base_ref = (
                f"refs/heads/{head_branch}"
                if sha == head and head_branch
                else f"refs/tags/{tags[sha][0]}"
                if tags.get(sha)
                else f"refs/heads/{branches[sha][0]}"
                if branches.get(sha)
                else None
            )
            row = make_row(
                c,
                data,
                name,
                sha,
                "exp-only" if sha in exp_only else "baseline",
                sha,
                base_ref,
                "success",
                notes,
                branches.get(sha, []),
                tags.get(sha, []),
                labels.get(sha, ()),
            )
        children = []
        for ename, esha, eref, status in by_baseline.get(sha, []):
            edata = c.commit_data(esha)
            if edata is not None and eref is not None and edata.get("sha", esha) != esha:
                edata = None  # an annotated tag under refs/exps (peeled): not an experiment
            if edata is None:
                if eref is None:
                    continue  # a queued/failed stash entry whose commit is gone: DVC drops it
                edata, status = missing_data(eref, esha, problem(c.g, esha)), "error"
            children.append(
                make_row(
                    c,
                    edata,
                    ename,
                    esha,
                    "experiment",
                    sha,
                    eref,
                    status,
                    notes,
                    branches.get(esha, []),
                    tags.get(esha, []),
                    labels.get(esha, ()),
                )
            )
        children.sort(key=lambda r: (r.created or "", r.name), reverse=True)
        if row is not None or children:
            base_rows.append((sha != head, -((data or {}).get("time") or 0), row, children))
    base_rows.sort(key=lambda item: (item[0], item[1]))
    for _, _, row, children in base_rows:
        if row is not None:
            rows.append(row)
        rows.extend(children)
    return rows, ws
