"""Loading data/prepared/ into tensors and the classification metrics shared by train and
evaluate (computed from a confusion matrix in torch: no per-batch host syncs, no sklearn import).
"""

from __future__ import annotations

import numpy as np
import torch

from pipeline import paths
from pipeline.config import StageError
from pipeline.fileio import read_json


def load_meta() -> dict:
    if not paths.PREPARED_META.exists():
        raise StageError(f"{paths.PREPARED_META} is missing: run the prepare stage first")
    return read_json(paths.PREPARED_META)


def load_split(split: str, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.from_numpy(np.load(paths.split_file(split, "X")))
    y = torch.from_numpy(np.load(paths.split_file(split, "y")))
    return X.to(device), y.to(device)


def confusion(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Rows = true class, columns = predicted class."""
    idx = target * n_classes + pred
    return torch.bincount(idx, minlength=n_classes * n_classes).view(n_classes, n_classes)


def scores(conf: torch.Tensor) -> dict:
    """Accuracy and macro precision/recall/F1 (0 where undefined, like sklearn's zero_division=0)."""
    conf = conf.double()
    tp = conf.diag()
    support, predicted = conf.sum(1), conf.sum(0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(
        denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp)
    )
    return {
        "acc": (tp.sum() / conf.sum().clamp(min=1)).item(),
        "precision": precision.mean().item(),
        "recall": recall.mean().item(),
        "f1": f1.mean().item(),
        "per_class_acc": recall.tolist(),
    }
