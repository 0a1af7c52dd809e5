"""`expbook gc`: remove experiments a keep policy leaves out (dry run unless --yes).

A thin click command over expbook.lifecycle.gc.
"""

from __future__ import annotations

import click

from expbook.cli.options import metric_option, repo_option, where_option
from expbook.errors import ExpbookError


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "B" else f"{value:.1f} {unit} ({n} bytes)"
        value /= 1024
    return f"{n} bytes"


@click.command()
@click.option("--keep-best", type=click.IntRange(min=1), default=None, metavar="N")
@metric_option(help="The metric --keep-best ranks by.")
@click.option("--mode", type=click.Choice(["max", "min"]), default="max", show_default=True)
@click.option(
    "--keep-last", type=click.IntRange(min=1), default=None, metavar="N", help="Keep the N newest."
)
@click.option(
    "--older-than",
    default=None,
    metavar="AGE",
    help="Only remove experiments older than AGE (30d, 12h, 2w).",
)
@where_option
@click.option("--sweep", default=None, metavar="NAME", help="Only this sweep's trials.")
@click.option(
    "--cache",
    is_flag=True,
    help="Also delete DVC cache objects no remaining commit, experiment or workspace uses.",
)
@click.option(
    "--remote",
    default=None,
    metavar="NAME",
    help="Also delete those objects from DVC remote NAME (needs --yes and "
    "--i-know-this-deletes-remote-data).",
)
@click.option(
    "--i-know-this-deletes-remote-data",
    "confirm_remote",
    is_flag=True,
    help="Confirms --remote: objects deleted there are gone for every clone.",
)
@click.option("--yes", "-y", is_flag=True, help="Do it (default: a dry run that changes nothing).")
@repo_option
def gc(
    keep_best: int | None,
    metric: str | None,
    mode: str,
    keep_last: int | None,
    older_than: str | None,
    where: str | None,
    sweep: str | None,
    cache: bool,
    remote: str | None,
    confirm_remote: bool,
    yes: bool,
    repo: str,
) -> None:
    """Remove experiments a keep policy leaves out, their notes, and (--cache) unused outputs.

    Never removes baselines, branch/tag heads, experiments tagged or noted `keep`, experiments
    a branch or git tag points at, or queued/running ones. Without --yes it only prints what
    it would remove (refs, cache objects, bytes) and changes nothing.

    \b
    Example:
        expbook gc --keep-best 2 --metric val.acc --cache            # dry run
        expbook gc --keep-best 2 --metric val.acc --cache --yes
        expbook gc --sweep lr-wd --keep-last 5 --older-than 30d --yes
        expbook gc --where "status = 'failed'" --yes
    """
    from expbook.lifecycle import gc as lgc

    if remote and yes and not confirm_remote:
        raise ExpbookError(
            f"--remote {remote} deletes objects on the shared DVC remote for every clone: "
            "add --i-know-this-deletes-remote-data to confirm"
        )
    pending = lgc.pending_journal(repo)
    if pending is not None:
        if yes:
            done = lgc.finish_journal(repo)
            click.echo(f"finished an interrupted gc: removed {len(done)} ref(s)")
        else:
            click.echo(
                f"an interrupted gc left {len(pending['refs'])} ref(s) to remove; --yes finishes it"
            )
    plan = lgc.make_plan(
        repo,
        keep_best=keep_best,
        metric=metric,
        mode=mode,
        keep_last=keep_last,
        older_than=older_than,
        where=where,
        sweep=sweep,
    )
    verb = "removing" if yes else "would remove"
    click.echo(f"{verb} {len(plan.remove)} experiment(s):")
    for exp in plan.remove:
        click.echo(f"  {exp.name}\t{exp.rev[:7]}\t{exp.ref}")
    for exp, why in plan.kept:
        click.echo(f"  keep {exp.name}\t{exp.rev[:7]}\t({why})")
    reports = []
    if not yes:
        if cache:
            reports.append(lgc.cache_report(repo, plan))
        if remote:
            reports.append(lgc.cache_report(repo, plan, remote))
        for report in reports:
            click.echo(
                f"{report.where}: would delete {len(report.objects)} object(s), "
                f"{_size(report.bytes)}"
            )
        click.echo("dry run: nothing changed (add --yes to do it)")
        return
    removed = lgc.apply(repo, plan)
    click.echo(f"removed {len(removed)} ref(s) and their notes")
    if cache:
        reports.append(lgc.delete_unused(repo))
    if remote:
        reports.append(lgc.delete_unused(repo, remote))
    for report in reports:
        click.echo(
            f"{report.where}: deleted {len(report.objects)} object(s), {_size(report.bytes)}"
        )
