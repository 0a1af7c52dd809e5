"""The rendered-output cache (expbook.registry.rendered): a warm `expbook registry --format
json|csv` streams one cached file and imports no row-building module; the cache stays bounded
on disk; an evicted, truncated or wrongly shaped entry is a miss, never wrong output.

Run: python -m pytest -q tests/test_registry_rendered.py (git-only repos: a few seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, commit_all, dvc_init, git_init, sh
from expbook.registry import cache, rendered, table
from repo_factory import IMPORT_PROBE, age_tree

DVC_YAML = """\
stages:
  train:
    cmd: python -c "print(1)"
    params: [lr]
    metrics:
      - metrics.json:
          cache: false
"""


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A DVC repo with a baseline and experiments a, b, c as exp refs (git only, no DVC run);
    every file backdated so that only a real change invalidates a cached entry."""
    (tmp_path / "repo").mkdir()
    path = git_init(tmp_path / "repo")
    dvc_init(path)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("lr: 0.1\n")
    (path / "metrics.json").write_text('{"acc": 0.5}\n')
    shas = {"baseline": commit_all(path, "baseline")}
    base = shas["baseline"]
    for i, name in enumerate(("a", "b", "c"), 1):
        sh("git", "checkout", "-q", "-b", f"tmp-{name}", base, cwd=path)
        (path / "params.yaml").write_text(f"lr: 0.{i + 1}\n")
        (path / "metrics.json").write_text(f'{{"acc": 0.{i + 5}}}\n')
        shas[name] = commit_all(path, f"exp {name}")
        sh("git", "checkout", "-q", "main", cwd=path)
        sh("git", "branch", "-q", "-D", f"tmp-{name}", cwd=path)
        sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", shas[name], cwd=path)
    age_tree(path)
    return path, shas


def _cli(path: Path, *args: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, "registry", *args],
        cwd=path,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        check=True,
    )


def _modules(proc: subprocess.CompletedProcess) -> set[str]:
    line = proc.stderr.decode().rpartition("MODULES=")[2]
    return set(line.split(","))


def _text_files(path: Path) -> list[str]:
    folder = path / ".dvc" / "tmp" / "expbook"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".txt"))


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_warm_run_streams_the_cached_text_and_imports_little(repo, fmt, tmp_path):
    path, shas = repo
    cold = _cli(path, "--format", fmt)
    warm = _cli(path, "--format", fmt)  # to a pipe
    assert warm.stdout == cold.stdout
    if fmt == "json":
        assert {r["name"]: r["rev"] for r in json.loads(warm.stdout)}["a"] == shas["a"]
    # nothing that builds or parses rows is imported on a hit (cold runs import them)
    heavy = {"pygit2", "dvc", "ruamel", "yaml", "pandas", "rich"}
    heavy |= {"expbook.registry.rows", "expbook.registry.experiment", "expbook.query"}
    heavy |= {"expbook.output"}  # -o FILE needs its safe writer; stdout does not
    assert "expbook.registry.rows" in _modules(cold)
    assert not heavy & _modules(warm), heavy & _modules(warm)
    # to a regular file: the same bytes
    out = tmp_path / f"out.{fmt}"
    with open(out, "wb") as fh:
        _cli(path, "--format", fmt, stdout=fh)
    assert out.read_bytes() == cold.stdout


