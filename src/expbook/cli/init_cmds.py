"""`expbook init`: scaffold metric directions, a sweep spec and a CI workflow in a DVC repo.

Thin click command over expbook.lifecycle.scaffold; run through `expbook`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from expbook.cli.options import repo_option


def _repo_keys(repo: str) -> tuple[list[str], dict[str, Any]]:
    """The numeric metric keys of every row and the params of the newest row (empty for a
    repository without commits or experiments)."""
    from expbook import registry
    from expbook.errors import ExpbookError
    from expbook.output import short_names

    try:
        rows = registry.collect(repo)
    except ExpbookError:
        return [], {}
    numeric = {
        k
        for row in rows
        for k, v in row.metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    # the names users type: `metrics.json:val.acc` -> `val.acc` where no other file has it
    metrics = sorted(short_names(sorted(numeric)).values())
    params = rows[0].params if rows else {}
    return metrics, {short: params[k] for k, short in short_names(list(params)).items()}


@click.command()
@repo_option
@click.option("--force", is_flag=True, help="Overwrite an existing sweep spec or CI workflow.")
@click.option("--dry-run", is_flag=True, help="List what would be written; write nothing.")
def init(repo: str, force: bool, dry_run: bool) -> None:
    """Add what expbook needs to an existing DVC repository, without touching its pipeline.

    \b
    Writes, reading the repository's metric and param keys:
      pyproject.toml                      [tool.expbook.directions] (created, or appended;
                                          an existing table is left as it is)
      sweeps/example.yaml                 a sweep spec template
      .github/workflows/expbook-check.yml CI running `expbook check`
    Existing sweep/workflow files are refused (nothing written) unless --force;
    files already as init would write them are kept (a second init changes nothing).

    \b
    Example:
        expbook init --dry-run
        expbook init
    """
    from expbook.lifecycle import scaffold

    root = scaffold.dvc_root(repo)  # from a subfolder too, as every other command
    metrics, params = _repo_keys(str(root))
    planned = scaffold.plan(root, metrics, params, force=force)
    if root != Path(repo).resolve():
        click.echo(f"in {root}:")
    if not dry_run:
        scaffold.apply(root, planned)
    verb = "would " if dry_run else ""
    for item in planned:
        what = (
            item.action
            if dry_run
            else {
                "create": "created",
                "append": "appended to",
                "overwrite": "overwrote",
                "keep": "kept",
            }[item.action]
        )
        note = f"  ({item.why})" if item.why else ""
        click.echo(f"{verb}{what:<12} {item.path}{note}")
    if not dry_run:
        click.echo(
            "next: check the directions in pyproject.toml, then `expbook sweep sweeps/example.yaml`"
        )
