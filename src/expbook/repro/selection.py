"""What a reproduction looks at: the ignore globs (defaults plus the user's) and a random
sample of finished experiments (`expbook reproduce --sample N --where ...`).

Used by `expbook reproduce` and `expbook check`; Python users call it the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypedDict

from expbook.errors import ExpbookError
from expbook.repro.reproduce import DEFAULT_IGNORE, DEFAULT_IGNORE_OUT


def _globs(values: Iterable[str], defaults: Iterable[str], use_defaults: bool) -> list[str]:
    extra = [g.strip() for v in values for g in v.split(",") if g.strip()]
    return list(dict.fromkeys([*(defaults if use_defaults else ()), *extra]))


def ignore_globs(
    ignore: Iterable[str] = (), ignore_out: Iterable[str] = (), use_defaults: bool = True
) -> tuple[list[str], list[str]]:
    """(metric-key globs, output globs) to ignore: the defaults (unless use_defaults=False)
    plus the given comma-separated globs, in order, without repeats."""
    return (
        _globs(ignore, DEFAULT_IGNORE, use_defaults),
        _globs(ignore_out, DEFAULT_IGNORE_OUT, use_defaults),
    )


class Comparison(TypedDict):
    """How `reproduce()` and `check()` compare a re-run with what was recorded: the keyword
    arguments both take (`reproduce(repo, rev, **comparison)`)."""

    ignore: list[str]  # metric-key globs (ignore_globs: defaults plus the user's)
    ignore_out: list[str]  # output globs
    tolerance: float  # absolute difference allowed per metric
    keep: bool  # leave the temporary worktree in place


def sample(
    repo: str | os.PathLike[str], n: int, where: str | None = None, seed: int = 0
) -> list[tuple[str, str]]:
    """(sha, name) of up to `n` finished experiments matching `where`, picked at random with
    `seed` (the same seed picks the same ones)."""
    import random

    from expbook import registry
    from expbook.query import filter_experiments

    exps = [
        e
        for e in filter_experiments(registry.collect(repo), where)
        if e.kind != "workspace" and e.status == "success"
    ]
    if not exps:
        raise ExpbookError(
            f"no finished experiment matches --where {where!r}"
            if where
            else "no finished experiment to reproduce"
        )
    picked = random.Random(seed).sample(exps, min(n, len(exps)))
    return [(e.rev, e.name) for e in picked]
