"""`expbook ui` and `expbook report`: thin click commands over expbook.ui (server, report)."""

from __future__ import annotations

import click

from expbook.cli.options import (
    force_option,
    metric_option,
    out_option,
    repo_option,
    where_option,
)


@click.command()
@repo_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", "-p", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option("--read-only", is_flag=True, help="Refuse note and tag edits.")
def ui(repo: str, host: str, port: int, open_browser: bool, read_only: bool) -> None:
    """Serve the dashboard (table, charts, experiment pages, sweeps, stats) until Ctrl-C.

    Reads the repository like `expbook registry` (git only, never a remote); binds
    127.0.0.1 unless --host says otherwise.

    \b
    Example:
        expbook ui --repo . --port 8765 --open
    """
    from expbook import ui as dashboard

    dashboard.require("starlette", "uvicorn", "plotly")
    from expbook.ui.server import run_server

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"Warning: binding {host}: anyone who can reach this address can read every "
            "experiment (notes and tags writes still need the page's token).",
            err=True,
        )

    def ready(url: str) -> None:
        click.echo(f"expbook dashboard on {url} (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    run_server(repo, host, port, read_only=read_only, on_ready=ready)


@click.command()
@repo_option
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
