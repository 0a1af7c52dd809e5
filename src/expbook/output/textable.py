"""A plain text table written a row at a time (the look of rich's default box), so that
`expbook registry` prints 100k rows in O(rows) without building the whole text or importing
rich (issue 18). Cells are made safe for a terminal: control characters never reach it.

Used by expbook.registry.table (the terminal page and `--all`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
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
    """A table laid out once (measure(): every cell's text, column widths, alignment), then
    written a batch of lines at a time (write())."""

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
        self._cells: list[list[str]] = []  # column-major: each column's texts, row by row
        self._ascii: list[bool] = []  # per column: every text is ASCII (one cell a char)

    def _texts(self, rows: Sequence[Mapping[str, Any]], col: str) -> tuple[list[str], bool]:
        """The cell texts of column `col` (as output.cell() shows them, made safe and
        clipped) and whether it holds a number. Plain str/int/float values skip cell()."""
        limit = self.max_cell
        texts: list[str] = []
        numeric = False
        special = col in ("rev", "baseline")  # cell() shortens their 40-character shas
        for row in rows:
            v = row.get(col)
            text: str
            if type(v) is str and not special:
                text = v
            elif type(v) is float:
                text, numeric = f"{v:.6g}", True
            elif type(v) is int:  # not a bool: cell() writes true/false
                text, numeric = str(v), True
            else:
                text = cell(v, col)
            if not text.isprintable():
                text = safe(text)
            if limit is not None and len(text) > limit // 2:  # cheap test first: ≤2 cells a char
                text = clip(text, limit)
            texts.append(text)
        return texts, numeric

    def measure(self, rows: Sequence[Mapping[str, Any]]) -> TextTable:
        """Lay out `rows`: every cell's text, each column's width and alignment (a column
        holding a number is right-aligned, as rich aligns it)."""
        self._cells, self._ascii = [], []
        for col in self.columns:
            texts, numeric = self._texts(rows, col)
            widest = max(map(len, texts), default=0)
            ascii_only = all(map(str.isascii, texts))
            if not ascii_only:
                widest = max(map(width_of, texts), default=0)
            self._ascii.append(ascii_only)
            self.widths[col] = max(self.widths[col], widest)
            self.numeric[col] = numeric
            self._cells.append(texts)
        return self

    @property
    def width(self) -> int:
        """Characters per line: a border per column plus one, a space each side of a cell."""
        return 1 + sum(w + 3 for w in self.widths.values())

    def _rule(self, left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (self.widths[c] + 2) for c in self.columns) + right + "\n"

    def _pad(self, col: str, text: str) -> str:
        # str.ljust/rjust count characters: a wide character takes two cells, one char
        room = self.widths[col] - (width_of(text) - len(text) if not text.isascii() else 0)
        return text.rjust(room) if self.numeric[col] else text.ljust(room)

    def _padded(self, i: int, start: int, end: int) -> list[str]:
        """Column i's texts of rows start..end, padded to its width."""
        col, texts = self.columns[i], self._cells[i][start:end]
        if not self._ascii[i]:
            return [self._pad(col, t) for t in texts]
        w = self.widths[col]
        return [t.rjust(w) for t in texts] if self.numeric[col] else [t.ljust(w) for t in texts]

    def header(self) -> str:
        cells = [self._pad(c, self.names[c]) for c in self.columns]
        if self.color:
            cells = [f"{_BOLD}{t}{_RESET}" for t in cells]
        line = "┃ " + " ┃ ".join(cells) + " ┃\n"
        return self._rule("┏", "━", "┳", "┓") + line + self._rule("┡", "━", "╇", "┩")

    def footer(self) -> str:
        return self._rule("└", "─", "┴", "┘")

    def write(self, stream: Sink) -> int:
        """Header, every measured row (BATCH lines per write), footer to `stream`; returns
        the rows written."""
        stream.write(self.header())
        n = len(self._cells[0]) if self._cells else 0
        for start in range(0, n, BATCH):
            end = start + BATCH
            parts = [self._padded(i, start, end) for i in range(len(self.columns))]
            stream.write("".join("│ " + " │ ".join(cells) + " │\n" for cells in zip(*parts)))
        stream.write(self.footer())
        return n
