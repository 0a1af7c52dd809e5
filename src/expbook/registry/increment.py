"""New experiments since a rendered registry text: found by diffing the refs it was rendered
under with today's, read from git (only those commits), and spliced into the cached text
instead of rebuilding every row (issue 18: +100 experiments at 100k cost 5-10 s, twice).

The one case handled: nothing changed but experiment refs added on a baseline whose row is
already listed (HEAD, the DVC queue, the DVC cache and the work-tree files as they were; no
ref removed or moved; the new rows the newest of their baseline, without errors). Anything
else is None, and the caller renders afresh. Used by expbook.registry.rendered.
"""

from __future__ import annotations

import json
import marshal
import os
from typing import Any

from expbook.registry import reader as _col
from expbook.registry.experiment import Experiment

EXPS_PREFIX = "refs/exps/"


def added_experiments(
    c: _col.RepoReader, entry: dict, old_state: dict, all_commits: Any, baseline: Any
) -> tuple[list[Experiment], dict] | None:
    """(the rows of the experiments whose refs were added since `entry` was rendered with the
    refs read as `old_state` (GitRepo.ref_state), newest first ([] when the refs are the
    same), the refs read now as a ref state); None when anything else changed or a new row
    is not a plain new experiment. Reads only the new commits, and of the refs only the
    folders and packed-refs that changed."""
    if all_commits or baseline is not None:
        return None
    rest = _col.fingerprint(c, None, all_commits, baseline)[0]
    if not _col.still_valid(c, entry, rest):
        return None  # HEAD, the queue, the DVC cache or a work-tree file changed
    old_refs = refs_of(old_state, c.g.common_dir)
    if c.g.view is not None:  # a remote's view (issue 23): its namespace, named as refs
        from expbook.registry.view import map_refs

        old_refs = map_refs(old_refs, c.g.view)
    refs = c.g.refs(old_state)
    if not refs.items() >= old_refs.items():
        return None  # a ref removed or moved
    new = {r: refs[r] for r in refs.keys() - old_refs.keys()}
    if not new:
        return [], c.g.ref_state  # (no row module imported: as cheap as a hit, nearly)
    from expbook.registry import rows as _rows
    from expbook.registry.rowdata import make_row

    exps = []
    for ref, sha in new.items():
        parsed = _rows._parse_exp_ref(ref) if ref.startswith(EXPS_PREFIX) else None
        if parsed is None:
            return None  # a branch, tag or note: it may change other rows
        exps.append((parsed[0], parsed[1], sha, ref))
    from expbook.registry.modelstate import tagged_commits

    if {e[2] for e in exps} & tagged_commits(c.g, refs):
        return None  # a model version's commit (issue 22): its row has labels, and is no head
    from expbook.registry.commits import read_commits

    data = read_commits(c.g, [e[2] for e in exps], c.cache_dir, {}, c.prefix)
    notes = _notes(c, refs)
    out = []
    for base, name, sha, ref in exps:
        snap = data.get(sha)
        if snap is None:
            return None
        row = make_row(c, snap, name, sha, "experiment", base, ref, "success", notes)
        if row.errors or row.status != "success":
            return None  # the warning line counts rows with errors: render afresh
        out.append(row)
    out.sort(key=lambda r: (r.created or "", r.name), reverse=True)
    return out, c.g.ref_state


def refs_of(state: dict, common_dir: str) -> dict[str, str]:
    """The refs map GitRepo.refs() returned when it left `state` (its ref_state): packed refs,
    overridden by loose ones."""
    packed = state.get("packed")
    out = dict(packed[1]) if packed else {}
    for dirpath, (_mtime, files, _subdirs) in state["dirs"].items():
        prefix = os.path.relpath(dirpath, common_dir).replace(os.sep, "/") + "/"
        for name, rec in files.items():
            if rec[3]:
                out[prefix + name] = rec[3]
    return out


def _notes(c: _col.RepoReader, refs: dict[str, str]) -> dict[str, dict]:
    """The notes of every commit (read from the notes ref; none without it)."""
    sha = refs.get(_col.NOTES_REF)
    if not sha:
        return {}
    from expbook.registry import notes as _notes_mod

    return _notes_mod.read_tree(c.g, sha)


def newest_first(row: Experiment, following: dict | None) -> bool:
    """Whether `row` sorts before `following` (a row of the same baseline, as a dict) in the
    registry's order: experiments of a baseline newest first, by (created, name)."""
    if following is None:
        return True
    return (row.created or "", row.name) > (following.get("created") or "", following["name"])


def splice_json(data: Any, added: list[Experiment]) -> list | None:
    """The registry's JSON (`data`: bytes or an mmap of them, one row a line) with `added`
    rows inserted after their baseline's row, as pieces to write one after the other (slices
    of `data` are memoryviews: 88 MB at 100k are never copied), or None when a baseline row
    is not there or an added row is not the newest of its baseline."""
    from expbook import output as out

    by_base: dict[str, list[Experiment]] = {}
    for row in added:
        by_base.setdefault(row.baseline or "", []).append(row)
    cuts: list[tuple[int, bytes]] = []
    for base, rows in by_base.items():
        at = data.find(f'"rev": "{base}", "kind": "baseline"'.encode())
        if at < 0:
            return None
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at) + 1
        nxt = data[end : data.find(b"\n", end) + 1].rstrip(b",\n")
        if start == 0 or not nxt.startswith(b"{"):
            return None  # the baseline row is the last row: its line has no comma to follow
        after = json.loads(nxt)
        following = after if after.get("baseline") == base else None
        if not newest_first(rows[-1], following):
            return None
        text = out.to_json_records(r.to_dict() for r in rows)[2:-3]  # rows without "[\n", "\n]\n"
        cuts.append((end, (text + ",\n").encode()))
    view = memoryview(data)
    pieces: list = []
    last = 0
    for at, text_bytes in sorted(cuts):
        pieces += [view[last:at], text_bytes]
        last = at
    pieces.append(view[last:])
    return pieces


def save_side(path: str, state: dict, extra: dict | None) -> None:
    """Beside a rendered text: the refs it was rendered under (a GitRepo.ref_state) and what
    its renderer keeps to extend it."""
    try:
        blob = marshal.dumps({"state": state, "extra": extra})
    except ValueError:  # a value marshal cannot write (a YAML date): the text is not extended
        return
    with open(path, "wb") as fh:
        fh.write(blob)


def load_side(path: str) -> tuple[dict, dict | None] | None:
    """(ref state, extra) saved by save_side(), or None (absent or of another shape)."""
    try:
        with open(path, "rb") as fh:
            side = marshal.loads(fh.read())
        state, extra = side["state"], side["extra"]
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("dirs"), dict):
        return None
    return state, extra if isinstance(extra, dict) else None


def side_path(text_path: str) -> str:
    return os.path.splitext(text_path)[0] + ".refs"
