"""A small subset of dvclive's `Live` that writes the same files, byte for byte (a test
compares them), for a stage that DVC already runs: metrics.json, per-metric TSV curves
under plots/metrics/ and sklearn-style plot JSON under plots/sklearn/.

Why not dvclive itself: `import dvclive` pulls in pandas and DVC and opens the DVC repo,
~0.7 s per stage process, more than this demo's training. `from dvclive import Live` is a
drop-in replacement when you want its extras (Studio live updates, images, reports).
Used by train and evaluate through pipeline.runtime.open_live.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import curves
from pipeline.fileio import atomic_path

# what Live(resume=False) clears before logging: its plot folders and summary files
_PLOT_DIRS = ("metrics", "images", "sklearn", "custom")
_FILES = ("metrics.json", "params.yaml", "report.html", "report.md", "dvc.yaml")


class Live:
    def __init__(self, dir: str | os.PathLike, resume: bool = False) -> None:
        self.dir = Path(dir)
        self.plots_dir = self.dir / "plots"
        self.metrics_file = self.dir / "metrics.json"
        self.summary: dict[str, Any] = {}
        self._step: int | None = None
        self.dir.mkdir(parents=True, exist_ok=True)
        if resume:
            if self.metrics_file.exists():
                with open(self.metrics_file, encoding="utf-8") as fobj:
                    self.summary = json.load(fobj)
            self._step = self.summary.get("step", 0)
            if self._step != 0:
                self._step += 1
        else:
            for sub in _PLOT_DIRS:
                shutil.rmtree(self.plots_dir / sub, ignore_errors=True)
            for name in _FILES:
                (self.dir / name).unlink(missing_ok=True)

    @property
    def step(self) -> int:
        return self._step or 0

    @step.setter
    def step(self, value: int) -> None:
        self._step = value

    def log_metric(self, name: str, val: float) -> None:
        """Append (step, val) to plots/metrics/<name>.tsv; the summary keeps the latest."""
        if isinstance(val, float) and not math.isfinite(val):
            val = str(val)  # dvclive logs nan/inf as text
        path = self.plots_dir / "metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with open(path, "a", encoding="utf-8", newline="") as fobj:
            writer = csv.writer(fobj, delimiter="\t", lineterminator=os.linesep)
            if new:
                writer.writerow(["step", os.path.basename(name)])
            writer.writerow([self.step, val])
        *parents, leaf = os.path.normpath(name).split(os.path.sep)
        node = self.summary
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = val

    def log_sklearn_plot(
        self, kind: str, labels, predictions, name: str | None = None, **kwargs
    ) -> None:
        """`confusion_matrix` (labels, predicted labels), `roc` or `precision_recall`
        (binary labels, scores; kwargs: drop_intermediate) to plots/sklearn/<name>."""
        if kind == "confusion_matrix":
            data: Any = [
                {"actual": str(a), "predicted": str(p)} for a, p in zip(labels, predictions)
            ]
        elif kind == "roc":
            fpr, tpr, thr = curves.roc(np.asarray(labels), np.asarray(predictions), **kwargs)
            data = {"roc": _rows(fpr=fpr, tpr=tpr, threshold=thr)}
        elif kind == "precision_recall":
            prec, rec, thr = curves.precision_recall(
                np.asarray(labels), np.asarray(predictions), **kwargs
            )
            data = {"precision_recall": _rows(precision=prec, recall=rec, threshold=thr)}
        else:
            raise ValueError(f"unsupported plot kind {kind!r}")
        file = (name or kind).removesuffix(".json") + ".json"
        _dump_json(data, self.plots_dir / "sklearn" / file)

    def make_summary(self) -> None:
        if self._step is not None:
            self.summary["step"] = self.step
        _dump_json(self.summary, self.metrics_file)


def _rows(**columns: np.ndarray) -> list[dict]:
    """Column arrays -> list of row dicts, cut to the shortest column (as dvclive's zip)."""
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*(c.tolist() for c in columns.values()))]


def _dump_json(data: Any, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fobj:
        json.dump(data, fobj, indent=4)
        fobj.write("\n")
