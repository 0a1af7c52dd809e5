"""`expbook stats` on real `dvc exp run` experiments: seed groups, paired tests, the CLI output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from scipy import stats as st

from conftest import sh
from expbook.cli import cli
from test_reproduce import exp_run, make_pipeline_repo

registry = pytest.importorskip("expbook.registry")

LR = "params.yaml:train.lr"
ACC = "live/metrics.json:test.acc"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """Baseline lr=0.1 seed 1, plus lr=0.1 seeds 2-3 and lr=0.2 seeds 1-3."""
    path = tmp_path_factory.mktemp("stats")
    make_pipeline_repo(path, lr=0.1, seed=1)
    for seed in (2, 3):
        exp_run(path, f"base-s{seed}", f"train.seed={seed}")
    for seed in (1, 2, 3):
        exp_run(path, f"high-s{seed}", "train.lr=0.2", f"train.seed={seed}")
    sh("git", "checkout", "-q", "--", ".", cwd=path)
    return path


@pytest.mark.slow
def test_seed_groups_from_real_experiments(repo):
    from expbook.analysis.stats import best_by_group, group_stats, rows_of

    rows, params, metrics = rows_of(registry.collect(repo))
    res = group_stats(rows, "test.acc", params, metric_keys=metrics)
    assert res.metric == ACC and res.group_keys == [LR]
    assert res.seed_keys == ["params.yaml:train.seed"]
    base, high = res.groups
    assert (base.label, base.n, base.baseline) == ("train.lr=0.1", 3, True)
    assert sorted(base.names) == ["base-s2", "base-s3", "main"]
    assert (high.label, high.n, sorted(high.seeds)) == ("train.lr=0.2", 3, [1, 2, 3])
    # same seeds in both groups: the paired test pairs them by seed value
    by_seed = {g.label: dict(zip(g.seeds, g.values)) for g in res.groups}
    expected = st.ttest_rel(
        [by_seed["train.lr=0.2"][s] for s in (1, 2, 3)],
        [by_seed["train.lr=0.1"][s] for s in (1, 2, 3)],
    ).pvalue
    assert high.p_paired == pytest.approx(expected)
    assert high.diff == pytest.approx(0.1, abs=0.02) and high.significant is True
    ranking = best_by_group(rows, "test.acc", params, metric_keys=metrics)
    assert ranking.groups[0].label == "train.lr=0.2" and ranking.significant is True


@pytest.mark.slow
def test_stats_cli_json_and_table(repo):
    res = CliRunner().invoke(cli, ["stats", "--repo", str(repo), "-m", "test.acc", "-f", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [(g["label"], g["n"], g["baseline"]) for g in data["groups"]] == [
        ("train.lr=0.1", 3, True),
        ("train.lr=0.2", 3, False),
    ]
    res = CliRunner().invoke(
        cli,
        [
            "stats",
            "--repo",
            str(repo),
            "-m",
            "test.acc",
            "-f",
            "md",
            "--control",
            "high-s1",
            "--where",
            "train.seed != 3",
        ],
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[2].startswith("| train.lr=0.1 | 2 |") and lines[3].endswith("| baseline |")
    assert lines[3].startswith("| train.lr=0.2 | 2 |")


@pytest.mark.parametrize(
    "args, text",
    [
        (["-m", "nope"], "nope"),
        (["-m", "acc"], "ambiguous key 'acc'"),  # test.acc and the cached summary's best.acc
        (["-m", "test.acc", "--control", "zzz"], "zzz"),
        (["-m", "test.acc", "--alpha", "1.5"], "alpha"),
        (["-m", "test.acc", "--group-by", "nokey"], "nokey"),
    ],
)
def test_stats_cli_bad_input(repo, args, text):
    res = CliRunner().invoke(cli, ["stats", "--repo", str(repo), *args])
    assert res.exit_code == 2 and text in res.output


@pytest.mark.slow
def test_group_curves_from_real_experiments(repo, tmp_path):
    from expbook.analysis.groupplot import group_curves, plot_group_curves
    from expbook.analysis.stats import group_rows, rows_of

    rows, params, metrics = rows_of(registry.collect(repo))
    grouping = group_rows(rows, params)
    pairs = [(label, [r["rev"] for r in members]) for label, _, members in grouping.groups]
    series = group_curves(repo, pairs, "acc")
    assert [(label, len(curves)) for label, curves in series] == [
        ("train.lr=0.1", 3),
        ("train.lr=0.2", 3),
    ]
    out = plot_group_curves("acc", series, tmp_path / "acc.png")
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_best_by_group_cli(repo):
    res = CliRunner().invoke(
        cli, ["best", "--repo", str(repo), "-m", "test.acc", "--by-group", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [g["group"] for g in out["groups"]] == ["train.lr=0.2", "train.lr=0.1"]
    assert out["significant"] is True and "significantly better" in out["verdict"]
    res = CliRunner().invoke(cli, ["best", "--repo", str(repo), "-m", "test.acc", "--by-group"])
    # issue 18: a first line says the direction, then the groups best first
    lines = res.output.splitlines()
    assert res.exit_code == 0 and "test.acc [max, from the name]" in lines[0]
    assert "train.lr=0.2" in next(line for line in lines[1:] if "train.lr=" in line)


def test_best_by_group_needs_metric(repo):
    res = CliRunner().invoke(cli, ["best", "--repo", str(repo), "--by-group"])
    assert res.exit_code == 2 and "--metric" in res.output


@pytest.mark.slow
def test_plot_group_cli(repo, tmp_path):
    out = tmp_path / "groups.png"
    res = CliRunner().invoke(
        cli, ["plot", "acc", "--group-by", "train.lr", "--repo", str(repo), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "2 groups" in res.output and out.read_bytes().startswith(b"\x89PNG")
    res = CliRunner().invoke(
        cli, ["plot", "acc", "main", "--group-by", "train.lr", "--repo", str(repo), "-o", str(out)]
    )
    assert res.exit_code == 2 and "not both" in res.output
