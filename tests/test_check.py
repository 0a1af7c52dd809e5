"""`expbook check` (the CI gate) on the tiny pipeline of test_reproduce: passes, catches regressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import sh
from expbook.cli import cli
from expbook.errors import QueryError
from expbook.repro.check import evaluate_rule, markdown_report, validate_rules
from test_reproduce import exp_run, make_pipeline_repo, show, tamper, worktrees

ACC = "live/metrics.json:test.acc"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("check")
    make_pipeline_repo(path, lr=0.1)
    exp_run(path, "worse", "train.lr=0.05")  # an honest run whose accuracy is 0.05 lower
    sh("git", "checkout", "-q", "--", ".", cwd=path)
    return path


def run_check(repo: Path, *args: str):
    return CliRunner().invoke(cli, ["check", "--repo", str(repo), *args])


@pytest.mark.slow
def test_check_passes_writes_report_and_leaves_workspace_clean(repo, tmp_path):
    before = sh("git", "status", "--porcelain", cwd=repo).stdout
    report = tmp_path / "report.md"
    res = run_check(repo, "--fail-if", "test.acc < ref - 0.01", "--report", str(report))
    assert res.exit_code == 0, res.output
    text = report.read_text()
    assert text.startswith("## expbook check: ✅ passed")
    assert "| `test.acc < ref - 0.01` | live/metrics.json:test.acc |" in text and "passed |" in text
    assert "live/plots/metrics/acc.tsv" in text  # plots are listed for the PR comment
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == before
    assert worktrees(repo) == 1


@pytest.mark.slow
def test_check_fails_on_injected_regression_against_main(repo, tmp_path):
    report = tmp_path / "report.md"
    res = run_check(
        repo,
        "--rev",
        "worse",
        "--against",
        "main",
        "--fail-if",
        "test.acc < ref - 0.01",
        "--report",
        str(report),
    )
    assert res.exit_code == 1
    text = report.read_text()
    assert "❌ failed" in text and "**FAILED**" in text
    assert "reference: committed metrics of `main`" in text
    acc_row = next(line for line in text.splitlines() if line.startswith(f"| {ACC} |"))
    delta, mark = acc_row.split("|")[4].split()  # metric | reference | reproduced | delta | ...
    assert float(delta) == pytest.approx(-0.05, abs=0.01)
    assert mark == "(worse)"  # issue 18: an accuracy that went down, by its direction


@pytest.mark.slow
def test_check_fails_when_the_commit_does_not_reproduce(repo):
    """Guards the reproduction half of the gate: a committed metric the code does not produce."""
    metrics = json.loads(show(repo, "HEAD", "live/metrics.json"))
    metrics["test"]["acc"] = 0.99
    ref = tamper(repo, "HEAD", {"live/metrics.json": json.dumps(metrics)}, "refs/heads/tampered")
    res = run_check(repo, "--rev", ref)  # no rule at all
    assert res.exit_code == 1 and "NOT reproduced" in res.output
    assert "| live/metrics.json:test.acc | 0.99 | 0.60" in res.output


@pytest.mark.parametrize(
    "rule, text",
    [
        ("acc >", "cannot parse"),
        ("ref < 1", "names no metric"),
        ("", "empty expression"),
    ],
)
def test_bad_rules_fail_before_running(repo, rule, text):
    res = run_check(repo, "--fail-if", rule)
    assert res.exit_code == 2 and text in res.output and repr(rule) in res.output


def test_bad_against_rev(repo):
    res = run_check(repo, "--against", "no-such-branch")
    assert res.exit_code == 2 and "no-such-branch" in res.output


CURRENT = {ACC: 0.80, "live/metrics.json:loss": 0.5}
REFERENCE = {ACC: 0.85, "live/metrics.json:loss": 0.4}


@pytest.mark.parametrize(
    "rule, failed",
    [
        ("test.acc < ref - 0.01", True),
        ("test.acc < ref - 0.1", False),
        ("loss > ref * 1.2", True),
        ("loss > ref * 1.3", False),
        ("acc < 0.5 or loss > 1", False),
        ("abs(test.acc - ref) > 0.04", True),
        ("missing_metric < ref", QueryError),
        ("acc < ref and loss > ref", QueryError),
    ],
)
def test_evaluate_rule(rule, failed):
    if failed is QueryError:
        with pytest.raises(QueryError, match="missing_metric|exactly one metric"):
            evaluate_rule(rule, CURRENT, REFERENCE)
        return
    assert evaluate_rule(rule, CURRENT, REFERENCE).failed is failed


def test_rule_without_reference_value_is_not_a_failure():
    res = evaluate_rule("acc < ref", CURRENT, {})
    assert res.failed is None and res.status.startswith("n/a")


def test_validate_rules_keeps_good_rules():
    assert validate_rules(["acc < ref", "loss > 1"]) == ["acc < ref", "loss > 1"]


def test_markdown_report_of_an_error_shows_it():
    from expbook.repro.check import CheckResult
    from expbook.repro.reproduce import Reproduction

    res = CheckResult(
        Reproduction(rev="a" * 40, name="HEAD", error="stage failed"), "HEAD", "a" * 40
    )
    text = markdown_report(res)
    assert res.exit_code == 2 and "⚠️ error" in text and "stage failed" in text
