"""The CLI reference as Markdown, generated from the click tree.

docs/cli.md holds only a marker; the MkDocs hook docs/hooks/cli_reference.py replaces it with
`markdown()` on every build, so the reference is the commands' own help and cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

WIDTH = 100  # help text wrapped as in a 100-column terminal, the same on every machine


def _root(command: click.Command) -> click.Context:
    """The root context as the CLI makes it: with its -h/--help (click caches a command's help
    option the first time it is built, so a context without these settings would also take -h
    away from the real CLI in the same process)."""
    from expbook.cli.options import CONTEXT_SETTINGS

    return click.Context(
        command,
        info_name="expbook",
        max_content_width=WIDTH,
        terminal_width=WIDTH,
        help_option_names=CONTEXT_SETTINGS["help_option_names"],
    )


def walk(
    command: click.Command, ctx: click.Context | None = None
) -> Iterator[tuple[tuple[str, ...], click.Context]]:
    """(path, context) of every command below `command`, depth first, in `--help` order."""
    if ctx is None:
        ctx = _root(command)
    if not isinstance(command, click.Group):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = click.Context(sub, info_name=name, parent=ctx)
        path = tuple(ctx.command_path.split()[1:]) + (name,)
        yield path, sub_ctx
        yield from walk(sub, sub_ctx)


def anchor(path: tuple[str, ...]) -> str:
    """The heading id MkDocs gives `expbook <path>` (e.g. `expbook-sweep-run`)."""
    return "-".join(("expbook", *path))


def markdown() -> str:
    """One section per command: its summary, then its full `--help` as text."""
    from expbook.cli import cli

    root = _root(cli)
    commands = list(walk(cli, root))
    out = [
        "| command | what it does |",
        "|---|---|",
        *(
            f"| [`expbook {' '.join(p)}`](#{anchor(p)}) | "
            f"{c.command.get_short_help_str(limit=90).replace('|', '/')} |"
            for p, c in commands
        ),
        "",
        "## `expbook`",
        "",
        "```text",
        cli.get_help(root),
        "```",
        "",
    ]
    for path, ctx in commands:
        out += [
            f"## `expbook {' '.join(path)}` {{#{anchor(path)}}}",
            "",
            "```text",
            ctx.command.get_help(ctx),
            "```",
            "",
        ]
    return "\n".join(out)
