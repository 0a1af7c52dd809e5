"""The registry's row type: one `Experiment` per git commit/ref the registry lists, its flat
table row (`flat()`), its nested shape for programs (`to_dict()`, keys `SCHEMA_KEYS`) and the
plain form the per-commit cache stores.

Used by expbook.registry.rows (which builds rows) and everything that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from expbook.output import BASE_COLUMNS


@dataclass
class Experiment:
    """One row of the registry (see README "Registry" for the meaning of each field)."""

    name: str
    rev: str
    kind: str
    baseline: str | None
    ref: str | None
    created: str | None
    status: str
    message: str
    branches: list[str] = field(default_factory=list)
    git_tags: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    outs: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sweep: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    # the commit author's name (who ran the experiment); None for the workspace (issue 23)
    author: str | None = None
    # the active model versions and stages at its commit (`cnn@v1.0.0`, `cnn#prod`; issue 22)
    models: list[str] = field(default_factory=list)

    def flat(self) -> dict[str, Any]:
        """One table row: the plain columns, then every params and metrics key as-is."""
        row = {
            "name": self.name,
            "rev": self.rev,
            "kind": self.kind,
            "baseline": self.baseline,
            "ref": self.ref,
            "created": self.created,
            "author": self.author,
            "status": self.status,
            "message": self.message,
            "branches": self.branches,
            "tags": self.tags,
            "models": self.models,
            "notes": self.notes,
            "sweep": (self.sweep or {}).get("name"),
            "trial": (self.sweep or {}).get("trial"),
            # None when the row has none, so `--where "errors is not null"` finds bad rows
            "errors": self.errors or None,
        }
        row.update(self.params)
        row.update(self.metrics)
        return row

    def to_dict(self) -> dict[str, Any]:
        """The nested shape for programs (JSON output, the dashboard's API): the plain fields,
        then `params`/`metrics` keyed `file:key` as `dvc exp show --json` names them, `outs`
        ({path: {hash, size, in_cache}}) and `errors` ({file: reason}); see README "Data
        shape". The keys are fixed (SCHEMA_KEYS), in this order."""
        d = self.__dict__
        return {key: d[key] for key in SCHEMA_KEYS}


# the keys of Experiment.to_dict(), in order: what `registry --format json` rows and the
# dashboard's API carry (pinned by tests/test_registry_schema.py)
SCHEMA_KEYS = (
    *BASE_COLUMNS[: BASE_COLUMNS.index("branches") + 1],  # name, rev, ... message, branches
    "git_tags",
    "notes",
    "tags",
    "models",
    "sweep",
    "params",
    "metrics",
    "outs",
    "errors",
)


_FIELDS = tuple(f.name for f in fields(Experiment))


def _to_plain(row: Experiment) -> dict[str, Any]:
    # plain containers only, so the cache can be written with marshal; a dataclass instance's
    # __dict__ holds exactly its fields (10x faster than getattr per field); it is written
    # at once, so it needs no copy
    values = row.__dict__
    return values if len(values) == len(_FIELDS) else {n: getattr(row, n) for n in _FIELDS}


_FIELD_SET = frozenset(_FIELDS)


def _from_plain(values: dict[str, Any]) -> Experiment:
    if values.keys() != _FIELD_SET:  # a cache entry of another shape (see _SHAPE_ERRORS)
        raise TypeError("cached row has other fields")
    row = object.__new__(Experiment)  # skips __init__: the values were one already
    row.__dict__ = values
    return row
