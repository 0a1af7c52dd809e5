"""`expbook model assign --require-check RULE` (issue 22, optional): `expbook check`'s rules on
the version's recorded metrics gate a promotion; a refusal writes no tag.

The base repo's experiments: e1 val.acc 0.9, e2 0.8, e3 0.7 (tests/test_models.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_models import base, run, tags  # noqa: F401  (the module-scoped repo fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(base: Path, tmp_path: Path) -> Path:  # noqa: F811
    shutil.copytree(base.parent, tmp_path / "w", symlinks=True)
    path = tmp_path / "w" / "repo"
    run(path, "model", "register", "cnn", "e1")  # v0.0.1
    run(path, "model", "register", "cnn", "e2")  # v0.0.2
    run(path, "model", "register", "cnn", "e3")  # v0.0.3
    run(path, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "prod")
    return path


def prod(repo: Path) -> str:
    _, out = run(repo, "model", "resolve", "cnn", "--stage", "prod", "--json")
    return json.loads(out)["version"]


def test_a_rule_that_holds_refuses_and_writes_no_tag(repo: Path) -> None:
    """issue 22: `--require-check "val.acc < ref"` against the version in prod now (v0.0.1,
    0.9): v0.0.2 (0.8) is refused, exit non-zero, the rule and values named, no tag."""
    before = sorted(tags(repo))
    code, out = run(
        repo,
        "model", "assign", "cnn", "--version", "v0.0.2", "--stage", "prod",
        "--require-check", "val.acc < ref",
        ok=False,
    )  # fmt: skip
    assert code != 0
    assert "error:" in out.lower() and "'val.acc < ref'" in out and "no tag written" in out
    assert "cnn@v0.0.1, in prod now" in out and "0.8" in out and "0.9" in out
    assert sorted(tags(repo)) == before and prod(repo) == "v0.0.1"


@pytest.mark.parametrize(
    "rule, why",
    [
        ("test.acc < 0.5", "unknown key 'test.acc'"),  # no such metric: refused, not passed
        ("val.acc <", "--require-check 'val.acc <'"),  # a typo, named before anything runs
    ],
)
def test_a_rule_that_cannot_be_evaluated_refuses(repo: Path, rule: str, why: str) -> None:
    """issue 22: a gate that cannot tell is closed: no tag."""
    before = sorted(tags(repo))
    code, out = run(
        repo,
        "model", "assign", "cnn", "--version", "v0.0.2", "--stage", "prod",
        "--require-check", rule,
        ok=False,
    )  # fmt: skip
    assert code != 0 and why in out, out
    assert sorted(tags(repo)) == before


def test_rules_that_pass_write_the_tag_and_say_so(repo: Path) -> None:
    """issue 22: every rule passes -> the tag is written and each rule's result printed;
    `--against` names the reference; --json carries the checks."""
    code, out = run(
        repo,
        "model", "assign", "cnn", "--version", "v0.0.2", "--stage", "prod",
        "--require-check", "val.acc < ref", "--require-check", "val.loss > 0.5",
        "--against", "e3",
    )  # fmt: skip
    assert "promotion gate against e3" in out and out.count(": passed (") == 2, out
    assert prod(repo) == "v0.0.2"
    _, out = run(
        repo,
        "model", "assign", "cnn", "--version", "v0.0.3", "--stage", "staging",
        "--require-check", "val.acc < 0.5", "--json",
    )  # fmt: skip
    done = json.loads(out)
    assert done["tag"].startswith("cnn#staging#") and done["checks"]["passed"] is True
    assert done["checks"]["against"] == "its own recorded metrics (staging is empty)"
    assert [r["status"] for r in done["checks"]["rules"]] == ["passed"]
