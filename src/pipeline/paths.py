"""Every file the pipeline reads or writes, declared once (dvc.yaml's deps/outs mirror these).

Imported by all stages and by tests; paths are relative to the repository root (the stage cwd).
"""

from pathlib import Path

PARAMS = Path("params.yaml")

# prepare
PREPARED_DIR = Path("data/prepared")
PREPARED_META = PREPARED_DIR / "meta.json"
PREPARE_METRICS = Path("metrics/prepare.json")

# train
MODELS_DIR = Path("models")
BEST_CKPT = MODELS_DIR / "best.pt"
LAST_CKPT = MODELS_DIR / "last.pt"
TRAIN_LIVE_DIR = Path("metrics/train")
TRAIN_METRICS = TRAIN_LIVE_DIR / "metrics.json"
TRAIN_PLOTS_DIR = TRAIN_LIVE_DIR / "plots"
# per-optimizer-step curves, in dvclive's TSV layout so `dvc plots` reads them
STEP_PLOTS_DIR = TRAIN_PLOTS_DIR / "metrics" / "step"
ENVIRONMENT = TRAIN_LIVE_DIR / "environment.json"

# evaluate
EVAL_LIVE_DIR = Path("metrics/evaluate")
EVAL_METRICS = EVAL_LIVE_DIR / "metrics.json"
EVAL_PLOTS_DIR = EVAL_LIVE_DIR / "plots"
MISCLASSIFIED_PNG = Path("plots/misclassified.png")


def split_file(split: str, kind: str) -> Path:
    """Array file of one split: kind 'X' (float32 features) or 'y' (int64 labels)."""
    return PREPARED_DIR / f"{kind}_{split}.npy"


SPLITS = ("train", "val", "test")
