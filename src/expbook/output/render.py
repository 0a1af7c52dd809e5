"""Render registry rows (plain dicts) as a rich table, CSV, Markdown, JSON or HTML.

Used by the expbook commands (the registry's column choice lives in expbook.registry.table).
json/csv never import pandas or rich (speed). Files are written by expbook.output.files.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError
from expbook.output.files import write_output

if TYPE_CHECKING:  # rich is imported on use: json/csv output never loads it
    from rich.table import Table

FORMATS = ("table", "csv", "md", "json", "html")
EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".txt": "table",
}
# the registry's own columns, in display order; anything else is a params/metrics key
BASE_COLUMNS = (
    "name",
    "rev",
    "kind",
    "baseline",
    "ref",
    "created",
    "author",
    "status",
    "message",
    "branches",
    "tags",
    "models",
    "notes",
    "sweep",
    "trial",
    "errors",
)


def format_for(fmt: str | None, path: str | os.PathLike[str] | None) -> str:
    """The output format: explicit --format, else from -o's extension, else a table."""
    if fmt:
        if fmt not in FORMATS:
            raise ExpbookError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    if path is None:
        return "table"
    ext = Path(path).suffix.lower()
    if ext not in EXTENSIONS:
        raise ExpbookError(
            f"cannot tell the format of {str(path)!r} from its extension "
            f"(known: {', '.join(sorted(EXTENSIONS))}); pass --format"
        )
    return EXTENSIONS[ext]


def data_columns(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c not in BASE_COLUMNS]


def ordered_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Base columns first (fixed order), then params/metrics keys in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return [c for c in BASE_COLUMNS if c in seen] + data_columns(seen)


def short_names(columns: Sequence[str]) -> dict[str, str]:
    """Display names: `params.yaml:train.lr` -> `train.lr` when no other column shortens the same."""
    wanted = {c: c.split(":", 1)[1] if ":" in c else c for c in columns}
    counts: dict[str, int] = {}
    for c in columns:
        counts[wanted[c]] = counts.get(wanted[c], 0) + 1
    return {c: wanted[c] if counts[wanted[c]] == 1 else c for c in columns}


def _split_globs(patterns: Iterable[str] | None) -> list[str]:
    return [p.strip() for item in (patterns or ()) for p in item.split(",") if p.strip()]


def select_columns(
    columns: Sequence[str], include: Iterable[str] | None = None, drop: Iterable[str] | None = None
) -> list[str]:
    """Columns kept by --columns globs (in pattern order) minus --drop globs; globs also match short names."""
    short = short_names(columns)

    def hit(col: str, pattern: str) -> bool:
        return fnmatch.fnmatchcase(col, pattern) or fnmatch.fnmatchcase(short[col], pattern)

    include, drop = _split_globs(include), _split_globs(drop)
    if include:
        chosen: dict[str, None] = {}
        for pattern in include:
            matched = [c for c in columns if hit(c, pattern)]
            if not matched:
                raise ExpbookError(
                    f"--columns {pattern!r} matches no column; "
                    f"columns: {', '.join(short[c] for c in columns)}"
                )
            for col in matched:
                chosen.setdefault(col, None)
        columns = list(chosen)
    return [c for c in columns if not any(hit(c, p) for p in drop)]


def only_changed(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """Drop params/metrics columns whose value is the same in every row (base columns stay)."""
    if len(rows) < 2:
        return list(columns)

    def varies(col: str) -> bool:
        first = _hashable(rows[0].get(col))
        return any(_hashable(row.get(col)) != first for row in rows[1:])

    return [c for c in columns if c in BASE_COLUMNS or varies(c)]


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str)


def sort_rows(
    rows: Sequence[Mapping[str, Any]], column: str, descending: bool = False
) -> list[Mapping[str, Any]]:
    """Rows sorted by one column; missing values always last, numbers before strings."""

    def key(row: Mapping[str, Any]) -> float | str:
        value = row[column]
        if isinstance(value, (int, float)):
            return -float(value) if descending else float(value)
        return str(value)

    present = [r for r in rows if r.get(column) is not None]
    missing = [r for r in rows if r.get(column) is None]
    numeric = sorted((r for r in present if isinstance(r[column], (int, float))), key=key)
    text = sorted(
        (r for r in present if not isinstance(r[column], (int, float))), key=key, reverse=descending
    )
    return numeric + text + missing


# ---------------------------------------------------------------- cell text
def cell(value: Any, column: str = "") -> str:
    """A value as a person reads it in a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        if column in ("tags", "models", "notes", "branches"):
            return ", ".join(map(str, value))
        return json.dumps(value, default=str)
    if isinstance(value, dict):
        if column == "errors":  # {file: reason}: the files mark the row; `show` has the reasons
            return ", ".join(map(str, value))
        return json.dumps(value, default=str)
    if column in ("rev", "baseline") and len(str(value)) == 40:
        return str(value)[:7]
    return str(value)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return value


def escape_control(text: str) -> str:
    """`text` with control characters shown escaped (ESC -> `\\x1b`, CR -> `\\r`), so a
    user string printed to a terminal cannot move the cursor, recolour or hide output; tabs
    and newlines are kept."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or ch in "\t\n"
        else (ch.encode("unicode_escape").decode("ascii") if ord(ch) < 0x10000 else ch)
        for ch in text
    )


