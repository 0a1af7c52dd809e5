"""The model registry wing: versions and stages of models as annotated git tags in GTO's format.

`tags` (GTO's tag names, names, stages, SemVer), `state` (tags -> events -> each model's
versions, stages, latest, by GTO's state rules), `actions` (register / assign / unassign /
deregister / deprecate: one annotated tag each), `artifacts` (the dvc.yaml `artifacts:` entry
of a commit, its DVC hash, its bytes from the DVC cache or remote), `query` (resolve, list with
key metrics, history).

May import: `expbook.registry` (the git layer, rows, DVC files and cache, directions),
`expbook.output`, `expbook.errors`, `expbook.proc`. Imported by cli, ui, lifecycle (gc keeps
what a version points at) and share (push/pull carry the tags).

Python:  from expbook.models import query, state; query.resolve(state.load(repo), "cnn", stage="prod")
"""
