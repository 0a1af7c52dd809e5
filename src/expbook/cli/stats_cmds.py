"""`expbook stats`: seed groups of a metric and their significance versus a baseline group.

A thin click command over expbook.registry.collect and expbook.analysis.stats.group_stats.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from expbook.cli.options import (
    all_commits_option,
    deprecated_alias,
    format_options,
    group_by_option,
    metric_option,
    mode_option,
    remote_view_option,
    repo_option,
    where_option,
)

if TYPE_CHECKING:
    from expbook.analysis.stats import StatsResult
    from expbook.registry.directions import Direction

COLUMNS = (
    "group",
    "n",
    "mean",
    "std",
    "sem",
    "ci_low",
    "ci_high",
    "min",
    "max",
    "diff",
    "p_welch",
    "p_paired",
    "cohen_d",
    "p_holm",
    "significant",
    "verdict",
    "note",
)


def split_keys(values: tuple[str, ...]) -> list[str]:
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


def stats_rows(result: StatsResult, direction: Direction | None = None) -> list[dict[str, Any]]:
    from expbook.analysis.ranking import group_verdict

    rows = []
    for group in result.groups:
        row = group.row()
        row["verdict"] = group_verdict(group, result.baseline, direction)
        if group.baseline:
            row["note"] = "baseline" + (f"; {row['note']}" if row["note"] else "")
        rows.append(row)
    return rows


def _footnotes(result: StatsResult) -> list[str]:
    """What the table does not say: the tests, the control and how to pick another, the
    clipping of bounded metrics, the runs left out."""
    notes = [
        f"Welch / paired (same seeds) t-tests vs the control, Holm-corrected, "
        f"alpha={result.alpha:g}; seed keys: {', '.join(result.seed_keys) or 'none'}"
    ]
    base = result.baseline
    if base is not None:
        why = (
            "chosen with --control"
            if result.control_reason == "--control"
            else f"the largest group, n={base.n}; pick another with --control GROUP|EXP"
        )
        notes.append(f"control: {base.label} ({why})")
    if any(g.ci_clipped for g in result.groups) and result.bounds:
        low, high = result.bounds
        notes.append(
            f"* 95% CI clipped to [{low:g}, {high:g}]: {result.metric} is a proportion "
            "(accuracy-like, every value in that range), the t-interval ran past it"
        )
    if result.skipped:
        notes.append(f"left out (no finite {result.metric}): {', '.join(result.skipped)}")
    return notes


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _ci(group: Any) -> str:
    if group.ci_low is None or group.ci_high is None:
        return "-"
    mark = "*" if group.ci_clipped else ""
    return f"[{_num(group.ci_low)}, {_num(group.ci_high)}]{mark}"


def _signif(group: Any, control: Any, direction: Direction | None) -> str:
    """yes/no, or better/worse when the metric's direction is known (issue 18)."""
    from expbook.analysis.ranking import group_verdict

    if group.significant is None:
        return ""
    return group_verdict(group, control, direction) or ("yes" if group.significant else "no")


def _title(result: StatsResult, direction: Direction | None) -> str:
    """`val.loss [min, from the name] by train.lr`: the metric, its direction, the groups."""
    label = f" {direction.label}" if direction is not None else ""
    return f"{result.metric}{label} by {', '.join(result.group_keys) or '(no differing param)'}"


def stats_text(result: StatsResult, width: int, direction: Direction | None = None) -> str:
    """The terminal table: the columns a reader compares at 4 significant digits (csv/md/json
    have every column in full), no wider than `width`."""
    from expbook.output.fit import NARROW, fit_blocks, fit_table, fold

    base = result.baseline
    rows = []
    for group in result.groups:
        if group.p_holm is not None:
            p = f"{group.p_holm:.3g}"
        elif group.baseline:
            p = "control"
        else:  # too few runs here or in the control for a test
            p = "n<2" if group.n < 2 or (base is not None and base.n < 2) else "-"
        rows.append(
            {
                "group": group.label,
                "n": str(group.n),
                "mean": _num(group.mean),
                "std": _num(group.std),
                "ci": _ci(group),
                "diff": "" if group.baseline else _num(group.diff),
                "p": p,
                "sig": _signif(group, base, direction),
            }
        )
    columns = ["group", "n", "mean", "std", "ci", "diff", "p", "sig"]
    if width < 100:  # the CI says the spread; std is in csv/md/json
        columns.remove("std")
    headers = {"ci": "95% CI", "diff": "diff", "p": "p (Holm)", "sig": "signif."}
    title = _title(result, direction)
    if width < NARROW:  # seven columns would be slivers ("│ gro │ mea │"): a block per group
        blocks = [(r["group"], [(headers.get(c, c), r[c]) for c in columns[1:]]) for r in rows]
        text = fit_blocks(title, blocks, width)
    else:
        text = fit_table(
            rows,
            columns,
            width,
            headers=headers,
            right=("n", "mean", "std", "diff", "p"),
            title=title,
        )
    notes = _footnotes(result)
    if any(r["p"] == "n<2" for r in rows):
        notes.insert(1, "n<2: fewer than 2 runs in the group or the control, so no test")
    return text + "".join("\n".join(fold(note, width)) + "\n" for note in notes)


