"""The registry's data shape and honest rows: nested JSON rows (schema pinned), `errors` as a
column / query key / table mark, status `error` for unreadable files, a garbage dvc.lock as an
error of its row, wrongly shaped cache entries as misses, and the one-line warning.

Issues 8 ("Data shape for programs", "Errors never reach the output") and 14 ("Honest status").
"""

from __future__ import annotations

import csv
import io
import json
import marshal
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, sh
from expbook import registry
from expbook.cli import cli
from expbook.registry import cache
from repo_factory import build_small_repo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict]:
    """A small repo (baseline + exps a, b) plus branches whose heads hold a corrupt metrics
    file (`badmetrics`) and a dvc.lock that is not a lock file (`badlock`)."""
    path = tmp_path_factory.mktemp("schema") / "repo"
    path.mkdir()
    shas = build_small_repo(path)
    for branch, file, text in (
        ("badmetrics", "metrics.json", "{not json"),
        ("badlock", "dvc.lock", "this is not a lock file\n"),
    ):
        sh("git", "checkout", "-q", "-b", branch, shas["baseline"], cwd=path)
        (path / file).write_text(text)
        shas[branch] = commit_all(path, f"break {file}")
    sh("git", "checkout", "-q", "main", cwd=path)
    return path, shas


@pytest.fixture
def repo(template, tmp_path) -> tuple[Path, dict]:
    dest = tmp_path / "repo"
    shutil.copytree(template[0], dest, symlinks=True)
    return dest, template[1]


def _cli(path: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, [*args[:1], "--repo", str(path), *args[1:]])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def _json(path: Path, *args: str) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(_cli(path, "registry", "-f", "json", *args).stdout)}


def test_json_rows_have_the_documented_nested_shape(repo):
    """The schema README "Data shape" documents (and the dashboard consumes): pinned here."""
    path, shas = repo
    rows = _json(path)
    want_keys = [
        "name", "rev", "kind", "baseline", "ref", "created", "author", "status", "message",
        "branches", "git_tags", "notes", "tags", "models", "sweep",
        "params", "metrics", "outs", "errors",
    ]  # fmt: skip  # author: who ran it (issue 23); models: its versions/stages (issue 22)
    assert list(registry.SCHEMA_KEYS) == want_keys
    for row in rows.values():
        assert list(row) == want_keys
    a = rows["a"]
    assert (a["rev"], a["kind"], a["baseline"], a["status"]) == (
        shas["a"],
        "experiment",
        shas["baseline"],
        "success",
    )
    assert a["params"] == {"params.yaml:lr": 0.2}
    assert a["metrics"] == {"metrics.json:acc": 0.8}
    assert a["errors"] == {}
    assert list(a["outs"]) == ["metrics.json"]
    assert list(a["outs"]["metrics.json"]) == ["hash", "size", "in_cache"]
    assert a["outs"]["metrics.json"]["hash"].startswith("md5:")
    # the Python API gives the same rows
    by_name = {e.name: e.to_dict() for e in registry.collect(path)}
    assert json.loads(json.dumps(by_name["a"])) == a
    # csv stays flat, with an errors column
    text = _cli(path, "registry", "-f", "csv").stdout
    flat = {r["name"]: r for r in csv.DictReader(io.StringIO(text))}
    assert flat["a"]["params.yaml:lr"] == "0.2" and flat["a"]["errors"] == ""
    assert json.loads(flat["badmetrics"]["errors"]) == {
        "metrics.json": "metrics.json: JSON file structure is corrupted (JSONDecodeError)"
    }


def test_json_columns_narrow_the_nested_rows(repo):
    path, _ = repo
    rows = _json(path, "--columns", "name,acc", "--where", "kind = 'experiment'")
    assert rows["a"] == {"name": "a", "metrics": {"metrics.json:acc": 0.8}}
    rows = _json(path, "--drop", "acc,created")
    assert "created" not in rows["a"] and rows["a"]["metrics"] == {}
    assert "metrics.json" in rows["a"]["outs"] and rows["a"]["params"] == {"params.yaml:lr": 0.2}


