"""expbook.analysis.compare.compare and expbook.output.fit on fixed experiments (issue 18):
equal values hidden, key metrics first, better/worse by direction, integer deltas, text that
fits its width. The CLI on a real repository: tests/test_output_width.py."""

from __future__ import annotations

import pytest

from expbook.analysis.compare import compare, metric_order
from expbook.cli.inspect_text import compare_text
from expbook.output.fit import cells, fit_table, fold, fold_pairs
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


def test_fold_counts_wide_characters_as_two_columns():
    """issue 18: `show` of a param in Japanese ran to 93 columns in an 80-column terminal:
    fold counted characters, and a CJK character takes two columns."""
    note = "実験の説明：学習率を下げた長いメモです" * 4
    for width in (40, 80):
        lines = fold_pairs([("train.note", note), ("中文键", "値")], width)
        assert max(cells(line) for line in lines) <= width
        assert "".join(line.strip() for line in lines).count("実験の説明") == 4
        assert max(cells(line) for line in fold(note, width, "  ")) <= width


def _many(n: int) -> list[Experiment]:
    return [
        exp(f"lr-sweep-{i:03d}", i / 100, 0.5 + i / 100, 0.5 - i / 200, 1000, 1.0) for i in range(n)
    ]


@pytest.mark.parametrize("width", [40, 80, 120])
def test_many_runs_are_split_into_tables_that_stay_readable(width):
    """issue 18: `compare` of 19 runs at 80 columns gave every run a column one character
    wide (names and values spelled down the page, 480 lines; at 40 columns empty cells). Runs
    that do not fit side by side go on in further tables, each column wide enough to read."""
    text = compare_text(compare(_many(20)), width)
    lines = text.splitlines()
    assert max(cells(line) for line in lines) <= width
    for i in range(20):  # every name and every value is on one line, whole
        assert f"lr-sweep-{i:03d}" in text
    assert "0.13 (+0.13 better)" in text.replace("\n", " ") or "0.63" in text
    headers = [line for line in lines if line.startswith("params (runs ")]
    assert len(headers) > 1 and all(h.endswith(" of 20)") for h in headers)


def test_three_runs_still_share_one_table_at_80_columns():
    text = compare_text(compare(EXPS), 80)
    assert [line for line in text.splitlines() if line.startswith("params")] == ["params"]


def test_a_delta_that_is_no_number_is_not_printed():
    """issue 18: compare printed `inf (+nan)` and `0.5 (+nan)` against a run whose metric was
    NaN; a delta of NaN (or inf - inf) is left out, and JSON gets null, not NaN."""
    runs = [
        exp("a", 0.1, float("nan"), float("inf"), 1, 1.0),
        exp("b", 0.2, float("inf"), float("inf"), 1, 1.0),
        exp("c", 0.3, 0.7, 0.4, 1, 1.0),
    ]
    result = compare(runs)
    acc, loss = result["metrics"]["m.json:val.acc"], result["metrics"]["m.json:val.loss"]
    assert acc["deltas"] == [None, None, None]
    assert loss["deltas"][1] is None and loss["deltas"][2] == float("-inf")  # inf - inf: none
    text = compare_text(result, 120)
    assert "nan)" not in text and "(-inf better)" in text


def test_show_curves_at_40_columns_are_blocks():
    """issue 18: at 40 columns show's curve table folded the curve's name (`val/ac` / `c`)
    and its `best (step)` header over five lines; under 60 columns each curve is a block."""
    from expbook.cli.inspect_text import show_text

    curve = {"steps": 2, "first": 0.49, "last": 0.98, "min": 0.49, "max": 0.98}
    curve.update(mean=0.7, std=0.3, best=0.98, mode="max", best_step=1)
    info = {"name": "h", "rev": "a" * 40, "params": {}, "metrics": {}, "environment": None}
    info.update(curves={"val/acc": curve}, outs={}, notes=[], errors={})
    lines = show_text(info, 40).splitlines()
    assert max(len(line) for line in lines) <= 40
    assert "val/acc" in lines and "  best (step)  0.98 (max @ step 1)" in lines
