"""expbook.proc (issue 14): children in their own process group, stopped with their group on
an exception; SIGTERM raises Terminated only in the process that installed the handler.

Run: python -m pytest -q tests/test_proc.py
"""

from __future__ import annotations

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


def test_a_forked_child_dies_quietly_on_sigterm(sigterm_handler, capfd):
    """A child forked after install() (as the registry's cold reader forks) keeps the handler,
    and SIGTERM ends it as the default action would: killed by the signal, no traceback."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: says it is ready, then waits to be terminated
        try:
            os.close(rfd)
            os.write(wfd, b"r")
            time.sleep(30)
        finally:
            os._exit(3)
    os.close(wfd)
    try:
        assert os.read(rfd, 1) == b"r"
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(rfd)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
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
