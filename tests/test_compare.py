"""expbook.analysis.compare.compare and expbook.output.fit on fixed experiments (issue 18):
equal values hidden, key metrics first, better/worse by direction, integer deltas, text that
fits its width. The CLI on a real repository: tests/test_output_width.py."""

from __future__ import annotations

import pytest

from expbook.analysis.compare import compare, metric_order
from expbook.cli.inspect_text import compare_text
from expbook.output.fit import fit_table, fold, fold_pairs
from expbook.registry.experiment import Experiment


def exp(name: str, lr: float, acc: float, loss: float, seen: int, score: float) -> Experiment:
    return Experiment(
        name=name,
        rev=name * 8,
        kind="experiment",
        baseline=None,
        ref=None,
        created=None,
        status="success",
        message="",
        params={"params.yaml:train.lr": lr, "params.yaml:prepare.split": 0.2},
        metrics={
            **{f"m.json:class_counts.{i}": 5000 + i for i in range(10)},
            "m.json:val.acc": acc,
            "m.json:val.loss": loss,
            "m.json:train.samples_seen": seen,
            "m.json:score": score,
        },
    )


EXPS = [
    exp("main", 0.1, 0.80, 0.50, 60000, 1.0),
    exp("exp-with-a-rather-long-name-a", 0.2, 0.85, 0.60, 120000, 2.0),
    exp("exp-with-a-rather-long-name-b", 0.3, 0.70, 0.40, 180000, 0.5),
]


def test_equal_values_are_hidden_unless_all():
    """issue 18: ~30 unchanged class_counts.* rows were listed as (+0)."""
    result = compare(EXPS)
    assert list(result["params"]) == ["params.yaml:train.lr"]
    assert not any("class_counts" in key for key in result["metrics"])
    assert result["hidden"] == {"params": 1, "metrics": 10}
    every = compare(EXPS, all_params=True)
    assert "params.yaml:prepare.split" in every["params"]
    assert "m.json:class_counts.9" in every["metrics"] and every["hidden"]["metrics"] == 0


def test_key_metrics_first_breakdowns_last():
    keys = list(compare(EXPS, all_params=True)["metrics"])
    assert keys[:2] == ["m.json:val.acc", "m.json:val.loss"]
    assert keys[-1].startswith("m.json:class_counts.")
    assert metric_order("m.json:class_counts.3") > metric_order("m.json:score")
    assert metric_order("train_time") == 1 and metric_order("test/f1") == 0


def test_marks_follow_each_metrics_direction():
    """issue 18: better/worse marked by the metric's direction; unknown direction: no mark."""
    metrics = compare(EXPS)["metrics"]
    assert metrics["m.json:val.acc"]["marks"] == [None, "better", "worse"]
    assert metrics["m.json:val.loss"]["marks"] == [None, "worse", "better"]  # lower is better
    assert metrics["m.json:score"]["direction"] is None
    assert metrics["m.json:score"]["marks"] == [None, None, None]
    # a declaration decides for a name that says nothing (and by the key inside the file)
    declared = compare(EXPS, declared={"score": "min"})["metrics"]["m.json:score"]
    assert declared["direction"] == "min" and declared["marks"] == [None, "worse", "better"]


def test_integer_deltas_stay_integers():
    """issue 18: deltas of integers printed as floats (+6e+04)."""
    seen = compare(EXPS)["metrics"]["m.json:train.samples_seen"]
    assert seen["deltas"] == [None, 60000, 120000]
    assert all(isinstance(d, int) for d in seen["deltas"][1:])
    text = compare_text(compare(EXPS), 80)
    assert "(+60000)" in text and "(+120000)" in text and "e+04" not in text


@pytest.mark.parametrize("width", [40, 80, 120])
def test_compare_text_fits_its_width(width):
    text = compare_text(compare(EXPS), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "train.lr" in text and "val.acc" in text


def test_fold_helpers_fit_and_escape():
    long = " ".join(f"pkg-{i}==1.{i}" for i in range(300))
    lines = fold_pairs([("packages", long), ("evil", "a\x1b[31mb")], 60)
    assert max(len(line) for line in lines) <= 60
    assert " ".join(" ".join(lines).split()).count("pkg-") == 300
    assert "a\\x1b[31mb" in lines[-1] and "\x1b" not in "".join(lines)
    assert max(len(line) for line in fold("x" * 500, 50, "  ")) <= 50
    table = fit_table([{"a": "y" * 200, "b": "z"}], ["a", "b"], 50)
    assert max(len(line) for line in table.splitlines()) <= 50
