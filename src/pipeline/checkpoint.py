"""Saving and loading training checkpoints (models/best.pt, models/last.pt) atomically.

A checkpoint holds weights, optimizer state, RNG states (global + batch-order generator),
the epoch-level TrainState and the resolved config; nothing time-dependent, so identical
runs give identical file hashes. Used by train (save/resume) and evaluate (load best).
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

import torch

from pipeline.fileio import atomic_path


def save(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict,
    generator: torch.Generator,
    rng: dict,
    config: dict,
    meta: dict,
) -> None:
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": {k: state[k] for k in ("plateau_best", "plateau_bad", "plateau_scale")},
        "train_state": state,
        "epoch": state["epoch"],
        "generator": generator.get_state(),
        "rng": rng,
        "config": config,
        "data": meta,
    }
    payload = _canonical(payload)
    # into memory first: torch.save names the zip's records after the file it writes, and a
    # random temp-file name would make identical checkpoints hash differently
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _canonical(obj: Any) -> Any:
    """Fresh containers with interned strings: pickle memoizes strings by identity, so
    a resumed run (keys loaded from a checkpoint) would otherwise pickle different bytes."""
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_canonical(v) for v in obj)
    if type(obj) is str:
        return sys.intern(obj)
    return obj


def load(path: str | os.PathLike) -> dict:
    # our own file, but it holds numpy RNG state and plain containers: not weights_only-safe
    return torch.load(path, map_location="cpu", weights_only=False)
