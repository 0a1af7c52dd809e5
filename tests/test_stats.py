"""expbook.analysis.stats on fixed numbers: summaries, tests and corrections against hand-computed values and scipy."""

from __future__ import annotations

import math

import pytest
from scipy import stats as st

from expbook.analysis.stats import (
    best_by_group,
    cohen_d,
    group_stats,
    holm,
    paired_p,
    summarize,
    welch_p,
)
from expbook.errors import ExpbookError, NotFoundError, QueryError

A = [0.90, 0.92, 0.94]  # mean .92, sd .02
B = [0.80, 0.84, 0.82]  # mean .82, sd .02; paired diffs (by position) .10 .08 .12
LR = "params.yaml:train.lr"
WD = "params.yaml:train.weight_decay"
SEED = "params.yaml:train.seed"
ACC = "metrics.json:test.acc"
PARAMS = [LR, WD, SEED]


def row(name, lr, seed, acc, wd=0.0, kind="experiment", created="2026-01-01T00:00:00Z"):
    return {"name": name, "kind": kind, "created": created, LR: lr, WD: wd, SEED: seed, ACC: acc}


def test_summarize_matches_hand_computed_values():
    s = summarize(A)
    half = 4.302652729749462 * 0.02 / math.sqrt(3)  # t(0.975, df=2) * sd / sqrt(n)
    assert s["n"] == 3
    assert s["mean"] == pytest.approx(0.92)
    assert s["std"] == pytest.approx(0.02)
    assert s["sem"] == pytest.approx(0.02 / math.sqrt(3))
    assert (s["ci_low"], s["ci_high"]) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))
    assert (s["min"], s["max"]) == (0.90, 0.94)


@pytest.mark.parametrize("values, mean", [([], None), ([0.5], 0.5)])
def test_summarize_small_samples_have_no_spread(values, mean):
    s = summarize(values)
    assert s["n"] == len(values) and s["mean"] == mean
    assert s["std"] is s["sem"] is s["ci_low"] is s["ci_high"] is None


def test_welch_and_paired_match_hand_computation_and_scipy():
    # Welch: t = 0.1 / sqrt(2 * .0004 / 3) = 6.1237, df = 4
    assert welch_p(A, B) == pytest.approx(2 * st.t.sf(0.1 / math.sqrt(2 * 0.0004 / 3), 4))
    assert welch_p(A, B) == pytest.approx(st.ttest_ind(A, B, equal_var=False).pvalue)
    # paired: diffs .10 .08 .12 -> t = .10 / (.02 / sqrt 3), df = 2
    p = paired_p(dict(zip([1, 2, 3], A)), dict(zip([1, 2, 3], B)))
    assert p == pytest.approx(2 * st.t.sf(0.10 / (0.02 / math.sqrt(3)), 2))
    assert p == pytest.approx(st.ttest_rel(A, B).pvalue)


@pytest.mark.parametrize(
    "a, b",
    [
        ({1: 0.9, 2: 0.8}, {1: 0.7, 3: 0.6}),  # different seeds
        ({1: 0.9}, {1: 0.7}),  # one seed
    ],
)
def test_paired_needs_the_same_two_or_more_seeds(a, b):
    assert paired_p(a, b) is None


def test_cohen_d_and_undefined_cases():
    assert cohen_d(A, B) == pytest.approx(5.0)  # (.92 - .82) / pooled sd .02
    assert cohen_d([1.0], B) is None
    assert cohen_d([1.0, 1.0], [2.0, 2.0]) is None  # zero pooled spread


@pytest.mark.parametrize(
    "pvalues, expected",
    [
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),
        ([0.5, None, 0.01], [0.5, None, 0.02]),
        ([0.6, 0.7], [1.0, 1.0]),
        ([], []),
    ],
)
def test_holm_adjustment(pvalues, expected):
    assert holm(pvalues) == [None if e is None else pytest.approx(e) for e in expected]


