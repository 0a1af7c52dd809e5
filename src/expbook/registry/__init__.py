"""The registry wing: every experiment of a DVC repository as one row, read from git.

Reads refs, commits and DVC files with pygit2 (never imports DVC, never contacts a remote):
`gitrepo` (the one git layer), `dvcfiles`/`fastyaml` (dvc.yaml, dvc.lock, params and metrics
files), `snapshot` (one commit's DVC state), `dvcstate` (DVC's queue and running executors),
`cache` (the per-commit cache), `reader` (reads commits for rows: `RepoReader`), `notes` (the
refs/notes/expbook notes: read and write), `rows` (the `Experiment` row type, `collect`,
`resolve`, `load`), `lookup` (what a user types -> rows or commits: `resolve_many`,
`resolve_commit`, `resolve_annotatable`, `select`) and `table` (the registry table: column choice, the
readable terminal default, cached json/csv).

May import: `expbook.query` (for `load(where=...)`), `expbook.output`, `expbook.errors`,
`expbook.env`.

Python:  from expbook import registry; df = registry.load(".", where="val.acc > 0.9")
"""

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
