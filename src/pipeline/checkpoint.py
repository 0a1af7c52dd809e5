"""Saving and loading training checkpoints (models/best.pt, models/last.pt) atomically.

A checkpoint holds weights, optimizer state, RNG states (global + batch-order generator),
the epoch-level TrainState and the resolved config; nothing time-dependent, so identical
runs give identical file hashes. Used by train (save/resume) and evaluate (load best).
"""

from __future__ import annotations

import os

import torch

from pipeline.fileio import atomic_path


def save(path: str | os.PathLike, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         state: dict, generator: torch.Generator, rng: dict, config: dict, meta: dict) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": {k: state[k] for k in ("plateau_best", "plateau_bad", "plateau_scale")},
               "train_state": state, "epoch": state["epoch"],
               "generator": generator.get_state(), "rng": rng, "config": config, "data": meta}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | os.PathLike) -> dict:
    # our own file, but it holds numpy RNG state and plain containers: not weights_only-safe
    return torch.load(path, map_location="cpu", weights_only=False)
