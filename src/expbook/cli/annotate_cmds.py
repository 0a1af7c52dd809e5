"""`expbook note / tag / push / pull`: annotate experiments in the git notes ref and share it.

Thin click commands over expbook.registry.notes (stored in refs/notes/expbook, one JSON note per commit).
"""

from __future__ import annotations

import click

from expbook.cli.options import repo_option


@click.command()
@click.argument("exp")
@click.argument("text")
@repo_option
def note(exp: str, text: str, repo: str) -> None:
    """Attach a free-text note to an experiment (stored in git notes, shareable with push).

    \b
    Example:
        expbook note lr-wd-003 "best so far; try longer warmup"
    """
    from expbook.registry import notes, resolve_annotatable

    target = resolve_annotatable(repo, exp)
    doc = notes.add_note(repo, target.rev, text)
    click.echo(f"{target.name} ({target.rev[:7]}): {len(doc.get('notes', []))} note(s)")


@click.command()
@click.argument("exp")
@click.argument("name")
@click.option("--remove", is_flag=True, help="Remove the tag instead of adding it.")
@repo_option
def tag(exp: str, name: str, remove: bool, repo: str) -> None:
    """Tag an experiment (or --remove a tag); query with --where "tag = 'NAME'".

    \b
    Example:
        expbook tag lr-wd-003 candidate
        expbook tag lr-wd-003 candidate --remove
    """
    from expbook.registry import notes, resolve_annotatable

    target = resolve_annotatable(repo, exp)
    doc = notes.set_tag(repo, target.rev, name, remove=remove)
    click.echo(f"{target.name} ({target.rev[:7]}): tags {', '.join(doc.get('tags', [])) or '-'}")


@click.command()
@click.argument("remote", default="origin")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Share refs, notes and sweep state only: cached outputs are neither pushed nor checked.",
)
@repo_option
def push(remote: str, no_cache: bool, repo: str) -> None:
    """Push experiments (dvc exp push) and expbook notes/tags (refs/notes/expbook) to a git remote.

    Then checks that every cached output (checkpoint) of every experiment is on the DVC remote
    of the workspace's config, pushes what is missing, and exits 1 naming what cannot be shared.
    Says which git and DVC remote (name and URL) it uses; never writes any config.

    \b
    Example:
        expbook push origin
        expbook push origin --no-cache     # refs and notes only
    """
    from expbook.share import sync

    with_cache = False if no_cache else None
    used = sync.push_remotes(repo, remote, with_cache)  # said before anything is sent
    click.echo("pushing to " + " and ".join(str(r) for r in used))
    check = sync.push(repo, remote, with_cache=with_cache)
    click.echo(f"pushed experiments and expbook notes to {remote}")
    if check is None:
        click.echo("outputs not pushed or checked (--no-cache)")
    elif check.outputs:
        click.echo(
            f"{check.outputs} cached output(s) checked on DVC remote {check.remote!r}"
            + (f"; pushed {check.pushed} missing object(s)" if check.pushed else "")
        )


@click.command()
@click.argument("remote", default="origin")
@repo_option
def pull(remote: str, repo: str) -> None:
    """Pull experiments (dvc exp pull) and merge the remote's expbook notes/tags into the local ones.

    Warns about pulled experiments whose cached outputs are neither in the local cache nor on
    the DVC remote (a `dvc exp apply` + `dvc pull` could not restore them).

    \b
    Example:
        expbook pull origin
    """
    from expbook.share import outputs, sync

    changed = sync.pull(repo, remote)
    click.echo(f"pulled expbook notes from {remote}: {changed or 0} commit(s) updated")
    names = outputs.remote_exp_names(repo, remote)
    dvc_name, bare = outputs.without_remote(repo, names)
    if bare:  # told, not pinned in .dvc/config.local: expbook writes no config (issue 19)
        shown = ", ".join(bare[:5]) + (f" and {len(bare) - 5} more" if len(bare) > 5 else "")
        click.echo(
            f"note: {shown} predate DVC remote {dvc_name!r}; `dvc exp apply` restores their "
            "old .dvc/config, so run `git checkout HEAD -- .dvc/config` before `dvc pull`"
        )
    check = outputs.missing_outputs(repo, names)
    if check.missing:
        click.echo(
            "warning: " + outputs.describe_missing(check, "are neither in the local cache nor on"),
            err=True,
        )
