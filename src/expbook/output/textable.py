"""A plain text table written a row at a time (the look of rich's default box), so that
`expbook registry` prints 100k rows in O(rows) without building the whole text or importing
rich (issue 18). Cells are made safe for a terminal: control characters never reach it.

Used by expbook.registry.table (the terminal page and `--all`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from expbook.output.render import cell, escape_control

# rows written per write() call when streaming
BATCH = 500
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"
_BLANKS = str.maketrans("\t\n", "  ")


def safe(text: str) -> str:
    """`text` on one line with every control character shown escaped (an escape sequence in a
    tag or a name cannot reach the terminal; output.escape_control)."""
    return text if text.isprintable() else escape_control(text).translate(_BLANKS)


def width_of(text: str) -> int:
    """Terminal cells `text` takes (wide East Asian characters 2, combining marks 0)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def clip(text: str, limit: int | None) -> str:
    """`text` cut to `limit` cells, ending in "…" when cut."""
    if limit is None or width_of(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        w = width_of(ch)
        if used + w > limit - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


class Sink(Protocol):
    """Where a table is written: a text stream (sys.stdout, StringIO, tabletext.Utf8Out)."""

    def write(self, text: str, /) -> object: ...


class TextTable:
    """Column widths fixed up front (measure()), then header(), row() per row and footer()."""

    def __init__(
        self,
        columns: Sequence[str],
        names: Mapping[str, str],
        *,
        max_cell: int | None = None,
        color: bool = False,
    ) -> None:
        self.columns = list(columns)
        self.names = {c: clip(safe(names[c]), max_cell) for c in self.columns}
        self.max_cell = max_cell
        self.color = color
        self.widths = {c: width_of(self.names[c]) for c in self.columns}
        self.numeric = dict.fromkeys(self.columns, False)

    def text(self, row: Mapping[str, Any], col: str) -> str:
        return clip(safe(cell(row.get(col), col)), self.max_cell)

    def measure(self, rows: Iterable[Mapping[str, Any]]) -> TextTable:
        """Widen the columns to fit `rows`; a column with a number is right-aligned (as rich)."""
        widths, numeric, text = self.widths, self.numeric, self.text
        for col in self.columns:
            w, num = widths[col], numeric[col]
            for row in rows:
                value = row.get(col)
                if not num and isinstance(value, (int, float)) and not isinstance(value, bool):
                    num = True
                cw = width_of(text(row, col))
                if cw > w:
                    w = cw
            widths[col], numeric[col] = w, num
        return self

    @property
    def width(self) -> int:
        """Characters per line: a border per column plus one, a space each side of a cell."""
        return 1 + sum(w + 3 for w in self.widths.values())

    def _rule(self, left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (self.widths[c] + 2) for c in self.columns) + right + "\n"

    def _line(self, texts: Sequence[str], bar: str, bold: bool = False) -> str:
        cells = []
        for col, t in zip(self.columns, texts):
            pad = " " * (self.widths[col] - width_of(t))
            t = f"{pad}{t}" if self.numeric[col] else f"{t}{pad}"
            cells.append(f"{_BOLD}{t}{_RESET}" if bold and self.color else t)
        return bar + " " + f" {bar} ".join(cells) + " " + bar + "\n"

    def header(self) -> str:
        return (
            self._rule("┏", "━", "┳", "┓")
            + self._line([self.names[c] for c in self.columns], "┃", bold=True)
            + self._rule("┡", "━", "╇", "┩")
        )

    def row(self, row: Mapping[str, Any]) -> str:
        return self._line([self.text(row, c) for c in self.columns], "│")

    def footer(self) -> str:
        return self._rule("└", "─", "┴", "┘")

    def write(self, stream: Sink, rows: Iterable[Mapping[str, Any]]) -> int:
        """Header, every row (BATCH at a time), footer to `stream`; returns the rows written."""
        stream.write(self.header())
        n, batch = 0, []
        for row in rows:
            batch.append(self.row(row))
            n += 1
            if len(batch) >= BATCH:
                stream.write("".join(batch))
                batch.clear()
        stream.write("".join(batch) + self.footer())
        return n
