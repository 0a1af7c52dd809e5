"""Stage `evaluate`: score models/best.pt on the test split; writes metrics/evaluate (test
loss/acc/macro P-R-F1/per-class acc, confusion matrix, ROC and PR curves in dvclive's format)
and plots/misclassified.png. Run by dvc.yaml as `PYTHONPATH=src python -m pipeline.evaluate`.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

from pipeline import checkpoint, paths, runtime
from pipeline.config import BaseConfig, EvaluateConfig, StageError, TrainConfig, stage_main
from pipeline.data import confusion, load_meta, load_split, scores
from pipeline.fileio import atomic_path
from pipeline.models import build_model


@torch.no_grad()
def predict(model: torch.nn.Module, X: torch.Tensor, batch_size: int) -> torch.Tensor:
    model.eval()
    return torch.cat([model(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])


def plot_misclassified(
    X: np.ndarray,
    y: np.ndarray,
    pred: np.ndarray,
    classes: list,
    input_shape: list,
    limit: int,
    path=paths.MISCLASSIFIED_PNG,
) -> int:
    """Grid of (up to `limit`) wrongly classified test examples, captioned true->predicted.

    Drawn with Pillow (tiling grey tiles needs no plotting library; matplotlib's import alone
    took longer than this whole stage). PIL's built-in bitmap font renders identically
    everywhere, so the PNG's bytes are reproducible."""
    from PIL import Image, ImageDraw, ImageFont

    tile, pad, caption, header = 64, 8, 14, 22  # pixels
    font = ImageFont.load_default_imagefont()
    wrong = np.flatnonzero(y != pred)[:limit]
    cols = max(1, min(8, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / cols))
    title = "misclassified test examples (true->predicted)"
    width = max(pad + cols * (tile + pad), 2 * pad + int(font.getlength(title)))
    sheet = Image.new("L", (width, header + rows * (caption + tile + pad)), 255)
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 6), title, fill=0, font=font)
    for n, i in enumerate(wrong):
        img = X[i].reshape(input_shape[-2:]) if len(input_shape) == 3 else X[i][None, :]
        # 1) min-max scale each example, dark = high (as matplotlib's gray_r)
        lo, hi = float(img.min()), float(img.max())
        grey = (255 * (hi - img) / (hi - lo)) if hi > lo else np.full(img.shape, 255.0)
        # 2) enlarge with square pixels and place it under its caption
        block = Image.fromarray(grey.astype(np.uint8)).resize((tile, tile), Image.NEAREST)
        x = pad + (n % cols) * (tile + pad)
        top = header + (n // cols) * (caption + tile + pad)
        draw.text((x, top), f"{classes[y[i]]}->{classes[pred[i]]}", fill=0, font=font)
        sheet.paste(block, (x, top + caption))
    if not len(wrong):
        draw.text((pad, header + 4), "no misclassified examples", fill=0, font=font)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="png")
    return len(wrong)


def run(base: BaseConfig, cfg: EvaluateConfig) -> dict:
    device = runtime.resolve_device(base.device)
    runtime.seed_everything(base.seed, deterministic=True, device=device)
    meta = load_meta()
    if not paths.BEST_CKPT.exists():
        raise StageError(f"{paths.BEST_CKPT} is missing: run the train stage first")
    ckpt = checkpoint.load(paths.BEST_CKPT)
    classes = meta["classes"]
    model = build_model(TrainConfig(**ckpt["config"]), meta["input_shape"], len(classes))
    model.load_state_dict(ckpt["model"])
    model.to(device)
    X, y = load_split("test", device)
    logits = predict(model, X, cfg.batch_size)
    pred = logits.argmax(1)
    result = scores(confusion(pred, y, len(classes)))
    result["loss"] = F.cross_entropy(logits, y).item()
    result["per_class_acc"] = {str(c): a for c, a in zip(classes, result["per_class_acc"])}

    y_np, pred_np = y.cpu().numpy(), pred.cpu().numpy()
    probs = torch.softmax(logits.double(), 1).cpu().numpy()
    onehot = np.eye(len(classes), dtype=np.int64)[y_np]
    live = runtime.open_live(str(paths.EVAL_LIVE_DIR))
    live.summary["test"] = {
        k: result[k] for k in ("loss", "acc", "precision", "recall", "f1", "per_class_acc")
    }
    live.summary["best_epoch"] = ckpt["epoch"] - 1
    names = [str(c) for c in classes]
    live.log_sklearn_plot(
        "confusion_matrix",
        [names[i] for i in y_np],
        [names[i] for i in pred_np],
        name="confusion_matrix.json",
    )
    # multi-class ROC / PR: micro-averaged over one-vs-rest (all class probabilities at once)
    live.log_sklearn_plot("roc", onehot.ravel(), probs.ravel(), name="roc.json")
    live.log_sklearn_plot(
        "precision_recall",
        onehot.ravel(),
        probs.ravel(),
        name="precision_recall.json",
        drop_intermediate=True,
    )
    live.make_summary()
    plot_misclassified(
        X.cpu().numpy(), y_np, pred_np, classes, meta["input_shape"], cfg.n_misclassified
    )
    return result


def main() -> int:
    def body(params) -> str:
        result = run(params.base, params.evaluate)
        return (
            f"test acc {result['acc']:.4f}  macro F1 {result['f1']:.4f}  loss {result['loss']:.4f}"
        )

    return stage_main(body)


if __name__ == "__main__":
    sys.exit(main())
