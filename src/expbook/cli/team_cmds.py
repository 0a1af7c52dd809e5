"""`expbook fetch`: look at a git remote's experiments without pulling them (issue 23).

A thin click command over expbook.share.team; the read commands' `--remote NAME` runs it too.
"""

from __future__ import annotations

import click

from expbook.cli.options import repo_option


@click.command()
@click.argument("remote", default="origin")
@repo_option
def fetch(remote: str, repo: str) -> None:
    """Fetch a git remote's experiments, notes, sweep state, branches and model tags into
    refs/expbook/remotes/REMOTE/ and say what is new.

    Only git objects come (params, metrics, curves; never checkpoints); your refs, workspace
    and DVC cache are left as they are, and a second look fetches only what is new. Then read
    them with any read command's --remote (add --no-fetch to skip fetching again), and bring
    one home with `expbook pull REMOTE EXP`.

    \b
    Example:
        expbook fetch origin
        expbook registry --remote origin --where "author = 'alice'" --no-fetch
    """
    from expbook.registry.gitrepo import GitRepo
    from expbook.share import team

    result = team.fetch(GitRepo(repo), remote)
    click.echo(result.summary())
    for line in result.warnings():
        click.echo(line, err=True)
