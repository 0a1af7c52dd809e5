"""Stage `prepare`: load digits (or a user CSV), stratified train/val/test split, normalise
with train-only statistics; writes data/prepared/ and dataset stats as metrics.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import paths
from pipeline.config import BaseConfig, ParamsError, PrepareConfig, stage_main
from pipeline.fileio import write_json


@dataclass
class Dataset:
    X: np.ndarray  # (n, features) float
    y: np.ndarray  # (n,) int64 class index
    classes: list  # class index -> label
    input_shape: list  # per-example shape models reshape flat features to


def load_source(cfg: PrepareConfig, fname: str = str(paths.PARAMS)) -> Dataset:
    if cfg.source == "digits":
        from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

        digits = load_digits()
        return Dataset(
            digits.data.astype(np.float64),
            digits.target.astype(np.int64),
            [int(c) for c in digits.target_names],
            [1, 8, 8],
        )
    import pandas as pd

    path = Path(cfg.source)
    if not path.is_file():
        raise ParamsError(
            f"{fname}: prepare.source: no such file {cfg.source!r} (use 'digits' or a CSV path)"
        )
    frame = pd.read_csv(path)
    if cfg.target not in frame.columns:
        raise ParamsError(
            f"{fname}: prepare.target: column {cfg.target!r} not in {cfg.source} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    features = frame.drop(columns=[cfg.target])
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise ParamsError(
            f"{cfg.source}: feature columns must be numeric: {', '.join(map(str, bad))}"
        )
    if features.isna().any().any():
        raise ParamsError(f"{cfg.source}: missing values in feature columns")
    classes, y = np.unique(frame[cfg.target].to_numpy(), return_inverse=True)
    return Dataset(
        features.to_numpy(np.float64),
        y.astype(np.int64),
        [c.item() if hasattr(c, "item") else c for c in classes],
        [features.shape[1]],
    )


def split(ds: Dataset, cfg: PrepareConfig, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Stratified split by the configured fractions, normalised by train-only mean/std."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(ds.y))
    try:
        train_idx, rest = train_test_split(
            idx, train_size=cfg.train_fraction, stratify=ds.y, random_state=seed
        )
        val_share = cfg.val_fraction / (cfg.val_fraction + cfg.test_fraction)
        val_idx, test_idx = train_test_split(
            rest, train_size=val_share, stratify=ds.y[rest], random_state=seed
        )
    except ValueError as err:  # e.g. a class with a single example cannot be stratified
        raise ParamsError(f"{cfg.source}: cannot split with the prepare fractions: {err}") from None
    mean = ds.X[train_idx].mean(axis=0)
    std = ds.X[train_idx].std(axis=0)
    std[std < 1e-8] = 1.0  # constant features (digits' blank border pixels)
    return {
        name: (((ds.X[i] - mean) / std).astype(np.float32), ds.y[i])
        for name, i in (("train", train_idx), ("val", val_idx), ("test", test_idx))
    }


def stats(ds: Dataset, splits: dict) -> dict:
    return {
        "n_classes": len(ds.classes),
        "input_shape": ds.input_shape,
        "size": {name: int(len(y)) for name, (_, y) in splits.items()},
        "class_counts": {
            name: {str(ds.classes[c]): int(n) for c, n in zip(*np.unique(y, return_counts=True))}
            for name, (_, y) in splits.items()
        },
    }


def write_prepared(ds: Dataset, splits: dict, out_dir: Path = paths.PREPARED_DIR) -> None:
    """Write all arrays into a sibling temp dir, then swap it in (never half-written)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, (X, y) in splits.items():
            # .npy, not .npz: zip entries carry timestamps and would change the hash each run
            np.save(tmp / paths.split_file(name, "X").name, X)
            np.save(tmp / paths.split_file(name, "y").name, y)
        write_json(
            tmp / paths.PREPARED_META.name,
            {
                "classes": ds.classes,
                "input_shape": ds.input_shape,
                "n_features": int(ds.X.shape[1]),
            },
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(base: BaseConfig, cfg: PrepareConfig) -> dict:
    ds = load_source(cfg)
    splits = split(ds, cfg, base.seed)
    write_prepared(ds, splits)
    result = stats(ds, splits)
    write_json(paths.PREPARE_METRICS, result)
    return result


def main() -> int:
    def body(params) -> str:
        result = run(params.base, params.prepare)
        return f"prepared {result['size']} ({result['n_classes']} classes) -> {paths.PREPARED_DIR}"

    return stage_main(body)


if __name__ == "__main__":
    sys.exit(main())
