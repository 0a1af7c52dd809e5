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
    _model_tags("push", repo, remote)  # issue 22: the model registry's tags go too
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
@click.argument("exps", nargs=-1)
@repo_option
def pull(remote: str, exps: tuple[str, ...], repo: str) -> None:
    """Pull experiments (dvc exp pull) and merge the remote's expbook notes/tags into the local ones.

    Model registry tags (GTO format) come too. Warns about pulled experiments whose cached
    outputs are neither in the local cache nor on the DVC remote (a `dvc exp apply` + `dvc
    pull` could not restore them). With EXP names (as `--remote REMOTE` lists them), brings
    only those home, with their checkpoints from the DVC remote, as `dvc exp pull REMOTE EXP`.

    \b
    Example:
        expbook pull origin
        expbook pull origin alice-lr-003     # one of the team's experiments, checkpoint too
    """
    from expbook.share import outputs, sync

    if exps:
        _bring_home(repo, remote, exps)
        return
    _model_tags("pull", repo, remote)
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


def _model_tags(action: str, repo: str, remote: str) -> None:
    """Push or pull the model registry's GTO-format tags and say how many (issue 22)."""
    from expbook.registry.gitrepo import GitRepo
    from expbook.share import tagsync

    g = GitRepo(repo)
    if action == "push":
        done, word = tagsync.push_model_tags(g, remote), "pushed"
    else:
        done, word = tagsync.pull_model_tags(g, remote), "pulled"
    click.echo(f"{word} {done.moved} model tag(s) {'to' if action == 'push' else 'from'} {remote}")
    warning = tagsync.refused_line(word, done)
    if warning:
        click.echo(warning, err=True)


def _bring_home(repo: str, remote: str, exps: tuple[str, ...]) -> None:
    """`expbook pull REMOTE EXP...`: those experiments only (issue 23)."""
    from expbook.share import outputs, team

    pulled = team.bring_home(repo, remote, exps)
    for name, ref in pulled:
        click.echo(f"pulled {name} from {remote} ({ref})")
    check = outputs.missing_outputs(repo, [name for name, _ in pulled])
    if check.missing:
        click.echo(
            "warning: " + outputs.describe_missing(check, "are neither in the local cache nor on"),
            err=True,
        )
