"""The registry as a text table (issue 18): a bounded page for a terminal, cached like the
JSON output so that a warm page is one file copied; every row streamed, a row at a time, for
`--all`, a pipe or a file.

Called by `expbook registry` (expbook.cli.registry_cmds):
    tabletext.write(sys.stdout, registry.collect("."), TableSpec(), View(width=None))
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import IO, TYPE_CHECKING

from expbook.registry import table
from expbook.registry.table import TableSpec

if TYPE_CHECKING:
    from expbook.output.textable import Sink
    from expbook.registry.experiment import Experiment
    from expbook.registry.rendered import Rendered

PAGE_UNKNOWN = 50  # rows of a terminal page when the terminal's height is unknown
PAGE_MIN = 10
# lines around a page's rows: header (3), bottom rule, hidden-columns line, rows-left-out
# line, the shell's prompt
PAGE_CHROME = 7
# a terminal cell's widest value; longer ones end in "…" (a pipe or a file gets them whole)
MAX_CELL = 32


@dataclass(frozen=True)
class View:
    """How the table is laid out: fit `width` columns (None: no limit), at most `rows` rows
    (None: every row), bold header (`color`), full keys, readable columns or every column."""

    width: int | None = None
    rows: int | None = None
    color: bool = False
    full_names: bool = False
    readable: bool = True


def page_rows(lines: int | None) -> int:
    """Rows of a terminal page: what fits `lines` under the table's chrome (at least PAGE_MIN)."""
    if not lines or lines <= 0:
        return PAGE_UNKNOWN
    return max(lines - PAGE_CHROME, PAGE_MIN)


def _plain(spec: TableSpec) -> bool:
    """No option that needs every row flattened (filter, sort, column choice)."""
    return not (spec.where or spec.sort_by or spec.columns or spec.drop or spec.only_changed)


def select(
    experiments: list[Experiment], spec: TableSpec, limit: int | None
) -> tuple[list, list[str], set[str], str | None, int]:
    """(flat rows of the page, their columns, metric keys, the --sort-by column, rows in all).

    Without --where/--sort-by/column options only the page's rows are flattened: the first
    `limit` in the registry's order (workspace, then each baseline's newest experiments
    first); otherwise every row is (the filter and the sort need them), then cut."""
    from expbook import output as out
    from expbook.query import namespaces_of, resolve_key

    if _plain(spec) and limit is not None:
        total = len(experiments) if spec.top is None else min(len(experiments), spec.top)
        chosen = experiments[: min(limit, total)]
        rows = [e.flat() for e in chosen]
        cols = out.ordered_columns(rows)
    else:
        rows, cols, chosen = table.build_with_experiments(experiments, spec)
        total = len(rows)
        if limit is not None:
            rows, chosen = rows[:limit], chosen[:limit]
    metrics = namespaces_of(chosen)["metrics"]
    sort_col = None
    if spec.sort_by and cols:
        sort_col = resolve_key(spec.sort_by, cols, namespaces_of(chosen))
    return rows, cols, metrics, sort_col, total


def left_out_line(total: int, shown: int) -> str | None:
    """The line under a page that did not show every row (under 80 characters)."""
    if shown >= total:
        return None
    return f"{total - shown} of {total} rows not shown: -n N, --where or --all shows them"


def write(stream: Sink, experiments: list[Experiment], spec: TableSpec, view: View) -> int:
    """The table of `experiments` for `spec` laid out as `view`, written a row at a time to
    `stream`, then the hidden-columns and rows-left-out lines. Returns the rows written."""
    from expbook import output as out
    from expbook.output.textable import TextTable

    rows, cols, metrics, sort_col, total = select(experiments, spec, view.rows)
    max_cell = MAX_CELL if view.width is not None else None
    hidden = None
    if view.readable and not spec.columns:
        cols, hidden = table.readable_columns(rows, cols, view.width, metrics, sort_col, max_cell)
    names = {c: c for c in cols} if view.full_names else out.short_names(cols)
    text = TextTable(cols, names, max_cell=max_cell, color=view.color).measure(rows)
    n = text.write(stream, rows)
    for line in (table.hidden_line(hidden) if hidden else None, left_out_line(total, n)):
        if line:
            stream.write(line + "\n")
    return n


def render_page(
    repo: str | os.PathLike,
    spec: TableSpec,
    view: View,
    *,
    all_commits: bool = False,
    baseline: str | None = None,
    warn: Callable[[str], None] | None = None,
    exp_commits: bool = False,
) -> Rendered:
    """write() as text, cached by the registry's rendered-output cache under the repository's
    state, `spec` and `view` (an unchanged repository: one file copied, no row built)."""

    def render(experiments: list[Experiment]) -> tuple[str, int]:
        buf = io.StringIO()
        n = write(buf, experiments, spec, view)
        return buf.getvalue(), n

    key = ("registry-page", *astuple(spec), *astuple(view))
    return table.cached_text(repo, key, render, all_commits, baseline, warn, exp_commits)


class Utf8Out:
    """A text stream over stdout's binary buffer: what is printed reaches the terminal as
    UTF-8 bytes, also once `import dvc` wrapped sys.stdout in colorama (see Rendered)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._raw = getattr(stream, "buffer", None)
        if self._raw is not None:
            stream.flush()

    def write(self, text: str) -> int:
        if self._raw is None:
            self._stream.write(text)
        else:
            self._raw.write(text.encode())
        return len(text)

    def flush(self) -> None:
        (self._raw or self._stream).flush()
