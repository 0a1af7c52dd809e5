"""`expbook registry / show / compare / best`: thin click commands over expbook.registry and expbook.analysis.compare.

Run through the `expbook` console script; heavy modules (pandas, rich) are imported only when needed.
"""

from __future__ import annotations

import json
import sys

import click

from expbook.cli.options import (
    column_options,
    format_options,
    repo_option,
    selection_options,
    sort_options,
    where_option,
)
from expbook.errors import ExpbookError


def _collect(repo: str, baseline: str | None = None, all_commits: bool = False) -> list:
    from expbook import registry as reg

    return reg.collect(repo, all_commits=all_commits, baseline=baseline)


def resolve_many(repo: str, names: tuple[str, ...] | list[str]) -> list:
    """Experiments for user EXP arguments: HEAD's registry first, then the registry's wider search."""
    from expbook import registry as reg
    from expbook.errors import NotFoundError

    experiments = reg.collect(repo)
    out = []
    for name in names:
        try:
            out.append(reg.resolve(repo, name, experiments))
        except NotFoundError:
            out.append(reg.resolve(repo, name))
    return out


def _dump_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@click.command()
@repo_option
@selection_options
@where_option
@sort_options
@column_options
@format_options
def registry(
    repo,
    baseline,
    all_commits,
    where,
    sort_by,
    ascending,
    top,
    columns,
    drop,
    only_changed,
    full_names,
    fmt,
    output,
    force,
):
    """List experiments with their params and metrics, one row each.

    \b
    Example:
        expbook registry --where "val.acc > 0.9 and tag = 'best'" --sort-by val.acc --top 5
        expbook registry --only-changed --drop 'train.*' -o registry.csv
        expbook registry --format json | jq '.[0]'
    """
    if fmt in ("json", "csv") or (
        fmt is None and output is not None and str(output).lower().endswith((".json", ".csv"))
    ):
        # machine formats: the rendered text itself is cached, keyed by these options;
        # expbook.output and the query engine are imported only when it must be rendered
        fmt = fmt or str(output).lower().rsplit(".", 1)[1]
        from expbook import registry as reg

        n_rows = []

        def render(experiments: list) -> str:
            from expbook import output as out

            rows, cols = _table(
                experiments, fmt, where, sort_by, ascending, top, columns, drop, only_changed
            )
            n_rows.append(len(rows))
            return out.render(rows, cols, fmt)

        options = (
            "registry",
            fmt,
            where,
            sort_by,
            ascending,
            top,
            tuple(columns),
            tuple(drop),
            only_changed,
        )
        text = reg.collect_rendered(
            repo, options, render, all_commits=all_commits, baseline=baseline
        )
        if output is None:
            sys.stdout.write(text)
            return
        from expbook.output import write_output

        write_output(output, text, force=force)
        count = n_rows[0] if n_rows else _count_rows(text, fmt)
        click.echo(f"wrote {output} ({count} rows, {fmt})", err=True)
        return
    from expbook import output as out

    fmt = out.format_for(fmt, output)
    rows, cols = _table(
        _collect(repo, baseline, all_commits),
        fmt,
        where,
        sort_by,
        ascending,
        top,
        columns,
        drop,
        only_changed,
    )
    if fmt == "table" and output is None:
        out.print_table(rows, cols, full_names=full_names)
        return
    out.emit(out.render(rows, cols, fmt, full_names=full_names), output, force=force)
    if output is not None:
        click.echo(f"wrote {output} ({len(rows)} rows, {fmt})", err=True)


def _table(
    experiments: list, fmt, where, sort_by, ascending, top, columns, drop, only_changed
) -> tuple[list, list]:
    """The registry's rows and columns after --where, sorting, --top and column options."""
    from expbook import output as out
    from expbook.query import filter_experiments, namespaces_of

    experiments = filter_experiments(experiments, where)
    return out.prepare(
        [exp.flat() for exp in experiments],
        fmt,
        sort_by=sort_by,
        ascending=ascending,
        top=top,
        columns=columns,
        drop=drop,
        only_changed_=only_changed,
        namespaces=namespaces_of(experiments) if sort_by else None,
    )


def _count_rows(text: str, fmt: str) -> int:
    if fmt == "json":
        return len(json.loads(text))
    import csv
    import io

    return max(sum(1 for _ in csv.reader(io.StringIO(text))) - 1, 0)


def _print_mapping(title: str, mapping: dict, fmt=None) -> None:
    if not mapping:
        return
    from expbook.output import cell, short_names

    names = short_names(list(mapping))
    width = max(len(names[k]) for k in mapping)
    click.echo(f"\n{title}:")
    for key, value in mapping.items():
        click.echo(f"  {names[key]:<{width}}  {fmt(value) if fmt else cell(value)}")


