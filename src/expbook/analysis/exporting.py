"""Export experiments' dvclive step curves as one CSV per experiment (step, timestamp, every metric).

Used by `expbook export`; the CSVs open directly in pandas or a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from expbook.analysis.curves import Curve
from expbook.output import check_output_path, write_output


def metric_number(value: Any) -> float | None:
    """A metric value as an exporter's float (booleans as 0/1); None for text, NaN, lists."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def curves_csv(curves: Mapping[str, Curve]) -> str:
    """One table: a row per step, a column per metric; timestamp is the latest seen at that step."""
    steps: dict[int, dict[str, Any]] = {}
    for name, curve in curves.items():
        for i, (step, value) in enumerate(zip(curve.steps, curve.values)):
            row = steps.setdefault(step, {"step": step, "timestamp": None})
            row[name] = value
            stamp = curve.timestamps[i] if i < len(curve.timestamps) else None
            if stamp is not None and (row["timestamp"] is None or stamp > row["timestamp"]):
                row["timestamp"] = stamp
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = list(curves)
    writer.writerow(["step", "timestamp", *names])
    for step in sorted(steps):
        row = steps[step]
        writer.writerow(
            [
                step,
                "" if row["timestamp"] is None else row["timestamp"],
                *("" if row.get(n) is None else row[n] for n in names),
            ]
        )
    return buf.getvalue()


def safe_filename(name: str) -> str:
    """A file name for an experiment name (no path separators or odd characters)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "experiment"


def export_curves(
    items: Sequence[tuple[str, Mapping[str, Curve]]],
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
) -> list[Path]:
    """Write `<out_dir>/<name>.csv` for each (name, curves); names made unique. Returns the paths."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        from expbook.errors import ExpbookError

        raise ExpbookError(f"-o {str(out_dir)!r} is a file; export needs a directory")
    planned, used = [], set()
    for name, curves in items:
        base = stem = safe_filename(name)
        n = 2
        while stem in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem)
        planned.append((out_dir / f"{stem}.csv", curves))
    for path, _ in planned:  # refuse before writing any, so a refusal leaves nothing half-done
        check_output_path(path, force=force)
    for path, curves in planned:
        write_output(path, curves_csv(curves), force=force)
    return [path for path, _ in planned]
