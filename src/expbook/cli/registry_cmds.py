"""`expbook registry / best`: thin click commands over expbook.registry (table) and expbook.analysis.compare.

Run through the `expbook` console script; heavy modules (pandas, rich) are imported only when needed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from expbook.cli.options import (
    column_options,
    format_options,
    group_by_option,
    mode_option,
    remote_view_option,
    repo_option,
    selection_options,
    sort_options,
    top_option,
    where_option,
)
from expbook.cli.printing import emit, emit_data, mapping_lines
from expbook.errors import ExpbookError

if TYPE_CHECKING:
    from expbook.registry import Experiment
    from expbook.registry.table import TableSpec


@click.command()
@repo_option
@remote_view_option
@selection_options
@click.option(
    "--exp-commits",
    is_flag=True,
    help="With -A: also list commits reachable only from experiment refs (kind exp-only).",
)
@where_option
@sort_options
@column_options
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Every row: a terminal shows one page of rows by default (a pipe or file gets all).",
)
@format_options
def registry(
    repo: str,
    baseline: str | None,
    all_commits: bool,
    exp_commits: bool,
    where: str | None,
    sort_by: str | None,
    ascending: bool | None,
    top: int | None,
    columns: tuple[str, ...],
    drop: tuple[str, ...],
    only_changed: bool,
    full_names: bool,
    show_all: bool,
    fmt: str | None,
    output: str | None,
    force: bool,
) -> None:
    """List experiments with their params and metrics, one row each.

    In a terminal the table shows one page of rows (newest first, or the top of --sort-by)
    with the columns that matter most and fit: the varied params, val/test metrics, status;
    per-item breakdowns (class_counts.3) and constants last. Its last lines say how many
    columns and rows it left out (`--columns all`, `-n N`, `--where`, `--all` show them).
    A pipe gets every row; files and csv/json/md/html keep every column.

    \b
    Example:
        expbook registry --where "val.acc > 0.9 and tag = 'best'" --sort-by val.acc --top 5
        expbook registry --only-changed --drop 'train.*' -o registry.csv
        expbook registry --columns all --all | less -S
        expbook registry --json | jq '.[0]'
    """
    from expbook.registry import table

    spec = table.TableSpec(
        where, sort_by, ascending, top, tuple(columns), tuple(drop), only_changed
    )
    if fmt not in ("json", "csv"):  # an explicit json/csv is kept as is by format_for, and
        from expbook.output import format_for  # the warm path then never imports output

        fmt = format_for(fmt, output)
    if fmt in ("json", "csv"):
        # the rendered text is cached by the registry; pandas/rich are never imported here
        result = table.render_output(
            repo,
            fmt,
            spec,
            all_commits=all_commits,
            baseline=baseline,
            warn=_warn,
            exp_commits=exp_commits,
        )
        if output in (None, "-"):
            result.write_to(sys.stdout)  # the warm path: a cached file copied by the kernel
            return
        emit(result.data(), output, f"{result.rows} rows, {fmt}", force=force)
        return
    if fmt == "table":
        _table(repo, spec, all_commits, baseline, exp_commits, full_names, show_all, output, force)
        return
    from expbook import output as out

    exps = table.collect_checked(
        repo, all_commits=all_commits, baseline=baseline, warn=_warn, exp_commits=exp_commits
    )
    rows, cols = table.build(exps, spec)
    text = out.render(rows, cols, fmt, full_names=full_names)
    emit(text, output, f"{len(rows)} rows, {fmt}", force=force)


def _table(
    repo: str,
    spec: TableSpec,
    all_commits: bool,
    baseline: str | None,
    exp_commits: bool,
    full_names: bool,
    show_all: bool,
    output: str | None,
    force: bool,
) -> None:
    """`registry` as a text table (issue 18): a terminal gets a cached page that fits it (or,
    with --all, every row fitted to its width); stdout that is no terminal every row with the
    readable columns, streamed; `-o FILE` every row and column."""
    import os
    import shutil

    from expbook.registry import table as _t
    from expbook.registry import tabletext

    def rows() -> list[Experiment]:
        return _t.collect_checked(
            repo, all_commits=all_commits, baseline=baseline, warn=_warn, exp_commits=exp_commits
        )

    if output not in (None, "-"):
        import io

        buf = io.StringIO()
        exps = rows()
        view = tabletext.View(full_names=full_names, readable=False)
        n = tabletext.write(buf, exps, spec, view)[0]
        emit(buf.getvalue(), output, f"{n} rows, table", force=force)
        return
    stdout = tabletext.Utf8Out(sys.stdout)
    try:
        if sys.stdout.isatty():
            size = shutil.get_terminal_size((80, 0))
            color = "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
            page = None if show_all or spec.top is not None else tabletext.page_rows(size.lines)
            view = tabletext.View(max(size.columns, 40), page, color, full_names)
            if not show_all:
                rendered = tabletext.render_page(
                    repo,
                    spec,
                    view,
                    all_commits=all_commits,
                    baseline=baseline,
                    warn=_warn,
                    exp_commits=exp_commits,
                )
                rendered.write_to(sys.stdout)
                return
        else:
            view = tabletext.View(full_names=full_names)
        tabletext.write(stdout, rows(), spec, view)
        stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _warn(text: str) -> None:
    """One line on stderr (rows with errors), so stdout stays parseable."""
    click.echo(text, err=True)


@click.command()
@click.option("--metric", "-m", default=None, metavar="KEY", help="Rank by this metric (or param).")
@mode_option(
    "Whether higher or lower is better (default: the direction declared in "
    "pyproject.toml's [tool.expbook.directions], else the metric's name: loss -> min, "
    "acc -> max; otherwise say it)."
)
@click.option(
    "--score",
    default=None,
    metavar="EXPR",
    help='Rank by an expression instead, e.g. "val.acc - 0.5 * (train.acc - val.acc)".',
)
@where_option
@selection_options
@repo_option
@remote_view_option
@top_option(default=1, help="Also list the runners-up, N rows in all.")
@click.option("--apply", "apply_", is_flag=True, help="Run `dvc exp apply` on the winner.")
@click.option(
    "--branch", default=None, metavar="NAME", help="Run `dvc exp branch` to NAME on the winner."
)
@click.option(
    "--by-group",
    is_flag=True,
    help="Rank seed groups by mean --metric and test the best against the runner-up.",
)
@group_by_option(
    "With --by-group: comma-separated params defining groups (default: every "
    "differing param except seeds)."
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="With --by-group: significance level of the best-vs-runner-up test.",
)
@format_options
def best(
    metric: str | None,
    mode: str | None,
    score: str | None,
    where: str | None,
    baseline: str | None,
    all_commits: bool,
    repo: str,
    top: int,
    apply_: bool,
    branch: str | None,
    by_group: bool,
    group_by: str | None,
    alpha: float,
    fmt: str | None,
    output: str | None,
    force: bool,
) -> None:
    """Find the best experiment by a metric or a composite score, with its params.

    \b
    Example:
        expbook best --metric val.loss --where "sweep = 'lr-wd'"
        expbook best --metric val.score --mode max
        expbook best --score "val.acc - 0.5 * (train.acc - val.acc)" --mode max --branch best-model
        expbook best -m test.acc --by-group --alpha 0.05 --json
    """
    from expbook import registry
    from expbook.analysis.compare import hand_over
    from expbook.analysis.ranking import rank
    from expbook.output import format_for
    from expbook.registry import directions
    from expbook.registry.gitrepo import find_root

    fmt = format_for(fmt, output)
    # the project's declared directions, read once for the command (an explicit --mode wins)
    declared = directions.load_declared(find_root(repo)) if mode is None else {}
    exps = registry.collect(repo, all_commits=all_commits, baseline=baseline)
    if by_group:
        _best_by_group(exps, metric, mode, declared, where, group_by, alpha, fmt, output, force)
        return
    result = rank(exps, metric=metric, mode=mode, score=score, where=where, declared=declared)
    ranked, direction = result.pairs, result.direction
    if not ranked:
        raise ExpbookError(
            f"no finished experiment has a value for {metric or score!r}"
            + (f" where {where!r}" if where else "")
        )
    winner, value = ranked[0]
    label = metric or "score"

    def text() -> str:
        from expbook.output import cell

        lines = [
            f"best: {winner.name} ({winner.rev[:7]})  {label} = {cell(value)}  {direction.label}"
        ]
        lines += mapping_lines("params", winner.params)
        if top > 1:
            lines.append("\nranking:")
            lines += [
                f"  {i:>3}. {e.name:<24} {cell(v)}" for i, (e, v) in enumerate(ranked[:top], 1)
            ]
        return "\n".join(lines) + "\n"

    ranking = [{"name": e.name, "rev": e.rev, "value": v} for e, v in ranked[:top]]
    emit_data(
        fmt,
        output,
        data=lambda: {
            "metric": metric,
            "score": score,
            "mode": direction.mode,
            "mode_source": direction.source,
            "best": {
                "name": winner.name,
                "rev": winner.rev,
                "value": value,
                "params": winner.params,
                "metrics": winner.metrics,
            },
            "ranking": ranking,
        },
        rows=lambda: (
            [{"rank": i, **r} for i, r in enumerate(ranking, 1)],
            ["rank", "name", "rev", "value"],
        ),
        text=text,
        force=force,
    )
    for action, wanted in (("apply", apply_), ("branch", branch)):
        if wanted:
            # dvc's chatter goes to stderr so that --json output stays parseable
            click.echo(hand_over(repo, action, winner, branch), err=True)


def _best_by_group(
    exps: list[Experiment],
    metric: str | None,
    mode: str | None,
    declared: dict[str, str],
    where: str | None,
    group_by: str | None,
    alpha: float,
    fmt: str,
    output: str | None,
    force: bool,
) -> None:
    """`best --by-group`: groups ranked by mean, with the best-vs-runner-up Welch test."""
    from expbook.analysis.ranking import metric_direction
    from expbook.analysis.stats import best_by_group, rows_of
    from expbook.query import filter_experiments
    from expbook.registry.directions import DirectionError, unknown_message

    if not metric:
        raise ExpbookError("--by-group needs --metric")
    rows, params, metrics = rows_of(filter_experiments(exps, where))
    column, direction = metric_direction(rows, metric, params, metrics, mode, declared)
    if not direction.known:
        raise DirectionError(unknown_message(column))
    keys = [k.strip() for k in group_by.split(",") if k.strip()] if group_by else None
    ranking = best_by_group(
        rows,
        metric,
        params,
        higher_is_better=direction.mode == "max",
        alpha=alpha,
        group_by=keys,
        metric_keys=metrics,
    )
    groups = [g.row() for g in ranking.groups]

    def text() -> str:
        # fits the terminal (issue 18): a long group label folds in its column
        from expbook.cli.stats_cmds import ranking_text
        from expbook.output.fit import output_width

        head = f"{column} {direction.label}"
        return ranking_text(head, groups, ranking.verdict(), output_width())

    emit_data(
        fmt,
        output,
        data=lambda: {
            "metric": column,
            "mode": direction.mode,
            "mode_source": direction.source,
            "groups": groups,
            "p_best_vs_runner_up": ranking.p_best_vs_runner_up,
            "significant": ranking.significant,
            "alpha": ranking.alpha,
            "verdict": ranking.verdict(),
        },
        rows=lambda: (groups, list(groups[0]) if groups else ["group"]),
        text=text,
        force=force,
    )
