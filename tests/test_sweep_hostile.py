"""Sweeps under hostile input (issue 19): 16 workers adding worktrees at once, `parallel` far
past the cores, a changed spec under a recorded name (local and --storage), a torn journal
storage and names git refs cannot hold. Real git/DVC repos, real optuna storage.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

import pytest

from conftest import sh
from test_sweep_storage import workers
from test_sweep_support import exp_refs, run_cli, tiny_repo


@pytest.fixture
def repo(tmp_path, tmp_path_factory):
    return tiny_repo(tmp_path / "repo", tmp_path_factory)


def _create_at_once(repo: str, index: int, baseline: str, barrier, errors) -> None:
    from expbook.sweep import workspace

    barrier.wait()  # every process calls `git worktree add` at the same moment
    try:
        workspace.create(repo, index, baseline, str(Path(repo) / ".dvc" / "cache"))
    except Exception as exc:
        errors.put(str(exc))


def test_sixteen_workers_creating_worktrees_at_once_all_get_one(dvc_repo):
    """issue 19: `parallel: 16` workers ran `git worktree add` at once and git failed with
    "failed to read .git/worktrees/ws-M/commondir" (3 in 5 sweeps); three rounds of 16."""
    import dvc.config  # noqa: F401  (imported before the fork, as a sweep worker has it)

    from expbook.sweep import workspace

    baseline = sh("git", "rev-parse", "HEAD", cwd=dvc_repo).stdout.strip()
    ctx = multiprocessing.get_context("fork")
    for _ in range(3):
        barrier, errors = ctx.Barrier(16), ctx.Queue()
        procs = [
            ctx.Process(target=_create_at_once, args=(str(dvc_repo), i, baseline, barrier, errors))
            for i in range(16)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        failures = []
        while not errors.empty():
            failures.append(errors.get())
        assert failures == []
        listed = sh("git", "worktree", "list", cwd=dvc_repo).stdout.splitlines()
        assert len(listed) == 17
        workspace.clean_stale(dvc_repo)
        assert len(sh("git", "worktree", "list", cwd=dvc_repo).stdout.splitlines()) == 1
    sh("git", "fsck", "--no-progress", cwd=dvc_repo)


@pytest.mark.slow
def test_a_sweep_at_parallel_16_runs_every_trial(repo):
    """issue 19: a 16-trial grid at -j 16 (no cap) finishes all 16 trials."""
    values = ",".join(str(round(0.001 * (i + 1), 3)) for i in range(16))
    proc = run_cli(
        repo, "sweep", "-S", f"train.lr={values}", "-m", "val.acc", "--mode", "max",
        "-j", "16", "--no-parallel-cap", "--name", "p16", "--json", timeout=600,
    )  # fmt: skip
    out = json.loads(proc.stdout)
    assert [t["status"] for t in out["trials"]] == ["success"] * 16
    assert len([n for n in exp_refs(repo) if n.startswith("p16-")]) == 16


@pytest.mark.slow
def test_parallel_far_past_the_cores_is_capped_with_a_message(repo):
    """issue 19: `parallel: 10000` started one worker and worktree per trial; now capped at
    4 x CPUs with a message; --no-parallel-cap lifts it (no message)."""
    import os

    cap = 4 * (os.cpu_count() or 1)
    spec = repo / "big.yaml"
    spec.write_text(
        "name: big\nmetric: {key: val.acc, mode: max}\nparallel: 10000\n"
        "params:\n  train.lr: [0.001, 0.002]\n"
    )
    proc = run_cli(repo, "sweep", str(spec), "--json")
    assert f"warning: parallel 10000 capped at {cap} workers" in proc.stderr
    assert "--no-parallel-cap" in proc.stderr
    assert [t["status"] for t in json.loads(proc.stdout)["trials"]] == ["success"] * 2
    spec.write_text(spec.read_text().replace("name: big", "name: big2") + "parallel_cap: false\n")
    quiet = run_cli(repo, "sweep", str(spec), "--json")
    assert "capped" not in quiet.stderr


def _state(repo: Path, name: str) -> str:
    return sh("git", "rev-parse", f"refs/expbook/sweeps/{name}", cwd=repo).stdout.strip()


@pytest.mark.slow
def test_a_changed_spec_under_a_recorded_name_is_refused_showing_the_difference(repo):
    """issue 19: rerunning a sweep name with other params ran nothing, reported the old trials
    as finished and exited 0. Now: an error showing the difference, nothing changed; a changed
    metric mode is refused the same way; --force-new starts afresh, numbering on."""
    base = ("-m", "val.acc", "--name", "s", "--json")
    run_cli(repo, "sweep", "-S", "train.lr=0.001,0.002", "--mode", "max", *base)
    before = (_state(repo, "s"), exp_refs(repo))
    other = run_cli(repo, "sweep", "-S", "train.lr=0.003,0.004", "--mode", "max", *base,
                    check=False)  # fmt: skip
    assert other.returncode != 0 and "Traceback" not in other.stderr
    assert "sweep 's' was recorded with a different spec" in other.stderr
    assert "params.train.lr: [0.001, 0.002] -> [0.003, 0.004]" in other.stderr
    assert "--force-new" in other.stderr
    mode = run_cli(repo, "sweep", "-S", "train.lr=0.001,0.002", "--mode", "min", *base,
                   check=False)  # fmt: skip
    assert mode.returncode != 0 and 'metrics.val.acc: "max" -> "min"' in mode.stderr
    assert (_state(repo, "s"), exp_refs(repo)) == before
    same = json.loads(
        run_cli(
            repo, "sweep", "-S", "train.lr=0.001,0.002", "--mode", "max", "-j", "2", *base
        ).stdout
    )
    assert same["skipped"] == 2  # the same spec (other -j) still resumes
    fresh = run_cli(repo, "sweep", "-S", "train.lr=0.003,0.004", "--mode", "max", "--force-new",
                    *base)  # fmt: skip
    names = [t["name"] for t in json.loads(fresh.stdout)["trials"]]
    assert names == ["s-003", "s-004"] and "--force-new" in fresh.stderr
    assert {"s-001", "s-002", "s-003", "s-004"} <= set(exp_refs(repo))
    again = json.loads(
        run_cli(repo, "sweep", "-S", "train.lr=0.003,0.004", "--mode", "max", *base).stdout
    )
    assert again["skipped"] == 2 and [t["name"] for t in again["trials"]] == names


@pytest.mark.slow
def test_a_changed_spec_is_refused_with_shared_storage_too(tmp_path, tmp_path_factory):
    """issue 19 (with --storage): a second worker with another spec under the name is refused
    before it touches the study; --force-new cannot restart a shared study."""
    (clone,) = workers(tmp_path, tmp_path_factory, n=1)
    storage = f"journal:{tmp_path / 'study.journal'}"
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nmetric: {key: val.acc, mode: max}\nparams:\n  train.lr: [0.001]\n")
    run_cli(clone, "sweep", str(spec), "--storage", storage, "--json")
    journal = (tmp_path / "study.journal").read_bytes()
    spec.write_text(spec.read_text().replace("[0.001]", "[0.005, 0.006]"))
    refused = run_cli(clone, "sweep", str(spec), "--storage", storage, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "recorded with a different spec" in refused.stderr and "0.005" in refused.stderr
    forced = run_cli(clone, "sweep", str(spec), "--storage", storage, "--force-new", check=False)
    assert forced.returncode != 0 and "use a new --name" in forced.stderr
    assert (tmp_path / "study.journal").read_bytes() == journal


def _journal_with_trials(path: Path) -> int:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(path))), study_name="s"
    )
    for i in range(3):
        trial = study.ask()
        study.tell(trial, float(i))
    return len(study.trials)


def _reread(path: Path) -> list:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(path)))
    return optuna.load_study(storage=storage, study_name="s").trials


@pytest.mark.parametrize("prefix", ["journal:", ""])
def test_a_torn_journal_tail_is_cut_with_a_warning_never_appended_to(tmp_path, capsys, prefix):
    """issue 19: a journal whose last line was torn (a worker killed mid-write): the next run
    appended onto it, corrupting it for every worker. Now the torn tail is cut (a warning),
    the records before it kept, and new records land on a line of their own. (Neighbour: a
    plain file path, which is a journal too.)"""
    import optuna

    from expbook.sweep.shared import open_storage

    path = tmp_path / "study.journal"
    assert _journal_with_trials(path) == 3
    with open(path, "ab") as fh:
        fh.write(b'{"op_code":5,"worker_id":"x","trial_id":9,"sta')  # no newline: torn
    storage = open_storage(f"{prefix}{path}", 5)
    assert "cut off a torn last line" in capsys.readouterr().err
    study = optuna.load_study(storage=storage, study_name="s")
    trial = study.ask()
    study.tell(trial, 9.0)
    values = [t.value for t in _reread(path)]  # a fresh reader: nothing corrupt
    assert values == [0.0, 1.0, 2.0, 9.0]
    assert path.read_bytes().endswith(b"\n")


def test_a_journal_damaged_before_its_end_is_refused_untouched(tmp_path):
    """issue 19 (neighbour): a bad record in the middle is not cut or appended to: one error."""
    from expbook.errors import ExpbookError
    from expbook.sweep.shared import open_storage

    path = tmp_path / "study.journal"
    _journal_with_trials(path)
    lines = path.read_bytes().split(b"\n")
    lines[1] = b"{not json"
    path.write_bytes(b"\n".join(lines))
    damaged = path.read_bytes()
    with pytest.raises(ExpbookError, match="damaged at line 2"):
        open_storage(f"journal:{path}", 5)
    assert path.read_bytes() == damaged


BAD_NAMES = ["x" * 300, "a b", "a..b", "a~b", "a^b", "a:b", "lr.lock", "lr.", "a?b", "a*b",
             "a[b", "a\\b", "a/b", "-lr", ".lr", "a@{b"]  # fmt: skip


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_git_refs_cannot_hold_is_refused_up_front(repo, name):
    """issue 19: a 300-character name passed validation, then crashed writing its state ref;
    `..`, `.lock` and the like passed too. One error line, nothing written."""
    refs = sh("git", "for-each-ref", cwd=repo).stdout
    proc = run_cli(repo, "sweep", "-S", "train.lr=0.001,0.002", "-m", "val.acc", "--mode",
                   "max", "--name", name, check=False)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "bad sweep name" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert sh("git", "for-each-ref", cwd=repo).stdout == refs


@pytest.mark.parametrize("name", [*BAD_NAMES, "lr", "lr-wd", "a.b_c-1", "x" * 100, "LR2"])
def test_the_name_check_agrees_with_git_check_ref_format(tmp_path, name):
    """What the name check accepts, git accepts in every ref a sweep writes."""
    from expbook.sweep.identity import name_problem

    refs = [f"refs/expbook/sweeps/{name}", f"refs/exps/ab/cd/{name}-001",
            f"refs/expbook/sweeps/{name}@host-abc123"]  # fmt: skip
    if name_problem(name) is None:
        for ref in refs:
            ok = subprocess.run(["git", "check-ref-format", ref], capture_output=True)
            assert ok.returncode == 0, ref
    else:
        assert name in BAD_NAMES
