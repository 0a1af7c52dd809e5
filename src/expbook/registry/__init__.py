"""The registry wing: every experiment of a DVC repository as one row, read from git.

Reads refs, commits and DVC files with pygit2 (never imports DVC, never contacts a remote):
`gitrepo` (the one git layer), `dvcfiles`/`fastyaml` (dvc.yaml, dvc.lock, params and metrics
files), `snapshot` (one commit's DVC state), `dvcstate` (DVC's queue and running executors),
`cache` (the per-commit cache), `reader` (reads commits for rows: `RepoReader`), `notes` (the
refs/notes/expbook notes: read and write) and `rows` (the `Experiment` row type, `collect`,
`resolve`, `load`).

May import: `expbook.query` (for `load(where=...)`), `expbook.errors`, `expbook.env`.

Python:  from expbook import registry; df = registry.load(".", where="val.acc > 0.9")
"""

from expbook.registry.rows import (
    EXPS_PREFIX,
    NOTES_REF,
    Experiment,
    collect,
    collect_rendered,
    load,
    resolve,
)

__all__ = [
    "EXPS_PREFIX",
    "NOTES_REF",
    "Experiment",
    "collect",
    "collect_rendered",
    "load",
    "resolve",
]
