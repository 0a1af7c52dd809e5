"""Shared click options for every expbook command: one decorator per shared option, one meaning
per short flag (see README "Changelog"). Imported by the command modules; no heavy imports.

Short flags:  -R repo  -w where  -s sort-by  -n top  -c columns  -d drop  -b baseline (a commit)
-A all-commits  -m metric  -g group-by  -f format  -o out  -j jobs  -S set-param  -t tolerance
-i ignore  -p port  -y yes  -h help (tests/test_cli_help.py fails on a second meaning).
A renamed flag keeps working for one release through `deprecated_alias`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

FORMATS = ("table", "json", "csv", "md", "html")
# -h and --help on the root group; every subcommand inherits its context settings
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def stack(*decorators: Callable[..., Any]) -> Callable[..., Any]:
    """One decorator that applies `decorators` as if written one above the other, in order."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr: `old` still works for this release; `new` is its spelling from now on."""
    click.echo(f"warning: {old} is deprecated and will be removed; use {new}", err=True)


def deprecated_alias(*decls: str, dest: str, new: str, **attrs: Any) -> Callable[..., Any]:
    """A hidden option (`decls`, e.g. "--group") that fills the parameter `dest` of the renamed
    option `new`, warning on stderr that the old spelling is deprecated."""
    hidden = f"_deprecated_{dest}_{decls[0].lstrip('-').replace('-', '_')}"

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden)
            if value not in (None, (), False):
                warn_deprecated("/".join(decls), new)
                current = kwargs.get(dest)
                if isinstance(current, tuple):
                    kwargs[dest] = (*current, *value)
                elif current is None or current == () or current is False:
                    kwargs[dest] = value
                else:
                    raise click.UsageError(f"give {new} or {'/'.join(decls)}, not both")
            return func(*args, **kwargs)

        return click.option(*decls, hidden, hidden=True, **attrs)(wrapper)

    return decorate


repo_option = click.option(
    "--repo",
    "-R",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The git/DVC repository to read.",
)


force_option = click.option(
    "--force",
    is_flag=True,
    help="Overwrite the output file even when git tracks it.",
)


def out_option(
    help: str = "Write to FILE (format from its extension: .csv .json .md .html; `-`: stdout).",
    *,
    dest: str = "output",
    required: bool = False,
    directory: bool = False,
    aliases: tuple[str, ...] = (),
) -> Callable[..., Any]:
    """`-o/--out FILE` (`--output` and `aliases` are kept as other names), the one spelling
    for files written."""
    return click.option(
        "--out",
        "--output",
        *aliases,
        "-o",
        dest,
        required=required,
        metavar="DIR" if directory else "FILE",
        type=click.Path(file_okay=not directory, dir_okay=directory),
        default=None,
        help=help,
    )


def format_options(
    func: Callable[..., Any] | None = None,
    *,
    formats: tuple[str, ...] = FORMATS,
    out: bool = True,
    default: str | None = None,
) -> Callable[..., Any]:
    """`-f/--format`, `--json` (short for `-f json`) and, with out=True, `-o/--out FILE` and
    `--force`.

    The command receives `fmt` (None: table, or from -o's extension; see output.format_for),
    and with out=True `output` and `force`. Use bare (`@format_options`) or with arguments
    (`@format_options(formats=("table", "json"), out=False)`).
    """
    if func is None:
        return lambda f: format_options(f, formats=formats, out=out, default=default)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("output") not in (None, "-"):
            from expbook.output import check_output_path

            # refuse a bad -o (issue 14) before any work, not after it
            check_output_path(kwargs["output"], force=kwargs.get("force", False))
        if kwargs.pop("as_json"):
            if kwargs["fmt"] not in (None, "json"):
                raise click.UsageError(f"give --json or --format {kwargs['fmt']}, not both")
            kwargs["fmt"] = "json"
        elif kwargs["fmt"] is None:
            kwargs["fmt"] = default
        return func(*args, **kwargs)

    names = ", ".join(formats)
    decorators = [
        click.option(
            "--format",
            "-f",
            "fmt",
            type=click.Choice(formats),
            default=None,
            help=f"Output format: {names} (default: {default or 'table'}"
            + (", or from -o's extension)." if out else ")."),
        ),
        click.option("--json", "as_json", is_flag=True, help="Short for --format json."),
    ]
    if out:
        decorators += [out_option(), force_option]
    return stack(*decorators)(wrapper)


