"""The registry's commit-keyed cache never serves stale rows: moved/removed/new refs, new
commits, edited work-tree files, cache location settings and corrupt cache files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import commit_all, dvc, sh
from expbook import registry
from expbook.registry import reader as collector
from repo_factory import age_tree, build_small_repo

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
        "a": {"metrics.json:acc": 0.8},
        "b": {"metrics.json:acc": 0.7},
    }


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
    assert _by_name(path)["workspace"].params == {
        "params.yaml:lr": 0.9,
        "params.yaml:extra": [1, 2],
    }
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
    info = {
        "git_url": f"file://{path}",
        "baseline_rev": shas["baseline"],
        "location": "dvc-task",
        "root_dir": str(path),
        "dvc_dir": ".dvc",
        "name": "q1",
        "wdir": ".",
        "result_hash": None,
        "result_ref": None,
        "result_force": False,
        "status": 2,
    }
    (run_dir / f"{stash_rev}.run").write_text(json.dumps(info))
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / f"{stash_rev}.json").write_text(
            json.dumps(
                {"pid": proc.pid, "stdin": None, "stdout": None, "stderr": None, "returncode": None}
            )
        )
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
    monkeypatch.setattr(collector, "PARALLEL_MIN", 1)
    assert registry.collect(path) == serial


def test_failed_forked_reader_falls_back_to_this_process(small, monkeypatch):
    """A forked reader that dies sends nothing: its commits are read in the parent instead."""
    path, _ = small
    monkeypatch.setenv("EXPBOOK_NO_CACHE", "1")
    serial = registry.collect(path)

    def crash(args):
        raise RuntimeError("reader died")

    monkeypatch.setattr(collector, "PARALLEL_MIN", 1)
    monkeypatch.setattr(collector, "read_chunk", crash)
    assert registry.collect(path) == serial


# ---------------------------------------------------------------- the rendered-output cache
def _registry(path: Path, *args: str) -> list[dict] | str:
    import json

    from click.testing import CliRunner

    from expbook.cli import cli

    result = CliRunner().invoke(cli, ["registry", "--repo", str(path), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "json" in args else result.stdout


def _json_by_name(path: Path, *args: str) -> dict[str, dict]:
    return {row["name"]: row for row in _registry(path, "--format", "json", *args)}


def test_output_cache_sees_a_moved_ref(small):
    """Bug guarded: cached JSON output served after an exp ref moved to another commit."""
    path, shas = small
    age_tree(path)
    first = _registry(path, "--format", "json")
    assert _registry(path, "--format", "json") == first  # served from the output cache
    assert _json_by_name(path)["a"]["params"]["params.yaml:lr"] == 0.2
    base = shas["baseline"]
    sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/a", shas["b"], cwd=path)
    row = _json_by_name(path)["a"]
    assert (row["rev"], row["params"]["params.yaml:lr"]) == (shas["b"], 0.3)


def test_output_cache_sees_a_packed_ref_change(small):
    path, shas = small
    sh("git", "pack-refs", "--all", cwd=path)
    age_tree(path)
    assert _json_by_name(path)["a"]["rev"] == shas["a"]
    base = shas["baseline"]
    sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/a", shas["b"], cwd=path)
    sh("git", "pack-refs", "--all", cwd=path)
    assert _json_by_name(path)["a"]["rev"] == shas["b"]


def test_output_cache_sees_a_new_note(small):
    """Bug guarded: a note or tag added after the output was cached did not show."""
    from expbook.registry import notes

    path, shas = small
    age_tree(path)
    assert _json_by_name(path)["a"]["notes"] == []
    assert _json_by_name(path)["a"]["notes"] == []
    notes.add_note(path, shas["a"], "looks good")
    assert _json_by_name(path)["a"]["notes"] == ["looks good"]


def test_output_cache_keys_on_options(small):
    """Different --where / --sort-by / --columns / format each get their own fresh output."""
    path, _ = small
    age_tree(path)
    everything = set(_json_by_name(path))
    assert {"a", "b", "workspace"} <= everything
    assert set(_json_by_name(path, "--where", "lr > 0.25")) == {"b", "workspace"}
    assert set(_json_by_name(path, "--where", "lr < 0.25")) == everything - {"b", "workspace"}
    assert set(_json_by_name(path)) == everything
    rows = _registry(
        path, "--format", "json", "--sort-by", "lr", "--top", "1", "--columns", "name,lr"
    )
    assert len(rows) == 1 and rows[0]["params"]["params.yaml:lr"] == 0.3
    assert rows[0] == {"name": rows[0]["name"], "params": {"params.yaml:lr": 0.3}}
    csv_text = _registry(path, "--format", "csv", "--columns", "name")
    assert csv_text.splitlines()[0] == "name" and "a" in csv_text.splitlines()


def test_output_cache_never_caches_an_error(small):
    from click.testing import CliRunner

    from expbook.cli import cli

    path, _ = small
    for _ in range(2):
        result = CliRunner().invoke(
            cli, ["registry", "--repo", str(path), "--format", "json", "--where", "nosuchkey > 1"]
        )
        assert result.exit_code != 0 and "nosuchkey" in result.output


def test_output_cache_sees_workspace_edits_and_writes_files(small):
    path, _ = small
    age_tree(path)
    assert _json_by_name(path)["workspace"]["params"]["params.yaml:lr"] == 0.3
    (path / "params.yaml").write_text("lr: 0.9\n")
    assert _json_by_name(path)["workspace"]["params"]["params.yaml:lr"] == 0.9
    from click.testing import CliRunner

    from expbook.cli import cli

    for _ in range(2):  # a miss, then a hit: the same file and the same message
        out = path / "reg.csv"
        result = CliRunner().invoke(cli, ["registry", "--repo", str(path), "-o", str(out)])
        assert result.exit_code == 0, result.output
        lines = out.read_text().splitlines()
        assert f"({len(lines) - 1} rows, csv)" in result.output


def test_python_rows_after_a_cached_cli_run_equal_cold(small, monkeypatch):
    """The CLI caches its text, not the rows: a later collect() rebuilds them from the
    per-commit cache and must give what a cache-less read gives."""
    path, _ = small
    age_tree(path)
    _registry(path, "--format", "json")
    _registry(path, "--format", "json")
    warm = registry.collect(path)
    monkeypatch.setenv("EXPBOOK_NO_CACHE", "1")
    assert warm == registry.collect(path)


def test_yaml_lists_from_repeated_lines_are_independent():
    """Bug guarded: the fast YAML reader memoises lines; a list value shared between two
    documents (or two keys) would let editing one row's params change another's."""
    from expbook.registry import fastyaml

    first = fastyaml.loads(b"layers: [64, 32]\nother: [64, 32]\n")
    first["layers"].append(1)
    assert first["other"] == [64, 32]
    assert fastyaml.loads(b"layers: [64, 32]\n") == {"layers": [64, 32]}
