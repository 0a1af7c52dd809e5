"""The dashboard's table data: registry rows kept in memory, refreshed when the repo changes,
filtered with the --where language, searched, sorted, grouped and paged for `/api/table`.

Used by expbook.ui.server (one RepoData per app) and expbook.ui.report; no web framework here.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from expbook import registry
from expbook.errors import ExpbookError, QueryError
from expbook.query import columns_of, compile_where, parse
from expbook.registry.gitrepo import GitRepo, find_root
from expbook.registry.ranking import rank_columns

META_COLUMNS = (
    "name", "kind", "status", "created", "rev", "baseline", "tags", "notes", "sweep", "author",
)  # fmt: skip
MAX_WHERE = 4000  # characters; a longer expression is refused before parsing
MAX_LIMIT = 1000  # rows per page
STALE_S = 3.0  # workspace edits (no ref moves) show up within this many seconds


@dataclass
class Snapshot:
    """One read of the registry: rows, their flat form (for --where) and the column groups."""

    rows: list[registry.Experiment]
    flat: list[dict[str, Any]]
    params: list[str]
    metrics: list[str]
    columns: list[str] = field(default_factory=list)  # every flat key, for compile_where
    taken: float = field(default_factory=time.monotonic)
    by_name: dict[str, registry.Experiment] = field(default_factory=dict)  # unique names, revs
    dicts: dict[int, dict[str, Any]] = field(default_factory=dict)  # row index -> to_dict() (lazy)
    filters: dict[str, list[int]] = field(default_factory=dict)  # where -> matching indexes
    varying: list[str] = field(default_factory=list)  # params/metrics that differ between rows
    ranked: list[str] = field(default_factory=list)  # params/metrics, most wanted first

    @classmethod
    def of(cls, rows: list[registry.Experiment]) -> Snapshot:
        params = list(dict.fromkeys(k for r in rows for k in r.params))
        metrics = list(dict.fromkeys(k for r in rows for k in r.metrics))
        flat = [r.flat() for r in rows]
        snap = cls(rows, flat, params, metrics, columns_of(flat))
        snap.varying = varying_columns(rows, params, metrics)
        # the terminal table's ranking (issue 18): the dashboard's default columns follow it
        snap.ranked = rank_columns(params, metrics, snap.varying)
        if len({r.author for r in rows if r.author}) > 1:  # a team's rows: who ran each (issue 23)
            snap.varying.append("author")
        seen: dict[str, int] = {}
        for r in rows:
            seen[r.name] = seen.get(r.name, 0) + 1
            snap.by_name[r.rev] = r
        for r in rows:
            if seen[r.name] == 1:  # an ambiguous name goes to registry.resolve: it lists them
                snap.by_name[r.name] = r
        return snap

    def row_dict(self, i: int) -> dict[str, Any]:
        d = self.dicts.get(i)
        if d is None:
            d = self.dicts[i] = self.rows[i].to_dict()
        return d

    def matching(self, where: str) -> list[int]:
        """Indexes of the rows `where` keeps (all for an empty expression); QueryError as the CLI."""
        where = where.strip()
        if not where:
            return list(range(len(self.rows)))
        hits = self.filters.get(where)  # requests run in threads: read once, never re-look-up
        if hits is None:
            if len(where) > MAX_WHERE:
                raise QueryError(f"where expression too long ({len(where)} > {MAX_WHERE} chars)")
            try:
                parse(where)
                pred = compile_where(
                    where,
                    self.columns,
                    {"params": self.params, "metrics": self.metrics},
                )
                hits = [i for i, row in enumerate(self.flat) if pred(row)]
            except RecursionError:
                raise QueryError("where expression is nested too deeply") from None
            if len(self.filters) > 32:
                self.filters.clear()
            self.filters[where] = hits
        return hits


class RepoData:
    """The registry of one repo, read once and re-read when refs move (state of one app)."""

    def __init__(self, repo: str | os.PathLike[str]) -> None:
        from expbook.registry.view import RemoteView, view_of

        self.root = find_root(repo)
        remote = view_of(repo)
        if remote is not None:  # `--remote NAME`: the remote's experiments (issue 23)
            self.root = RemoteView(self.root, remote)
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._stamp: tuple[dict[str, Any], int] | None = None
        self._refreshing = False
        # commit sha -> its curves (commits are immutable)
        self.curves: dict[str, dict[str, Any]] = {}

    def _state(self) -> tuple[GitRepo, int]:
        g = GitRepo(self.root)
        g.refs()
        head = os.path.join(g.git_dir, "HEAD")
        return g, os.stat(head).st_mtime_ns

    def _fresh(self) -> bool:
        if self._snap is None or self._stamp is None:
            return False
        g = GitRepo(self.root)
        try:
            head = os.stat(os.path.join(g.git_dir, "HEAD")).st_mtime_ns
            return head == self._stamp[1] and g.refs_unchanged(self._stamp[0])
        except (OSError, KeyError):
            return False

    def _read(self) -> Snapshot:
        g, head = self._state()
        rows = registry.collect(self.root)
        snap = Snapshot.of(rows)
        self._snap, self._stamp = snap, (g.ref_stamp(), head)
        return snap

    def snapshot(self) -> Snapshot:
        """The current rows: re-read at once when a ref moved (new experiment, note, sweep
        trial, gc); otherwise reused, and refreshed in the background after STALE_S so that
        edited work-tree files show up too."""
        with self._lock:
            if not self._fresh():
                return self._read()
            snap = self._snap
            assert snap is not None
            if time.monotonic() - snap.taken > STALE_S and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._background, daemon=True).start()
            return snap

    def _background(self) -> None:
        try:
            with self._lock:
                self._read()
        except (ExpbookError, OSError):
            pass  # the next request re-reads and reports it
        finally:
            self._refreshing = False

    def find(self, name: str) -> registry.Experiment:
        snap = self.snapshot()
        hit = snap.by_name.get(name)
        return hit if hit is not None else registry.resolve(self.root, name, snap.rows)


def varying_columns(
    rows: Sequence[registry.Experiment], params: Sequence[str], metrics: Sequence[str]
) -> list[str]:
    """The params, then metrics, whose value differs between rows (all of them for one row):
    the table's default columns, as `expbook registry` shows by default."""
    if len(rows) < 2:
        return [*params, *metrics]
    out = []
    for key in params:
        first = rows[0].params.get(key)
        if any(r.params.get(key) != first for r in rows[1:]):
            out.append(key)
    for key in metrics:
        first = rows[0].metrics.get(key)
        if any(r.metrics.get(key) != first for r in rows[1:]):
            out.append(key)
    return out


