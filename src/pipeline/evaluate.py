"""Stage `evaluate`: score models/best.pt on the test split; writes metrics/evaluate (test
loss/acc/macro P-R-F1/per-class acc, confusion matrix, ROC and PR curves via dvclive) and
plots/misclassified.png. Run by dvc.yaml as `PYTHONPATH=src python -m pipeline.evaluate`.
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
    """Grid of (up to `limit`) wrongly classified test examples, titled true -> predicted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = np.flatnonzero(y != pred)[:limit]
    cols = max(1, min(8, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        img = X[i].reshape(input_shape[-2:]) if len(input_shape) == 3 else X[i][None, :]
        ax.imshow(img, cmap="gray_r", aspect="auto")
        ax.set_title(f"{classes[y[i]]}→{classes[pred[i]]}", fontsize=9)
    if not len(wrong):
        axes[0, 0].text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    fig.suptitle("misclassified test examples (true→predicted)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return len(wrong)


def run(base: BaseConfig, cfg: EvaluateConfig) -> dict:
    runtime.seed_everything(base.seed, deterministic=True)
    device = runtime.resolve_device(base.device)
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
