"""Which registry columns a person wants to see first: ONE ranking for the terminal table
(expbook.registry.table) and the dashboard (served as `columns.ranked` by expbook.ui.data).

Order (issue 18): the --sort-by column, the first two key metrics (validation/test results,
quality before loss), the params that vary, the other key metrics, status, train metrics,
other metrics, created/tags/models/sweep, then last per-item breakdowns (`class_counts.3`) and
data-preparation constants (params or metrics that never vary, params of a `prepare` stage).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

# a per-item breakdown: the last part of the key is a number (class_counts.val.3, f1.7)
_BREAKDOWN = re.compile(r"[./_]\d+$")
# a key metric: a result on held-out data (val.acc, test/f1, eval_loss)
_HELD_OUT = re.compile(r"^(val|valid|validation|test|eval|dev)[./_]")
_TRAIN = re.compile(r"^(train|training)[./_]")
# quality first, then losses/errors, then anything else measured on held-out data
_QUALITY = re.compile(r"acc|f1|auc|score|precision|recall|r2|iou|map|bleu|top\d")
_LOSS = re.compile(r"loss|err|mse|mae|rmse|perplexity")
# params sections that belong to data preparation, not to the model: shown last
PREPARE_SECTIONS = frozenset({"prepare", "preprocess", "data", "dataset", "featurize", "split"})
# key metrics shown before the varied params; the rest of them come right after the params
LEADING_KEY_METRICS = 2
# the registry's own columns ranked with the others (name is always shown first)
STATUS = ("status",)
LATER_META = ("created", "tags", "models", "sweep", "trial", "errors")


def short(key: str) -> str:
    """`params.yaml:train.lr` -> `train.lr` (a key's file prefix does not change its rank)."""
    return key.rsplit(":", 1)[-1]


def is_breakdown(key: str) -> bool:
    return bool(_BREAKDOWN.search(short(key)))


def is_prepare_param(key: str) -> bool:
    return short(key).split(".", 1)[0].lower() in PREPARE_SECTIONS


def _key_metric_order(key: str) -> int:
    k = short(key).lower()
    return 0 if _QUALITY.search(k) else 1 if _LOSS.search(k) else 2


def rank_columns(
    params: Iterable[str],
    metrics: Iterable[str],
    varying: Collection[str],
    sort_by: str | None = None,
    meta: Sequence[str] = (),
) -> list[str]:
    """`params`, `metrics` and the registry columns in `meta` (status, created, tags...), most
    wanted first (see the module docstring). `varying`: the columns whose value differs
    between the rows shown; `sort_by`: the resolved --sort-by column, ranked first."""
    params, metrics = list(params), list(metrics)
    vary = set(varying)
    key, train, other, late = [], [], [], []
    for m in metrics:
        k = short(m).lower()
        if m not in vary or is_breakdown(m):
            late.append(m)
        elif _HELD_OUT.match(k):
            key.append(m)
        elif _TRAIN.match(k):
            train.append(m)
        else:
            other.append(m)
    key.sort(key=_key_metric_order)  # stable: the file's order within each kind
    varied = [p for p in params if p in vary and not is_breakdown(p) and not is_prepare_param(p)]
    prepare = [p for p in params if p in vary and p not in varied]
    constants = [p for p in params if p not in vary]
    late_metrics_constant = [m for m in late if m not in vary]
    breakdowns = [m for m in late if m in vary]
    order = [
        *key[:LEADING_KEY_METRICS],
        *varied,
        *key[LEADING_KEY_METRICS:],
        *(c for c in meta if c in STATUS),
        *train,
        *other,
        *(c for c in meta if c not in STATUS),
        *breakdowns,
        *prepare,
        *constants,
        *late_metrics_constant,
    ]
    if sort_by is not None and sort_by in order:
        order.remove(sort_by)
        order.insert(0, sort_by)
    return order
