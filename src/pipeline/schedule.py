"""Learning-rate schedule and the epoch-level training state that a checkpoint must carry
(plateau and early-stopping counters, best epoch), as plain functions/dataclasses. Used by train.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pipeline.config import TrainConfig


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    global_step: int = 0  # optimizer steps taken
    best_val_loss: float = math.inf
    best_val_acc: float = 0.0
    best_epoch: int = -1
    bad_epochs: int = 0  # epochs since val loss last improved (early stopping)
    plateau_best: float = math.inf
    plateau_bad: int = 0
    plateau_scale: float = 1.0
    # no wall-clock fields: checkpoints must hash identically across identical runs

    def to_dict(self) -> dict:
        return asdict(self)


def lr_factor(
    cfg: TrainConfig, state: TrainState, step_in_epoch: int, steps_per_epoch: int
) -> float:
    """Multiplier of train.lr for the optimizer step about to be taken (pure: resumable)."""
    epoch = state.epoch
    if epoch < cfg.warmup_epochs:
        return (epoch * steps_per_epoch + step_in_epoch + 1) / (cfg.warmup_epochs * steps_per_epoch)
    e = epoch - cfg.warmup_epochs
    if cfg.scheduler == "step":
        return cfg.gamma ** (e // cfg.step_size)
    if cfg.scheduler == "cosine":
        total = max(cfg.epochs - cfg.warmup_epochs, 1)
        return 0.5 * (1 + math.cos(math.pi * min(e, total) / total))
    if cfg.scheduler == "plateau":
        return state.plateau_scale
    return 1.0


def end_epoch(cfg: TrainConfig, state: TrainState, val_loss: float, val_acc: float) -> bool:
    """Update counters after an epoch's validation; returns True if this epoch is the new best."""
    state.epoch += 1
    improved = val_loss < state.best_val_loss
    if improved:
        state.best_val_loss, state.best_val_acc, state.best_epoch = (
            val_loss,
            val_acc,
            state.epoch - 1,
        )
        state.bad_epochs = 0
    else:
        state.bad_epochs += 1
    if cfg.scheduler == "plateau" and state.epoch > cfg.warmup_epochs:
        if val_loss < state.plateau_best:
            state.plateau_best, state.plateau_bad = val_loss, 0
        else:
            state.plateau_bad += 1
            if state.plateau_bad > cfg.plateau_patience:
                state.plateau_scale *= cfg.gamma
                state.plateau_bad = 0
    return improved


def should_stop_early(cfg: TrainConfig, state: TrainState) -> bool:
    return cfg.early_stopping_patience > 0 and state.bad_epochs >= cfg.early_stopping_patience