def default_metric(metrics: Sequence[str], varying: Sequence[str]) -> str:
    """The metric a page shows when none is asked for: among those that differ between rows,
    a validation/test accuracy-like one first (never a constant such as a dataset size)."""
    short = {m: m.rsplit(":", 1)[-1].lower() for m in metrics}
    vary = [m for m in metrics if m in set(varying)] or list(metrics)
    for test in (
        lambda k: k in ("val.acc", "test.acc", "val/acc", "test/acc"),
        lambda k: k.startswith(("val", "test", "eval")) and ("acc" in k or "f1" in k),
        lambda k: "acc" in k or "f1" in k or "auc" in k or "score" in k,
        lambda k: k.startswith(("val", "test", "eval")),
    ):
        hit = next((m for m in vary if test(short[m])), None)
        if hit:
            return hit
    return vary[0] if vary else ""


# ---------------------------------------------------------------- table operations
def _sort_key(value: Any, desc: bool) -> tuple[int, float, str]:
    # missing values last in both directions, numbers before text
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0.0, "")
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (int, float)):
        return (0, -value if desc else value, "")
    return (1, 0.0, str(value))


def sort_indexes(
    flat: Sequence[Mapping[str, Any]], idx: list[int], column: str, desc: bool
) -> list[int]:
    keyed = [(_sort_key(flat[i].get(column), desc), i) for i in idx]
    text = [k for k in keyed if k[0][0] == 1]
    rest = [k for k in keyed if k[0][0] != 1]
    rest.sort(key=lambda k: k[0])
    text.sort(key=lambda k: k[0][2], reverse=desc)
    ordered = [k for k in rest if k[0][0] == 0] + text + [k for k in rest if k[0][0] == 2]
    return [i for _, i in ordered]


def search(flat: Sequence[Mapping[str, Any]], idx: list[int], text: str) -> list[int]:
    """Quick search: rows whose name, rev, message, tags or notes contain `text`."""
    needle = text.strip().lower()
    if not needle:
        return idx
    out = []
    for i in idx:
        row = flat[i]
        hay = " ".join(
            [str(row.get("name")), str(row.get("rev")), str(row.get("message") or "")]
            + [str(t) for t in row.get("tags") or []]
            + [str(n) for n in row.get("notes") or []]
            + [str(row.get("sweep") or "")]
        ).lower()
        if needle in hay:
            out.append(i)
    return out


def mean_std(values: Sequence[Any]) -> dict[str, Any]:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    nums = [v for v in nums if math.isfinite(v)]
    if not nums:
        return {"n": 0, "mean": None, "std": None}
    mean = sum(nums) / len(nums)
    # n = 1 has no spread: None (shown "–"), never a "± 0" that reads as a measured zero
    std = math.sqrt(sum((v - mean) ** 2 for v in nums) / (len(nums) - 1)) if len(nums) > 1 else None
    return {"n": len(nums), "mean": mean, "std": std}