def alert_options(event: str, command_help: str, url_help: str) -> Callable[..., Any]:
    """`--on-EVENT 'CMD [ARGS...]'` and `--on-EVENT-url URL`: the hooks expbook.lifecycle.alerts
    runs (Alerts.from_options); the command receives `on_EVENT` and `on_EVENT_url`."""
    return stack(
        click.option(f"--on-{event}", default=None, metavar="'CMD [ARGS...]'", help=command_help),
        click.option(f"--on-{event}-url", default=None, metavar="URL", help=url_help),
    )


where_option = click.option(
    "--where",
    "-w",
    default=None,
    metavar="EXPR",
    help="Keep experiments matching EXPR, e.g. \"val.acc > 0.9 and tag = 'best'\"; keys are "
    "unique suffixes (val.acc) or full keys in backticks (`params.yaml:train.lr`).",
)


def top_option(
    default: int | None = None, help: str = "Keep only the first N rows."
) -> Callable[..., Any]:
    """`-n/--top N`: -n means the number of rows shown, in every command."""
    return click.option(
        "--top",
        "-n",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        metavar="N",
        help=help,
    )


def metric_option(
    required: bool = False, help: str = "The metric (full key or suffix).", **kw: Any
) -> Callable[..., Any]:
    """`-m/--metric KEY`."""
    return click.option("--metric", "-m", required=required, metavar="KEY", help=help, **kw)


def mode_option(help: str) -> Callable[..., Any]:
    """`--mode max|min`: whether higher or lower is better (default None: the project's declared
    direction, else the metric's name; expbook.registry.directions decides)."""
    return click.option("--mode", type=click.Choice(["max", "min"]), default=None, help=help)


def group_by_option(help: str, multiple: bool = False) -> Callable[..., Any]:
    """`-g/--group-by KEYS`: comma-separated params that define a group of runs."""
    return click.option(
        "--group-by", "-g", "group_by", multiple=multiple, default=None, metavar="KEYS", help=help
    )


sort_options = stack(
    click.option(
        "--sort-by",
        "-s",
        default=None,
        metavar="KEY",
        help="Sort by a column (full key or unambiguous suffix).",
    ),
    click.option(
        "--asc/--desc",
        "ascending",
        default=None,
        help="Sort direction (default: ascending; --top without it: descending).",
    ),
    top_option(help="Keep only the first N rows (after sorting)."),
)

column_options = stack(
    click.option(
        "--columns",
        "-c",
        multiple=True,
        metavar="GLOBS",
        help="Only these columns, in this order (comma-separated globs; repeatable); "
        "`--columns all` shows every column.",
    ),
    click.option(
        "--drop",
        "-d",
        multiple=True,
        metavar="GLOBS",
        help="Leave out columns matching these globs (comma-separated; repeatable).",
    ),
    click.option(
        "--only-changed",
        is_flag=True,
        help="Drop params/metrics columns whose value is the same in every row.",
    ),
    click.option(
        "--full-names",
        is_flag=True,
        help="Show full keys (params.yaml:train.lr) instead of short names in tables.",
    ),
)

baseline_option = click.option(
    "--baseline",
    "-b",
    default=None,
    metavar="REV",
    help="Only experiments of this baseline commit (a rev, branch or tag).",
)

all_commits_option = click.option(
    "--all-commits",
    "-A",
    is_flag=True,
    help="Include experiments of every commit, not just HEAD's.",
)

selection_options = stack(baseline_option, all_commits_option)


def remote_view_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--remote NAME` and `--no-fetch`: read a git remote's experiments instead of the local
    ones (issue 23). The command's `repo` becomes a view of the remote's namespace, fetched
    first (`expbook fetch NAME`; its one-line summary goes to stderr) unless --no-fetch."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        remote, no_fetch = kwargs.pop("remote"), kwargs.pop("no_fetch")
        if remote is not None:
            acting = [
                f for f, key in (("--apply", "apply_"), ("--branch", "branch")) if kwargs.get(key)
            ]
            if acting:  # they change this clone: only for an experiment that is here
                raise click.UsageError(
                    f"{'/'.join(acting)} needs the experiment here: bring it home with "
                    f"`expbook pull {remote} EXP` first"
                )
            from expbook.share import team

            say = functools.partial(click.echo, err=True)
            kwargs["repo"] = team.view(kwargs["repo"], remote, fetch_first=not no_fetch, say=say)
        elif no_fetch:
            raise click.UsageError("--no-fetch goes with --remote NAME")
        return func(*args, **kwargs)

    return stack(
        click.option(
            "--remote",
            default=None,
            metavar="NAME",
            help="Read the experiments on git remote NAME (fetched into "
            "refs/expbook/remotes/NAME/, nothing of yours changed), with their authors.",
        ),
        click.option(
            "--no-fetch", is_flag=True, help="With --remote: read what the last fetch brought."
        ),
    )(wrapper)
