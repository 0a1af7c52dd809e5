"""`expbook gc`: which experiments a keep-best / keep-last / age / where policy removes, and the
removal of their exp refs and notes.

Ref removal is `dvc exp remove`'s (the exp ref, plus DVC's EXEC_APPLY ref when it points at a
removed experiment) done in one atomic `git update-ref --stdin` transaction; a journal in the
git dir lets a rerun finish an interrupted removal (notes included) after a kill -9. The DVC
cache side (unused objects, a shared cache, running sweeps) is `expbook.lifecycle.gc_cache`.

Used by `expbook gc`; Python: `plan = gc.make_plan(".", keep_best=2, metric="val.loss")`,
`gc.apply(".", plan)`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from expbook.errors import ExpbookError
from expbook.registry import Experiment, collect
from expbook.registry.directions import Direction, load_declared, require, resolve
from expbook.registry.gitrepo import GitError, GitRepo, find_root, git, run_git
from expbook.registry.notes import NOTES_REF, RepoLike, _locked, _open

KEEP_WORD = "keep"  # a note starting with this word protects an experiment (so does any tag)
EXEC_APPLY = "refs/exps/exec/EXEC_APPLY"  # DVC drops it with the experiment it points at
JOURNAL = "expbook-gc.json"  # in the git common dir: refs/notes left to remove after a kill
_KEEP_NOTE = re.compile(rf"\s*{KEEP_WORD}\b", re.I)  # "keep", "Keep: paper figure 3"
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds of an age like `30d`, `12h`, `2w`, `90m`, `45s`; ExpbookError otherwise."""
    match = _AGE.match(text or "")
    if not match:
        raise ExpbookError(f"--older-than {text!r}: give a number and a unit, e.g. 30d, 12h, 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class Plan:
    """What a gc would do: `remove` (experiments with exp refs), `kept` ((experiment, why)),
    and for --keep-best the ranked column and its direction."""

    remove: list[Experiment] = field(default_factory=list)
    kept: list[tuple[Experiment, str]] = field(default_factory=list)
    column: str | None = None
    direction: Direction | None = None
    unranked: list[Experiment] = field(default_factory=list)  # removed: no value to rank by

    @property
    def refs(self) -> dict[str, str]:
        return {e.ref: e.rev for e in self.remove if e.ref}


def protection(exp: Experiment) -> str | None:
    """Why gc must never remove `exp` (None: it may). Any expbook tag protects (`candidate`,
    `keep`, ...: issue 18): untag it (`expbook tag EXP NAME --remove`) to let gc remove it."""
    if exp.status in ("queued", "running"):
        return exp.status
    if exp.tags:
        return f"tagged {exp.tags[0]!r}"
    if any(_KEEP_NOTE.match(n) for n in exp.notes):
        return f"noted {KEEP_WORD!r}"
    if exp.branches:
        return f"branch {exp.branches[0]} points at it"
    if exp.git_tags:
        return f"git tag {exp.git_tags[0]} points at it"
    return None


def _is_exp_ref(ref: str | None) -> bool:
    parts = (ref or "").split("/")
    return (
        len(parts) == 5
        and parts[:2] == ["refs", "exps"]
        and parts[2] not in ("celery", "exec", "apply", "temp", "stash")
    )


def _created_ts(exp: Experiment) -> float:
    if not exp.created:
        return 0.0
    return datetime.fromisoformat(exp.created.replace("Z", "+00:00")).timestamp()


def metric_direction(root: str, key: str, column: str, mode: str | None) -> Direction:
    """The direction --keep-best ranks `key` (resolved to `column`) by: --mode, the project's
    declaration (of the column or the key as typed), or the name (of the column, then of the
    key); refuses when unknown (gc never guesses: issue 18)."""
    declared = load_declared(root) if mode is None else {}
    found = [resolve(name, mode, declared) for name in dict.fromkeys((column, key))]
    # a declaration (of the column or of the key as typed) beats any name: a project that
    # declares `"metrics.json:val.acc" = "min"` is obeyed for `-m val.acc` too
    for direction in sorted(found, key=lambda d: d.source != "declared"):
        if direction.known:
            return direction
    return require(key, mode, declared)


def make_plan(
    repo: RepoLike = ".",
    *,
    keep_best: int | None = None,
    metric: str | None = None,
    mode: str | None = None,
    keep_last: int | None = None,
    older_than: str | None = None,
    where: str | None = None,
    keep_where: str | None = None,
    sweep: str | None = None,
    now: float | None = None,
    experiments: list[Experiment] | None = None,
    skip_refs: Collection[str] = (),
) -> Plan:
    """Which experiments a policy removes. The scope is every experiment with an exp ref that
    is not protected (see `protection`) and does not match `keep_where`, narrowed to those
    matching `where` and in `sweep`; within it the `keep_best` best by `metric` (finished runs
    only, direction from `mode`, the declaration or the name) and the `keep_last` newest are
    kept, and with `older_than` only experiments older than that go. With no keep/age rule the
    whole scope goes. Experiments whose ref is in `skip_refs` (an interrupted gc's journal)
    are left out: they are going already."""
    from expbook.query import columns_of, filter_experiments, namespaces_of, resolve_key

    if keep_best is not None and not metric:
        raise ExpbookError(
            "--keep-best needs --metric KEY (and --mode max|min when its name does not say)"
        )
    if metric and keep_best is None:
        raise ExpbookError("--metric is used with --keep-best N")
    if mode is not None and keep_best is None:
        raise ExpbookError("--mode is used with --keep-best N --metric KEY")
    policy = (keep_best, keep_last, older_than, where, keep_where, sweep)
    if not any(x is not None for x in policy):
        raise ExpbookError(
            "give a policy: --keep-best N --metric KEY, --keep-last N, --older-than AGE, "
            "--where EXPR (what to remove), --keep-where EXPR or --sweep NAME "
            "(gc never removes every experiment by default)"
        )
    if mode is not None:
        resolve(metric or "", mode)  # a bad --mode is an error before anything is read
    max_age = parse_age(older_than) if older_than is not None else None
    root = repo.root if isinstance(repo, GitRepo) else find_root(repo)
    rows = experiments if experiments is not None else collect(root)
    rows = [e for e in rows if not (e.ref and e.ref in skip_refs)]
    plan = Plan()
    candidates = []
    for exp in rows:
        if exp.kind != "experiment":
            continue
        why = protection(exp)
        if why:
            plan.kept.append((exp, why))
        elif _is_exp_ref(exp.ref):
            candidates.append(exp)
    if keep_where:
        spared = {id(e) for e in filter_experiments(candidates, keep_where)}
        plan.kept += [(e, "matches --keep-where") for e in candidates if id(e) in spared]
        candidates = [e for e in candidates if id(e) not in spared]
    scope = filter_experiments(candidates, where)
    if sweep is not None:
        from expbook.share.sync import SWEEPS_PREFIX  # a sweep state ref outlives its trials

        known = sorted(
            {str((e.sweep or {})["name"]) for e in rows if (e.sweep or {}).get("name")}
            | {r[len(SWEEPS_PREFIX) :] for r in _ref_values(root) if r.startswith(SWEEPS_PREFIX)}
        )
        if sweep not in known:  # a typo is no policy that quietly matches nothing
            raise ExpbookError(
                f"--sweep {sweep!r}: no experiment of that sweep here "
                f"(sweeps: {', '.join(known) or 'none'})"
            )
        scope = [e for e in scope if (e.sweep or {}).get("name") == sweep]
    in_scope = {id(e) for e in scope}
    keep: dict[int, str] = {}
    if keep_best:
        flat = [e.flat() for e in rows if e.kind != "workspace"]
        column = resolve_key(metric or "", columns_of(flat), namespaces_of(rows))
        direction = metric_direction(root, metric or "", column, mode)
        plan.column, plan.direction = column, direction
        sign = -1 if direction.mode == "max" else 1
        ranked = []
        for exp in scope:
            value = exp.flat().get(column)
            if exp.status == "success" and isinstance(value, int | float) and value == value:
                ranked.append((value, _created_ts(exp), exp))
        ranked.sort(key=lambda t: (sign * t[0], -t[1]))
        unranked = {id(e) for e in scope} - {id(t[2]) for t in ranked}
        for value, _, exp in ranked[:keep_best]:
            keep[id(exp)] = f"best {column} = {value:.6g} {direction.label}"
    if keep_last:
        newest = sorted(scope, key=_created_ts, reverse=True)[:keep_last]
        for exp in newest:
            keep.setdefault(id(exp), f"one of the {keep_last} newest")
    now = time.time() if now is None else now
    for exp in candidates:
        if id(exp) not in in_scope:
            continue
        if id(exp) in keep:
            plan.kept.append((exp, keep[id(exp)]))
        elif max_age is not None and now - _created_ts(exp) <= max_age:
            plan.kept.append((exp, f"newer than {older_than}"))
        else:
            plan.remove.append(exp)
    if keep_best:
        plan.unranked = [e for e in plan.remove if id(e) in unranked]
    plan.remove.sort(key=lambda e: (_created_ts(e), e.name))
    return plan


# ---------------------------------------------------------------- removing refs and notes
def _journal_path(g: GitRepo) -> str:
    return os.path.join(g.common_dir, JOURNAL)


def pending_journal(repo: RepoLike) -> dict[str, Any] | None:
    """The removal an interrupted gc left unfinished ({"refs": {ref: sha}}), if any."""
    g = _open(repo)
    try:
        with open(_journal_path(g), encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"refs": {}}  # torn write: the refs were not touched before it was complete
    refs = doc.get("refs") if isinstance(doc, dict) else None
    # only what gc itself writes: exp refs at a full sha (a damaged or planted journal naming
    # refs/heads/main must never make gc delete a branch)
    return {
        "refs": {
            ref: sha
            for ref, sha in (refs.items() if isinstance(refs, dict) else ())
            if _is_exp_ref(ref) and not re.search(r"\s", ref) and _SHA.fullmatch(str(sha))
        }
    }


def apply(repo: RepoLike, plan: Plan) -> list[str]:
    """Remove the plan's exp refs and their notes; returns the removed refs.

    Order: journal (atomic write) -> one atomic ref transaction -> notes -> journal removed.
    A kill at any point leaves git consistent; `finish_journal` (run by every gc) completes it.
    """
    from expbook.output import write_atomic

    g = _open(repo)
    refs = plan.refs
    if not refs:
        return []
    write_atomic(_journal_path(g), json.dumps({"refs": refs}, sort_keys=True))
    return finish_journal(g)


def finish_journal(repo: RepoLike) -> list[str]:
    """Complete the journaled removal: refs still at their journaled sha go (with DVC's
    EXEC_APPLY when it points at one of them), then the notes of commits no ref keeps."""
    g = _open(repo)
    root = g.root
    doc = pending_journal(g)
    if doc is None:
        return []
    refs: dict[str, str] = doc["refs"]
    current = _ref_values(root)
    lines = [f"delete {ref} {sha}\n" for ref, sha in refs.items() if current.get(ref) == sha]
    removed_shas = set(refs.values())
    if current.get(EXEC_APPLY) in removed_shas:
        lines.append(f"delete {EXEC_APPLY} {current[EXEC_APPLY]}\n")
    if lines:
        proc = run_git("update-ref", "--stdin", cwd=root, input="".join(lines), check=False)
        if proc.returncode != 0:
            raise GitError("git update-ref --stdin (nothing removed)", proc.stderr.strip())
    still = set(_ref_values(root).values())
    orphans = sorted(removed_shas - still)
    if orphans:
        _drop_notes(g, orphans)
    os.unlink(_journal_path(g))
    return [line.split()[1] for line in lines]


def _ref_values(root: str) -> dict[str, str]:
    out = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=root)
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _committer_env(root: str) -> dict[str, str]:
    """Extra environment for a notes commit: expbook's fallback identity (as registry.notes
    signs) where git has none configured, so a gc never stops half-way on it."""
    if run_git("var", "GIT_COMMITTER_IDENT", cwd=root, check=False).returncode == 0:
        return {}
    who = {"NAME": "expbook", "EMAIL": "expbook@localhost"}
    return {f"GIT_{role}_{k}": v for role in ("COMMITTER", "AUTHOR") for k, v in who.items()}


def _drop_notes(g: GitRepo, shas: list[str]) -> None:
    """One notes commit removing the notes of `shas` (missing ones are fine)."""
    with _locked(g):
        if NOTES_REF not in _ref_values(g.root):
            return
        run_git(
            "notes",
            f"--ref={NOTES_REF}",
            "remove",
            "--ignore-missing",
            "--stdin",
            cwd=g.root,
            input="\n".join(shas) + "\n",
            env=_committer_env(g.root),
        )