def test_warm_output_file_is_written_by_the_safe_writer(repo, tmp_path):
    """-o on a hit: the cached text, the row count in the message, git-tracked files refused."""
    path, _ = repo
    target = tmp_path / "reg.json"
    for _ in range(2):  # a miss, then a hit
        proc = _cli(path, "--format", "json", "-o", str(target))
        rows = json.loads(target.read_text())
        assert f"wrote {target} ({len(rows)} rows, json)" in proc.stderr.decode()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    refused = subprocess.run(
        [sys.executable, "-m", "expbook", "registry", "-f", "json", "-o", "params.yaml"],
        cwd=path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert refused.returncode != 0 and "git tracks it" in refused.stderr
    assert (path / "params.yaml").read_text() == "lr: 0.1\n"


def test_cache_is_bounded_on_disk(repo):
    """Every format/option set and every re-render replaces files, never adds up."""
    path, shas = repo
    legacy = Path(cache.cache_file(str(path), "output"))
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(b"an older expbook's output cache")
    variants = [
        ("--format", "json"),
        ("--format", "csv"),
        ("--format", "json", "--where", "lr > 0.2"),
        ("--format", "csv", "--columns", "name"),
        ("--format", "json", "--top", "1", "--sort-by", "lr"),
        ("--format", "csv", "--drop", "lr"),
    ]
    for args in variants:
        _cli(path, *args)
        _cli(path, *args)
    assert len(_text_files(path)) == rendered.MAX_ENTRIES
    assert not legacy.exists()
    base = shas["baseline"]
    for name in ("b", "c", "a"):  # the repository changes: each run re-renders
        sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/a", shas[name], cwd=path)
        age_tree(path)
        rows = json.loads(_cli(path, "--format", "json").stdout)
        assert {r["name"]: r["rev"] for r in rows}["a"] == shas[name]
    assert len(_text_files(path)) == rendered.MAX_ENTRIES
    index = cache.load(str(path), rendered.INDEX)["entries"]
    assert sorted(e["file"] for e in index.values()) == _text_files(path)
    assert not [p for p in (path / ".dvc" / "tmp" / "expbook").iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("damage", ["deleted", "truncated", "grown"])
def test_missing_or_resized_text_is_a_miss(repo, damage):
    """A text file evicted by a concurrent writer (or changed behind expbook's back) is a
    miss: the registry is rendered afresh, never served short."""
    path, _ = repo
    want = _cli(path, "--format", "json").stdout
    (name,) = _text_files(path)
    text = path / ".dvc" / "tmp" / "expbook" / name
    if damage == "deleted":
        text.unlink()
    elif damage == "truncated":
        text.write_bytes(want[:10])
    else:
        text.write_bytes(want + b"[]\n")
    again = _cli(path, "--format", "json")
    assert again.stdout == want
    assert "expbook.registry.rows" in _modules(again)  # rendered afresh
    assert _cli(path, "--format", "json").stdout == want


def test_an_open_cached_text_survives_a_concurrent_rewrite(repo):
    """A reader that opened the cached file reads it whole even when a writer replaces the
    entry and deletes that file meanwhile (POSIX unlink keeps it readable)."""
    path, shas = repo
    spec = table.TableSpec()
    first = table.render_output(path, "json", spec)
    assert not first.cached
    before = first.text()
    hit = table.render_output(path, "json", spec)
    assert hit.cached
    base = shas["baseline"]
    sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/a", shas["b"], cwd=path)
    age_tree(path)
    after = table.render_output(path, "json", spec)
    assert not after.cached and after.text() != before
    assert len(_text_files(path)) == 1  # the file `hit` holds was deleted
    assert hit.text() == before
    assert hit.rows == after.rows == 5  # workspace, main, a, b, c


def test_no_cache_env_writes_nothing(repo, monkeypatch):
    path, _ = repo
    monkeypatch.setenv("EXPBOOK_NO_CACHE", "1")
    spec = table.TableSpec()
    assert (
        table.render_output(path, "csv", spec).text()
        == table.render_output(path, "csv", spec).text()
    )
    assert not (path / ".dvc" / "tmp" / "expbook").exists() or not _text_files(path)


def test_a_shared_cache_dir_keeps_repositories_apart(repo, tmp_path, monkeypatch):
    """EXPBOOK_CACHE_DIR serving two repos: one's eviction never deletes the other's text."""
    path, _ = repo
    other = tmp_path / "other"
    sh("git", "clone", "-q", str(path), str(other))
    age_tree(other)
    monkeypatch.setenv("EXPBOOK_CACHE_DIR", str(tmp_path / "shared"))
    spec = table.TableSpec()
    texts = {p: table.render_output(p, "json", spec).text() for p in (path, other)}
    for variant in ("a", "b", "c", "d", "e"):
        table.render_output(path, "json", table.TableSpec(where=f"name != '{variant}'")).text()
    for p in (path, other):
        hit = table.render_output(p, "json", spec)
        assert hit.text() == texts[p]
    files = [f for f in os.listdir(tmp_path / "shared") if f.endswith(".txt")]
    assert len(files) == rendered.MAX_ENTRIES + 1


def test_collect_rendered_caches_any_renderer(repo):
    """The Python API: registry.collect_rendered(repo, key, render) renders once per state."""
    from expbook import registry

    path, shas = repo
    calls = []

    def names(rows) -> str:
        calls.append(1)
        return ",".join(sorted(r.name for r in rows))

    first = registry.collect_rendered(path, ("names",), names)
    assert first == registry.collect_rendered(path, ("names",), names) == "a,b,c,main,workspace"
    assert len(calls) == 1
    every = registry.collect_rendered(path, ("names",), names, all_commits=True)
    assert every.startswith("a,b,c,") and len(calls) == 2
    registry.collect_rendered(path, ("names",), names)  # -A kept its own entry
    registry.collect_rendered(path, ("names",), names, all_commits=True)
    assert len(calls) == 2
