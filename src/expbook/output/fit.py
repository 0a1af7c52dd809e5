"""Text that fits a terminal: the width to fit (COLUMNS, the terminal, else 80), long values
folded under their key, and small tables laid out by rich within that width (issue 18).

Used by the `show`, `compare`, `stats`, `reproduce` and `best --by-group` printers.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from expbook.output.render import escape_control

DEFAULT_WIDTH = 80  # a pipe or a file gets what fits a standard terminal
MIN_WIDTH = 40  # below this nothing readable fits; lines may then run over


def output_width() -> int:
    """The width to fit: $COLUMNS, else the terminal's, else 80 (never under MIN_WIDTH)."""
    cols = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return max(cols if cols > 0 else DEFAULT_WIDTH, MIN_WIDTH)


def cells(text: str) -> int:
    """How many terminal columns `text` takes (a CJK character or an emoji takes two)."""
    from rich.cells import cell_len

    return cell_len(text)


def _cut(word: str, room: int) -> list[str]:
    """`word` cut into pieces of at most `room` terminal columns (at least one character)."""
    pieces, piece, used = [], "", 0
    for ch in word:
        w = cells(ch)
        if piece and used + w > room:
            pieces.append(piece)
            piece, used = "", 0
        piece, used = piece + ch, used + w
    return pieces + [piece] if piece else pieces


def wrap_cells(text: str, room: int) -> list[str]:
    """`text` wrapped at spaces into lines of at most `room` terminal columns, counted as a
    terminal shows them (issue 18: CJK text ran to twice the width); longer words are cut."""
    lines: list[str] = []
    line, used = "", 0
    for word in text.expandtabs().split():
        w = cells(word)
        if line and used + 1 + w <= room:
            line, used = f"{line} {word}", used + 1 + w
            continue
        if line:
            lines.append(line)
        *full, last = _cut(word, room) if w > room else [word]
        lines += full
        line, used = last, cells(last)
    return lines + [line] if line else lines


def fold(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    """`text` (one logical line) folded to `width` terminal columns: `first` (default `indent`)
    before the first piece, `indent` before the others; words longer than the room are cut."""
    first = indent if first is None else first
    text = escape_control(text)
    room = max(width - max(cells(first), cells(indent)), 10)
    pieces = wrap_cells(text, room) or [""]
    return [(first if i == 0 else indent) + piece for i, piece in enumerate(pieces)]


def fold_pairs(
    pairs: Sequence[tuple[str, str]], width: int, indent: str = "  ", max_key: int = 32
) -> list[str]:
    """Aligned `key  value` lines within `width`: a value that does not fit continues on the
    next lines under itself, and a key longer than `max_key` puts its value on its own lines."""
    if not pairs:
        return []
    keys = [escape_control(k) for k, _ in pairs]
    key_w = min(max(cells(k) for k in keys), max_key)
    lines: list[str] = []
    for key, (_, value) in zip(keys, pairs):
        if cells(key) > key_w or cells(indent) + key_w + 2 + 10 > width:
            lines += fold(key, width, indent)
            lines += fold(value, width, indent + "    ")
            continue
        head = f"{indent}{key}{' ' * (key_w - cells(key))}  "
        lines += fold(value, width, " " * cells(head), first=head)
    return lines


NARROW = 60  # below this many columns a table of five or more columns is slivers of text


def fit_blocks(
    title: str | None, blocks: Sequence[tuple[str, Sequence[tuple[str, str]]]], width: int
) -> str:
    """What a table shows, for a terminal too narrow for it (under NARROW columns): `title`,
    then per row its heading and aligned `key  value` lines (empty values left out)."""
    lines = fold(title, width) if title else []
    for head, pairs in blocks:
        lines += ["", *fold(head, width)]
        lines += fold_pairs([(k, v) for k, v in pairs if v], width)
    return "\n".join(lines) + "\n"


def fit_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    width: int,
    *,
    headers: Mapping[str, str] | None = None,
    right: Sequence[str] = (),
    title: str | None = None,
    box: bool = True,
    indent: int = 0,
) -> str:
    """A rich table of `rows` (cells already text) in at most `width` columns: cells fold
    rather than run over (rich shares the width out between columns)."""
    from rich import box as boxes
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str: rich reads "[max, declared]" or a param value "[b, c]" in a str as markup
    table = Table(
        title=Text(escape_control(title)) if title else None,
        box=boxes.SQUARE if box else None,
        header_style="bold",
        show_edge=box,
        pad_edge=box,
        title_justify="left",
    )
    for col in columns:
        table.add_column(
            Text(escape_control((headers or {}).get(col, col))),
            justify="right" if col in right else "left",
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(Text(escape_control(str(row.get(c, "")))) for c in columns))
    with open(os.devnull, "w") as sink:
        console = Console(width=max(width - indent, 20), record=True, file=sink, color_system=None)
        console.print(table)
        text = console.export_text()
    lines = [(" " * indent + line).rstrip() for line in text.splitlines()]
    return "\n".join(lines) + "\n"