# ---------------------------------------------------------------- renderers
def render(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    *,
    full_names: bool = False,
    title: str | None = None,
) -> str:
    """Render rows in one of FORMATS; json/csv keep full keys and raw values."""
    if fmt == "json":
        return to_json(rows, columns)
    if fmt == "csv":
        return to_csv(rows, columns)
    names = {c: c for c in columns} if full_names else short_names(columns)
    if fmt == "md":
        return to_markdown(rows, columns, names)
    if fmt == "html":
        return to_html(rows, columns, names, title=title)
    if fmt == "table":
        return to_table(rows, columns, names, title=title)
    raise ExpbookError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def to_json(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A JSON array, one row per line; compact because indent= forces json's slow pure-Python path."""
    columns = list(columns)
    dumps = json.JSONEncoder(default=str, separators=(", ", ": ")).encode
    lines = [
        dumps(row if list(row) == columns else {c: row.get(c) for c in columns}) for row in rows
    ]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def to_json_records(records: Iterable[Mapping[str, Any]]) -> str:
    """A JSON array of nested records (the registry's JSON rows), one per line. `records` may
    be a generator: each record is encoded and dropped (100k row dicts never live at once)."""
    dumps = json.JSONEncoder(default=str, separators=(", ", ": ")).encode
    body = ",\n".join(map(dumps, records))  # a record is never empty text ("{}" at least)
    return "[\n" + body + "\n]\n" if body else "[]\n"


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    plain = (int, float, str)
    for row in rows:
        values = [row.get(c) for c in columns]
        # most cells are numbers/strings: convert only the rest (None, bools, lists)
        writer.writerow([v if type(v) in plain else _csv_cell(v) for v in values])
    return buf.getvalue()


def to_markdown(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], names: Mapping[str, str]
) -> str:
    def esc(text: str) -> str:  # control characters shown escaped: markdown is read in terminals
        return escape_control(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(esc(names[c]) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(esc(cell(row.get(c), c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_html(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    names: Mapping[str, str],
    title: str | None = None,
) -> str:
    from html import escape

    head = "".join(f'<th title="{escape(c)}">{escape(names[c])}</th>' for c in columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(cell(row.get(c), c))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    title = escape(title or "expbook registry")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>\n'
        "<style>table{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "th{background:#f0f0f0}</style></head><body>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"
        "</body></html>\n"
    )


def to_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    names: Mapping[str, str],
    title: str | None = None,
    width: int | None = None,
) -> str:
    """A rich table as text (colour only when printing to a terminal is left to print_table)."""
    from rich.console import Console

    table = rich_table(rows, columns, names, title)
    console = Console(
        width=width or max(natural_width(table), terminal_width()),
        record=True,
        file=open(os.devnull, "w"),  # noqa: SIM115  (closed below)
        color_system=None,
    )
    console.print(table)
    console.file.close()
    return console.export_text()


def rich_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    names: Mapping[str, str],
    title: str | None = None,
) -> Table:
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        numeric = any(
            isinstance(r.get(col), (int, float)) and not isinstance(r.get(col), bool) for r in rows
        )
        table.add_column(names[col], justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(c), c) for c in columns))
    return table


def natural_width(table: Table) -> int:
    """The width a rich table needs with no column squeezed (rich collapses columns to nothing
    when a wide registry does not fit the terminal; overflowing lines stay readable)."""
    from rich.console import Console

    with open(os.devnull, "w") as sink:
        return Console(width=1_000_000, file=sink).measure(table).maximum


def terminal_width() -> int:
    import shutil

    return max(shutil.get_terminal_size((160, 24)).columns, 80)


def emit(text: str | bytes, output: str | os.PathLike[str] | None, *, force: bool = False) -> None:
    """Print to stdout, or write `output` safely and atomically (see `write_output`)."""
    write_output("-" if output is None else output, text, force=force)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    full_names: bool = False,
    title: str | None = None,
) -> None:
    """Print a rich table to stdout: coloured on a terminal, wide plain text when piped."""
    import sys

    from rich.console import Console

    names = {c: c for c in columns} if full_names else short_names(columns)
    tty = sys.stdout.isatty()
    table = rich_table(rows, columns, names, title)
    needed, available = natural_width(table), terminal_width()
    if tty and needed > available:
        print(
            f"note: the table is {needed} characters wide ({len(columns)} columns); narrow it "
            "with --only-changed, --columns/--drop, or page it with `| less -S`",
            file=sys.stderr,
        )
    console = Console(width=max(needed, available), soft_wrap=False)
    console.print(table)