# the columns that say which row it is, not what it measured
_ROW_META = frozenset(
    [
        "name",
        "rev",
        "kind",
        "baseline",
        "ref",
        "created",
        "status",
        "message",
        "branches",
        "tags",
        "notes",
        "sweep",
        "trial",
        "errors",
        "author",
        "models",
    ]
)


def duplicates(flat: Sequence[Mapping[str, Any]], idx: list[int]) -> set[int]:
    """The workspace rows of `idx` that repeat their baseline commit's row (same params and
    metrics): one run, counted once in group statistics (issue 21)."""
    by_rev = {flat[i].get("rev"): i for i in idx if flat[i].get("kind") != "workspace"}
    out = set()
    for i in idx:
        row = flat[i]
        twin = by_rev.get(row.get("baseline")) if row.get("kind") == "workspace" else None
        if twin is None:
            continue
        other = flat[twin]
        keys = (set(row) | set(other)) - _ROW_META
        if all(row.get(k) == other.get(k) for k in keys):
            out.add(i)
    return out


def group_by(
    flat: Sequence[Mapping[str, Any]], idx: list[int], key: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """One entry per value of param `key`: its rows' count and mean ± std (ddof=1) of metrics;
    a workspace row equal to its baseline commit is not counted twice."""
    buckets: dict[str, list[int]] = {}
    values: dict[str, Any] = {}
    twins = duplicates(flat, idx)
    for i in idx:
        if i in twins:
            continue
        value = flat[i].get(key)
        label = repr(value) if not isinstance(value, str) else value
        buckets.setdefault(label, []).append(i)
        values[label] = value
    out = []
    for label, members in buckets.items():
        out.append(
            {
                "value": values[label],
                "label": label,
                "n": len(members),
                "names": [flat[i]["name"] for i in members][:200],
                "metrics": {m: mean_std([flat[i].get(m) for i in members]) for m in metrics},
            }
        )
    out.sort(key=lambda g: _sort_key(g["value"], False))
    return out


def table(data: RepoData, args: Mapping[str, str]) -> dict[str, Any]:
    """The `/api/table` answer: one page of rows (Experiment.to_dict() shape) after where,
    search and sort, the total, the column groups and (with `group`) per-value statistics."""
    snap = data.snapshot()
    idx = snap.matching(args.get("where", ""))
    idx = search(snap.flat, idx, args.get("q", ""))
    sort = args.get("sort", "")
    desc = args.get("desc", "") in ("1", "true")
    if sort:
        if sort not in META_COLUMNS and sort not in snap.params and sort not in snap.metrics:
            raise QueryError(f"unknown sort column {sort!r}")
        idx = sort_indexes(snap.flat, idx, "sweep" if sort == "sweep" else sort, desc)
    offset = _int(args.get("offset", "0"), "offset", 0, None)
    limit = _int(args.get("limit", "100"), "limit", 1, MAX_LIMIT)
    out: dict[str, Any] = {
        "total": len(idx),
        "count": len(snap.rows),
        "offset": offset,
        "limit": limit,
        "columns": {
            "meta": list(META_COLUMNS),
            "params": snap.params,
            "metrics": snap.metrics,
            "varying": snap.varying,
            "ranked": snap.ranked,
        },
        "rows": [snap.row_dict(i) for i in idx[offset : offset + limit]],
    }
    # per metric: {"mode": "min"|"max"|None, "source", "label"} (registry.directions)
    found, error = metric_directions(data.root, snap.metrics)
    out["columns"]["directions"] = found
    if error:
        out["columns"]["directions_error"] = error
    key = args.get("group", "")
    if key:
        if key not in snap.params and key not in snap.metrics and key not in META_COLUMNS:
            raise QueryError(f"unknown group column {key!r}")
        out["groups"] = group_by(snap.flat, idx, key, snap.metrics)
    return out


def metric_directions(
    root: str, metrics: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Each metric's direction for the dashboard (which way is better, and why): the
    project's [tool.expbook.directions], else the name; with the message of a declaration
    that cannot be read (the names alone decide then)."""
    from expbook.registry import directions

    error = None
    try:
        declared = directions.load_declared(root)
    except directions.DirectionError as err:
        declared, error = {}, str(err)
    out = {}
    for key in metrics:
        found = directions.resolve(key, None, declared)
        out[key] = {"mode": found.mode, "source": found.source, "label": found.label}
    return out, error


def _int(text: str, name: str, low: int, high: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ExpbookError(f"{name} must be an integer, got {text[:40]!r}") from None
    if value < low or (high is not None and value > high):
        raise ExpbookError(f"{name} must be between {low} and {high or 'any'}, got {value}")
    return value