def ranking_text(head: str, groups: list[dict[str, Any]], verdict: str, width: int) -> str:
    """`best --by-group` as text no wider than `width`: `head`, the groups best first (rank,
    group, n, mean, std; long group labels fold), then the verdict."""
    from expbook.output import cell
    from expbook.output.fit import NARROW, fit_blocks, fit_table, fold

    rows = [
        {
            "rank": f"{i}.",
            "group": row["group"],
            "n": str(row["n"]),
            "mean": cell(row["mean"]),
            "std": cell(row["std"]),
        }
        for i, row in enumerate(groups, 1)
    ]
    if width < NARROW:  # labels folded in a 12-column cell ("train.lr=0.0 / 1"): blocks
        blocks = [
            (f"{r['rank']} {r['group']}", [(c, r[c]) for c in ("n", "mean", "std")]) for r in rows
        ]
        table = fit_blocks(None, blocks, width).lstrip("\n")
    else:
        table = fit_table(
            rows, ["rank", "group", "n", "mean", "std"], width, right=("rank", "n", "mean", "std")
        )
    return "\n".join([*fold(head, width), table.rstrip("\n"), *fold(verdict, width)]) + "\n"


def render_stats(
    result: StatsResult, fmt: str, width: int | None = None, direction: Direction | None = None
) -> str:
    """`stats` in `fmt`; `direction` (registry.directions) names the metric's direction in the
    title and turns significant differences into better/worse (None: no verdicts)."""
    from expbook.analysis.ranking import group_verdict
    from expbook.output import render

    if fmt == "json":
        return (
            json.dumps(
                {
                    "metric": result.metric,
                    "mode": direction.mode if direction else None,
                    "mode_source": direction.source if direction else None,
                    "group_keys": result.group_keys,
                    "seed_keys": result.seed_keys,
                    "alpha": result.alpha,
                    "control_reason": result.control_reason,
                    "bounds": result.bounds,
                    "skipped": result.skipped,
                    "groups": [
                        {**asdict(g), "verdict": group_verdict(g, result.baseline, direction)}
                        for g in result.groups
                    ],
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
    if fmt == "table":
        from expbook.output.fit import output_width

        return stats_text(result, width or output_width(), direction)
    title = _title(result, direction)
    text = render(stats_rows(result, direction), list(COLUMNS), fmt, full_names=True, title=title)
    if fmt == "md":
        text += "\n".join(_footnotes(result)) + "\n"
    return text


@click.command()
@metric_option(
    required=True, help="The metric to summarise (full key or unambiguous suffix, e.g. test.acc)."
)
@group_by_option(
    "Params defining a group (comma-separated; repeatable; default: every param that "
    "differs, except seed keys).",
    multiple=True,
)
@click.option(
    "--seed-keys",
    multiple=True,
    metavar="GLOBS",
    help="Globs of seed params, left out of the default grouping "
    "(default: *.seed, *:seed, *_seed).",
)
@click.option(
    "--control",
    default=None,
    metavar="GROUP|EXP",
    help='The group the others are tested against: its label ("train.lr=0.01"), key=value '
    "pairs, or an experiment in it (default: the largest group; among equals the newest "
    "baseline commit's).",
)
@deprecated_alias("--baseline", "-b", dest="control", new="--control", default=None)
@mode_option(
    "Whether higher or lower is better, for the better/worse verdicts (default: the "
    "direction declared in pyproject.toml, else the metric's name; unknown: yes/no only)."
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="Significance level after Holm correction.",
)
@all_commits_option
@click.option(
    "--include-pruned",
    is_flag=True,
    help="Also count pruned sweep trials (default: finished runs only).",
)
@repo_option
@remote_view_option
@where_option
@format_options
def stats(
    metric: str,
    group_by: tuple[str, ...],
    seed_keys: tuple[str, ...],
    control: str | None,
    mode: str | None,
    alpha: float,
    all_commits: bool,
    include_pruned: bool,
    repo: str,
    where: str | None,
    fmt: str | None,
    output: str | None,
    force: bool,
) -> None:
    """Per-group n, mean, std, standard error and 95% CI of a metric, tested against a control group.

    Runs that differ only by seed form one group. Versus the control group: difference of means,
    Welch's t-test, the paired t-test when both groups ran the same seeds, Cohen's d and the
    Holm-corrected p. Groups with n < 2 are shown but never get a p-value. The control is the
    largest group unless --control names one. An accuracy-like metric's CI is clipped to [0, 1]
    (marked *). The table fits the terminal ($COLUMNS); csv/md/json have every column.

    \b
    Example:
        expbook stats --metric test.acc
        expbook stats -m test.acc --group-by train.lr,train.weight_decay --control "train.lr=0.01"
        expbook stats -m val.loss --where "sweep = 'lr-wd'" --format md -o stats.md
    """
    from expbook import registry
    from expbook.analysis.ranking import metric_direction
    from expbook.analysis.stats import DEFAULT_SEED_KEYS, check_alpha, group_stats, rows_of
    from expbook.output import emit, format_for
    from expbook.query import filter_experiments
    from expbook.registry import directions
    from expbook.registry.gitrepo import find_root

    check_alpha(alpha)
    fmt = format_for(fmt, output)
    declared = directions.load_declared(find_root(repo)) if mode is None else {}
    exps = filter_experiments(registry.collect(repo, all_commits=all_commits), where)
    statuses = ("success", "pruned") if include_pruned else ("success",)
    rows, params, metrics = rows_of(exps, statuses)
    result = group_stats(
        rows,
        metric,
        params,
        group_by=split_keys(group_by) or None,
        seed_keys=split_keys(seed_keys) or DEFAULT_SEED_KEYS,
        baseline=control,
        alpha=alpha,
        metric_keys=metrics,
    )
    direction = metric_direction(rows, metric, params, metrics, mode, declared)[1]
    emit(render_stats(result, fmt, direction=direction), output, force=force)