@click.command()
@click.argument("exp")
@repo_option
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
def show(exp, repo, as_json):
    """Show everything about one experiment: params, metrics, step curves, environment, outputs.

    EXP is an experiment name, sha prefix, ref, branch or tag.

    \b
    Example:
        expbook show lr-wd-003
        expbook show 1a2b3c4 --json
    """
    from expbook.analysis.compare import describe

    info = describe(repo, resolve_many(repo, [exp])[0])
    if as_json:
        _dump_json(info)
        return
    from expbook.output import cell

    click.echo(f"{info['name']}  {info['rev']}")
    for key in ("kind", "status", "created", "baseline", "ref", "message"):
        if info.get(key):
            click.echo(f"  {key:<9} {info[key]}")
    for key in ("branches", "git_tags", "tags"):
        if info.get(key):
            click.echo(f"  {key:<9} {', '.join(info[key])}")
    if info.get("sweep"):
        sweep = info["sweep"]
        click.echo(
            f"  sweep     {sweep.get('name')} trial {sweep.get('trial')} "
            f"({sweep.get('status', '')})"
        )
    _print_mapping("params", info["params"])
    _print_mapping("metrics", info["metrics"])
    if info["curves"]:
        click.echo("\ncurves:")
        click.echo(
            f"  {'metric':<24} {'steps':>5} {'first':>10} {'last':>10} {'min':>10} "
            f"{'max':>10} {'mean':>10} {'std':>10}  best (step)"
        )
        for name, s in info["curves"].items():
            nums = " ".join(
                f"{cell(s[k]):>10}" for k in ("first", "last", "min", "max", "mean", "std")
            )
            click.echo(
                f"  {name:<24} {s['steps']:>5} {nums}  {cell(s['best'])} "
                f"({s['mode']} @ step {s['best_step']})"
            )
    if info["environment"]:
        env = info["environment"]
        click.echo(f"\nenvironment ({env['path']}):")
        content = env["content"]
        if isinstance(content, dict):
            for key, value in content.items():
                click.echo(f"  {key}: {cell(value)}")
        else:
            click.echo("  " + str(content).strip().replace("\n", "\n  "))
    _print_mapping(
        "outs",
        info["outs"],
        fmt=lambda o: (
            f"{o.get('hash')}  size={o.get('size')}  "
            + (
                "in cache"
                if o.get("in_cache")
                else "in git"
                if o.get("in_git")
                else "NOT in local cache"
            )
        ),
    )
    if info["notes"]:
        click.echo("\nnotes:")
        for note in info["notes"]:
            click.echo(f"  - {note}")
    _print_mapping("errors", info["errors"], fmt=str)


