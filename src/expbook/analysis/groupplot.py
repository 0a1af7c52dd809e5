"""Mean step curve ± one standard deviation per group of runs (e.g. seeds of one config), matplotlib.

Used by `expbook plot METRIC --group ...`; takes (label, [Curve]) pairs so Python users can call it.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from expbook.analysis.curves import Curve, match_metric, read_curves
from expbook.analysis.plotting import plot_format, pyplot
from expbook.errors import ExpbookError, NotFoundError
from expbook.output import write_output

if TYPE_CHECKING:
    from expbook.registry import Experiment

PLOT_FORMATS = {".png": "png", ".svg": "svg"}


def mean_curve(curves: Sequence[Curve]) -> tuple[list[int], list[float], list[float], list[int]]:
    """steps, mean, std (ddof=1; 0 where one run has the step) and n per step over some curves.

    Steps are aligned by value, so runs that stopped early (pruned) only count where they ran.
    """
    by_step: dict[int, list[float]] = {}
    for curve in curves:
        for step, value in zip(curve.steps, curve.values):
            if not math.isnan(value):
                by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    means, stds, counts = [], [], []
    for step in steps:
        values = by_step[step]
        mean = math.fsum(values) / len(values)
        var = (
            math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
            if len(values) > 1
            else 0.0
        )
        means.append(mean)
        stds.append(math.sqrt(var))
        counts.append(len(values))
    return steps, means, stds, counts


def group_curves(
    repo: str | os.PathLike[str], groups: Iterable[tuple[str, Sequence[str]]], metric: str
) -> list[tuple[str, list[Curve]]]:
    """(label, curves) for (label, revs) pairs: each rev's dvclive step curve named `metric`.

    Revs without that curve are left out; NotFoundError when no rev has it at all.
    """
    out: list[tuple[str, list[Curve]]] = []
    found = False
    for label, revs in groups:
        curves = []
        for rev in revs:
            available = read_curves(repo, rev)
            try:
                curves.append(available[match_metric(metric, available)])
                found = True
            except NotFoundError:
                continue
        out.append((label, curves))
    if not found:
        raise NotFoundError(f"no experiment in the groups has a step curve {metric!r}")
    return out


def render_group_plot(
    metric: str,
    groups: Sequence[tuple[str, Sequence[Curve]]],
    fmt: str = "png",
    title: str | None = None,
) -> bytes:
    """png/svg bytes: one mean line and a ±std band per group; the legend gives n runs."""
    drawn = [(label, curves) for label, curves in groups if curves]
    if not drawn:
        raise ExpbookError(f"nothing to plot for {metric!r}: no group has a curve")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    try:
        for label, curves in drawn:
            steps, mean, std, _ = mean_curve(curves)
            (line,) = ax.plot(steps, mean, label=f"{label} (n={len(curves)})")
            ax.fill_between(
                steps,
                [m - s for m, s in zip(mean, std)],
                [m + s for m, s in zip(mean, std)],
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.set_title(title or f"{metric}: mean ± std per group")
        ax.grid(True, alpha=0.3)
        ax.legend(title="group")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=110)
    finally:
        plt.close(fig)
    return buf.getvalue()


def plot_group_curves(
    metric: str,
    groups: Sequence[tuple[str, Sequence[Curve]]] | Mapping[str, Sequence[Curve]],
    output: str | os.PathLike[str],
    title: str | None = None,
    *,
    force: bool = False,
) -> Path:
    """Write the mean ± std plot of each group to `output` (.png or .svg), atomically."""
    fmt = plot_format(output, PLOT_FORMATS)
    pairs = list(groups.items()) if isinstance(groups, Mapping) else list(groups)
    data = render_group_plot(metric, pairs, fmt, title)
    write_output(output, data, force=force)
    return Path(output)


def seed_group_series(
    repo: str | os.PathLike[str],
    experiments: Sequence[Experiment],
    metric: str,
    group_by: str | Sequence[str] | None,
) -> list[tuple[str, list[Curve]]]:
    """group_curves() of the seed groups of `experiments`: runs grouped by the params in
    `group_by` (comma-separated or a list; None or "auto": every differing param but seeds)."""
    from expbook.analysis.stats import group_rows, rows_of

    rows, params, metrics = rows_of(experiments)
    if isinstance(group_by, str):
        keys = None if group_by == "auto" else [k.strip() for k in group_by.split(",") if k.strip()]
    else:
        keys = list(group_by) if group_by else None
    grouping = group_rows(rows, params, group_by=keys, metric_keys=metrics)
    return group_curves(
        repo,
        [(label, [r["rev"] for r in members]) for label, _, members in grouping.groups],
        metric,
    )
