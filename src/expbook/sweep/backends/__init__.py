"""Where sweep trials run beyond the local worker processes: the `backend:` spec key and the
factory the driver calls (`local`, or `ray` in expbook.sweep.backends.ray).

Used by `expbook sweep --backend ray` (cli/sweep_cmds.py); the local backend is
expbook.sweep.runner.LocalBackend.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError, SpecError

if TYPE_CHECKING:
    from expbook.sweep.runner import Backend

# how the driver builds its Backend: (repo, baseline commit, DVC cache dir, slots, log dir)
BackendFactory = Callable[[str, str, str, int, Path], "Backend"]

NAMES = ("local", "ray")
RAY_OPTIONS = {
    "address": None,  # None: start a local Ray instance; "auto" or HOST:PORT: join a cluster
    "num_cpus_per_trial": 1.0,
    "num_gpus_per_trial": 0.0,
    "git_remote": None,  # None: the repo's `origin` if it has one, else a git bundle
    "max_retries": 1,  # Ray task retries when a worker dies mid-trial (0..3)
}
RAY_EXTRA = "pip install 'expbook[ray]'"


def parse_backend(raw: Any, err: Callable[[tuple[str, ...], str], SpecError]) -> dict[str, Any]:
    """`backend: local | ray | {ray: {address: auto, ...}}` -> {"name": ..., **options}.

    `err(path_tuple, problem)` builds the SpecError (it knows the spec file and line).
    """
    if raw is None:
        return {"name": "local"}
    if isinstance(raw, str):
        raw = {raw: {}}
    if not isinstance(raw, dict) or len(raw) != 1:
        raise err(("backend",), "expected `local`, `ray` or {ray: {address: ..., ...}}")
    name, opts = next(iter(raw.items()))
    if name not in NAMES:
        raise err(("backend",), f"unknown backend {name!r} (one of {', '.join(NAMES)})")
    if name == "local":
        return {"name": "local"}
    opts = opts or {}
    if not isinstance(opts, dict):
        raise err(("backend", name), "expected a mapping of options")
    bad = sorted(set(opts) - set(RAY_OPTIONS))
    if bad:
        raise err(("backend", name, bad[0]), f"unknown option (known: {', '.join(RAY_OPTIONS)})")
    out: dict[str, Any] = {"name": name, **RAY_OPTIONS}
    for key, value in opts.items():
        if key in ("num_cpus_per_trial", "num_gpus_per_trial"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise err(("backend", name, key), f"must be a number >= 0, got {value!r}")
            value = float(value)
        elif key == "max_retries":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
                raise err(("backend", name, key), f"must be an integer 0..3, got {value!r}")
        elif value is not None and not isinstance(value, str):
            raise err(("backend", name, key), f"must be a string, got {value!r}")
        out[key] = value
    return out


def with_cli(
    backend: dict[str, Any], name: str | None, address: str | None, git_remote: str | None
) -> dict[str, Any]:
    """The spec's backend with the command line's --backend/--ray-address/--git-remote on top."""
    out = dict(backend or {"name": "local"})
    if name and name != out["name"]:
        out = {"name": name, **(RAY_OPTIONS if name == "ray" else {})}
    if address and out["name"] != "ray":
        raise SpecError("--ray-address needs the ray backend (--backend ray)")
    if address:
        out["address"] = address
    if git_remote and out["name"] == "ray":
        out["git_remote"] = git_remote
    return out


def factory(backend: dict[str, Any] | None) -> BackendFactory | None:
    """The callable the driver builds its Backend with (None: the local backend)."""
    if not backend or backend.get("name", "local") == "local":
        return None
    require_ray()
    from expbook.sweep.backends.ray import RayBackend

    opts = {k: v for k, v in backend.items() if k != "name"}
    return functools.partial(RayBackend, **opts)


def require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ExpbookError(
            f"the ray backend needs Ray, which is not installed: {RAY_EXTRA}"
        ) from None
