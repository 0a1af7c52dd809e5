"""`expbook ui` and `expbook report`: thin click commands over expbook.ui (server, report)."""

from __future__ import annotations

import click

from expbook.cli.options import (
    force_option,
    metric_option,
    out_option,
    remote_view_option,
    repo_option,
    where_option,
)


@click.command()
@repo_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", "-p", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option("--read-only", is_flag=True, help="Refuse note and tag edits.")
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Allow note and tag edits in network mode and with --remote (read-only by default "
    "off loopback, and for a team view, whose writes go to the remote).",
)
@click.option(
    "--secret",
    envvar="EXPBOOK_UI_SECRET",
    metavar="TEXT",
    help="The login secret (env EXPBOOK_UI_SECRET, preferred: a command line is visible to "
    "other users). Required off loopback: generated and printed once when not given.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also accept this Host header (the name clients use; repeatable; '*' for any).",
)
@click.option(
    "--remote",
    default=None,
    metavar="NAME",
    help="Serve the team's experiments on git remote NAME (fetched into "
    "refs/expbook/remotes/NAME/), kept live; writes are pushed there. Read-only unless "
    "--allow-writes.",
)
@click.option(
    "--fetch-every",
    default=60.0,
    show_default=True,
    type=float,
    metavar="SECONDS",
    help="With --remote: fetch the remote this often (and on POST /api/fetch).",
)
@click.option(
    "--users",
    "users_file",
    envvar="EXPBOOK_UI_USERS",
    default=None,
    metavar="FILE",
    help="One `name = secret` (or `Name <email> = secret`) line per user (env "
    "EXPBOOK_UI_USERS): each logs in with their secret and writes as themselves.",
)
def ui(
    repo: str,
    host: str,
    port: int,
    open_browser: bool,
    read_only: bool,
    allow_writes: bool,
    secret: str | None,
    allow_hosts: tuple[str, ...],
    remote: str | None,
    fetch_every: float,
    users_file: str | None,
) -> None:
    """Serve the dashboard (table, charts, experiment pages, sweeps, stats) until Ctrl-C.

    Reads the repository like `expbook registry` (git only; with --remote NAME the
    team's experiments on that git remote, fetched every --fetch-every seconds); binds
    127.0.0.1 unless --host says otherwise. Any other address is network mode: every
    request needs the secret (login page or `Authorization: Bearer`) and the dashboard
    is read-only unless --allow-writes.

    \b
    Example:
        expbook ui --repo . --port 8765 --open
        EXPBOOK_UI_SECRET=... expbook ui --host 0.0.0.0 --allow-host box.lan
        expbook ui --remote origin --users users.txt --allow-host team.example.com
    """
    from expbook import ui as dashboard

    dashboard.require("starlette", "uvicorn", "plotly")
    from expbook.ui.auth import is_loopback
    from expbook.ui.serve import run_server
    from expbook.ui.users import load_users

    users = load_users(users_file) if users_file is not None else None

    if not is_loopback(host):
        click.echo(
            f"Warning: binding {host} (network mode): every request needs the secret, "
            f"{'writes are allowed' if allow_writes else 'read-only'}; Host must be "
            f"{', '.join([host, *allow_hosts])} or a localhost form (add names with "
            "--allow-host). Traffic is plain HTTP: put a TLS reverse proxy in front.",
            err=True,
        )

    if remote is not None:
        click.echo(
            f"Team view of {remote}: fetched every {fetch_every:g} s and on 'Fetch now'; "
            + ("notes and tags are pushed to it" if allow_writes else "read-only")
            + (f", {len(users)} users" if users else ""),
            err=True,
        )

    def show_secret(generated: str) -> None:
        click.echo(f"login secret (shown once): {generated}")

    def ready(url: str) -> None:
        click.echo(f"expbook dashboard on {url} (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    run_server(
        repo,
        host,
        port,
        read_only=read_only,
        allow_writes=allow_writes,
        secret=secret,
        allow_hosts=allow_hosts,
        on_ready=ready,
        on_secret=show_secret,
        remote=remote,
        fetch_every=fetch_every,
        users=users,
    )


@click.command()
@repo_option
@remote_view_option
@out_option("The HTML file to write.", required=True)
@where_option
@metric_option(help="The metric charts and stats use (default: the first).")
@click.option(
    "--sweep",
    "sweeps",
    multiple=True,
    metavar="NAME",
    help="Include this sweep's page (repeatable; default: every sweep).",
)
@click.option(
    "--runs",
    default=50,
    show_default=True,
    type=click.IntRange(0, 10000),
    help="Experiment pages and step curves for the first N rows.",
)
@force_option
def report(
    repo: str,
    output: str,
    where: str | None,
    metric: str | None,
    sweeps: tuple[str, ...],
    force: bool,
    runs: int,
) -> None:
    """Write the dashboard's views as ONE self-contained HTML file (no network to view it).

    \b
    Example:
        expbook report -o report.html --where "val.acc > 0.9" --metric val.acc
    """
    from expbook import ui as dashboard

    dashboard.require("plotly")
    from expbook.ui.report import write_report

    size = write_report(
        repo,
        output,
        where=where,
        metric=metric,
        sweeps=list(sweeps) or None,
        runs=runs,
        force=force,
    )
    click.echo(f"wrote {output} ({size / 1e6:.1f} MB)", err=output == "-")
