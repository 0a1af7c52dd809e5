"""Reading the model registry: resolve a version or stage to a commit, list models with the key
metrics of each version, the history of every action.

`resolve` follows GTO's state rules (expbook.models.state), not "the newest matching tag":
after an unassign the stage no longer points at that version (`dvc artifacts get --stage`
still does: it matches the `!` tags too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from expbook.models.state import Model, Version, load
from expbook.registry.modeltags import (
    ModelError,
    SemVer,
    check_name,
    check_stage,
    parse_shortcut,
)

if TYPE_CHECKING:
    from expbook.registry.experiment import Experiment
    from expbook.registry.gitrepo import GitRepo

KEY_METRICS = 4  # metrics shown per version in the table (all of them in --json)


def find(models: dict[str, Model], name: str) -> Model:
    check_name(name)
    if name not in models:
        known = ", ".join(sorted(models)) or "none yet"
        raise ModelError(f"no model {name!r} in the registry (models: {known})")
    return models[name]


def active_version(model: Model, version: str) -> Version:
    """`version` (a semver) of `model`, registered and not deregistered; ModelError otherwise."""
    SemVer.parse(version)
    v = model.versions.get(version)
    if v is None or not v.registered:
        raise ModelError(f"{model.name} has no version {version}")
    if not v.active:
        raise ModelError(f"{model.name}@{version} was deregistered")
    return v


def resolve(
    models: dict[str, Model], name: str, version: str | None = None, stage: str | None = None
) -> Version:
    """The version `version` names, the one in `stage`, or the latest; ModelError otherwise.
    `name` may be one of GTO's shortcuts: `cnn@v1.2.0`, `cnn#prod`, `cnn@latest`."""
    bare, short_version, short_stage = parse_shortcut(name)
    if bare != name:
        if version or stage:
            raise ModelError(f"{name!r} names a version or stage already: drop --version/--stage")
        name, version, stage = bare, short_version, short_stage
    if version and stage:
        raise ModelError("give a version or a stage, not both")
    model = find(models, name)
    if version:
        return active_version(model, version)
    if stage:
        check_stage(stage)
        found = model.stage(stage)
        if found is None:
            raise ModelError(f"no version of {name} is in stage {stage!r}")
        return found
    latest = model.latest
    if latest is None:
        raise ModelError(f"{name} has no active registered version")
    return latest


def _key_metrics(row: Experiment | None, declared: Callable[[], Any]) -> dict[str, Any]:
    if row is None or not row.metrics:
        return {}
    from expbook.output import short_names
    from expbook.registry import directions

    names = short_names(list(row.metrics))
    keyed = {
        names[k]: v
        for k, v in row.metrics.items()
        if isinstance(v, int | float) and directions.resolve(k, None, declared()).known
    }
    # val/test before train, as the registry table ranks them
    return dict(
        sorted(keyed.items(), key=lambda kv: (not kv[0].startswith(("val", "test")), kv[0]))
    )


def rows_by_commit(root: str) -> dict[str, Experiment]:
    """The registry's rows keyed by commit (one read, answered from its cache when warm)."""
    from expbook.registry.rows import collect

    return {r.rev: r for r in collect(root) if r.kind != "workspace"}


def listing(
    repo: GitRepo, with_metrics: bool = True, deprecated: bool = False
) -> list[dict[str, Any]]:
    """Per model: latest version, version per stage, every active version with its stages,
    experiment and key metrics."""
    models = load(repo)
    rows = rows_by_commit(repo.root) if with_metrics and models else {}

    @functools.cache
    def declared() -> Any:  # the declared metric directions: read once, when a row has metrics
        from expbook.registry import directions

        return directions.load_declared(repo.root)

    out = []
    for name in sorted(models):
        m = models[name]
        if m.deprecated and not deprecated:
            continue
        versions = []
        for v in m.active_versions(registered_only=False):
            row = rows.get(v.commit)
            versions.append(
                {
                    "version": v.name,
                    "registered": v.registered,
                    "commit": v.commit,
                    "experiment": row.name if row else None,
                    "stages": v.stages(),
                    "metrics": _key_metrics(row, declared) if with_metrics else {},
                }
            )
        latest = m.latest
        out.append(
            {
                "model": name,
                "deprecated": m.deprecated,
                "latest": latest.name if latest else None,
                "stages": {s: _name(m.stage(s)) for s in m.used_stages()},
                "versions": versions,
            }
        )
    return out


def _name(v: Version | None) -> str | None:
    return v.name if v else None


def history(repo: GitRepo, name: str | None = None) -> list[dict[str, Any]]:
    """Every action on `name` (or on every model), oldest first: who, when, what."""
    models = load(repo)
    if name is not None:
        models = {name: find(models, name)}
    events = [e for m in models.values() for e in m.events]
    events.sort(key=lambda e: (e.order, e.tag))
    return [e.as_dict() for e in events]
