"""The statistics behind `expbook stats`: summaries with a t-interval, Welch's and paired
t-tests, Cohen's d and Holm's correction. Pure functions over lists of numbers (scipy, imported
when a test runs); expbook.analysis.stats groups runs and calls them.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# tokens of a metric's name that make it a proportion (accuracy-like): its values lie in
# [0, 1] and so must its confidence interval (issue 18: an accuracy's CI printed as 1.061)
_PROPORTION_TOKENS = frozenset(
    "acc accuracy f1 f1score fbeta auc roc rocauc auroc aupr prauc precision recall iou miou "  # noqa: SIM905
    "map map50 dice jaccard top1 top5 ndcg mrr".split()
)


# ---------------------------------------------------------------- summaries
def proportion_bounds(metric: str, values: Iterable[float]) -> tuple[float, float] | None:
    """(0, 1) when `metric` is accuracy-like by its name and every value lies in [0, 1]
    (a percentage accuracy, 0..100, is not clipped); None otherwise."""
    last = re.split(r"[./:]", metric)[-1].lower()
    if not set(re.findall(r"[a-z0-9]+", last)) & _PROPORTION_TOKENS:
        return None
    return (0.0, 1.0) if all(0.0 <= v <= 1.0 for v in values) else None


def summarize(values: Sequence[float], confidence: float = 0.95) -> dict[str, float | None]:
    """n, mean, std (ddof=1), sem, t-interval, min, max of some numbers; spread is None for n < 2."""
    from scipy import stats as st

    n = len(values)
    out: dict[str, float | None] = {
        "n": n,
        "mean": None,
        "std": None,
        "sem": None,
        "ci_low": None,
        "ci_high": None,
        "min": None,
        "max": None,
    }
    if n == 0:
        return out
    mean = math.fsum(values) / n
    out.update(mean=mean, min=min(values), max=max(values))
    if n >= 2:
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
        sem = std / math.sqrt(n)
        half = st.t.ppf((1 + confidence) / 2, n - 1) * sem
        out.update(std=std, sem=sem, ci_low=mean - half, ci_high=mean + half)
    return out


def cohen_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean a - mean b) / pooled sample std; None when undefined (n < 2 or zero spread)."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return None
    ma, mb = math.fsum(a) / na, math.fsum(b) / nb
    va = math.fsum((x - ma) ** 2 for x in a) / (na - 1)
    vb = math.fsum((x - mb) ** 2 for x in b) / (nb - 1)
    pooled = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    if pooled == 0:
        return None
    return (ma - mb) / pooled


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None entries are skipped and stay None)."""
    present = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def _finite(p: float) -> float | None:
    return None if p is None or math.isnan(p) else float(p)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch's t-test p-value; None for n < 2 or when both groups have no spread."""
    from scipy import stats as st

    if len(a) < 2 or len(b) < 2:
        return None
    # scipy warns of precision loss on near-constant samples; the p-value is still right
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _finite(st.ttest_ind(a, b, equal_var=False).pvalue)


def paired_p(a: Mapping[Any, float], b: Mapping[Any, float]) -> float | None:
    """Two-sided paired t-test p-value, pairing by seed; None unless both ran the same >= 2 seeds."""
    from scipy import stats as st

    if set(a) != set(b) or len(a) < 2:
        return None
    seeds = sorted(a, key=repr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _finite(st.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
