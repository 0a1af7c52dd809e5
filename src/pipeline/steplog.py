"""Per-optimizer-step curves in dvclive's TSV layout, buffered in memory and flushed once per
epoch: logging per step through dvclive costs +60-85 % of train time on this tiny model.

Used by train; files land under metrics/train/plots/metrics/step/ so `dvc plots` reads them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from pipeline.fileio import atomic_path

STEP_NAMES = ("loss", "lr", "grad_norm", "samples_per_s", "wallclock_s")


class StepLog:
    """Collects one row per optimizer step; tensors stay on device until `flush()`."""

    def __init__(self, directory: str | os.PathLike, enabled: bool = True):
        self.dir = Path(directory)
        self.enabled = enabled
        self._rows: list[tuple] = []
        self._t_prev = time.perf_counter()
        self._t0 = self._t_prev

    def start(self, elapsed_s: float = 0.0) -> None:
        """(Re)start the clock; `elapsed_s` carries wall-clock time over a resume."""
        self._t_prev = time.perf_counter()
        self._t0 = self._t_prev - elapsed_s

    def add(
        self, step: int, loss: torch.Tensor, lr: float, grad_norm: torch.Tensor, n_samples: int
    ) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        self._rows.append(
            (
                int(time.time() * 1000),
                step,
                loss,
                lr,
                grad_norm,
                n_samples / max(now - self._t_prev, 1e-9),
                now - self._t0,
            )
        )
        self._t_prev = now

    def flush(self) -> None:
        """Append buffered rows to one TSV per curve (one host sync for all the tensors)."""
        if not self._rows:
            return
        stamps, steps, losses, lrs, norms, speeds, walls = zip(*self._rows)
        losses = torch.stack(losses).float().cpu().tolist()
        norms = torch.stack(norms).float().cpu().tolist()
        self.dir.mkdir(parents=True, exist_ok=True)
        for name, values in zip(STEP_NAMES, (losses, lrs, norms, speeds, walls)):
            path = self.dir / f"{name}.tsv"
            new = not path.exists()
            with open(path, "a", encoding="utf-8", newline="") as fobj:
                if new:
                    fobj.write(f"timestamp\tstep\t{name}\n")
                fobj.writelines(f"{t}\t{s}\t{v!r}\n" for t, s, v in zip(stamps, steps, values))
        self._rows.clear()


def truncate_tsvs(
    directory: str | os.PathLike, below_step: int, exclude: str | os.PathLike | None = None
) -> None:
    """Drop rows with step >= below_step from every TSV under `directory` but not under
    `exclude` (after a crash, curves may have run ahead of the checkpoint we resume from)."""
    for path in Path(directory).rglob("*.tsv"):
        if exclude is not None and Path(exclude) in path.parents:
            continue
        with open(path, encoding="utf-8") as fobj:
            lines = fobj.readlines()
        if not lines:
            continue
        header = lines[0].rstrip("\n").split("\t")
        col = header.index("step") if "step" in header else None
        if col is None:
            continue
        kept = [lines[0]] + [ln for ln in lines[1:] if _step_of(ln, col, len(header)) < below_step]
        if len(kept) != len(lines):
            with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fobj:
                fobj.writelines(kept)


def _step_of(line: str, col: int, width: int) -> float:
    """The step of a TSV row; a row cut off by a crash (too few fields, no number) sorts last
    so it is dropped."""
    fields = line.rstrip("\n").split("\t")
    try:
        return int(fields[col]) if len(fields) == width else float("inf")
    except ValueError:
        return float("inf")