def seed_table():
    rows = [row(f"a{s}", 0.1, s, a) for s, a in zip([1, 2, 3], A)]
    rows += [row(f"b{s}", 0.01, s, b) for s, b in zip([1, 2, 3], B)]
    rows += [row("c1", 0.001, 1, 0.5)]
    rows[3]["kind"] = "baseline"
    return rows


def test_groups_form_by_differing_params_except_seed():
    res = group_stats(seed_table(), "test.acc", PARAMS)
    assert res.metric == ACC
    assert res.group_keys == [LR]
    assert res.seed_keys == [SEED]
    assert [(g.label, g.n, sorted(g.seeds)) for g in res.groups] == [
        ("train.lr=0.001", 1, [1]),
        ("train.lr=0.01", 3, [1, 2, 3]),
        ("train.lr=0.1", 3, [1, 2, 3]),
    ]


def test_versus_baseline_group_uses_paired_test_and_holm():
    res = group_stats(seed_table(), "test.acc", PARAMS)  # baseline: group of the kind=baseline row
    base = res.baseline
    assert base.label == "train.lr=0.01" and base.p_welch is None
    small, _, high = res.groups
    assert high.diff == pytest.approx(0.10)
    assert high.p_welch == pytest.approx(st.ttest_ind(A, B, equal_var=False).pvalue)
    assert high.p_paired == pytest.approx(st.ttest_rel(A, B).pvalue)
    assert high.cohen_d == pytest.approx(5.0)
    assert high.p_holm == pytest.approx(high.p_paired)  # only one group is compared
    assert high.significant is True
    # n < 2: shown, marked, never given a p-value
    assert small.n == 1 and small.p_welch is small.p_paired is small.p_holm is None
    assert "n<2" in small.note


def test_unpaired_when_seeds_differ_and_holm_over_two_groups():
    rows = [row(f"a{s}", 0.1, s, a) for s, a in zip([1, 2, 3], A)]
    rows += [row(f"b{s}", 0.01, s, b) for s, b in zip([4, 5, 6], B)]
    rows += [row(f"c{s}", 0.001, s, v) for s, v in zip([1, 2, 3], [0.81, 0.83, 0.80])]
    res = group_stats(rows, "acc", PARAMS, baseline="train.lr=0.01")
    by_label = {g.label: g for g in res.groups}
    high, low = by_label["train.lr=0.1"], by_label["train.lr=0.001"]
    assert high.p_paired is None and low.p_paired is None
    assert [high.p_holm, low.p_holm] == pytest.approx(holm([high.p_welch, low.p_welch]))


@pytest.mark.parametrize(
    "baseline, label",
    [
        ("train.lr=0.1", "train.lr=0.1"),
        ("lr=0.1", "train.lr=0.1"),
        ("b2", "train.lr=0.01"),
        # no --control: the first of the largest groups, not the lone n=1 group (issue 18)
        (None, "train.lr=0.01"),
    ],
)
def test_baseline_by_label_spec_or_experiment(baseline, label):
    rows = [dict(r, kind="experiment") for r in seed_table()]
    assert group_stats(rows, ACC, PARAMS, baseline=baseline).baseline.label == label


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"metric": "nope"}, QueryError, "nope"),
        ({"metric": "acc", "baseline": "zzz"}, NotFoundError, "zzz"),
        ({"metric": "acc", "group_by": ["nokey"]}, QueryError, "nokey"),
    ],
)
def test_bad_input_names_the_offender(kwargs, error, text):
    with pytest.raises(error, match=text):
        group_stats(seed_table(), param_keys=PARAMS, **kwargs)


def test_group_by_explicit_keys_and_custom_seed_keys():
    rows = seed_table()
    res = group_stats(rows, "acc", PARAMS, group_by=["train.weight_decay"])
    assert [g.label for g in res.groups] == ["train.weight_decay=0.0"] and res.groups[0].n == 7
    # with no seed keys, the seed differs, so it becomes a grouping key
    res = group_stats(rows, "acc", PARAMS, seed_keys=[])
    assert res.group_keys == [LR, SEED]


