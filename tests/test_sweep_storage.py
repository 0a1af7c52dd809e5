"""`expbook sweep --storage URL`: several sweep processes (each in its own clone) share one
optuna study through a journal file or a real PostgreSQL server started by the test; trials stay
distinct, reach the git remote, and a worker killed with -9 has its trial failed by heartbeat
and run again by the other worker. Every server process is stopped even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster_helpers import Postgres
from conftest import commit_all, dvc, sh
from test_sweep_support import run_cli, tiny_repo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    pytest.importorskip("psycopg2")
    server = Postgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(params=["journal", "postgresql"])
def storage(request, tmp_path):
    if request.param == "journal":
        return f"journal:{tmp_path / 'study.journal'}"
    server = request.getfixturevalue("postgres")
    name = f"db{abs(hash(str(tmp_path))) % 10**8}"  # one database per test: fresh studies
    sh("psql", "-h", "127.0.0.1", "-p", server.port, "-U", "expbook", "-d", "optuna",
       "-c", f"CREATE DATABASE {name}", check=False)  # fmt: skip
    return server.url.rsplit("/", 1)[0] + "/" + name


OPEN_AT_ONCE = """\
import sys, time
from expbook.sweep.shared import open_storage
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start creating tables together
open_storage(sys.argv[1], 5)
"""


def test_workers_opening_an_empty_database_at_once_all_open_it(postgres, tmp_path):
    """Optuna creates its tables on first open: workers of a job array starting together on
    an empty database race to create them (UniqueViolation, DuplicateTable): every one of
    them must get the storage."""
    for round_ in range(2):
        name = f"race{abs(hash(str(tmp_path))) % 10**6}r{round_}"
        sh("psql", "-h", "127.0.0.1", "-p", postgres.port, "-U", "expbook", "-d", "optuna",
           "-c", f"CREATE DATABASE {name}")  # fmt: skip
        url = postgres.url.rsplit("/", 1)[0] + "/" + name
        at = str(time.time() + 3)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AT_ONCE, url, at],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(6)
        ]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, outs


def workers(tmp_path: Path, factory, n: int = 2) -> list[Path]:
    """`n` clones of one bare remote (a local DVC remote configured in the repo)."""
    seed = tiny_repo(tmp_path / "seed", factory)
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", remote)
    (tmp_path / "dvcstore").mkdir()
    dvc("remote", "add", "-q", "-d", "store", str(tmp_path / "dvcstore"), cwd=seed)
    commit_all(seed, "remotes")
    sh("git", "remote", "add", "origin", remote, cwd=seed)
    sh("git", "push", "-q", "origin", "HEAD:refs/heads/main", cwd=seed)
    clones = []
    for i in range(n):
        clone = tmp_path / f"w{i}"
        sh("git", "clone", "-q", "-b", "main", remote, clone)
        for key, value in (("user.name", "w"), ("user.email", "w@expbook.invalid")):
            sh("git", "config", key, value, cwd=clone)
        clones.append(clone)
    return clones


def start(clone: Path, spec: Path, storage: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from expbook.cli import main; main()", "sweep", str(spec),
         "--storage", storage, "--heartbeat", "1", "--json"],
        cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def remote_trials(tmp_path: Path) -> dict[str, float]:
    """exp name -> train.lr of every experiment the remote holds (read in a fresh clone)."""
    clone = tmp_path / "reader"
    sh("git", "clone", "-q", "-b", "main", tmp_path / "remote.git", clone)
    run_cli(clone, "pull", "origin")
    rows = json.loads(run_cli(clone, "registry", "--format", "json").stdout)
    return {
        r["name"]: r["params"]["params.yaml:train.lr"] for r in rows if r["kind"] == "experiment"
    }


def test_two_workers_share_one_study(tmp_path, tmp_path_factory, storage):
    a, b = workers(tmp_path, tmp_path_factory)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: s\nmethod: random\ntrials: 6\nmetric: val.acc\nparams:\n"
        "  train.lr: {low: 0.001, high: 0.009}\n  train.sleep: 0.2\nparallel: 1\n"
    )
    procs = [start(a, spec, storage), start(b, spec, storage)]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outs.append(json.loads(stdout))
    names = [t["name"] for out in outs for t in out["trials"] if t["status"] == "success"]
    assert len(names) == 6 and len(set(names)) == 6
    assert all(out["trials"] for out in outs)  # both workers took part
    lrs = remote_trials(tmp_path)
    assert sorted(lrs) == sorted(names)
    assert len(set(lrs.values())) == 6  # no config ran twice
    status = json.loads(run_cli(tmp_path / "reader", "sweep", "status", "s", "--json").stdout)
    assert status["counts"] == {"success": 6}


def test_killed_worker_trial_is_failed_by_heartbeat_and_rerun(tmp_path, tmp_path_factory, storage):
    a, b = workers(tmp_path, tmp_path_factory)
    pidfile = tmp_path / "stage.pid"
    spec = tmp_path / "k.yaml"
    spec.write_text(
        "name: k\nmetric: val.acc\nparams:\n  train.lr: [0.05, 0.01, 0.02, 0.03]\n"
        f"  train.epochs: 6\n  train.sleep: 0.5\n  train.pidfile: {pidfile}\nparallel: 1\n"
    )
    procs = [start(a, spec, storage), start(b, spec, storage)]
    try:
        end = time.time() + 180
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.time() < end, "the 0.05 trial never started"
            time.sleep(0.1)
        pid = int(pidfile.read_text())
        victim = next(p for p in procs if p.pid in ancestors(pid))
        pidfile.unlink()
        os.kill(victim.pid, signal.SIGKILL)
        survivor = next(p for p in procs if p is not victim)
        stdout, stderr = survivor.communicate(timeout=300)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert survivor.returncode == 0, stderr
    mine = {t["config"]["train.lr"]: t for t in json.loads(stdout)["trials"]}
    assert mine[0.05]["status"] == "success"  # the dead worker's trial, run again here
    assert pidfile.exists()
    lrs = remote_trials(tmp_path)
    assert sorted(lrs.values()) == [0.01, 0.02, 0.03, 0.05]  # each config once, none lost


def ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 1:
        out.add(pid)
        try:
            stat = Path("/proc", str(pid), "stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return out
