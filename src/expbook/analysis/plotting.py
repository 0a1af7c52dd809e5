"""Overlay one dvclive step curve from several experiments: a PNG (matplotlib Agg) or a self-contained HTML.

Used by `expbook plot`; takes plain (label, Curve) pairs so a Python user can call it directly.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from expbook.analysis.curves import Curve
from expbook.errors import ExpbookError
from expbook.output import write_output

PLOT_FORMATS = {".png": "png", ".svg": "svg", ".html": "html", ".htm": "html"}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or an ExpbookError naming the `plot` extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on servers/CI; must precede pyplot
        import matplotlib.pyplot as plt
    except ImportError:
        raise ExpbookError(
            "plots are drawn with matplotlib, which is not installed: pip install 'expbook[plot]'"
        ) from None
    return plt


def _figure(metric: str, series: Sequence[tuple[str, Curve]]) -> Any:  # a matplotlib Figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, curve in series:
        ax.plot(
            curve.steps, curve.values, marker="." if len(curve.steps) < 30 else None, label=label
        )
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.grid(True, alpha=0.3)
    ax.legend(title="experiment")
    fig.tight_layout()
    return fig, plt


def render_plot(metric: str, series: Sequence[tuple[str, Curve]], fmt: str) -> bytes:
    """The plot as png/svg bytes, or a standalone HTML page with the SVG inline."""
    if not series:
        raise ExpbookError(f"nothing to plot for {metric!r}")
    fig, plt = _figure(metric, series)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png" if fmt == "png" else "svg", dpi=110)
    finally:
        plt.close(fig)
    if fmt in ("png", "svg"):
        return buf.getvalue()
    svg = buf.getvalue().decode()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog/doctype: not allowed inside HTML
    labels = "".join(f"<li>{escape(label)}: {escape(curve.path)}</li>" for label, curve in series)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(metric)}'
        '</title></head>\n<body style="font-family:sans-serif">\n'
        f"<h2>{escape(metric)}</h2>\n{svg}\n<ul>{labels}</ul>\n</body></html>\n"
    ).encode()


def plot_format(output: str | os.PathLike[str], formats: dict[str, str]) -> str:
    """The format `output`'s extension names; ExpbookError listing the known ones otherwise."""
    ext = Path(output).suffix.lower()
    if ext not in formats:
        raise ExpbookError(
            f"cannot plot to {str(output)!r}: use one of {', '.join(sorted(formats))}"
        )
    return formats[ext]


def plot_curves(
    metric: str,
    series: Sequence[tuple[str, Curve]],
    output: str | os.PathLike[str],
    *,
    force: bool = False,
) -> Path:
    """Write the overlay to `output`; the format comes from its extension."""
    fmt = plot_format(output, PLOT_FORMATS)
    write_output(output, render_plot(metric, series, fmt), force=force)
    return Path(output)
