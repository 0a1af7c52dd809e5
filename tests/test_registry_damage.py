"""A damaged repository still gives its registry (issue 8 "Bad input"): a corrupt packed-refs
line, a ref to a missing object, a notes blob that is not JSON, a dvc.lock that is not YAML.
Every other row is listed; the problem is named in the affected row's `errors`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, sh
from expbook import registry
from expbook.cli import cli
from repo_factory import build_small_repo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("damage") / "repo"
    path.mkdir()
    return path, build_small_repo(path)


@pytest.fixture
def repo(template, tmp_path) -> tuple[Path, dict]:
    dest = tmp_path / "repo"
    shutil.copytree(template[0], dest, symlinks=True)
    return dest, template[1]


def _rows(path: Path) -> dict[str, dict]:
    """Rows by name through the CLI (no traceback, exit 0) and the Python API alike."""
    result = CliRunner().invoke(cli, ["registry", "--repo", str(path), "-f", "json"])
    assert result.exit_code == 0, (result.output, result.exception)
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {e.name for e in registry.collect(path)} == set(rows)
    return rows


def _exp_ref(shas: dict, name: str) -> str:
    base = shas["baseline"]
    return f"refs/exps/{base[:2]}/{base[2:]}/{name}"


def test_corrupt_packed_refs_line_is_an_error_of_its_row(repo):
    path, shas = repo
    sh("git", "pack-refs", "--all", cwd=path)
    packed = path / ".git" / "packed-refs"
    ref = _exp_ref(shas, "a")
    text = packed.read_text().replace(f"{shas['a']} {ref}", f"{shas['a'][:20]}zz {ref}")
    packed.write_text(text)
    rows = _rows(path)
    assert rows["b"]["params"] == {"params.yaml:lr": 0.3} and rows["b"]["errors"] == {}
    assert rows["main"]["status"] == "success"
    assert rows["a"]["status"] == "error"
    assert "not a commit in the repository" in rows["a"]["errors"][ref]


def test_ref_to_a_missing_object_is_an_error_of_its_row(repo):
    path, shas = repo
    missing = "0123456789abcdef0123456789abcdef01234567"
    (path / ".git" / "refs" / "heads" / "ghost").write_text(missing + "\n")
    ref = _exp_ref(shas, "b")
    (path / ".git" / ref).write_text(missing + "\n")
    rows = _rows(path)
    assert rows["a"]["errors"] == {} and rows["a"]["metrics"] == {"metrics.json:acc": 0.8}
    assert rows["b"]["status"] == "error" and missing in rows["b"]["errors"][ref]
    ghost = rows["ghost"]
    assert ghost["status"] == "error" and "refs/heads/ghost" in ghost["errors"]


def test_notes_blob_that_is_not_json_is_named(repo):
    path, shas = repo
    sh("git", "notes", "--ref", "expbook", "add", "-m", '{"notes": ["x"', shas["a"], cwd=path)
    sh("git", "notes", "--ref", "expbook", "add", "-m", "plain words", shas["b"], cwd=path)
    rows = _rows(path)
    assert "not valid JSON" in rows["a"]["errors"]["refs/notes/expbook"]
    assert rows["a"]["status"] == "success"  # its values are fine; the note is named
    assert rows["b"]["notes"] == ["plain words"] and rows["b"]["errors"] == {}


def test_dvc_lock_that_is_not_yaml_is_an_error_of_its_row(repo):
    path, shas = repo
    sh("git", "reset", "-q", "--hard", cwd=path)  # `dvc exp run` left lr=0.3 in the workspace
    sh("git", "checkout", "-q", "-b", "broken", cwd=path)
    (path / "dvc.lock").write_text("stages:\n\t- [unclosed\n")
    commit_all(path, "garbage lock")
    rows = _rows(path)
    broken = rows["broken"]
    assert broken["status"] == "error" and "YAML" in broken["errors"]["dvc.lock"]
    assert broken["params"] == {"params.yaml:lr": 0.1}  # everything else is still read
    assert rows["a"]["errors"] == {} and rows["a"]["status"] == "success"
