"""Turn what a user types (an experiment name, sha prefix, ref, branch, tag or any git revision)
into registry rows or commits: the one resolver every command uses.

`resolve_many` (rows for EXP arguments), `resolve_commit` ((sha, name), also for revisions the
registry does not list, e.g. HEAD~2) and `resolve_annotatable` (a committed row for notes/tags).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError, NotFoundError
from expbook.registry.gitrepo import GitRepo
from expbook.registry.rows import Experiment, collect

if TYPE_CHECKING:
    import pandas as pd


def resolve_many(repo: str | os.PathLike[str], names: Iterable[str]) -> list[Experiment]:
    """The rows for EXP arguments, in order: HEAD's registry first (one read for all names),
    then the registry's wider search (every commit) for a name HEAD's registry lacks."""
    experiments = collect(repo)
    out = []
    for name in names:
        try:
            out.append(resolve(repo, name, experiments))
        except NotFoundError:
            out.append(resolve(repo, name))
    return out


def _rev_parse(repo: str | os.PathLike[str], rev: str) -> str:
    """The full sha of any commit-ish git understands (HEAD~2, a hand-made ref, a tag);
    NotFoundError naming `rev` otherwise."""
    return str(GitRepo(repo).rev_commit(rev).id)


def resolve_commit(repo: str | os.PathLike[str], exp: str) -> tuple[str, str]:
    """(sha, display name) of an experiment name / sha / ref / branch / tag, or of any git
    revision the registry does not list; the registry's NotFoundError when neither matches."""
    try:
        found = resolve(repo, exp)
    except NotFoundError as err:
        try:
            return _rev_parse(repo, exp), exp
        except NotFoundError:
            raise err from None
    return found.rev, found.name


def resolve_annotatable(repo: str | os.PathLike[str], exp: str) -> Experiment:
    """The row `exp` names, which must be a commit (notes and tags are keyed by commit)."""
    target = resolve_many(repo, [exp])[0]
    if target.rev == "workspace":
        raise ExpbookError(f"{exp!r} is the uncommitted workspace; notes and tags need a commit")
    return require_commit(target)


def no_commit(row: Experiment) -> str | None:
    """Why `row` has no readable commit (its ref points at a blob, a tree, a tag, a missing
    object or a commit with a damaged tree: the error the registry lists), else None."""
    return row.errors.get(row.ref) if row.ref else None


def require_commit(row: Experiment) -> Experiment:
    """`row`, or an ExpbookError naming its ref and why it has no readable commit."""
    why = no_commit(row)
    if why is not None:
        raise ExpbookError(f"{row.name}: {why}")
    return row


def select(
    repo: str | os.PathLike[str], names: Iterable[str] = (), where: str | None = None
) -> list[Experiment]:
    """The rows `names` name (resolve_many), or else the committed rows `where` selects
    (default: every committed row with a readable commit); ExpbookError when both are given,
    nothing is selected or a named row has no readable commit (require_commit)."""
    from expbook.query import filter_experiments

    names = list(names)
    if names and where:
        raise ExpbookError("give either experiment names or --where, not both")
    if names:
        return [require_commit(e) for e in resolve_many(repo, names)]
    # a row whose ref names no readable commit is listed by the registry as an error row;
    # selected by --where (or by default) it is left out, never a crash of the whole command
    rows = [e for e in collect(repo) if e.kind != "workspace" and no_commit(e) is None]
    selected = filter_experiments(rows, where)
    if not selected:
        raise ExpbookError(
            f"no experiment matches --where {where!r}" if where else "no committed experiment"
        )
    return selected


def resolve(
    repo: str | os.PathLike[str], exp: str, experiments: list[Experiment] | None = None
) -> Experiment:
    """The one row `exp` names: exp/baseline name, sha prefix, ref, branch or git tag.

    Raises NotFoundError listing the candidates when nothing or several rows match.
    """
    rows = experiments if experiments is not None else collect(repo)
    text = exp.strip()
    branch = text[11:] if text.startswith("refs/heads/") else text
    tag = text[10:] if text.startswith("refs/tags/") else text
    exact = [
        r
        for r in rows
        if text in (r.name, r.rev, r.ref) or branch in r.branches or tag in r.git_tags
    ]
    if not exact and len(text) >= 4 and all(ch in "0123456789abcdef" for ch in text.lower()):
        exact = [r for r in rows if r.rev.startswith(text.lower())]
    unique = {(r.rev, r.name): r for r in exact}
    if len(unique) == 1:
        return next(iter(unique.values()))
    if len({r.rev for r in unique.values()}) == 1:
        # one commit under several names (a branch made by `dvc exp branch` and its
        # experiment): not ambiguous; the row named so, else the experiment, describes it
        same = list(unique.values())
        named = [r for r in same if r.name == text]
        return (named or [r for r in same if r.kind == "experiment"] or same)[0]
    if not unique:
        close = closest_names(text, {r.name for r in rows})
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise NotFoundError(f"no experiment named {exp!r}{hint}")
    listing = ", ".join(
        f"{r.name} ({r.rev[:7]}{', ' + r.ref if r.ref else ''})" for r in unique.values()
    )
    raise NotFoundError(f"experiment {exp!r} is ambiguous, it matches: {listing}")


def closest_names(text: str, names: Iterable[str], n: int = 10) -> list[str]:
    """The names `text` most likely meant: those containing it, then the closest by spelling
    (difflib, as for keys: `ux-06` finds `ux-006`, issue 18)."""
    import difflib

    names = sorted(set(names))
    want = text.lower()
    close = [name for name in names if want in name.lower()]
    lowered = {name.lower(): name for name in names}
    for hit in difflib.get_close_matches(want, list(lowered), n=n, cutoff=0.6):
        if lowered[hit] not in close:
            close.append(lowered[hit])
    return close[:n]


def load(repo: str | os.PathLike[str] = ".", where: str | None = None, **kw: Any) -> pd.DataFrame:
    """The registry as a pandas DataFrame (one row per Experiment.flat()), filtered by `where`."""
    import pandas as pd

    rows = [e.flat() for e in collect(repo, **kw)]
    if where:
        from expbook.query import filter_rows

        rows = filter_rows(rows, where)
    return pd.DataFrame(rows)
