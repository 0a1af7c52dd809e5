"""The `expbook` command line: a thin click layer; each command group lives in its own module.

Commands are imported lazily so that `expbook registry --format json` stays fast.
"""

from __future__ import annotations

import errno
import importlib
from typing import Any

import click

from expbook import __version__
from expbook.cli.options import CONTEXT_SETTINGS
from expbook.errors import ExpbookError

# command name -> "module:attribute" (a click.Command); modules are imported on use
COMMANDS: dict[str, str] = {
    "registry": "expbook.cli.registry_cmds:registry",
    "show": "expbook.cli.inspect_cmds:show",
    "compare": "expbook.cli.inspect_cmds:compare",
    "best": "expbook.cli.registry_cmds:best",
    "note": "expbook.cli.annotate_cmds:note",
    "tag": "expbook.cli.annotate_cmds:tag",
    "push": "expbook.cli.annotate_cmds:push",
    "pull": "expbook.cli.annotate_cmds:pull",
    "fetch": "expbook.cli.team_cmds:fetch",
    "plot": "expbook.cli.plot_cmds:plot",
    "export": "expbook.cli.plot_cmds:export",
    "sweep": "expbook.cli.sweep_cmds:sweep",
    "stats": "expbook.cli.stats_cmds:stats",
    "reproduce": "expbook.cli.repro_cmds:reproduce",
    "check": "expbook.cli.repro_cmds:check",
    "verify": "expbook.cli.verify_cmds:verify",
    "gc": "expbook.cli.gc_cmds:gc",
    "ui": "expbook.cli.ui_cmds:ui",
    "report": "expbook.cli.ui_cmds:report",
    "init": "expbook.cli.init_cmds:init",
    "model": "expbook.cli.model_cmds:model",
}


class CliError(click.ClickException):
    """An ExpbookError as click shows it: `Error: <message>` on stderr, the error's exit code."""

    def __init__(self, err: ExpbookError) -> None:
        from expbook.output.render import escape_control

        super().__init__(escape_control(str(err)))  # user text never moves the terminal (issue 19)
        self.exit_code = err.exit_code  # type: ignore[misc]  # click declares it on the class


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked or listed."""

    def invoke(self, ctx: click.Context) -> Any:
        from expbook import proc

        proc.install()  # SIGTERM unwinds like Ctrl-C: children stopped, worktrees removed
        try:
            return super().invoke(ctx)
        except ExpbookError as err:
            raise CliError(err) from err
        except OSError as exc:
            # stdout on a full disk (`> /dev/full`), a dead terminal: one line, no traceback
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                raise
            where = f" {exc.filename}" if exc.filename else " the output"
            raise CliError(ExpbookError(f"cannot write{where}: {exc.strerror}")) from None
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM, after every cleanup ran
            code = proc.exit_code(exc)
            what = "terminated (SIGTERM)" if code == 143 else "interrupted (Ctrl-C)"
            click.echo(f"\nexpbook: {what}; stopped its child processes", err=True)
            raise click.exceptions.Exit(code) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a command group not built yet
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="expbook")
def cli() -> None:
    """expbook: query, compare, sweep and reproduce DVC experiments, straight from git.

    \b
    Every command answers -h/--help; commands that print data take -f/--format
    (table, json, csv, md, html), --json (short for -f json) and -o/--out FILE.

    \b
    Example:
        expbook registry --where "val.acc > 0.9" --sort-by val.acc
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="expbook")
