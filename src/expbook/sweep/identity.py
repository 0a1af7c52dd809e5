"""What makes a sweep the same sweep, checked before anything runs (issue 19): a name git can
store as refs (`refs/expbook/sweeps/<name>`, `refs/exps/.../<name>-NNN`), a spec that matches
the one recorded under that name (or `--force-new`), and a worker count the machine can carry.

Used by `expbook sweep` (the CLI, so messages come before the first worker starts) and by the
sweep driver (for library callers).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from expbook.errors import SpecError

MAX_NAME = 100  # + "-NNN", "@host-digest" and ".lock" stays far below a file name's 255 bytes
PARALLEL_PER_CPU = 4  # `parallel` past this many workers per core is capped unless told
# spec fields that decide which trials a sweep runs and how they rank; the others (trials,
# budget, parallel, validate, backend, warm stages) may change between runs of one sweep
IDENTITY_FIELDS = (
    "method",
    "params",
    "metrics",
    "seeds",
    "seed_key",
    "seed",
    "prune",
    "min_epochs",
    "promote_top",
    "promote_set",
)
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]")


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a sweep, or None: `git check-ref-format` rules for the refs it
    names (no control characters, spaces, ~ ^ : ? * [ \\ /, no `..` or `@{`, no leading `.`
    or `-`, no trailing `.` or `.lock`), at most MAX_NAME characters of letters, digits, - _ ."""
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it is {len(name)} characters long (at most {MAX_NAME})"
    bad = _REF_FORBIDDEN.search(name)
    if bad:
        return f"git refs cannot hold {bad.group()!r}"
    if ".." in name or "@{" in name:
        return "git refs cannot hold '..' or '@{'"
    if name.startswith((".", "-")) or name.endswith(".") or name.endswith(".lock"):
        return "git refs cannot start with '.' or '-' or end with '.' or '.lock'"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        return "use letters, digits and - _ . only"
    return None


def check_name(name: str, where: str = "name") -> None:
    """SpecError naming the problem when `name_problem(name)` finds one."""
    problem = name_problem(name)
    if problem:
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise SpecError(f"{where}: bad sweep name {shown!r}: {problem}")


def _identity(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: spec[k] for k in IDENTITY_FIELDS if k in spec}
    if isinstance(out.get("metrics"), list):  # where a direction came from is no difference
        out["metrics"] = [
            {"key": m.get("key"), "mode": m.get("mode")} if isinstance(m, dict) else m
            for m in out["metrics"]
        ]
    return out


def spec_difference(recorded: dict[str, Any] | None, spec: dict[str, Any]) -> list[str]:
    """`key: recorded -> now` lines for the identity fields that differ (only the fields both
    specs record, so a state written by an older expbook is compared on what it has)."""
    if not recorded:
        return []
    old, new = _identity(recorded), _identity(spec)
    lines = []
    for key in IDENTITY_FIELDS:
        if key not in old or key not in new or _norm(old[key]) == _norm(new[key]):
            continue
        if key in ("params", "metrics"):
            was, now = _by_key(old[key], key), _by_key(new[key], key)
            for item in sorted(set(was) | set(now)):
                if _norm(was.get(item)) != _norm(now.get(item)):
                    before, after = _short(was.get(item, "-")), _short(now.get(item, "-"))
                    lines.append(f"  {key}.{item}: {before} -> {after}")
        else:
            lines.append(f"  {key}: {_short(old[key])} -> {_short(new[key])}")
    return lines


def _by_key(items: Any, field: str) -> dict[str, Any]:
    """{key: what the spec says of it}: a param's values/range/fixed value, a metric's mode."""
    out: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if field == "metrics":
            out[str(item.get("key"))] = item.get("mode")
        elif item.get("is_fixed"):
            out[str(item.get("key"))] = item.get("fixed")
        elif item.get("choices") is not None:
            out[str(item.get("key"))] = item.get("choices")
        else:
            out[str(item.get("key"))] = {
                k: item.get(k) for k in ("low", "high", "log", "step") if item.get(k) is not None
            }
    return out


def _norm(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _short(value: Any) -> str:
    text = _norm(value)
    return text if len(text) <= 200 else text[:197] + "..."


def check_same_spec(name: str, recorded: dict[str, Any] | None, spec: dict[str, Any]) -> None:
    """SpecError showing the difference when sweep `name` was recorded with another spec."""
    diff = spec_difference(recorded, spec)
    if diff:
        raise SpecError(
            f"sweep {name!r} was recorded with a different spec; rerunning it would skip or "
            "mis-rank its trials:\n"
            + "\n".join(diff)
            + "\nuse a new --name, or pass --force-new to start it afresh under this name"
        )


def parallel_cap() -> int:
    """The most workers a sweep starts without `parallel_cap: false` / --no-parallel-cap."""
    return PARALLEL_PER_CPU * (os.cpu_count() or 1)


def cap_parallel(parallel: int, capped: bool = True) -> tuple[int, str | None]:
    """(workers to start, the message to show when `parallel` was capped)."""
    cap = parallel_cap()
    if not capped or parallel <= cap:
        return parallel, None
    return cap, (
        f"parallel {parallel} capped at {cap} workers ({PARALLEL_PER_CPU} x "
        f"{os.cpu_count() or 1} CPUs); each runs its own git worktree and DVC process. "
        "Pass --no-parallel-cap (spec: parallel_cap: false) to start them all"
    )
