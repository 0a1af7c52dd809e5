"""The registry's commit-keyed cache never serves stale rows: moved/removed/new refs, new
commits, edited work-tree files, cache location settings and corrupt cache files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import commit_all, dvc, sh
from expbook import registry
from repo_factory import build_small_repo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("small") / "repo"
    path.mkdir()
    return path, build_small_repo(path)


@pytest.fixture
def small(template, tmp_path) -> tuple[Path, dict]:
    """A private copy of the small repo (tests here change refs and files)."""
    src, shas = template
    dest = tmp_path / "repo"
    shutil.copytree(src, dest, symlinks=True)
    return dest, shas


def _by_name(path) -> dict[str, registry.Experiment]:
    return {row.name: row for row in registry.collect(path)}


def test_warm_result_equals_cold(small):
    path, shas = small
    cold = registry.collect(path)
    assert (path / ".dvc" / "tmp" / "expbook" / "rows.pickle").exists()
    assert registry.collect(path) == cold
    assert {r.name: r.metrics for r in cold if r.kind == "experiment"} == {
        "a": {"metrics.json:acc": 0.8}, "b": {"metrics.json:acc": 0.7}}


def test_moved_exp_ref_is_seen_at_once(small):
    """Bug guarded: a ref rewritten in the same clock tick as the cached read (equal mtimes)."""
    path, shas = small
    assert _by_name(path)["a"].params == {"params.yaml:lr": 0.2}
    base = shas["baseline"]
    sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/a", shas["b"], cwd=path)
    row = _by_name(path)["a"]
    assert (row.rev, row.params) == (shas["b"], {"params.yaml:lr": 0.3})


def test_removed_and_new_experiments(small):
    path, _ = small
    assert {"a", "b"} <= set(_by_name(path))
    dvc("exp", "remove", "a", cwd=path)
    assert "a" not in _by_name(path)
    dvc("exp", "run", "-q", "-n", "c", "-S", "lr=0.5", cwd=path)
    assert _by_name(path)["c"].metrics == {"metrics.json:acc": 0.5}


def test_packed_refs_are_read(small):
    path, shas = small
    registry.collect(path)
    sh("git", "pack-refs", "--all", cwd=path)
    rows = _by_name(path)
    assert rows["a"].rev == shas["a"] and rows["main"].rev == shas["baseline"]


def test_new_commit_and_branch_move(small):
    path, shas = small
    registry.collect(path)
    (path / "params.yaml").write_text("lr: 0.4\n")
    dvc("repro", "-q", cwd=path)
    new = commit_all(path, "second")
    rows = _by_name(path)
    assert rows["main"].rev == new and rows["main"].metrics == {"metrics.json:acc": 0.6}
    # the old baseline has experiments, so it stays listed under its short sha
    assert rows[shas["baseline"][:7]].kind == "baseline"


def test_workspace_edits_show_up(small):
    path, _ = small
    assert _by_name(path)["workspace"].params["params.yaml:lr"] == 0.3
    (path / "params.yaml").write_text("lr: 0.9\nextra: [1, 2]\n")
    assert _by_name(path)["workspace"].params == {"params.yaml:lr": 0.9,
                                                  "params.yaml:extra": [1, 2]}
    (path / "metrics.json").write_text("{not json")
    ws = _by_name(path)["workspace"]
    assert ws.metrics == {} and "metrics.json" in ws.errors


def test_cache_dir_env_and_disable(small, tmp_path, monkeypatch):
    path, _ = small
    shutil.rmtree(path / ".dvc" / "tmp" / "expbook", ignore_errors=True)
    monkeypatch.setenv("EXPBOOK_CACHE_DIR", str(tmp_path / "cachedir"))
    first = registry.collect(path)
    assert len(list((tmp_path / "cachedir").glob("rows-*.pickle"))) == 1
    assert not (path / ".dvc" / "tmp" / "expbook").exists()
    monkeypatch.delenv("EXPBOOK_CACHE_DIR")
    monkeypatch.setenv("EXPBOOK_NO_CACHE", "1")
    assert registry.collect(path) == first
    assert not (path / ".dvc" / "tmp" / "expbook").exists()


@pytest.mark.parametrize("garbage", [b"", b"not a pickle", b"\x80\x05N."])
def test_corrupt_cache_files_are_ignored(small, garbage):
    path, _ = small
    expected = registry.collect(path)
    for name in ("rows.pickle", "commits.pickle"):
        (path / ".dvc" / "tmp" / "expbook" / name).write_bytes(garbage)
    assert registry.collect(path) == expected


def test_corrupt_params_file_in_one_experiment(small):
    """One broken commit gets an error entry; every other row is intact."""
    path, shas = small
    (path / "params.yaml").write_text("lr: [unclosed\n")
    sh("git", "add", "params.yaml", cwd=path)
    broken = sh("git", "commit", "-q", "-m", "broken", cwd=path)
    assert broken.returncode == 0
    rows = _by_name(path)
    assert "params.yaml" in rows["main"].errors and rows["main"].params == {}
    assert rows["a"].params == {"params.yaml:lr": 0.2}


def test_running_experiment_from_dvc_infofile(small):
    """A queued exp whose executor infofile says RUNNING and whose process is alive is
    `running` (DVC: executor/base.py ExecutorInfo + dvc-task ProcessInfo); dead -> queued."""
    import json
    import subprocess
    import sys

    path, shas = small
    dvc("exp", "run", "--queue", "-q", "-n", "q1", "-S", "lr=0.6", cwd=path)
    row = _by_name(path)["q1"]
    assert row.status == "queued" and row.params == {"params.yaml:lr": 0.6}
    stash_rev = row.rev
    run_dir = path / ".dvc" / "tmp" / "exps" / "run" / stash_rev
    run_dir.mkdir(parents=True)
    info = {"git_url": f"file://{path}", "baseline_rev": shas["baseline"], "location": "dvc-task",
            "root_dir": str(path), "dvc_dir": ".dvc", "name": "q1", "wdir": ".",
            "result_hash": None, "result_ref": None, "result_force": False, "status": 2}
    (run_dir / f"{stash_rev}.run").write_text(json.dumps(info))
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / f"{stash_rev}.json").write_text(json.dumps(
            {"pid": proc.pid, "stdin": None, "stdout": None, "stderr": None, "returncode": None}))
        assert _by_name(path)["q1"].status == "running"
    finally:
        proc.kill()
        proc.wait()
    assert _by_name(path)["q1"].status == "queued"


def test_repo_without_commits_has_only_the_workspace(git_repo):
    from conftest import dvc_init

    dvc_init(git_repo)
    (git_repo / "params.yaml").write_text("lr: 0.5\n")
    rows = registry.collect(git_repo)
    assert [(r.name, r.params) for r in rows] == [("workspace", {"params.yaml:lr": 0.5})]


def test_collect_from_a_subdirectory(small):
    path, shas = small
    (path / "deep" / "er").mkdir(parents=True)
    assert registry.resolve(path / "deep" / "er", "a").rev == shas["a"]


def test_exp_whose_baseline_commit_is_missing_is_still_listed(small):
    """One bad (orphaned) ref never hides the others: no baseline row, the exp row stays."""
    path, shas = small
    fake = "ab" * 20
    sh("git", "update-ref", f"refs/exps/{fake[:2]}/{fake[2:]}/orphan", shas["a"], cwd=path)
    rows = _by_name(path)
    assert rows["orphan"].baseline == fake and rows["orphan"].params == {"params.yaml:lr": 0.2}
    assert fake not in {r.rev for r in rows.values()} and rows["b"].rev == shas["b"]


def test_parallel_cold_read_equals_serial(small, monkeypatch):
    """The forked-pool cold read (used from PARALLEL_MIN commits) gives the same rows."""
    path, _ = small
    monkeypatch.setenv("EXPBOOK_NO_CACHE", "1")
    serial = registry.collect(path)
    monkeypatch.setattr(registry, "PARALLEL_MIN", 1)
    assert registry.collect(path) == serial
