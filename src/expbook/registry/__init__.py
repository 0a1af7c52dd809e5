"""The registry wing: every experiment of a DVC repository as one row, read from git.

Reads refs, commits and DVC files with pygit2 (never imports DVC, never contacts a remote):
`gitrepo` (the one git layer; `refscan` reads its ref files), `dvcfiles`/`fastyaml` (dvc.yaml,
dvc.lock, params and metrics files), `snapshot` (one commit's DVC state), `dvcstate` (DVC's
queue and running executors), `cache` (the per-commit cache), `reader` (reads commits for rows:
`RepoReader`), `notes` (the refs/notes/expbook notes: read and write), `rows` (the `Experiment`
row type, `collect`, `resolve`, `load`; `rowdata` makes one row), `lookup` (what a user types
-> rows or commits: `resolve_many`, `resolve_commit`, `resolve_annotatable`, `select`), `table`
(the registry table: column choice, the readable terminal default, json/csv) and `rendered`
(the cache of rendered json/csv texts; `renderedfile` prints one).

May import: `expbook.query` (for `load(where=...)`), `expbook.output`, `expbook.errors`,
`expbook.env`.

Python:  from expbook import registry; df = registry.load(".", where="val.acc > 0.9")

The public names are imported on first use (PEP 562 `__getattr__`): `expbook registry
--format json` answered from the output cache imports none of the row-building modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expbook.registry.lookup import (
        load,
        resolve,
        resolve_annotatable,
        resolve_commit,
        resolve_many,
        select,
    )
    from expbook.registry.rows import (
        EXPS_PREFIX,
        NOTES_REF,
        SCHEMA_KEYS,
        Experiment,
        collect,
        error_summary,
    )
    from expbook.registry.table import collect_rendered

# public name -> the module of this package defining it
_HOME = {
    **dict.fromkeys(
        ("load", "resolve", "resolve_annotatable", "resolve_commit", "resolve_many", "select"),
        "lookup",
    ),
    **dict.fromkeys(
        ("EXPS_PREFIX", "NOTES_REF", "SCHEMA_KEYS", "Experiment", "collect", "error_summary"),
        "rows",
    ),
    "collect_rendered": "table",
}

__all__ = [
    "EXPS_PREFIX",
    "NOTES_REF",
    "SCHEMA_KEYS",
    "Experiment",
    "collect",
    "collect_rendered",
    "error_summary",
    "load",
    "resolve",
    "resolve_annotatable",
    "resolve_commit",
    "resolve_many",
    "select",
]


def __getattr__(name: str) -> Any:
    """A public name (imported from its module on first use) or a submodule of the package."""
    home = _HOME.get(name)
    if home is None:
        if name.startswith("_"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:  # `registry.rows` etc. worked when this file imported them all: keep it working
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
