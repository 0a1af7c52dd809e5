"""Sweep output: the live rich progress bar and the summary tables (top trials, Pareto front).

Used by `expbook sweep` (live) and `expbook sweep status/best` (after the fact, from git).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from expbook.sweep.ranking import RankedConfig, rank_trials
from expbook.sweep.record import SETTLED, TrialRecord
from expbook.sweep.spec import Metric

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.table import Table
    from rich.text import Text


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "-" if v is None else str(v)


def _cell(text: str) -> Text:
    """A table cell of user text (trial names, param keys and values, metric keys from a
    pulled state ref): control characters escaped, and no rich markup (`[link=...]` would
    print a clickable terminal hyperlink, `[red]` recolour the table)."""
    from rich.text import Text

    from expbook.output.render import escape_control

    return Text(escape_control(text))


def metrics_of(spec: dict[str, Any]) -> list[Metric]:
    """Metrics of a stored spec (state JSON) as Metric objects."""
    return [Metric(m["key"], m["mode"]) for m in spec.get("metrics", [])]


class Progress:
    """trials done/total, running, best so far and ETA; drawn on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress: RichProgress | None = None

    def start(self, total: int, done: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "sweep", total=total, completed=done, info="starting workers"
        )

    def update(self, records: Sequence[TrialRecord], running: int, metrics: list[Metric]) -> None:
        if self._progress is None:
            return
        done = sum(1 for r in records if r.status in SETTLED)
        total = max(done + running, len(records))
        ranked = rank_trials(records, metrics)
        best = ranked[0]["values"][0] if ranked and ranked[0]["status"] == "success" else None
        failed = sum(1 for r in records if r.status == "failed")
        info = f"running {running}, best {metrics[0].key}={_fmt(best)}"
        if failed:
            info += f", failed {failed}"
        self._progress.update(self._task, completed=done, total=total, info=info)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def summary_table(
    records: Sequence[TrialRecord], metrics: list[Metric], top: int = 10, title: str = "top trials"
) -> Table:
    """A rich Table of the best configs (seeds averaged), promoted runs after them."""
    from rich.table import Table

    ranked = rank_trials(records, metrics, include_failed=True)[:top]
    promoted = rank_trials(records, metrics, kind="promote")
    table = Table(title=title)
    for col in ("#", "trials", "status", *[f"{m.key} ({m.mode})" for m in metrics], "params"):
        table.add_column(_cell(col))
    for i, e in enumerate(ranked + promoted, 1):
        tag = "promoted " if e in promoted else ""
        table.add_row(
            str(i),
            _cell(", ".join(e["trials"])),
            _cell(tag + e["status"]),
            *[_cell(_fmt(v)) for v in e["values"]],
            _cell(" ".join(f"{k}={_fmt(v)}" for k, v in (e["config"] or {}).items())),
        )
    return table


def pareto_table(front: list[RankedConfig], metrics: list[Metric]) -> Table:
    from rich.table import Table

    table = Table(title="Pareto front")
    for col in ("trials", *[m.key for m in metrics], "params"):
        table.add_column(_cell(col))
    for e in front:
        table.add_row(
            _cell(", ".join(e["trials"])),
            *[_cell(_fmt(v)) for v in e["values"]],
            _cell(" ".join(f"{k}={_fmt(v)}" for k, v in (e["config"] or {}).items())),
        )
    return table


def failures(records: Sequence[TrialRecord]) -> list[str]:
    """`name: first line of its error` of each failed trial (control characters escaped)."""
    from expbook.output.render import escape_control

    return [
        escape_control(f"{r.name}: {r.error.splitlines()[0] if r.error else ''}")
        for r in records
        if r.status == "failed"
    ]
