"""Run the pipeline's own params validation (`validate:` in the spec) on every planned config
before any trial runs. Used by the sweep driver; a failure is a SpecError naming the trial params.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from expbook.errors import SpecError
from expbook.proc import run as run_child
from expbook.registry.gitrepo import remove_worktree
from expbook.sweep import workspace
from expbook.sweep.search import Search, overrides_for
from expbook.sweep.spec import Spec


def split_command(cmd: str) -> tuple[dict[str, str], list[str]]:
    """`PYTHONPATH=src python -m x` -> ({"PYTHONPATH": "src"}, ["python", "-m", "x"]); no shell."""
    words = shlex.split(cmd)
    env = {}
    while words and "=" in words[0] and not words[0].startswith("="):
        key, _, value = words.pop(0).partition("=")
        if not key.replace("_", "").isalnum():
            words.insert(0, f"{key}={value}")
            break
        env[key] = value
    if not words:
        raise SpecError(f"validate: {cmd!r} has no command to run")
    return env, words


def validate_plan(spec: Spec, search: Search, repo: str, baseline: str, cache_dir: str) -> None:
    """Run `spec.validate` on the overrides of every grid point (sampled spaces: every choice
    and both ends of every range), each seed."""
    if search.is_grid:
        configs = search.grid()
    else:
        lows = {p.key: (p.choices[0] if p.choices else p.low) for p in spec.swept}
        highs = {p.key: (p.choices[-1] if p.choices else p.high) for p in spec.swept}
        configs = [lows, highs] + [
            {**lows, p.key: c} for p in spec.swept for c in (p.choices or [])
        ]
    runs = [overrides_for(spec, c, s) for c in configs for s in spec.seed_values()]
    run_validation(repo, baseline, cache_dir, spec.validate or "", runs)


def run_validation(
    repo: str, baseline: str, cache_dir: str, cmd: str, runs: list[dict[str, Any]]
) -> None:
    """Write each run's overrides (`file:key -> value`) into a scratch worktree and run `cmd`
    there."""
    if not runs:
        return
    env_extra, argv = split_command(cmd)
    path = workspace.create(repo, "validate", baseline, cache_dir)
    try:
        seen: set[str] = set()
        for overrides in runs:
            key = repr(sorted(overrides.items()))
            if key in seen:
                continue
            seen.add(key)
            workspace.reset(path, baseline)
            workspace.set_params(path, overrides)
            proc = run_child(argv, cwd=path, env={**os.environ, **env_extra})
            if proc.returncode != 0:
                out = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
                shown = ", ".join(f"{k.split(':', 1)[-1]}={v}" for k, v in overrides.items())
                raise SpecError(
                    f"validate: `{cmd}` rejected trial params {shown}: " + " | ".join(out)
                )
    except FileNotFoundError as exc:
        raise SpecError(f"validate: cannot run {argv[0]!r} ({exc.strerror})") from exc
    finally:
        remove_worktree(repo, path)
