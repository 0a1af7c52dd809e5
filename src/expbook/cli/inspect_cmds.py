"""`expbook show / compare`: one experiment in full, or several side by side.

Thin click commands over expbook.analysis.compare (describe, compare); run through `expbook`.
"""

from __future__ import annotations

from typing import Any

import click

from expbook.cli.options import format_options, repo_option
from expbook.cli.printing import emit_data, mapping_lines
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
        text=lambda: _show_text(info),
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
        + ("branches", "git_tags", "tags", "sweep")
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


def _show_text(info: dict[str, Any]) -> str:
    from expbook.output import cell

    lines = [f"{info['name']}  {info['rev']}"]
    for key in ("kind", "status", "created", "baseline", "ref", "message"):
        if info.get(key):
            lines.append(f"  {key:<9} {info[key]}")
    for key in ("branches", "git_tags", "tags"):
        if info.get(key):
            lines.append(f"  {key:<9} {', '.join(info[key])}")
    if info.get("sweep"):
        sweep = info["sweep"]
        lines.append(
            f"  sweep     {sweep.get('name')} trial {sweep.get('trial')} "
            f"({sweep.get('status', '')})"
        )
    lines += mapping_lines("params", info["params"])
    lines += mapping_lines("metrics", info["metrics"])
    if info["curves"]:
        lines.append("\ncurves:")
        lines.append(
            f"  {'metric':<24} {'steps':>5} {'first':>10} {'last':>10} {'min':>10} "
            f"{'max':>10} {'mean':>10} {'std':>10}  best (step)"
        )
        for name, s in info["curves"].items():
            nums = " ".join(
                f"{cell(s[k]):>10}" for k in ("first", "last", "min", "max", "mean", "std")
            )
            lines.append(
                f"  {name:<24} {s['steps']:>5} {nums}  {cell(s['best'])} "
                f"({s['mode']} @ step {s['best_step']})"
            )
    if info["environment"]:
        env = info["environment"]
        lines.append(f"\nenvironment ({env['path']}):")
        content = env["content"]
        if isinstance(content, dict):
            lines += [f"  {key}: {cell(value)}" for key, value in content.items()]
        else:
            lines.append("  " + str(content).strip().replace("\n", "\n  "))

    def where(o: dict[str, Any]) -> str:
        if o.get("in_cache"):
            return "in cache"
        return "in git" if o.get("in_git") else "NOT in local cache"

    lines += mapping_lines(
        "outs", info["outs"], fmt=lambda o: f"{o.get('hash')}  size={o.get('size')}  {where(o)}"
    )
    if info["notes"]:
        lines.append("\nnotes:")
        lines += [f"  - {note}" for note in info["notes"]]
    lines += mapping_lines("errors", info["errors"], fmt=str)
    if "verify" in info:
        problems = info["verify"]["problems"]
        lines.append(f"\nverify ({info['verify']['checked']} cache objects hashed):")
        lines += [f"  {p['path']}  {p['kind']}: {p['detail']}" for p in problems]
        if not problems:
            lines.append("  every cached output matches dvc.lock")
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("exps", nargs=-1, required=True)
@repo_option
@click.option(
    "--all", "all_params", is_flag=True, help="Show every param, not only those that differ."
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
    """Compare experiments side by side: differing params and metric deltas vs the first.

    \b
    Example:
        expbook compare lr-wd-001 lr-wd-002 lr-wd-003
        expbook compare main lr-wd-002 --json
        expbook compare main lr-wd-002 -f md -o compare.md
    """
    from expbook.analysis.compare import compare as compare_exps
    from expbook.output import format_for
    from expbook.registry import resolve_many

    fmt = format_for(fmt, output)
    if len(exps) < 2:
        raise ExpbookError("compare needs at least two experiments")
    result = compare_exps(resolve_many(repo, exps), all_params=all_params)
    if fmt == "table" and output is None:
        from expbook.output import print_table

        print_table(*_compare_rows(result), full_names=True)
        return
    emit_data(fmt, output, data=lambda: result, rows=lambda: _compare_rows(result), force=force)


def _compare_rows(result: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per differing param and per metric: the values (with deltas) of each experiment."""
    from expbook.output import cell, short_names

    names = [e["name"] for e in result["experiments"]]
    if len(set(names)) < len(names):  # same exp name under two baselines: tell them apart
        names = [f"{e['name']}@{e['rev'][:7]}" for e in result["experiments"]]
    short = short_names(list(result["params"]) + list(result["metrics"]))
    rows = [
        {"key": short[key], **{names[i]: cell(v) for i, v in enumerate(values)}}
        for key, values in result["params"].items()
    ]
    for key, data in result["metrics"].items():
        row = {"key": short[key]}
        for i, (v, d) in enumerate(zip(data["values"], data["deltas"])):
            row[names[i]] = cell(v) + (f" ({d:+.4g})" if d is not None else "")
        rows.append(row)
    return rows, ["key", *names]
