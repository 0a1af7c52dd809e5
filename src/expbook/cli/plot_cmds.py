"""`expbook plot / export`: step curves of experiments as an overlaid plot or as CSV files.

Thin click commands over expbook.analysis.curves, expbook.analysis.plotting and expbook.analysis.exporting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from expbook.cli.options import (
    deprecated_alias,
    force_option,
    group_by_option,
    out_option,
    repo_option,
    where_option,
)
from expbook.errors import ExpbookError

if TYPE_CHECKING:
    from expbook.analysis.curves import Curve


@click.command()
@click.argument("metric")
@click.argument("exps", nargs=-1)
@out_option("curves.png, .svg or .html (self-contained, inline SVG).", required=True)
@group_by_option(
    "Instead of EXPS: mean curve +/- std per group of runs, grouped by these "
    "comma-separated params ('auto': every differing param except seeds)."
)
@deprecated_alias("--group", dest="group_by", new="--group-by", default=None, metavar="KEYS")
@where_option
@force_option
@repo_option
def plot(metric, exps, output, group_by, where, force, repo):
    """Overlay one step curve (e.g. val/acc) of several experiments, one line each.

    METRIC is a dvclive metric name or an unambiguous suffix of it (`acc` for `val/acc`).

    \b
    Example:
        expbook plot val/acc lr-wd-001 lr-wd-002 -o curves.png
        expbook plot train/loss main lr-wd-002 -o curves.html
        expbook plot val/acc --group-by train.lr --where "sweep = 'lr'" -o lr-groups.png
    """
    from expbook.output import check_output_path

    check_output_path(output, force=force)  # refuse a bad -o before reading anything
    if group_by:
        if exps:
            raise ExpbookError("give either EXPS or --group-by, not both")
        _plot_groups(metric, group_by, where, output, repo, force)
        return
    if not exps:
        raise ExpbookError("name at least one experiment (or use --group-by KEYS)")
    from expbook.analysis.curves import match_metric, not_in_cache_hint, read_curves
    from expbook.analysis.plotting import plot_curves
    from expbook.errors import NotFoundError
    from expbook.registry import resolve_many

    series = []
    for exp in resolve_many(repo, exps):
        curves = read_curves(repo, exp.rev)
        try:
            name = match_metric(metric, curves, where=f" in {exp.name}")
        except NotFoundError as err:  # maybe the curves are in a cached output not here
            raise NotFoundError(f"{err}{not_in_cache_hint(exp)}") from err
        series.append((exp.name, curves[name]))
    path = plot_curves(metric, series, output, force=force)
    click.echo(f"wrote {path} ({len(series)} curves)")


def _plot_groups(metric, group_by, where, output, repo, force):
    """`plot --group-by`: the mean step curve of each seed group with a +/- std band."""
    from expbook import registry
    from expbook.analysis.groupplot import group_curves, plot_group_curves
    from expbook.analysis.stats import group_rows, rows_of
    from expbook.query import filter_experiments

    rows, params, metrics = rows_of(filter_experiments(registry.collect(repo), where))
    keys = None if group_by == "auto" else [k.strip() for k in group_by.split(",") if k.strip()]
    grouping = group_rows(rows, params, group_by=keys, metric_keys=metrics)
    series = group_curves(
        repo,
        [(label, [r["rev"] for r in members]) for label, _, members in grouping.groups],
        metric,
    )
    path = plot_group_curves(metric, series, output, force=force)
    click.echo(f"wrote {path} ({len(series)} groups)")


@click.command()
@click.argument("exps", nargs=-1, required=True)
@out_option(
    "Directory for one <experiment>.csv each.", dest="out_dir", required=True, directory=True
)
@force_option
@repo_option
def export(exps, out_dir, force, repo):
    """Export each experiment's step curves as a CSV (step, timestamp, one column per metric).

    \b
    Example:
        expbook export lr-wd-001 lr-wd-002 -o curves/
        python -c "import pandas; print(pandas.read_csv('curves/lr-wd-001.csv'))"
    """
    from expbook.analysis.curves import not_in_cache_hint, read_curves
    from expbook.analysis.exporting import export_curves
    from expbook.output import check_output_dir
    from expbook.registry import resolve_many

    check_output_dir(out_dir)  # refuse a bad -o before reading anything
    items: list[tuple[str, Mapping[str, Curve]]] = []
    for exp in resolve_many(repo, exps):
        curves = read_curves(repo, exp.rev)
        if not curves:
            raise ExpbookError(
                f"{exp.name} ({exp.rev[:7]}) has no dvclive step curves "
                "(<dir>/plots/metrics/*.tsv) in its commit" + not_in_cache_hint(exp)
            )
        items.append((exp.name, curves))
    for path in export_curves(items, out_dir, force=force):
        click.echo(f"wrote {path}")