def test_unreadable_files_make_status_error_and_show_everywhere(repo):
    """Bug guarded (issue 14): a corrupt metrics file or a garbage dvc.lock left the row
    `success` with "-" everywhere, and the garbage lock gave no error at all."""
    path, _ = repo
    rows = _json(path)
    assert rows["badmetrics"]["status"] == "error"
    assert "corrupted" in rows["badmetrics"]["errors"]["metrics.json"]
    assert rows["badlock"]["status"] == "error"
    assert rows["badlock"]["errors"] == {
        "dvc.lock": "dvc.lock: not a DVC lock file (top level is str, not a mapping)"
    }
    assert rows["badlock"]["metrics"] == {"metrics.json:acc": 0.9}  # the rest is still read
    assert rows["a"]["status"] == "success"
    # a query key and a column
    where = _json(path, "--where", "errors is not null")
    assert set(where) == {"badmetrics", "badlock"}
    assert set(_json(path, "--where", "status = 'error'")) == {"badmetrics", "badlock"}
    result = _cli(path, "registry", "-f", "csv", "--columns", "name,errors")
    assert result.stdout.splitlines()[0] == "name,errors"
    # the table marks the rows, and every format warns once on stderr
    result = _cli(path, "registry")
    line = next(ln for ln in result.stdout.splitlines() if "badlock" in ln)
    assert "dvc.lock" in line and "error" in line
    for args in ((), ("-f", "json"), ("-f", "csv")):
        for _ in range(2):  # the second json/csv run is served from the output cache
            err = _cli(path, "registry", *args).stderr
            assert err.count("warning: 2 of") == 1 and "badlock" in err, err
    # `show --json` keeps the reason
    shown = json.loads(_cli(path, "show", "badlock", "--json").stdout)
    assert shown["status"] == "error" and "dvc.lock" in shown["errors"]


def test_no_warning_when_no_row_has_errors(repo):
    path, _ = repo
    for branch in ("badmetrics", "badlock"):
        sh("git", "branch", "-D", branch, cwd=path)
    assert _cli(path, "registry", "-f", "json").stderr == ""


@pytest.mark.parametrize(
    "name, shaped",
    [
        ("rows", {"entries": {"True:None": {"rows": [{"name": 1}], "fingerprint": None}}}),
        ("rows", {"ref_state": {"dirs": 5, "packed": [1]}, "entries": []}),
        ("commits", {"commits": {"x": 1}, "workspace": {"dvcyamls": 3}, "notes": 7}),
        ("commits", {"commits": [], "peeled": 3}),
        ("rendered", {"entries": [1, 2]}),
        ("rendered", {"entries": {"real": {"file": 5}}}),
        ("rendered", {"entries": {"real": {"file": "../x", "rows": "many"}}}),
        ("rendered", {"entries": {"real": {"warning": 3}}}),
        ("rendered", {"entries": {"real": [1, 2]}}),
    ],
)
def test_wrongly_shaped_cache_entries_are_misses(repo, name, shaped):
    """Bug guarded (issue 14): well-formed marshal of the right version but another shape
    raised AttributeError/TypeError on every run until the file was deleted."""
    path, shas = repo
    want = _json(path)
    registry.collect(path)  # writes the rows cache (the JSON path caches only its text)
    # aim the bad entries at the keys the real ones use, so they are looked at
    real = cache.load(str(path), "rows")
    if name == "rows" and isinstance(shaped["entries"], dict):
        key = next(iter(real["entries"]))
        entry = {**real["entries"][key], "rows": [{"name": 1}]}
        shaped = {**real, "entries": {key: entry}}
    if name == "rendered" and isinstance(shaped["entries"], dict):  # the JSON run's own key
        index = cache.load(str(path), name)["entries"]
        key, real_entry = next(iter(index.items()))
        bad = shaped["entries"]["real"]
        shaped = {"entries": {key: {**real_entry, **bad} if isinstance(bad, dict) else bad}}
    blob = marshal.dumps({**shaped, "version": cache.VERSION})
    magic = f"expbook-marshal-{sys.version_info[0]}.{sys.version_info[1]}\n".encode()
    Path(cache.cache_file(str(path), name)).write_bytes(magic + blob)
    assert _json(path) == want
    assert {e.name: e.rev for e in registry.collect(path)}["a"] == shas["a"]
    _cli(path, "registry")  # the table path too
