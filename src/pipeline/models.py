"""Model zoo of the example pipeline (`mlp`, `cnn`), built from the train config section.

Used by train (build + fit) and evaluate (rebuild from the checkpoint's resolved config).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pipeline.config import ParamsError, TrainConfig


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden_dims: list, n_classes: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class CNN(nn.Module):
    """3x3 conv + ReLU (+ 2x2 max-pool while the image is large enough) per channel entry."""

    def __init__(self, input_shape: list, channels: list, n_classes: int, dropout: float):
        super().__init__()
        self.input_shape = tuple(input_shape)
        c, h, w = self.input_shape
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * h * w, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, *self.input_shape)))


def build_model(cfg: TrainConfig, input_shape: list, n_classes: int) -> nn.Module:
    if cfg.model == "mlp":
        return MLP(math.prod(input_shape), cfg.hidden_dims, n_classes, cfg.dropout)
    if len(input_shape) != 3:
        raise ParamsError(
            f"params.yaml: train.model 'cnn' needs image inputs [c, h, w]; "
            f"the prepared data has input_shape {input_shape} (use 'mlp')"
        )
    return CNN(input_shape, cfg.channels, n_classes, cfg.dropout)


def parameter_counts(model: nn.Module) -> dict:
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
