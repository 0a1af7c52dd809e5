"""ROC and precision-recall curves in NumPy, equal value for value to scikit-learn's
`roc_curve` / `precision_recall_curve` (tests compare them), without sklearn's ~1 s import.

Used by pipeline.live for evaluate's `roc.json` and `precision_recall.json`.
"""

from __future__ import annotations

import numpy as np


def _counts_at_thresholds(y_true: np.ndarray, y_score: np.ndarray):
    """(fps, tps, thresholds) at each distinct score, highest first (sklearn's
    `confusion_matrix_at_thresholds` without sample weights)."""
    # 1) sort by descending score; ties end up adjacent (their order does not matter:
    #    counts are read only at the last index of each run of equal scores)
    order = np.argsort(y_score, kind="stable")[::-1]
    score = y_score[order]
    positive = (y_true[order] == 1).astype(np.float64)
    # 2) the last index of every distinct score, plus the end of the curve
    idx = np.concatenate([np.nonzero(np.diff(score))[0], [len(score) - 1]])
    # 3) cumulative true positives there; false positives = samples seen - tps
    tps = np.cumsum(positive, dtype=np.float64)[idx]
    fps = 1 + idx.astype(np.float64) - tps
    return fps, tps, score[idx]


def roc(y_true: np.ndarray, y_score: np.ndarray, drop_intermediate: bool = True):
    """(fpr, tpr, thresholds) for binary 0/1 labels, like sklearn.metrics.roc_curve."""
    fps, tps, thresholds = _counts_at_thresholds(y_true, y_score)
    if drop_intermediate and len(fps) > 2:
        # keep corners only: points collinear with their neighbours never show on the plot
        keep = np.concatenate([[True], np.diff(fps, 2) != 0, [True]])
        keep[1:-1] |= np.diff(tps, 2) != 0
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.concatenate([[0.0], fps]), np.concatenate([[0.0], tps])
    thresholds = np.concatenate([[np.inf], thresholds.astype(np.float64)])
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def precision_recall(y_true: np.ndarray, y_score: np.ndarray, drop_intermediate: bool = False):
    """(precision, recall, thresholds) like sklearn.metrics.precision_recall_curve: recall
    decreasing, with the final (precision 1, recall 0) point that has no threshold."""
    fps, tps, thresholds = _counts_at_thresholds(y_true, y_score)
    if drop_intermediate and len(fps) > 2:
        # keep the first and last point of every run of equal tps (equal recall)
        keep = np.concatenate([[True], (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    total = tps + fps
    precision = np.where(total != 0, tps / np.where(total != 0, total, 1), 0.0)
    recall = tps / tps[-1] if tps[-1] != 0 else np.ones(tps.shape)
    return (
        np.concatenate([precision[::-1], [1.0]]),
        np.concatenate([recall[::-1], [0.0]]),
        thresholds[::-1],
    )
