"""Registry rows carry the model versions and stages that point at them (issue 22): the
`models` field (JSON, CSV, the Python API, the terminal table), a `--where` key, kept up to
date by the registry's cache when a model tag is written."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import sh
from expbook import registry
from expbook.cli import cli
from pty_helpers import run_in_pty
from repo_factory import age_tree
from test_models import base, run  # noqa: F401  (the module-scoped repo fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(base: Path, tmp_path: Path) -> Path:  # noqa: F811
    shutil.copytree(base.parent, tmp_path / "w", symlinks=True)
    return tmp_path / "w" / "repo"


def rows(repo: Path, *args: str) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["registry", "-R", str(repo), "-f", "json", *args])
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def labels(repo: Path) -> dict[str, list[str]]:
    return {name: r["models"] for name, r in rows(repo).items() if name.startswith("e")}


def test_rows_carry_active_versions_and_stages_and_follow_new_tags(repo: Path) -> None:
    """issue 22: a registered experiment's row lists `cnn@v0.0.1` / `cnn#prod` (active only:
    unassign and deregister take the label away); every read follows a cached one, so a new
    tag must invalidate the registry's cache (rows had no `models` field before)."""
    assert labels(repo) == {"e1": [], "e2": [], "e3": []}  # cached: no model tag yet
    run(repo, "model", "register", "cnn", "e1")
    assert labels(repo) == {"e1": ["cnn@v0.0.1"], "e2": [], "e3": []}
    run(repo, "model", "register", "cnn", "e2", "--bump", "minor")
    run(repo, "model", "assign", "cnn", "--version", "v0.1.0", "--stage", "prod")
    run(repo, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "staging")
    assert labels(repo) == {
        "e1": ["cnn@v0.0.1", "cnn#staging"],
        "e2": ["cnn@v0.1.0", "cnn#prod"],
        "e3": [],
    }
    run(repo, "model", "unassign", "cnn", "--stage", "prod")
    run(repo, "model", "deregister", "cnn", "--version", "v0.0.1")
    # deregistered: its stage goes too (a stage points at an active version only)
    assert labels(repo) == {"e1": [], "e2": ["cnn@v0.1.0"], "e3": []}
    # `expbook show` names them too
    _, shown = run(repo, "show", "e2")
    assert any(line.split() == ["models", "cnn@v0.1.0"] for line in shown.splitlines()), shown
    # the Python API gives the same rows; the workspace and baseline rows have none
    by_name = {e.name: e for e in registry.collect(repo)}
    assert by_name["e2"].models == ["cnn@v0.1.0"]
    assert by_name["workspace"].models == [] and by_name["main"].models == []


def test_where_csv_and_table_show_models(repo: Path) -> None:
    """issue 22: `--where "models = 'cnn#prod'"` (membership, as `tag = 'x'`) and `~` globs
    find the rows; CSV has a `models` column; the terminal table shows it beside tags."""
    run(repo, "model", "register", "cnn", "e1")
    run(repo, "model", "register", "cnn", "e3", "--bump", "major")
    run(repo, "model", "assign", "cnn", "--version", "v1.0.0", "--stage", "prod")
    assert list(rows(repo, "--where", "models = 'cnn#prod'")) == ["e3"]
    assert sorted(rows(repo, "--where", "models ~ 'cnn@*'")) == ["e1", "e3"]
    assert sorted(rows(repo, "--where", "models is null and kind = 'experiment'")) == ["e2"]
    result = CliRunner().invoke(cli, ["registry", "-R", str(repo), "-f", "csv"])
    flat = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert json.loads(flat["e3"]["models"]) == ["cnn@v1.0.0", "cnn#prod"]
    assert json.loads(flat["e2"]["models"]) == []
    shown = run_in_pty(["registry", "-R", str(repo)], cwd=repo, columns=200, rows=30)
    assert shown.returncode == 0, shown.text
    header = next(line for line in shown.text.splitlines() if line.startswith("┃"))
    assert " models " in header, shown.text
    e3 = next(line for line in shown.text.splitlines() if "│ e3 " in line)
    assert "cnn@v1.0.0, cnn#prod" in e3, shown.text


def test_rows_read_tags_another_tool_wrote_and_ignore_lightweight_ones(repo: Path) -> None:
    """issue 22: a GTO tag written with plain `git tag -a` (as gto does, no counter) labels the
    row; a lightweight tag in GTO's format is no event (GTO ignores it), nor a release tag."""
    e2 = rows(repo)["e2"]["rev"]
    sh("git", "tag", "-a", "cnn@v2.0.0", "-m", "by hand", e2, cwd=repo)
    sh("git", "tag", "cnn#prod#5", e2, cwd=repo)  # lightweight
    sh("git", "tag", "-a", "release-1", "-m", "a release", e2, cwd=repo)
    assert labels(repo)["e2"] == ["cnn@v2.0.0"]
    sh("git", "pack-refs", "--all", cwd=repo)  # packed tags (peeled lines) read the same
    sh("git", "tag", "-a", "cnn#prod#6", "-m", "prod", e2, cwd=repo)
    assert labels(repo)["e2"] == ["cnn@v2.0.0", "cnn#prod"]


def test_new_experiment_on_a_tagged_commit_is_not_spliced_without_its_labels(
    repo: Path,
) -> None:
    """issue 22: the cached JSON is extended in place when only new experiment refs arrived;
    an experiment whose commit a model tag already names must be rendered afresh (its row has
    labels), so the extended text equals a fresh read."""
    first = rows(repo)
    e3 = first["e3"]["rev"]  # the newest: a new ref to it is spliced in after its baseline
    sh("git", "tag", "-a", "cnn@v1.0.0#1", "-m", "v1", e3, cwd=repo)
    age_tree(repo)  # out of the cache's racy window: the next read may extend the cached text
    rows(repo)  # cached again, with the tag
    sh("git", "update-ref", first["e3"]["ref"].replace("/e3", "/e3-again"), e3, cwd=repo)
    got = rows(repo)
    assert got["e3-again"]["models"] == ["cnn@v1.0.0"]
    fresh = CliRunner().invoke(
        cli, ["registry", "-R", str(repo), "-f", "json"], env={"EXPBOOK_NO_CACHE": "1"}
    )
    assert {r["name"]: r for r in json.loads(fresh.stdout)} == got
