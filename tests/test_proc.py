"""expbook.proc (issue 14): children in their own process group, stopped with their group on
an exception; SIGTERM raises Terminated only in the process that installed the handler.

Run: python -m pytest -q tests/test_proc.py
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from expbook import proc


@pytest.fixture
def sigterm_handler():
    old = signal.getsignal(signal.SIGTERM)
    proc.install()
    yield
    signal.signal(signal.SIGTERM, old)


def _double(x: int) -> int:
    return 2 * x


def test_forked_pool_workers_die_quietly(sigterm_handler, capfd):
    """The registry's forked reader pool is terminated with SIGTERM: no Terminated tracebacks."""
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert sorted(pool.imap_unordered(_double, range(6))) == [0, 2, 4, 6, 8, 10]
        time.sleep(0.3)  # the workers wait in get() when terminate() signals them
    assert "Traceback" not in capfd.readouterr().err


def test_sigterm_raises_terminated_in_the_owner(sigterm_handler):
    with pytest.raises(proc.Terminated) as err:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert proc.exit_code(err.value) == 143
    assert proc.exit_code(KeyboardInterrupt()) == 130


def test_timeout_stops_the_whole_group(tmp_path):
    marker = tmp_path / "grandchild"
    script = f"sleep 300 & echo $! > {marker}; wait"
    with pytest.raises(subprocess.TimeoutExpired):
        proc.run(["sh", "-c", script], timeout=1)
    grandchild = int(marker.read_text())
    time.sleep(0.2)
    stat = f"/proc/{grandchild}/stat"
    assert not os.path.exists(stat) or ") Z " in Path(stat).read_text()


def test_run_is_like_subprocess_run(tmp_path):
    done = proc.run(["sh", "-c", "cat; echo err >&2; exit 3"], input="hi", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (3, "hi", "err\n")
