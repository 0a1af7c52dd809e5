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
    experiments: list[Experiment], spec: TableSpec, limit: int | None, total: int | None = None
) -> tuple[list, list[str], set[str], str | None, int, list[Experiment]]:
    """(flat rows of the page, their columns, metric keys, the --sort-by column, rows in all,
    the page's Experiments). `total`: the rows in all when `experiments` is only the page.

    Without --where/--sort-by/column options only the page's rows are flattened: the first
    `limit` in the registry's order (workspace, then each baseline's newest experiments
    first); otherwise every row is (the filter and the sort need them), then cut."""
    from expbook import output as out
    from expbook.query import namespaces_of, resolve_key

    if _plain(spec) and limit is not None:
        total = len(experiments) if total is None else total
        total = total if spec.top is None else min(total, spec.top)
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
    return rows, cols, metrics, sort_col, total, chosen


def left_out_line(total: int, shown: int) -> str | None:
    """The line under a page that did not show every row (under 80 characters)."""
    if shown >= total:
        return None
    return f"{total - shown} of {total} rows not shown: -n N, --where or --all shows them"


def write(
    stream: Sink,
    experiments: list[Experiment],
    spec: TableSpec,
    view: View,
    total: int | None = None,
) -> tuple[int, int, list[Experiment]]:
    """The table of `experiments` for `spec` laid out as `view`, written a row at a time to
    `stream`, then the hidden-columns and rows-left-out lines. Returns (rows written, rows in
    all, the Experiments written). `total`: see select()."""
    from expbook.registry.cache import no_gc

    with no_gc():  # 100k rows of small dicts and strings, no cycles: GC passes cost ~10%
        return _write(stream, experiments, spec, view, total)


def _write(
    stream: Sink, experiments: list[Experiment], spec: TableSpec, view: View, total: int | None
) -> tuple[int, int, list[Experiment]]:
    from expbook import output as out
    from expbook.output.textable import TextTable

    rows, cols, metrics, sort_col, total, chosen = select(experiments, spec, view.rows, total)
    max_cell = MAX_CELL if view.width is not None else None
    hidden = None
    if view.readable and not spec.columns:
        cols, hidden = table.readable_columns(rows, cols, view.width, metrics, sort_col, max_cell)
    names = {c: c for c in cols} if view.full_names else out.short_names(cols)
    text = TextTable(cols, names, max_cell=max_cell, color=view.color).measure(rows)
    n = text.write(stream)
    for line in (table.hidden_line(hidden) if hidden else None, left_out_line(total, n)):
        if line:
            stream.write(line + "\n")
    return n, total, chosen


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

    extendable = spec == TableSpec() and view.rows is not None

    def render(experiments: list[Experiment]) -> tuple:
        buf = io.StringIO()
        n, total, chosen = write(buf, experiments, spec, view)
        return buf.getvalue(), n, _kept(chosen, total) if extendable else None

    def extend(_path: str, kept: dict | None, added: list[Experiment]) -> tuple | None:
        """The page with `added` rows merged in (rendered.Extend): rows before the page's
        end are shown, the others counted."""
        from expbook.registry.experiment import _from_plain

        if not kept or type(kept.get("total")) is not int or view.rows is None:
            return None
        page = [_from_plain(dict(v)) for v in kept["rows"]]
        merged = merge_page(page, added, view.rows, kept["total"])
        if merged is None:
            return None
        buf = io.StringIO()
        total = kept["total"] + len(added)
        n, total, chosen = write(buf, merged, spec, view, total)
        return buf.getvalue(), n, _kept(chosen, total)

    key = ("registry-page", *astuple(spec), *astuple(view))
    return table.cached_text(
        repo, key, render, all_commits, baseline, warn, exp_commits, extend if extendable else None
    )


def _kept(chosen: list[Experiment], total: int) -> dict:
    """What a page keeps to be extended: its rows (plain) and the rows in all."""
    from expbook.registry.experiment import _to_plain

    return {"rows": [dict(_to_plain(e)) for e in chosen], "total": total}


def merge_page(
    page: list[Experiment], added: list[Experiment], limit: int, total: int
) -> list[Experiment] | None:
    """`page` (the first rows of the registry, `total` in all) with the `added` experiments
    (newest first) put where the registry lists them: right after their baseline's row, each
    the newest of its baseline. None when that place cannot be told from the page."""
    from expbook.registry.increment import newest_first

    rows = list(page)
    by_base: dict[str | None, list[Experiment]] = {}
    for row in added:
        by_base.setdefault(row.baseline, []).append(row)
    for base, group in by_base.items():
        at = next((i for i, r in enumerate(rows) if r.rev == base and r.kind == "baseline"), None)
        if at is None:
            if len(page) < min(limit, total) or any(r.baseline == base for r in rows):
                return None  # its baseline's place is not on the page, or its row is missing
            continue  # the baseline's rows come after the page: the new ones too
        following = rows[at + 1] if at + 1 < len(rows) else None
        after = following.__dict__ if following and following.baseline == base else None
        if at + 1 == len(rows) and len(page) < total:
            return None  # the page ends at the baseline row: its first child is unknown
        if not newest_first(group[-1], after):
            return None
        rows[at + 1 : at + 1] = group
    return rows[:limit]


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
