"""How commands print what they computed, in the format `-f/--format` asked for: JSON data,
rows rendered by expbook.output, or a command's own text; to stdout or to `-o FILE`.

Presentation only (no registry reading); used by the *_cmds modules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click


def json_text(data: Any, indent: int = 2) -> str:
    return json.dumps(data, indent=indent, default=str) + "\n"


def emit(text: str | bytes, output: str | None, what: str = "", *, force: bool = False) -> None:
    """Print `text`, or write it safely to `output` (output.write_output; `-`: stdout) and say
    so on stderr."""
    from expbook.output import emit as write

    write(text, output, force=force)
    if output not in (None, "-"):
        click.echo(f"wrote {output}{f' ({what})' if what else ''}", err=True)


def emit_data(
    fmt: str,
    output: str | None,
    *,
    data: Callable[[], Any],
    rows: Callable[[], tuple[Sequence[Mapping[str, Any]], list[str]]],
    text: Callable[[], str] | None = None,
    title: str | None = None,
    force: bool = False,
) -> None:
    """One result in any format: json -> data(); table -> text() (a command's own layout) or
    the rows as a table; csv/md/html -> the rows rendered by expbook.output."""
    if fmt == "json":
        emit(json_text(data()), output, "json", force=force)
        return
    if fmt == "table" and text is not None:
        emit(text(), output, force=force)
        return
    from expbook.output import render

    table_rows, columns = rows()
    emit(
        render(table_rows, columns, fmt, full_names=True, title=title),
        output,
        f"{len(table_rows)} rows, {fmt}",
        force=force,
    )


def mapping_lines(
    title: str, mapping: Mapping[str, Any], fmt: Callable[[Any], str] | None = None
) -> list[str]:
    """`title:` then one aligned `key  value` line per item (short key names), long values
    folded to the terminal's width and control characters escaped; [] when empty."""
    if not mapping:
        return []
    from expbook.output import cell, short_names
    from expbook.output.fit import fold_pairs, output_width

    names = short_names(list(mapping))
    pairs = [(names[key], fmt(value) if fmt else cell(value)) for key, value in mapping.items()]
    return [f"\n{title}:", *fold_pairs(pairs, output_width())]
