"""Export experiments to TensorBoard: one run directory per experiment holding every dvclive
step curve as scalars at their steps (with their wall times), the final metrics as `final/...`
scalars, and the params as hparams (the HParams dashboard lists and compares the runs).

Re-exporting replaces a run's event files, never appends a duplicate. Needs the optional extra
`expbook[tensorboard]`. Used by `expbook export --to tensorboard -o DIR`; then run
`tensorboard --logdir DIR`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expbook.analysis.curves import Curve
from expbook.analysis.exporting import metric_number, safe_filename
from expbook.errors import ExpbookError
from expbook.output import short_names

if TYPE_CHECKING:  # the tensorboard extra, imported on use
    from torch.utils.tensorboard import SummaryWriter

    from expbook.registry import Experiment

EVENTS_PREFIX = "events.out.tfevents."
FINAL = "final/"  # tag prefix of the final (metrics file) values


def require() -> None:
    """ExpbookError naming the extra when tensorboard is not installed (checked before work)."""
    _writer_class()


def _writer_class() -> tuple[type[SummaryWriter], Callable[..., Any]]:
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError:
        raise ExpbookError(
            "exporting to TensorBoard needs the tensorboard extra: "
            "pip install 'expbook[tensorboard]'"
        ) from None
    return SummaryWriter, hparams


def _hparam(value: Any) -> Any:
    """An hparam value TensorBoard accepts: bool/int/float/str (lists and dicts as JSON)."""
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def run_dirs(names: Sequence[str], out_dir: Path) -> list[Path]:
    """One directory per experiment name, made unique the way the CSV export names files."""
    used: set[str] = set()
    out = []
    for name in names:
        base = stem = safe_filename(name)
        n = 2
        while stem in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem)
        out.append(out_dir / stem)
    return out


def export_tensorboard(
    items: Sequence[tuple[Experiment, Mapping[str, Curve]]], out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write one TensorBoard run per (registry Experiment, curves); returns the run dirs."""
    from expbook.analysis.exporting import check_export_target

    summary_writer, hparams = _writer_class()
    check_export_target(out_dir=os.fspath(out_dir))  # never into .git/ or .dvc/ (issue 19)
    out_dir = Path(out_dir)
    params = short_names(sorted({k for exp, _ in items for k in exp.params}))
    metrics = short_names(sorted({k for exp, _ in items for k in exp.metrics}))
    dirs = run_dirs([exp.name for exp, _ in items], out_dir)
    for (exp, curves), run_dir in zip(items, dirs):
        run_dir.mkdir(parents=True, exist_ok=True)
        for old in run_dir.iterdir():  # re-export replaces the run, never duplicates it
            if old.name.startswith(EVENTS_PREFIX) and old.is_file():
                old.unlink()
        writer = summary_writer(log_dir=str(run_dir))
        try:
            for name, curve in sorted(curves.items()):
                for i, (step, value) in enumerate(zip(curve.steps, curve.values)):
                    stamp = curve.timestamps[i] if i < len(curve.timestamps) else None
                    walltime = stamp / 1000 if stamp else None  # dvclive writes milliseconds
                    writer.add_scalar(name, value, global_step=step, walltime=walltime)
            finals = {}
            for key, value in exp.metrics.items():
                number = metric_number(value)
                if number is not None:
                    finals[FINAL + metrics[key]] = number
                    writer.add_scalar(FINAL + metrics[key], number, global_step=0)
            hp = {params[k]: _hparam(v) for k, v in exp.params.items() if v is not None}
            hp["expbook.rev"] = exp.rev
            experiment, start, end = hparams(hp, finals)
            file_writer = writer.file_writer
            assert file_writer is not None  # SummaryWriter() opened it
            for summary in (experiment, start, end):
                file_writer.add_summary(summary)
        finally:
            writer.close()
    return dirs
