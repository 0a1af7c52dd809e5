"""Clean shutdown (issue 14): SIGINT or SIGTERM sent to the expbook PID alone (not its group)
stops every child process, removes worktrees and temp dirs, exits 130/143, and an interrupted
sweep's trials read "interrupted" and run again on the next run.

Run: python -m pytest -q tests/test_shutdown.py   (end-to-end: marked slow)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import commit_all, dvc, dvc_init, git_init, sh
from test_sweep_support import exp_refs, run_cli, tiny_repo

pytestmark = pytest.mark.slow

# a stage that, when EXPBOOK_TEST_MARKER is set, starts a grandchild and hangs
STAGE_PY = textwrap.dedent("""\
    import os, subprocess, time
    marker = os.environ.get("EXPBOOK_TEST_MARKER")
    if marker:
        child = subprocess.Popen(["sleep", "300"])
        with open(marker + ".tmp", "w") as f:
            f.write(f"{os.getpid()} {child.pid}")
        os.replace(marker + ".tmp", marker)
        time.sleep(300)
    with open("out.txt", "w") as f:
        f.write("done\\n")
""")
DVC_YAML = "stages:\n  hang:\n    cmd: python stage.py\n    deps: [stage.py]\n    outs: [out.txt]\n"


def wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def session_alive(sid: int) -> list[str]:
    """Live (non-zombie) processes of session `sid`: expbook's children stay in its session even
    in their own process groups, and an orphan re-parented to init keeps it too."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            out.append(f"{entry.name}: {cmd.strip()}")
    return out


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _kill_leftovers():
    """Whatever a failing test left running is killed (its whole session's groups)."""
    yield
    while STARTED:
        proc = STARTED.pop()
        for line in session_alive(proc.pid):
            with contextlib.suppress(OSError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(repo: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from expbook.cli import main; main()", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: we can find every descendant afterwards
        env={**os.environ, **(env or {})},
    )
    STARTED.append(proc)
    return proc


def stop_and_check(proc: subprocess.Popen, sig: int) -> str:
    """Send `sig` to the PID alone; the exit code is 128 + sig and nothing of it survives."""
    os.kill(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    time.sleep(0.5)
    survivors = session_alive(proc.pid)
    if survivors:  # never leave them running, even when the test fails
        os.killpg(proc.pid, signal.SIGKILL)
    assert survivors == []
    return err


@pytest.fixture(scope="module")
def hang_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("hang") / "repo"
    repo.mkdir()
    git_init(repo)
    dvc_init(repo)
    (repo / "stage.py").write_text(STAGE_PY)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    dvc("repro", "-q", cwd=repo)
    commit_all(repo, "hanging stage")
    return repo


@pytest.mark.parametrize(
    ("command", "sig"),
    [
        (["reproduce", "HEAD"], signal.SIGTERM),
        (["reproduce", "HEAD"], signal.SIGINT),
        (["check"], signal.SIGTERM),
    ],
    ids=["reproduce-SIGTERM", "reproduce-SIGINT", "check-SIGTERM"],
)
def test_reproduce_and_check_stop_their_children(hang_repo, tmp_path, command, sig):
    """Issue 14: SIGTERM (or SIGINT to the PID alone) to `expbook reproduce` orphaned `dvc repro`
    and the stage under PID 1 and left /tmp/expbook-reproduce-* and its git worktree forever."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = tmp_path / "started"
    proc = start(hang_repo, *command, env={"EXPBOOK_TEST_MARKER": str(marker), "TMPDIR": str(tmp)})
    wait_for(marker.exists)
    stage_pid, grandchild = map(int, marker.read_text().split())
    stop_and_check(proc, sig)
    for pid in (stage_pid, grandchild):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert len(sh("git", "worktree", "list", cwd=hang_repo).stdout.splitlines()) == 1
    assert list(tmp.iterdir()) == []  # the expbook-reproduce-* temp dir is gone
    assert sh("git", "status", "--porcelain", cwd=hang_repo).stdout == ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_push_stops_git_push(hang_repo, tmp_path, sig):
    """Issue 14: SIGTERM to `expbook push` left `git push` running (here: hung in the remote's
    pre-receive hook, a grandchild of `git push`)."""
    marker = tmp_path / "hook-started"
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho $$ > {marker}\nsleep 300\n")
    hook.chmod(0o755)
    sh("git", "notes", "--ref", "expbook", "add", "-f", "-m", "{}", "HEAD", cwd=hang_repo)
    sh("git", "remote", "remove", "hang", cwd=hang_repo, check=False)
    sh("git", "remote", "add", "hang", str(remote), cwd=hang_repo)
    proc = start(hang_repo, "push", "hang")
    wait_for(lambda: marker.exists() and marker.read_text().strip())
    stop_and_check(proc, sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_sweep_says_so_and_resumes(tmp_path, tmp_path_factory, sig):
    """Issue 14: after SIGTERM to a sweep, `sweep status` still reported trials "running"."""
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    spec = tmp_path / "it.yaml"
    spec.write_text(
        "name: it\nmetric: val.acc\nparams:\n  train.lr: [0.001, 0.002, 0.003, 0.004]\n"
        "  train.epochs: 4\n  train.sleep: 0.5\nparallel: 2\n"
    )
    proc = start(repo, "sweep", str(spec), "--json")
    wait_for(lambda: len(exp_refs(repo)) >= 1)
    stop_and_check(proc, sig)
    assert len(sh("git", "worktree", "list", cwd=repo).stdout.splitlines()) == 1
    assert not list((repo / ".dvc/tmp/expbook").glob("ws-*"))
    status = json.loads(run_cli(repo, "sweep", "status", "it", "--json").stdout)
    assert "running" not in status["counts"] and "queued" not in status["counts"]
    assert status["counts"].get("interrupted", 0) >= 1
    out = json.loads(run_cli(repo, "sweep", str(spec), "--json").stdout)
    assert out["skipped"] == status["counts"].get("success", 0)  # finished ones are kept
    assert sorted(t["status"] for t in out["trials"]) == ["success"] * 4
    assert len(exp_refs(repo)) == 4


@pytest.mark.parametrize("when", ["start-up", "mid-trial"])
def test_sweep_ctrl_c_exits_at_once_and_clean(tmp_path, tmp_path_factory, when):
    """Issue 12: Ctrl-C to a sweep once took 22 s (once > 120 s) to exit: an interrupted sweep
    with no trial on record as running waited for its workers to finish setting up, or to finish
    a trial submitted a moment before. Now every worker is killed at once, starting or busy, and
    nothing is left: no worktree (not even one locked mid `git worktree add`), no lock file, no
    ref of an unfinished trial."""
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    spec = tmp_path / "cc.yaml"
    spec.write_text(  # trials of 30 s: waiting for one would show
        "name: cc\nmetric: val.acc\nparams:\n  train.lr: [0.001, 0.002, 0.003, 0.004]\n"
        "  train.epochs: 30\n  train.sleep: 1.0\nparallel: 2\n"
    )
    proc = start(repo, "sweep", str(spec), "--json")
    ws_root = repo / ".dvc/tmp/expbook"
    if when == "start-up":  # a worker is making its worktree; no trial has started
        wait_for(lambda: any(ws_root.glob("ws-*")))
    else:  # a trial is in its stage command
        wait_for(lambda: any(ws_root.glob("ws-*/live/metrics.json")))
    start_time = time.monotonic()
    stop_and_check(proc, signal.SIGINT)
    elapsed = time.monotonic() - start_time
    assert elapsed < 10, f"{elapsed:.1f} s from Ctrl-C to exit"
    assert len(sh("git", "worktree", "list", cwd=repo).stdout.splitlines()) == 1
    assert not list(ws_root.glob("ws-*"))
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == ""
    assert [p for p in (repo / ".git").rglob("*.lock")] == []
    assert exp_refs(repo) == {}