@click.command()
@click.argument("exps", nargs=-1, required=True)
@repo_option
@click.option(
    "--all", "all_params", is_flag=True, help="Show every param, not only those that differ."
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(exps, repo, all_params, as_json):
    """Compare experiments side by side: differing params and metric deltas vs the first.

    \b
    Example:
        expbook compare lr-wd-001 lr-wd-002 lr-wd-003
        expbook compare main lr-wd-002 --json
    """
    from expbook.analysis.compare import compare as compare_exps

    if len(exps) < 2:
        raise ExpbookError("compare needs at least two experiments")
    result = compare_exps(resolve_many(repo, exps), all_params=all_params)
    if as_json:
        _dump_json(result)
        return
    from expbook.output import cell, print_table, short_names

    names = [e["name"] for e in result["experiments"]]
    if len(set(names)) < len(names):  # same exp name under two baselines: tell them apart
        names = [f"{e['name']}@{e['rev'][:7]}" for e in result["experiments"]]
    keys = list(result["params"]) + list(result["metrics"])
    short = short_names(keys)
    rows = []
    for key, values in result["params"].items():
        rows.append({"key": short[key], **{f"{i}": cell(v) for i, v in enumerate(values)}})
    for key, data in result["metrics"].items():
        row = {"key": short[key]}
        for i, (v, d) in enumerate(zip(data["values"], data["deltas"])):
            row[f"{i}"] = cell(v) + (f" ({d:+.4g})" if d is not None else "")
        rows.append(row)
    cols = ["key"] + [str(i) for i in range(len(names))]
    header = {"key": "key", **{str(i): n for i, n in enumerate(names)}}
    print_table(
        [{header[c]: r.get(c) for c in cols} for r in rows],
        [header[c] for c in cols],
        full_names=True,
    )


@click.command()
@click.option("--metric", "-m", default=None, metavar="KEY", help="Rank by this metric (or param).")
@click.option("--mode", type=click.Choice(["max", "min"]), default="max", show_default=True)
@click.option(
    "--score",
    default=None,
    metavar="EXPR",
    help='Rank by an expression instead, e.g. "val.acc - 0.5 * (train.acc - val.acc)".',
)
@where_option
@selection_options
@repo_option
@click.option(
    "--top",
    "-n",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Also list the runners-up, N rows in all.",
)
@click.option("--apply", "apply_", is_flag=True, help="Run `dvc exp apply` on the winner.")
@click.option(
    "--branch", default=None, metavar="NAME", help="Run `dvc exp branch` to NAME on the winner."
)
@click.option("--json", "as_json", is_flag=True, help="Print the winner (and ranking) as JSON.")
@click.option(
    "--by-group",
    is_flag=True,
    help="Rank seed groups by mean --metric and test the best against the runner-up.",
)
@click.option(
    "--group-by",
    default=None,
    metavar="KEYS",
    help="With --by-group: comma-separated params defining groups (default: every "
    "differing param except seeds).",
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="With --by-group: significance level of the best-vs-runner-up test.",
)
def best(
    metric,
    mode,
    score,
    where,
    baseline,
    all_commits,
    repo,
    top,
    apply_,
    branch,
    as_json,
    by_group,
    group_by,
    alpha,
):
    """Find the best experiment by a metric or a composite score, with its params.

    \b
    Example:
        expbook best --metric val.acc --mode max --where "sweep = 'lr-wd'"
        expbook best --score "val.acc - 0.5 * (train.acc - val.acc)" --branch best-model
        expbook best --metric test.acc --by-group --alpha 0.05
    """
    from expbook.analysis.compare import dvc_handover, rank_experiments

    if by_group:
        _best_by_group(repo, metric, mode, where, baseline, all_commits, group_by, alpha, as_json)
        return

    ranked = rank_experiments(
        _collect(repo, baseline, all_commits), metric=metric, mode=mode, score=score, where=where
    )
    if not ranked:
        raise ExpbookError(
            f"no finished experiment has a value for {metric or score!r}"
            + (f" where {where!r}" if where else "")
        )
    winner, value = ranked[0]
    label = metric or "score"
    if as_json:
        _dump_json(
            {
                "best": {
                    "name": winner.name,
                    "rev": winner.rev,
                    "value": value,
                    "params": winner.params,
                    "metrics": winner.metrics,
                },
                "ranking": [{"name": e.name, "rev": e.rev, "value": v} for e, v in ranked[:top]],
            }
        )
    else:
        from expbook.output import cell

        click.echo(f"best: {winner.name} ({winner.rev[:7]})  {label} = {cell(value)}  [{mode}]")
        _print_mapping("params", winner.params)
        if top > 1:
            click.echo("\nranking:")
            for i, (exp, v) in enumerate(ranked[:top], 1):
                click.echo(f"  {i:>3}. {exp.name:<24} {cell(v)}")
    for action, wanted in (("apply", apply_), ("branch", branch)):
        if wanted:
            import subprocess

            args = dvc_handover(action, winner, branch)
            # the dvc of this interpreter, so an un-activated venv still works
            proc = subprocess.run(
                [sys.executable, "-m", *args], cwd=repo, capture_output=True, text=True
            )
            # dvc's chatter goes to stderr so that --json output stays parseable
            click.echo((proc.stdout + proc.stderr).rstrip(), err=True)
            if proc.returncode != 0:
                raise ExpbookError(f"`{' '.join(args)}` failed with exit code {proc.returncode}")


def _best_by_group(repo, metric, mode, where, baseline, all_commits, group_by, alpha, as_json):
    """`best --by-group`: groups ranked by mean, with the best-vs-runner-up Welch test."""
    from expbook.analysis.stats import best_by_group, rows_of
    from expbook.output import cell
    from expbook.query import filter_experiments

    if not metric:
        raise ExpbookError("--by-group needs --metric")
    exps = filter_experiments(_collect(repo, baseline, all_commits), where)
    rows, params, metrics = rows_of(exps)
    keys = [k.strip() for k in group_by.split(",") if k.strip()] if group_by else None
    ranking = best_by_group(
        rows,
        metric,
        params,
        higher_is_better=(mode == "max"),
        alpha=alpha,
        group_by=keys,
        metric_keys=metrics,
    )
    if as_json:
        _dump_json(
            {
                "groups": [g.row() for g in ranking.groups],
                "p_best_vs_runner_up": ranking.p_best_vs_runner_up,
                "significant": ranking.significant,
                "alpha": ranking.alpha,
                "verdict": ranking.verdict(),
            }
        )
        return
    for i, group in enumerate(ranking.groups, 1):
        row = group.row()
        click.echo(
            f"  {i:>3}. {row['group']:<40} n={row['n']:<3} mean={cell(row['mean'])} "
            f"std={cell(row['std'])}"
        )
    click.echo(ranking.verdict())
