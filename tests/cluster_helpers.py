"""Real engines for the distributed-sweep tests: a two-node local Ray cluster and a throwaway
PostgreSQL server, each stopped by killing every process of the sessions it started (holds no
tests; used by tests/test_sweep_ray.py and tests/test_sweep_storage.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_pids(sids: set[int], marker: str | None = None) -> list[int]:
    """Processes in one of the sessions `sids` (or whose command line holds `marker`)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            sid = int(fields[3])
            cmd = Path("/proc", entry, "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if sid in sids or (marker and marker in cmd):
            out.append(int(entry))
    return out


def kill_sessions(sids: set[int], marker: str | None = None) -> None:
    """SIGKILL every process of the sessions (and any holding `marker`), until none is left."""
    for _ in range(50):
        pids = session_pids(sids, marker)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


class RayCluster:
    """`ray start --head` plus a second `ray start --address` node, each with its own
    EXPBOOK_WORKDIR (so no node shares another's checkout); 1 CPU per node."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Ray's unix sockets live under the temp dir: keep its path short
        self.temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.sids: set[int] = set()
        self.workdirs = [root / "node-head", root / "node-2"]

    def _start(self, args: list[str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "EXPBOOK_WORKDIR": str(workdir), "RAY_USAGE_STATS_ENABLED": "0"}
        proc = subprocess.Popen(
            [str(BIN / "ray"), "start", *args, "--num-cpus", "1", "--disable-usage-stats"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.sids.add(proc.pid)
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{out[-3000:]}")

    def start(self) -> RayCluster:
        self._start(
            [
                "--head",
                "--port",
                str(self.port),
                "--node-ip-address",
                "127.0.0.1",
                "--include-dashboard=false",
                "--temp-dir",
                self.temp,
            ],
            self.workdirs[0],
        )
        self._start(["--address", self.address, "--node-ip-address", "127.0.0.1"], self.workdirs[1])
        return self

    def stop(self) -> None:
        kill_sessions(self.sids, marker=self.temp)
        shutil.rmtree(self.temp, ignore_errors=True)

    def worker_of(self, pid: int) -> int | None:
        """The Ray worker process (`ray::...`) above process `pid`."""
        while pid > 1:
            try:
                cmd = Path("/proc", str(pid), "cmdline").read_bytes().decode(errors="replace")
                stat = Path("/proc", str(pid), "stat").read_text()
            except OSError:
                return None
            if cmd.startswith("ray::"):
                return pid
            pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        return None


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for cand in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(cand)
    return None


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1:<free port>, data under a fresh /tmp dir;
    run as the `postgres` user when the tests run as root (initdb refuses root)."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="pg", dir="/tmp")
        self.data = os.path.join(self.root, "data")
        self.sids: set[int] = set()
        self.user: str | None = None
        if os.geteuid() == 0:
            import pwd

            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.url = f"postgresql://expbook@127.0.0.1:{self.port}/optuna"

    def _run(self, *args: str) -> None:
        proc = subprocess.Popen(
            list(args),
            cwd=self.root,
            user=self.user,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.sids.add(proc.pid)
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{out[-3000:]}")

    def start(self) -> Postgres:
        if not (self.initdb and self.pg_ctl):
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self._run(self.initdb, "-D", self.data, "-U", "expbook", "--auth=trust", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = os.path.join(self.root, "log")
        self._run(self.pg_ctl, "-D", self.data, "-o", opts, "-l", log, "-w", "start")
        self._run(
            _pg_bin("createdb") or "createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "expbook",
            "optuna",
        )
        return self

    def stop(self) -> None:
        if self.pg_ctl and os.path.isdir(self.data):
            with contextlib.suppress(Exception):
                self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")
        kill_sessions(self.sids, marker=self.data)
        shutil.rmtree(self.root, ignore_errors=True)
