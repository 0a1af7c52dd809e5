"""`expbook show / compare`: one experiment in full, or several side by side.

Thin click commands over expbook.analysis.compare (describe, compare); run through `expbook`.
"""

from __future__ import annotations

from typing import Any

import click

from expbook.cli.inspect_text import compare_rows, compare_text, show_text
from expbook.cli.options import format_options, remote_view_option, repo_option
from expbook.cli.printing import emit_data
from expbook.errors import ExpbookError


@click.command()
@click.argument("exp")
@click.option(
    "--verify",
    "verify_cache",
    is_flag=True,
    help="Also re-hash the cached outputs against dvc.lock (exit 1 when corrupt/missing).",
)
@repo_option
@remote_view_option
@format_options
def show(
    exp: str, verify_cache: bool, repo: str, fmt: str | None, output: str | None, force: bool
) -> None:
    """Show everything about one experiment: params, metrics, step curves, environment, outputs.

    EXP is an experiment name, sha prefix, ref, branch or tag.

    \b
    Example:
        expbook show lr-wd-003
        expbook show 1a2b3c4 --json
        expbook show lr-wd-003 -f md -o lr-wd-003.md
        expbook show lr-wd-003 --verify
    """
    from expbook.analysis.compare import describe
    from expbook.output import format_for
    from expbook.output.fit import output_width
    from expbook.registry import resolve_many

    fmt = format_for(fmt, output)
    row = resolve_many(repo, [exp])[0]
    info = describe(repo, row)
    report = None
    if verify_cache:
        from expbook.repro.verify import verify_experiments

        report = verify_experiments(repo, [row])
        info["verify"] = report.to_json()
    emit_data(
        fmt,
        output,
        data=lambda: info,
        rows=lambda: (_show_rows(info), ["section", "key", "value"]),
        text=lambda: show_text(info, output_width()),
        title=f"{info['name']} ({info['rev'][:7]})",
        force=force,
    )
    if report is not None and not report.ok:
        raise SystemExit(1)


def _show_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    """`show` as (section, key, value) rows for csv/md/html."""
    rows = [
        {"section": "experiment", "key": key, "value": info[key]}
        for key in ("name", "rev", "kind", "status", "created", "baseline", "ref", "message")
        + ("branches", "git_tags", "tags", "models", "sweep")
        if info.get(key)
    ]
    rows += [
        {"section": "verify", "key": p["path"], "value": f"{p['kind']}: {p['detail']}"}
        for p in (info.get("verify") or {}).get("problems", [])
    ]
    for section in ("params", "metrics", "curves", "outs", "errors"):
        rows += [
            {"section": section, "key": k, "value": v} for k, v in (info[section] or {}).items()
        ]
    if info["environment"]:
        rows.append(
            {
                "section": "environment",
                "key": info["environment"]["path"],
                "value": info["environment"]["content"],
            }
        )
    rows += [{"section": "notes", "key": i, "value": n} for i, n in enumerate(info["notes"], 1)]
    return rows


@click.command()
@click.argument("exps", nargs=-1, required=True)
@repo_option
@remote_view_option
@click.option(
    "--all",
    "all_params",
    is_flag=True,
    help="Show every param and metric, also those equal in every experiment.",
)
@format_options
def compare(
    exps: tuple[str, ...],
    repo: str,
    all_params: bool,
    fmt: str | None,
    output: str | None,
    force: bool,
) -> None:
    """Compare experiments side by side: params and metrics that differ, with deltas vs the first.

    Metrics come key metrics first; a delta is marked better/worse by the metric's direction
    (declared in pyproject.toml [tool.expbook.directions], else from its name). Values equal in
    every experiment are hidden unless --all. The table fits the terminal ($COLUMNS).

    \b
    Example:
        expbook compare lr-wd-001 lr-wd-002 lr-wd-003
        expbook compare main lr-wd-002 --all
        expbook compare main lr-wd-002 --json
        expbook compare main lr-wd-002 -f md -o compare.md
    """
    from expbook.analysis.compare import compare as compare_exps
    from expbook.output import format_for
    from expbook.output.fit import output_width
    from expbook.registry import resolve_many
    from expbook.registry.directions import load_declared
    from expbook.registry.gitrepo import find_root

    fmt = format_for(fmt, output)
    if len(exps) < 2:
        raise ExpbookError("compare needs at least two experiments")
    declared = load_declared(find_root(repo))
    result = compare_exps(resolve_many(repo, exps), all_params=all_params, declared=declared)
    emit_data(
        fmt,
        output,
        data=lambda: result,
        rows=lambda: compare_rows(result),
        text=lambda: compare_text(result, output_width()),
        force=force,
    )