def test_rows_without_the_metric_are_skipped():
    rows = seed_table() + [{"name": "failed", LR: 0.1, SEED: 9}]
    res = group_stats(rows, "acc", PARAMS)
    assert res.skipped == ["failed"] and sum(g.n for g in res.groups) == 7


def test_infinite_and_nan_values_are_skipped_not_a_traceback():
    """issue 18: a run logging acc = inf next to one logging -inf in the same group made
    `expbook stats` die with "ValueError: -inf + inf in fsum"; a lone inf gave an inf mean and
    a NaN interval. Non-finite values are left out, like a missing metric, and named."""
    rows = seed_table() + [
        row("plus-inf", 0.1, 7, math.inf),
        row("minus-inf", 0.1, 8, -math.inf),
        row("not-a-number", 0.1, 9, math.nan),
    ]
    res = group_stats(rows, "acc", PARAMS)
    assert res.skipped == ["plus-inf", "minus-inf", "not-a-number"]
    assert sum(g.n for g in res.groups) == 7
    assert all(math.isfinite(g.mean) for g in res.groups if g.mean is not None)


@pytest.mark.parametrize("width", [40, 50])
def test_a_narrow_terminal_gets_a_block_per_group_not_slivers(width):
    """issue 18: at 40 columns the seven-column stats table left 3 characters a column
    ("│ gro │ mea │", "train.lr=0.1" spelled over four lines); below 60 columns each group
    is its label and aligned `key  value` lines."""
    from expbook.cli.stats_cmds import stats_text

    text = stats_text(group_stats(seed_table(), "acc", PARAMS), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for label in ("train.lr=0.001", "train.lr=0.01", "train.lr=0.1"):
        assert label in lines
    assert "│" not in text and sum(line.startswith("  mean ") for line in lines) == 3


def test_best_by_group_at_40_columns_keeps_each_label_whole():
    """issue 18: `best --by-group` at 40 columns folded `train.lr=0.01` in a 12-column cell
    ("train.lr=0.0" / "1"); under 60 columns each group is `rank label` and n/mean/std."""
    from expbook.cli.stats_cmds import ranking_text

    groups = [
        {"group": "train.lr=0.01", "n": 2, "mean": 1.0, "std": 0.0},
        {"group": "train.lr=0.009", "n": 1, "mean": 0.99, "std": None},
    ]
    lines = ranking_text("val.acc [max]", groups, "best train.lr=0.01", 40).splitlines()
    assert max(len(line) for line in lines) <= 40
    assert "1. train.lr=0.01" in lines and "2. train.lr=0.009" in lines
    assert "  mean  0.99" in lines and lines[-1] == "best train.lr=0.01"


def test_best_by_group_ranks_and_tests_best_vs_runner_up():
    ranking = best_by_group(seed_table(), "acc", PARAMS)
    assert [g.label for g in ranking.groups] == ["train.lr=0.1", "train.lr=0.01", "train.lr=0.001"]
    assert ranking.p_best_vs_runner_up == pytest.approx(welch_p(A, B))
    assert ranking.significant is True
    assert "significantly better" in ranking.verdict()
    worst_first = best_by_group(seed_table(), "acc", PARAMS, higher_is_better=False)
    assert worst_first.groups[0].label == "train.lr=0.001"
    assert worst_first.p_best_vs_runner_up is None and "not testable" in worst_first.verdict()


def test_best_by_group_not_significant_with_overlapping_groups():
    rows = [
        row("a1", 0.1, 1, 0.90),
        row("a2", 0.1, 2, 0.80),
        row("b1", 0.2, 1, 0.86),
        row("b2", 0.2, 2, 0.83),
    ]
    ranking = best_by_group(rows, "acc", PARAMS, alpha=0.05)
    assert ranking.significant is False and "NOT significantly" in ranking.verdict()


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 2])
def test_bad_alpha(alpha):
    with pytest.raises(ExpbookError, match="alpha"):
        best_by_group(seed_table(), "acc", PARAMS, alpha=alpha)


