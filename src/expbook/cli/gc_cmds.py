"""`expbook gc`: remove experiments a keep policy leaves out (dry run unless --yes).

A thin click command over expbook.lifecycle.gc (the plan, refs and notes) and
expbook.lifecycle.gc_cache (DVC objects and the checks before any change).
"""

from __future__ import annotations

import click

from expbook.cli.options import metric_option, mode_option, repo_option
from expbook.errors import ExpbookError

# --where selects what gc REMOVES (issue 18: the shared "Keep experiments matching" help said
# the opposite); tests/test_gc_help.py runs these examples and checks they do what they say.
WHERE_HELP = (
    'Remove only experiments matching EXPR (the others are not touched), e.g. "val.acc < 0.95".'
)
KEEP_WHERE_HELP = 'Never remove experiments matching EXPR, e.g. "val.acc >= 0.99".'


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "B" else f"{value:.1f} {unit} ({n} bytes)"
        value /= 1024
    return f"{n} bytes"


@click.command()
@click.option(
    "--keep-best",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Keep the N best finished runs by --metric.",
)
@metric_option(help="The metric --keep-best ranks by.")
@mode_option(
    "Whether higher or lower --metric is better (default: declared in pyproject.toml "
    "[tool.expbook.directions], else from the name: loss -> min, acc -> max; else refused)."
)
@click.option(
    "--keep-last", type=click.IntRange(min=1), default=None, metavar="N", help="Keep the N newest."
)
@click.option(
    "--older-than",
    default=None,
    metavar="AGE",
    help="Only remove experiments older than AGE (30d, 12h, 2w).",
)
@click.option("--where", "-w", default=None, metavar="EXPR", help=WHERE_HELP)
@click.option("--keep-where", default=None, metavar="EXPR", help=KEEP_WHERE_HELP)
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
    help="Also delete those objects from DVC remote NAME (a dry run reports them; deleting "
    "needs --yes and --i-know-this-deletes-remote-data).",
)
@click.option(
    "--i-know-this-deletes-remote-data",
    "confirm_remote",
    is_flag=True,
    help="Confirms --remote: objects deleted there are gone for every clone.",
)
@click.option(
    "--projects",
    multiple=True,
    metavar="PATH",
    type=click.Path(file_okay=False),
    help="Every project sharing the DVC cache (cache.dir outside .dvc/cache) or the remote; "
    "repeat it. Objects any of them uses are kept. Required for --cache with a shared cache.",
)
@click.option("--yes", "-y", is_flag=True, help="Do it (default: a dry run that changes nothing).")
@repo_option
def gc(
    keep_best: int | None,
    metric: str | None,
    mode: str | None,
    keep_last: int | None,
    older_than: str | None,
    where: str | None,
    keep_where: str | None,
    sweep: str | None,
    cache: bool,
    remote: str | None,
    confirm_remote: bool,
    projects: tuple[str, ...],
    yes: bool,
    repo: str,
) -> None:
    """Remove experiments a keep policy leaves out, their notes, and (--cache) unused outputs.

    Never removes baselines, branch/tag heads, experiments with any expbook tag or a note
    starting with `keep`, experiments a branch or git tag points at, or queued/running ones.
    Every check (policy, metric direction, remote, running sweeps, shared cache) passes before
    the first change; a refusal changes nothing. Without --yes it only prints what it would
    remove (refs, cache objects, bytes).

    \b
    Example:
        expbook gc --keep-best 2 --metric val.loss --cache           # dry run
        expbook gc --keep-best 2 --metric val.acc --cache --yes
        expbook gc --where "status = 'failed'" --yes                 # remove the failed runs
        expbook gc --sweep lr-wd --keep-last 5 --older-than 30d --yes
        expbook gc --keep-last 3 --cache --projects ../other --yes   # shared cache.dir
    """
    from expbook.lifecycle import gc as lgc
    from expbook.lifecycle import gc_cache
    from expbook.output.render import escape_control
    from expbook.registry import collect
    from expbook.registry.gitrepo import GitRepo

    if remote and yes and not confirm_remote:
        raise ExpbookError(
            f"--remote {remote} deletes objects on the shared DVC remote for every clone: "
            "add --i-know-this-deletes-remote-data to confirm"
        )
    if projects and not (cache or remote):
        raise ExpbookError("--projects is used with --cache or --remote")
    if confirm_remote and not remote:
        raise ExpbookError("--i-know-this-deletes-remote-data confirms --remote NAME: give both")
    g = GitRepo(repo)  # opened once: every step below gets this handle
    root = g.root
    pending = lgc.pending_journal(g)
    pending_refs = pending["refs"] if pending is not None else {}
    rows = collect(root)
    plan = lgc.make_plan(
        g,
        keep_best=keep_best,
        metric=metric,
        mode=mode,
        keep_last=keep_last,
        older_than=older_than,
        where=where,
        keep_where=keep_where,
        sweep=sweep,
        experiments=rows,
        skip_refs=pending_refs,
    )
    with gc_cache.open_store(
        root, rows, cache=cache, remote=remote, projects=projects, deleting=yes
    ) as store:
        # every check has passed: from here on gc changes things (with --yes)
        if pending is not None:
            if yes:
                done = lgc.finish_journal(g)
                click.echo(f"finished an interrupted gc: removed {len(done)} ref(s)")
            else:
                click.echo(
                    f"an interrupted gc left {len(pending_refs)} ref(s) to remove; "
                    "--yes finishes it"
                )
        verb = "removing" if yes else "would remove"
        click.echo(f"{verb} {len(plan.remove)} experiment(s):")
        # names, refs and reasons (tags, notes) are user strings: escaped for the terminal
        for exp in plan.remove:
            click.echo(escape_control(f"  {exp.name}\t{exp.rev[:7]}\t{exp.ref}"))
        for exp, why in plan.kept:
            click.echo(escape_control(f"  keep {exp.name}\t{exp.rev[:7]}\t({why})"))
        if plan.unranked:  # a new metric ranks only the runs that logged it: say so
            click.echo(
                escape_control(f"({len(plan.unranked)} removed without a {plan.column} to rank by)")
            )
        if not yes:
            for report in store.reports(plan) if store else []:
                click.echo(
                    f"{report.where}: would delete {len(report.objects)} object(s), "
                    f"{_size(report.bytes)}"
                )
            click.echo("dry run: nothing changed (add --yes to do it)")
            return
        used = store.in_use(plan) if store else None  # DVC's answer before the first change
        removed = lgc.apply(g, plan)
        click.echo(f"removed {len(removed)} ref(s) and their notes")
        for report in store.delete_unused(used) if store else []:
            click.echo(
                f"{report.where}: deleted {len(report.objects)} object(s), {_size(report.bytes)}"
            )
