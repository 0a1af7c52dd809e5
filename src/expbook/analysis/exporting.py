"""Export experiments' dvclive step curves as one CSV per experiment, a long table (experiment,
curve, step, value, timestamp) in which each curve keeps its own steps; and the one check of
every exporter's output location (-o, a TensorBoard log dir, an MLflow tracking URI).

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
from expbook.errors import ExpbookError
from expbook.output import check_output_dir, check_output_path, write_output


def metric_number(value: Any) -> float | None:
    """A metric value as an exporter's float (booleans as 0/1); None for text, NaN, lists."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def curves_csv(curves: Mapping[str, Curve], experiment: str = "") -> str:
    """One long table, a row per point of every curve: experiment, curve, step, value (and
    timestamp when any curve has one). Each curve keeps its own step axis (issue 18: a table
    keyed by step put epoch 1 of val/acc on the row of optimizer step 1 of train/loss)."""
    stamped = any(t is not None for c in curves.values() for t in c.timestamps)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["experiment", "curve", "step", "value", *(["timestamp"] if stamped else [])])
    for name, curve in curves.items():
        for i, (step, value) in enumerate(zip(curve.steps, curve.values)):
            row: list[Any] = [experiment, name, step, value]
            if stamped:
                stamp = curve.timestamps[i] if i < len(curve.timestamps) else None
                row.append("" if stamp is None else stamp)
            writer.writerow(row)
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
    for (path, curves), (name, _) in zip(planned, items):
        write_output(path, curves_csv(curves, name), force=force)
    return [path for path, _ in planned]


def tracking_store_path(uri: str) -> tuple[Path, str] | None:
    """(local path, "dir" or "file") an MLflow tracking URI writes to: a `file:` store or a
    plain path (a directory), a `sqlite:` database (a file); None for servers and the like."""
    from urllib.parse import unquote

    scheme, sep, rest = uri.partition(":")
    if not sep or len(scheme) == 1 or "/" in scheme or "\\" in scheme:  # a plain path
        return Path(uri), "dir"
    scheme = scheme.lower()
    if scheme == "file":
        if rest.startswith("//"):
            rest = rest[2:]
            rest = rest[rest.index("/") :] if "/" in rest else ""  # drop the (local) host
        return Path(unquote(rest) or "."), "dir"
    if scheme.split("+", 1)[0] == "sqlite":
        _, slashes, path = uri.partition(":///")
        if not slashes or not path or path.startswith(":memory:"):
            return None
        return Path(unquote(path.split("?", 1)[0])), "file"
    return None


def check_export_target(out_dir: str | None = None, tracking_uri: str | None = None) -> None:
    """THE check of where an exporter writes, before any work (issue 19): the -o folder of
    the CSV and TensorBoard exports and the local store an MLflow tracking URI names (given,
    or MLflow's default from MLFLOW_TRACKING_URI) are refused inside .git/ or .dvc/, or when
    a file stands where a folder must be, like every other -o."""
    if out_dir is not None:
        check_output_dir(out_dir)
    if tracking_uri is not None:
        found = tracking_store_path(tracking_uri)
        if found is None:
            return
        path, kind = found
        try:
            if kind == "dir":
                check_output_dir(path)
            else:
                check_output_path(path, force=True)  # an existing database is updated
        except ExpbookError as err:
            raise ExpbookError(f"MLflow tracking URI {tracking_uri!r}: {err}") from None
