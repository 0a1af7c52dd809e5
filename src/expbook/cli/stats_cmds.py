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
    repo_option,
    where_option,
)

if TYPE_CHECKING:
    from expbook.analysis.stats import StatsResult

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
    "note",
)


def split_keys(values: tuple[str, ...]) -> list[str]:
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


def stats_rows(result: StatsResult) -> list[dict[str, Any]]:
    rows = []
    for group in result.groups:
        row = group.row()
        if group.baseline:
            row["note"] = "baseline" + (f"; {row['note']}" if row["note"] else "")
        rows.append(row)
    return rows


def render_stats(result: StatsResult, fmt: str) -> str:
    from expbook.output import render

    if fmt == "json":
        return (
            json.dumps(
                {
                    "metric": result.metric,
                    "group_keys": result.group_keys,
                    "seed_keys": result.seed_keys,
                    "alpha": result.alpha,
                    "skipped": result.skipped,
                    "groups": [asdict(g) for g in result.groups],
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
    title = f"{result.metric} by {', '.join(result.group_keys) or '(no differing param)'}"
    text = render(stats_rows(result), list(COLUMNS), fmt, full_names=True, title=title)
    if fmt in ("table", "md"):
        extra = [
            f"Welch / paired (same seeds) t-tests vs baseline, Holm-corrected, "
            f"alpha={result.alpha:g}; seed keys: {', '.join(result.seed_keys) or 'none'}"
        ]
        if result.skipped:
            extra.append(f"left out (no {result.metric}): {', '.join(result.skipped)}")
        text += "\n".join(extra) + "\n"
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
    "pairs, or an experiment in it (default: the group of the newest baseline commit).",
)
@deprecated_alias("--baseline", "-b", dest="control", new="--control", default=None)
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
@where_option
@format_options
def stats(
    metric: str,
    group_by: tuple[str, ...],
    seed_keys: tuple[str, ...],
    control: str | None,
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
    Holm-corrected p. Groups with n < 2 are shown but never get a p-value.

    \b
    Example:
        expbook stats --metric test.acc
        expbook stats -m test.acc --group-by train.lr,train.weight_decay --control "train.lr=0.01"
        expbook stats -m val.loss --where "sweep = 'lr-wd'" --format md -o stats.md
    """
    from expbook import registry
    from expbook.analysis.stats import DEFAULT_SEED_KEYS, check_alpha, group_stats, rows_of
    from expbook.output import emit, format_for
    from expbook.query import filter_experiments

    check_alpha(alpha)
    fmt = format_for(fmt, output)
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
    emit(render_stats(result, fmt), output, force=force)