def test_rows_of_keeps_finished_runs_only():
    from expbook.analysis.stats import rows_of
    from expbook.registry import Experiment

    def exp(name, kind, status):
        return Experiment(
            name=name,
            rev=name * 8,
            kind=kind,
            baseline=None,
            ref=None,
            created="2026-01-01T00:00:00Z",
            status=status,
            message="",
            params={LR: 0.1},
            metrics={ACC: 0.9},
        )

    exps = [
        exp("w", "workspace", "success"),
        exp("b", "baseline", "success"),
        exp("p", "experiment", "pruned"),
        exp("f", "experiment", "failed"),
    ]
    rows, params, metrics = rows_of(exps)
    assert [r["name"] for r in rows] == ["b"] and params == [LR] and metrics == [ACC]
    assert [r["name"] for r in rows_of(exps, ("success", "pruned"))[0]] == ["b", "p"]


def test_default_control_is_the_largest_group_not_the_lone_baseline():
    """issue 18: with no --control, `stats` tested every group against the baseline commit's
    group of n=1, so every row said "no test"; the largest group is the control now."""
    rows = [row(f"a{s}", 0.1, s, a) for s, a in zip([1, 2, 3], A)]
    rows += [row(f"b{s}", 0.01, s, b) for s, b in zip([1, 2, 3], B)]
    rows += [row("main", 0.5, 1, 0.7, kind="baseline")]
    res = group_stats(rows, ACC, PARAMS)
    assert res.baseline.label == "train.lr=0.01" and res.control_reason == "largest"
    tested = [g for g in res.groups if g.p_welch is not None]
    assert [g.label for g in tested] == ["train.lr=0.1"]
    # among groups of the same size, the baseline commit's group stays the control
    rows += [row(f"m{s}", 0.5, s, 0.7 + s / 100, kind="experiment") for s in (2, 3)]
    assert group_stats(rows, ACC, PARAMS).baseline.label == "train.lr=0.5"
    assert group_stats(rows, ACC, PARAMS, baseline="b1").control_reason == "--control"


def test_confidence_interval_of_an_accuracy_is_clipped_to_one():
    """issue 18: the upper CI of an accuracy was printed as 1.061."""
    rows = [row(f"a{s}", 0.1, s, a) for s, a in zip([1, 2, 3], [1.0, 0.95, 0.98])]
    rows += [row(f"b{s}", 0.01, s, b) for s, b in zip([1, 2, 3], B)]
    res = group_stats(rows, ACC, PARAMS)
    high = next(g for g in res.groups if g.label == "train.lr=0.1")
    raw = summarize([1.0, 0.95, 0.98])
    assert raw["ci_high"] > 1 and res.bounds == (0.0, 1.0)
    assert high.ci_high == 1.0 and high.ci_clipped is True
    assert high.ci_low == pytest.approx(raw["ci_low"])
    other = next(g for g in res.groups if g.label == "train.lr=0.01")
    assert other.ci_clipped is False


@pytest.mark.parametrize(
    "metric, values, bounds",
    [
        ("metrics.json:test.acc", [0.5, 1.0], (0.0, 1.0)),
        ("val/f1", [0.2, 0.3], (0.0, 1.0)),
        ("test.acc", [55.0, 98.0], None),  # a percentage: not clipped to [0, 1]
        ("val.loss", [0.2, 0.3], None),
        ("r2", [0.2, 0.3], None),  # r2 can be negative
    ],
)
def test_proportion_bounds(metric, values, bounds):
    from expbook.analysis.significance import proportion_bounds

    assert proportion_bounds(metric, values) == bounds
