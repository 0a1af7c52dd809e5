"""Shared click option decorators (--format/-o/--where/--sort-by/--top/--columns/--drop/...) for expbook commands.

Imported by the command modules in expbook.cli; kept free of heavy imports.
"""

from __future__ import annotations

from collections.abc import Callable

import click

FORMATS = ("table", "csv", "md", "json", "html")


def _stack(*decorators: Callable) -> Callable:
    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


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

format_options = _stack(
    click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format (default: table, or from -o's extension).",
    ),
    click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write to FILE (format from its extension: .csv .json .md .html; `-`: stdout).",
    ),
    force_option,
)

where_option = click.option(
    "--where",
    "-w",
    default=None,
    metavar="EXPR",
    help="Keep experiments matching EXPR, e.g. \"val.acc > 0.9 and tag = 'best'\"; keys are "
    "unique suffixes (val.acc) or full keys in backticks (`params.yaml:train.lr`).",
)

sort_options = _stack(
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
    click.option(
        "--top",
        "-n",
        type=click.IntRange(min=1),
        default=None,
        help="Keep only the first N rows (after sorting).",
    ),
)

column_options = _stack(
    click.option(
        "--columns",
        "-c",
        multiple=True,
        metavar="GLOBS",
        help="Only these columns, in this order (comma-separated globs; repeatable).",
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

selection_options = _stack(
    click.option(
        "--baseline",
        "-b",
        default=None,
        metavar="REV",
        help="Only experiments of this baseline commit (a rev, branch or tag).",
    ),
    click.option(
        "--all-commits",
        "-A",
        is_flag=True,
        help="Include experiments of every commit, not just HEAD's.",
    ),
)
