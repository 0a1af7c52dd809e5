"""Keys as users type them (issue 8): backticked full keys everywhere (`best --metric`,
`--sort-by`, `--where`), unknown keys answered with the closest metric and param keys, and
`plot` saying when curves may sit in a cached output that is not in the local cache."""

from __future__ import annotations

import pytest

from expbook.analysis.compare import rank_experiments
from expbook.analysis.curves import not_in_cache_hint
from expbook.errors import QueryError
from expbook.query import resolve_key
from expbook.registry import Experiment

PARAMS = [f"params.yaml:opt.p{i}" for i in range(20)] + ["params.yaml:train.lr"]
METRICS = ["metrics/eval.json:val.acc", "metrics/eval.json:val.loss", "metrics/train.json:acc"]
SPACES = {"params": set(PARAMS), "metrics": set(METRICS)}


def _exp(name: str, acc: float, outs: dict | None = None) -> Experiment:
    return Experiment(
        name=name,
        rev=name * 8,
        kind="experiment",
        baseline=None,
        ref=None,
        created=None,
        status="success",
        message="",
        params={"params.yaml:train.lr": 0.1},
        metrics={"metrics/eval.json:val.acc": acc},
        outs=outs or {},
    )


@pytest.mark.parametrize("key", ["`metrics/eval.json:val.acc`", "val.acc", "metrics.val.acc"])
def test_best_metric_takes_backticked_full_key(key):
    ranked = rank_experiments([_exp("a", 0.5), _exp("b", 0.7)], metric=key)
    assert [e.name for e, _ in ranked] == ["b", "a"]


def test_sort_key_takes_backticked_full_key():
    cols = ["name", *PARAMS, *METRICS]
    assert resolve_key("`params.yaml:train.lr`", cols) == "params.yaml:train.lr"


def test_unknown_key_lists_the_closest_metric_and_param_keys():
    """Bug guarded: the hint listed the first 15 params, never the metric meant."""
    with pytest.raises(QueryError) as err:
        resolve_key("val.acu", ["name", *PARAMS, *METRICS], SPACES)
    text = str(err.value)
    assert "closest keys" in text and "metrics/eval.json:val.acc" in text
    assert "params.yaml:opt.p0" not in text  # not the first params, the closest ones


def test_plot_hint_names_cached_outputs_missing_locally():
    missing = {"dvclive": {"hash": "md5:ab.dir", "size": 3, "in_cache": False}}
    here = {"dvclive": {"hash": "md5:ab.dir", "size": 3, "in_cache": True}}
    assert "dvclive" in not_in_cache_hint(_exp("a", 0.5, missing))
    assert "not in the local cache" in not_in_cache_hint(_exp("a", 0.5, missing))
    assert not_in_cache_hint(_exp("a", 0.5, here)) == ""
