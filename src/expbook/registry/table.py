"""The registry as a table: filter, sort, cut and pick columns the way `expbook registry` asks;
the readable default a person sees in a terminal; machine formats rendered through the cache.

Called by `expbook registry` (expbook.cli.registry_cmds) and usable from Python:
    rows, cols = table.build(registry.collect("."), table.TableSpec(where="val.acc > 0.9"))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING

from expbook.registry import rendered as _rendered
from expbook.registry.rendered import Rendered

if TYPE_CHECKING:
    from expbook.registry.experiment import Experiment

# always shown by the readable default (then differing params, then metrics)
READABLE_BASE = ("name", "status", "created")
# shown by the readable default only when some row has a value and the rows differ
READABLE_OPTIONAL = ("author", "tags", "models", "sweep", "trial", "errors")
# the registry columns of a readable table, in display order (any other one after them)
_META_ORDER = [*READABLE_BASE, *READABLE_OPTIONAL]
# `--columns all`: every column of every row
ALL = "all"


@dataclass(frozen=True)
class TableSpec:
    """Everything the registry table depends on besides the rows (the CLI's options)."""

    where: str | None = None
    sort_by: str | None = None
    ascending: bool | None = None
    top: int | None = None
    columns: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    only_changed: bool = False

    def cache_key(self, fmt: str) -> tuple:
        """The output-cache key of this table rendered as `fmt` (see rows.collect_rendered)."""
        return ("registry", fmt, *astuple(self))

    @property
    def every_column(self) -> bool:
        return any(c.strip() == ALL for item in self.columns for c in item.split(","))


def prepare(
    rows: Sequence[Mapping],
    spec: TableSpec,
    namespaces: Mapping[str, Iterable[str]] | None = None,
    universe: Sequence[str] | None = None,
) -> tuple[list, list[str]]:
    """(rows, columns) after sorting, --top and the column options; every column by default.

    `universe`: the columns to pick from when `rows` is empty (a --where that matched nothing
    is an empty table with the asked-for columns, not an error; issue 14)."""
    from expbook import output as out

    rows = list(rows)
    all_columns = out.ordered_columns(rows) if rows or universe is None else list(universe)
    if spec.sort_by:
        from expbook.query import resolve_key

        column = resolve_key(spec.sort_by, all_columns, namespaces)
        # --top alone means "the top N", i.e. the largest values first
        descending = (spec.ascending is False) or (spec.ascending is None and spec.top is not None)
        rows = out.sort_rows(rows, column, descending)
    if spec.top is not None:
        rows = rows[: spec.top]
    include = None if spec.every_column else spec.columns
    cols = out.select_columns(all_columns, include, spec.drop)
    if spec.only_changed:
        cols = out.only_changed(rows, cols)
    return rows, cols


def build(experiments: list[Experiment], spec: TableSpec) -> tuple[list, list[str]]:
    """The registry's rows and columns for `spec`: --where, then prepare()."""
    rows, cols, _ = build_with_experiments(experiments, spec)
    return rows, cols


def build_with_experiments(
    experiments: list[Experiment], spec: TableSpec
) -> tuple[list, list[str], list[Experiment]]:
    """build(), plus the Experiment of each flat row (in the same order)."""
    from expbook import output as out
    from expbook.query import filter_experiments, namespaces_of

    everything = experiments
    experiments = filter_experiments(experiments, spec.where)
    flats = [exp.flat() for exp in experiments]
    by_id = {id(row): exp for row, exp in zip(flats, experiments)}
    universe = None
    if not flats:  # nothing matched: the columns still exist in the registry
        universe = out.ordered_columns(exp.flat() for exp in everything)
    rows, cols = prepare(
        flats,
        spec,
        namespaces=namespaces_of(everything if not flats else experiments)
        if spec.sort_by
        else None,
        universe=universe,
    )
    return rows, cols, [by_id[id(row)] for row in rows]


def nested(exp: Experiment, cols: list[str] | None, only_selected: bool) -> dict:
    """One JSON row: Experiment.to_dict() (README "Data shape"), narrowed to the chosen flat
    columns when --columns, --drop or --only-changed were given (fields without a flat column,
    `git_tags` and `outs`, stay unless --columns picks columns)."""
    row = exp.to_dict()
    if cols is None:
        return row
    keep = set(cols)
    flat = set(exp.flat())
    narrowed: dict = {}
    for key, value in row.items():
        if key in ("params", "metrics"):
            part = {k: v for k, v in value.items() if k in keep}
            if part or not only_selected:
                narrowed[key] = part
        elif key in flat:
            if key in keep or (key == "sweep" and "trial" in keep):
                narrowed[key] = value
        elif not only_selected:
            narrowed[key] = value
    return narrowed


def _varies(rows: Sequence[Mapping], col: str) -> bool:
    """True when rows differ in `col` (a single row: when it has a value there)."""
    if not rows:
        return False
    first = rows[0].get(col)
    if len(rows) == 1:
        return first not in (None, "", [])
    return any(row.get(col) != first for row in rows[1:])


def readable_columns(
    rows: Sequence[Mapping],
    columns: Sequence[str],
    width: int | None = None,
    metric_keys: Collection[str] = (),
    sort_by: str | None = None,
    max_cell: int | None = None,
) -> tuple[list[str], dict[str, int]]:
    """The columns a person reads first: name, then status/created and tags/sweep/trial when
    set, the params and metrics whose value differs between rows. With `width`, the columns
    kept are the first that fit in ranking.rank_columns() order (the --sort-by column, key
    metrics, varied params, status... breakdowns such as class_counts.3 last); never less than
    name. Shown grouped: registry columns, params, metrics, each in ranked order.
    Returns (columns, {"constant": n, "width": n} hidden)."""
    from expbook import output as out
    from expbook.output.textable import TextTable
    from expbook.registry import ranking

    varied = [
        c
        for c in columns
        if c in READABLE_BASE
        or ((c in READABLE_OPTIONAL or c not in out.BASE_COLUMNS) and _varies(rows, c))
        and (c != "author" or len({row.get(c) for row in rows} - {None}) > 1)  # a team's
        or (c == "models" and any(row.get(c) for row in rows))  # any version or stage
    ]
    hidden = {"constant": len(columns) - len(varied), "width": 0}
    meta = [c for c in varied if c in out.BASE_COLUMNS and c != "name"]
    data = [c for c in varied if c not in out.BASE_COLUMNS]
    ranked = ranking.rank_columns(
        [c for c in data if c not in metric_keys],
        [c for c in data if c in metric_keys],
        data,
        sort_by,
        meta,
    )
    keep = {"name"} if "name" in varied else set()
    if width is None:
        keep.update(ranked)
    else:
        names = out.short_names(varied)
        sizes = TextTable(varied, names, max_cell=max_cell).measure(rows).widths
        total = 1 + sum(sizes[c] + 3 for c in keep)
        for col in ranked:  # the most wanted first; one too wide leaves room for narrower ones
            if total + sizes[col] + 3 <= width:
                keep.add(col)
                total += sizes[col] + 3
            else:
                hidden["width"] += 1
    groups = (
        sorted((c for c in varied if c in out.BASE_COLUMNS), key=_META_ORDER.index),
        [c for c in ranked if c not in metric_keys and c not in out.BASE_COLUMNS],
        [c for c in ranked if c in metric_keys],
    )
    return [c for group in groups for c in group if c in keep], hidden


def readable_table(
    experiments: list[Experiment], spec: TableSpec, width: int | None = None
) -> tuple[list, list[str], dict[str, int] | None]:
    """The terminal table: build(), then readable_columns() unless spec names --columns.
    Returns (rows, columns, hidden counts or None)."""
    from expbook.query import namespaces_of, resolve_key

    rows, cols, shown = build_with_experiments(experiments, spec)
    if spec.columns:
        return rows, cols, None
    metrics = namespaces_of(shown)["metrics"]
    sort_col = resolve_key(spec.sort_by, cols, namespaces_of(shown)) if spec.sort_by else None
    cols, hidden = readable_columns(rows, cols, width, metrics, sort_col)
    return rows, cols, hidden


def hidden_line(hidden: Mapping[str, int]) -> str | None:
    """The one line under a readable table: how many columns it hid and how to show them
    (under 80 characters at any count)."""
    total = sum(hidden.values())
    if not total:
        return None
    why = []
    if hidden.get("constant"):
        why.append(f"{hidden['constant']} constant")
    if hidden.get("width"):
        why.append(f"{hidden['width']} too wide")
    return f"{total} columns hidden ({', '.join(why)}): see --columns all"


def render_output(
    repo: str | os.PathLike,
    fmt: str,
    spec: TableSpec,
    *,
    all_commits: bool = False,
    baseline: str | None = None,
    warn: Callable[[str], None] | None = None,
    exp_commits: bool = False,
) -> Rendered:
    """The registry as json or csv, cached under the repository's state plus spec and fmt:
    on an unchanged repository, an open cached file that Rendered.write_to() streams to
    stdout (nothing rendered or loaded). JSON rows are nested (Experiment.to_dict()), CSV rows
    flat. `warn` gets error_summary() of the rows (also on a cache hit)."""

    plain_json = fmt == "json" and spec == TableSpec()

    def render(experiments: list[Experiment]) -> tuple:
        from expbook import output as out

        if plain_json:
            # every row as it is: no flat rows or columns to build (~1 s at 100k)
            n = len(experiments)
            return out.to_json_records(e.to_dict() for e in experiments), n, {"rows": n}
        rows, cols, chosen = build_with_experiments(experiments, spec)
        if fmt == "json":
            narrowed = bool(spec.columns or spec.drop or spec.only_changed)
            selected = bool(spec.columns) and not spec.every_column
            text = out.to_json_records(
                [nested(e, cols if narrowed else None, selected) for e in chosen]
            )
        else:
            text = out.render(rows, cols, fmt)
        return text, len(rows)

    extend = _extend_json if plain_json else None
    return cached_text(
        repo, spec.cache_key(fmt), render, all_commits, baseline, warn, exp_commits, extend
    )


def _extend_json(path: str, kept: dict | None, added: list[Experiment]) -> tuple | None:
    """The cached JSON at `path` with the `added` rows spliced in (rendered.Extend)."""
    import mmap

    from expbook.registry.increment import splice_json

    if not kept or type(kept.get("rows")) is not int:
        return None
    with open(path, "rb") as fh:  # mapped, not read: the pieces are slices of the map
        try:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return None
        grown = splice_json(data, added)
    if grown is None:
        return None
    rows = kept["rows"] + len(added)
    return grown, rows, {"rows": rows}


def cached_text(
    repo: str | os.PathLike,
    options: tuple,
    render: Callable[[list[Experiment]], tuple],
    all_commits: bool,
    baseline: str | None,
    warn: Callable[[str], None] | None,
    exp_commits: bool,
    extend: _rendered.Extend | None = None,
) -> Rendered:
    """`render(rows) -> (text, row count[, kept])` of the registry, through the
    rendered-output cache under the repository's state plus `options` (`extend`: see
    rendered.rendered); `warn` gets error_summary() of the rows."""
    mode = "exp" if all_commits and exp_commits else bool(all_commits)
    result = _rendered.rendered(repo, options, render, mode, baseline, extend)
    if result.warning and warn is not None:
        warn(result.warning)
    return result


def collect_checked(
    repo: str | os.PathLike,
    *,
    all_commits: bool = False,
    baseline: str | None = None,
    warn: Callable[[str], None] | None = None,
    exp_commits: bool = False,
) -> list[Experiment]:
    """collect(), handing `warn` error_summary() of the rows when some have errors."""
    from expbook.registry.rows import collect, error_summary

    experiments = collect(repo, all_commits=all_commits, baseline=baseline, exp_commits=exp_commits)
    warning = error_summary(experiments)
    if warning and warn is not None:
        warn(warning)
    return experiments


__all__ = [
    "ALL",
    "TableSpec",
    "build",
    "build_with_experiments",
    "cached_text",
    "collect_checked",
    "hidden_line",
    "nested",
    "prepare",
    "readable_columns",
    "readable_table",
    "render_output",
]


def collect_rendered(
    repo: str | os.PathLike,
    options: tuple,
    render: Callable[[list[Experiment]], str],
    *,
    all_commits: bool = False,
    baseline: str | None = None,
    warn: Callable[[str], None] | None = None,
    exp_commits: bool = False,
) -> str:
    """`render(collect(repo))`, cached under the same state fingerprint as collect() plus
    `options` (everything else the text depends on: format, filter, sort, columns...).

    An unchanged repository is answered from one file read, without building any row; a
    moved ref, a new note, queue change, edited work-tree file or DVC cache change renders
    afresh. `render` may raise (e.g. a bad --where): nothing is cached then. `warn` is called
    with error_summary() of the rows when some have errors (also on a cache hit).
    """
    result = cached_text(
        repo, options, lambda rows: (render(rows), None), all_commits, baseline, warn, exp_commits
    )
    return result.text()
