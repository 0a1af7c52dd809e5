"""issue 18, "gc can delete what it must not" and "Best is the worst": `expbook gc` on real
experiments ranks by the metric's direction (never a silent max), keeps every tagged run, and
checks everything (direction, remote, running sweep, shared cache) before the first change —
a refusal leaves refs, notes and cache files byte-identical."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import dvc
from expbook.registry import notes
from gc_support import (
    PROTECTED,
    build_sweep_repo,
    copy_repo,
    full_snapshot,
    gc,
    kept_names,
)
from test_sweep_support import exp_refs

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path_factory, tmp_path: Path) -> Path:
    return copy_repo(build_sweep_repo(tmp_path_factory), tmp_path / "copy")


def test_keep_best_of_a_cost_keeps_the_lowest(repo):
    """issue 18: `gc --keep-best 2 -m val.loss` kept the two worst runs (--mode defaulted to
    max). `cost` (= lr * 100) says min by its name: the two cheapest unprotected runs stay."""
    out = gc(repo, "--keep-best", "2", "-m", "cost", "--yes").output
    assert "[min, from the name]" in out
    assert set(exp_refs(repo)) == {"s-001", "s-005"} | PROTECTED


def test_keep_best_follows_the_declaration(repo):
    """issue 18: a direction declared in pyproject.toml beats the name (here: acc as min)."""
    (repo / "pyproject.toml").write_text('[tool.expbook.directions]\n"val.acc" = "min"\n')
    out = gc(repo, "--keep-best", "1", "-m", "val.acc").output
    assert "[min, declared in pyproject.toml]" in out
    assert kept_names(out) == {"s-001"} | PROTECTED


def test_explicit_mode_wins(repo):
    out = gc(repo, "--keep-best", "1", "-m", "cost", "--mode", "max").output
    assert kept_names(out) == {"s-010"} | PROTECTED and "[max, --mode]" in out


def test_any_tag_protects(repo):
    """issue 18: a dry run of --keep-best would remove a run tagged `candidate`."""
    notes.set_tag(repo, exp_refs(repo)["s-001"], "candidate")
    out = gc(repo, "--keep-best", "1", "-m", "val.acc", "--yes").output
    assert "(tagged 'candidate')" in out
    assert set(exp_refs(repo)) == {"s-001", "s-010"} | PROTECTED


def _hold_sweep_lock(repo: Path) -> subprocess.Popen:
    """A second process holding `expbook sweep`'s lock, as a running sweep does."""
    code = (
        "import fcntl, os, sys, time; os.makedirs('.dvc/tmp/expbook', exist_ok=True); "
        "fh = open('.dvc/tmp/expbook/sweep.lock', 'a+'); fcntl.flock(fh, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _share_cache(repo: Path, shared: Path, where: str, monkeypatch) -> None:
    """Move the repo's cache to `shared` and point cache.dir at it (`dvc cache dir`, in
    .dvc/config, .dvc/config.local or DVC's global config)."""
    (repo / ".dvc" / "cache").rename(shared)
    flag = {"config": [], "config.local": ["--local"], "global": ["--global"]}[where]
    if where == "global":
        monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(shared.parent / "dvc-global"))
    dvc("cache", "dir", *flag, str(shared), cwd=repo)


KEEP2 = ["--keep-best", "2", "-m", "val.acc"]


@pytest.mark.parametrize(
    "case, args, fragment",
    [
        ("direction", ["--keep-best", "2", "-m", "step", "--cache"], "say --mode min|max"),
        ("remote", [*KEEP2, "--remote", "stor", "--i-know-this-deletes-remote-data"], "'stor'"),
        ("sweep", [*KEEP2, "--cache"], "an expbook sweep is running"),
        ("shared", [*KEEP2, "--cache"], "--projects PATH"),
        ("shared-local", [*KEEP2, "--cache"], "--projects PATH"),
        ("shared-global", [*KEEP2, "--cache"], "--projects PATH"),
        ("projects-unshared", [*KEEP2, "--cache", "--projects", "{tmp}"], "shared with no project"),
        ("shared-not-dvc", [*KEEP2, "--cache", "--projects", "{tmp}"], "not a DVC repository"),
        ("no-policy-projects", ["--keep-last", "1", "--projects", "{tmp}"], "--projects is used"),
        # a confirmation of nothing (no --remote) was silently ignored
        ("confirm-no-remote", [*KEEP2, "--i-know-this-deletes-remote-data"], "confirms --remote"),
    ],
)
def test_a_refusal_changes_nothing(repo, tmp_path, monkeypatch, case, args, fragment):
    """issue 18: gc removed refs first and checked later (a mistyped --remote removed 2 refs
    then exited 2; --cache during a sweep removed 4); a shared cache.dir and an unknown metric
    direction went ahead. Each refusal now comes first: refs, notes and cache byte-identical."""
    cache = repo / ".dvc" / "cache"
    if case.startswith("shared"):
        cache = tmp_path / "shared-cache"
        where = {"shared-local": "config.local", "shared-global": "global"}.get(case, "config")
        _share_cache(repo, cache, where, monkeypatch)
    holder = _hold_sweep_lock(repo) if case == "sweep" else None
    try:
        before = full_snapshot(repo, cache)
        for extra in (["--yes"],) if case == "sweep" else ([], ["--yes"]):
            argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
            out = gc(repo, *argv, *extra, code=2).output
            assert fragment in out and out.lower().startswith("error: ") and "Traceback" not in out
            assert out.count("\n") == 1  # one line
            assert full_snapshot(repo, cache) == before
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    assert len(exp_refs(repo)) == 10


def test_a_cache_used_by_this_project_alone_is_named_with_itself(repo, tmp_path, monkeypatch):
    """`--projects` naming only this repository says no other project uses the cache."""
    cache = tmp_path / "own-elsewhere"
    _share_cache(repo, cache, "config", monkeypatch)
    out = gc(repo, *KEEP2, "--cache", "--projects", str(repo)).output
    assert "local cache: would delete" in out and "dry run: nothing changed" in out


def test_keep_best_val_loss_keeps_the_lowest_loss(tmp_path):
    """issue 18: `gc --keep-best N -m val.loss` kept the runs with the HIGHEST loss. On the rich
    repo the kept run has the lowest val.loss (as `dvc exp show` reports it) and every run gc
    would remove has a higher or equal one."""
    from repo_factory import build_rich_repo, exp_show_json, exp_show_values

    (tmp_path / "rich").mkdir()
    rich = build_rich_repo(tmp_path / "rich", failed=False)
    loss = {
        v["name"]: v["metrics"]["metrics/train.json:val.loss"]
        for v in exp_show_values(exp_show_json(rich.path, "--all-commits")).values()
        if v["name"] in rich.exps
    }
    out = gc(rich.path, "--keep-best", "1", "-m", "val.loss").output
    best = [ln.split()[1] for ln in out.splitlines() if "[min, from the name]" in ln]
    would = {ln.split()[0] for ln in out.splitlines()[1:] if ln.startswith("  ")} - {"keep"}
    assert len(best) == 1 and loss[best[0]] == min(loss.values())
    assert would == set(loss) - set(best)
