"""`expbook plot / export`: step curves of experiments as an overlaid plot, as CSV files, or
experiments as TensorBoard / MLflow runs.

Thin click commands over expbook.analysis.curves, .plotting, .exporting, .export_tb and
.export_mlflow.
"""

from __future__ import annotations

import click

from expbook.cli.options import (
    deprecated_alias,
    force_option,
    group_by_option,
    out_option,
    remote_view_option,
    repo_option,
    where_option,
)
from expbook.errors import ExpbookError


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
@remote_view_option
def plot(
    metric: str,
    exps: tuple[str, ...],
    output: str,
    group_by: str | None,
    where: str | None,
    force: bool,
    repo: str,
) -> None:
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
    from expbook.analysis.curves import metric_series
    from expbook.analysis.plotting import plot_curves
    from expbook.registry import resolve_many

    series = metric_series(repo, resolve_many(repo, exps), metric)
    path = plot_curves(metric, series, output, force=force)
    click.echo(f"wrote {path} ({len(series)} curves)")


def _plot_groups(
    metric: str, group_by: str, where: str | None, output: str, repo: str, force: bool
) -> None:
    """`plot --group-by`: the mean step curve of each seed group with a +/- std band."""
    from expbook import registry
    from expbook.analysis.groupplot import plot_group_curves, seed_group_series
    from expbook.query import filter_experiments

    exps = filter_experiments(registry.collect(repo), where)
    series = seed_group_series(repo, exps, metric, group_by)
    path = plot_group_curves(metric, series, output, force=force)
    click.echo(f"wrote {path} ({len(series)} groups)")


@click.command()
@click.argument("exps", nargs=-1)
@click.option(
    "--to",
    "target",
    type=click.Choice(["csv", "tensorboard", "mlflow"]),
    default="csv",
    show_default=True,
    help="csv: one <experiment>.csv each, a long table (experiment, curve, step, value, "
    "timestamp): each curve keeps its own steps; tensorboard: one run directory each (scalars, "
    "final metrics, hparams); mlflow: one MLflow run each (params, metrics, tags).",
)
@out_option("Directory to write (csv, tensorboard).", dest="out_dir", directory=True)
@click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    help="MLflow tracking URI, e.g. sqlite:///mlflow.db, file:mlruns or http://host:5000 "
    "(default: MLflow's own, MLFLOW_TRACKING_URI); never inside .git/ or .dvc/.",
)
@click.option(
    "--experiment",
    "mlflow_experiment",
    default="expbook",
    show_default=True,
    help="MLflow experiment the runs go to.",
)
@where_option
@force_option
@repo_option
@remote_view_option
def export(
    exps: tuple[str, ...],
    target: str,
    out_dir: str | None,
    tracking_uri: str | None,
    mlflow_experiment: str,
    where: str | None,
    force: bool,
    repo: str,
) -> None:
    """Export experiments: step curves as CSVs, or runs to TensorBoard or MLflow.

    EXPS name experiments; without them, --where selects (default: every committed row).
    Re-exporting to TensorBoard replaces each run's events; to MLflow it updates the same
    runs (found by their `expbook.rev` tag).

    \b
    Example:
        expbook export lr-wd-001 lr-wd-002 -o curves/
        python -c "import pandas; print(pandas.read_csv('curves/lr-wd-001.csv'))"
        expbook export --to tensorboard -o tb/ --where "sweep = 'lr-wd'" && tensorboard --logdir tb
        expbook export --to mlflow --tracking-uri sqlite:///mlflow.db --experiment lr-wd
    """
    from expbook.analysis.curves import not_in_cache_hint, read_curves
    from expbook.analysis.exporting import check_export_target

    if target == "mlflow":
        from expbook.analysis import export_mlflow

        if out_dir:
            raise ExpbookError("--to mlflow writes to --tracking-uri, not -o")
        export_mlflow.require()
        # refuse a store inside .git/ or .dvc/ before reading anything (given or MLflow's default)
        check_export_target(tracking_uri=export_mlflow.tracking_uri_of(tracking_uri))
        if tracking_uri and export_mlflow.is_file_store(tracking_uri):
            click.echo(
                "note: MLflow 3 keeps file: stores in maintenance mode; "
                "sqlite:///mlflow.db is the store it recommends",
                err=True,
            )
    else:
        if not out_dir:
            raise ExpbookError(f"--to {target} needs -o DIR")
        if target == "tensorboard":
            from expbook.analysis import export_tb

            export_tb.require()
        check_export_target(out_dir=out_dir)  # refuse a bad -o before reading anything
    from expbook.registry import select

    selected = select(repo, exps, where)
    if target != "csv" and any(e.rev == "workspace" for e in selected):
        raise ExpbookError(f"the uncommitted workspace cannot go --to {target}; name a commit")
    items = []
    for exp in selected:
        curves = read_curves(repo, exp.rev)
        if target == "csv" and not curves:
            raise ExpbookError(
                f"{exp.name} ({exp.rev[:7]}) has no dvclive step curves "
                "(<dir>/plots/metrics/*.tsv) in its commit" + not_in_cache_hint(exp, repo)
            )
        items.append((exp, curves))
    if target == "csv":
        from expbook.analysis.exporting import export_curves

        assert out_dir is not None  # checked above: csv and tensorboard need -o

        for path in export_curves([(e.name, c) for e, c in items], out_dir, force=force):
            click.echo(f"wrote {path}")
    elif target == "tensorboard":
        assert out_dir is not None
        for path in export_tb.export_tensorboard(items, out_dir):
            click.echo(f"wrote {path}")
        click.echo(f"view with: tensorboard --logdir {out_dir}")
    else:
        runs = export_mlflow.export_mlflow(
            items, tracking_uri=tracking_uri, experiment=mlflow_experiment
        )
        for name, run_id, created in runs:
            click.echo(f"{'created' if created else 'updated'} MLflow run {run_id} for {name}")
