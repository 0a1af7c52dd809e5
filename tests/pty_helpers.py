"""Run an expbook command in a real pseudo-terminal of a given size and read what it printed
(issue 18: outputs must fit the terminal). Shared by the width tests of every command.

    out = run_in_pty(["registry"], cwd=repo, columns=80)
    assert max_width(out) <= 80
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# CSI sequences (colours, cursor moves) and OSC sequences (hyperlinks) a terminal does not show
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


@dataclass
class PtyResult:
    returncode: int
    text: str  # what the terminal showed: escapes stripped, "\r\n" -> "\n"

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def max_width(text: str) -> int:
    """The widest line of `text` in terminal columns (escapes stripped; a CJK character or an
    emoji takes two columns, as the terminal shows it)."""
    from rich.cells import cell_len

    return max((cell_len(line) for line in strip_ansi(text).splitlines()), default=0)


def run_in_pty(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    columns: int,
    rows: int = 50,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> PtyResult:
    """`python -m expbook ARGS` with stdin/stdout/stderr on a pty of `columns` x `rows`
    (TIOCSWINSZ, and COLUMNS/LINES set as a shell sets them); returns its exit code and text."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    full_env = {
        **os.environ,
        "COLUMNS": str(columns),
        "LINES": str(rows),
        "TERM": "xterm-256color",
        **(env or {}),
    }
    full_env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "expbook", *args],
        cwd=Path(cwd),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        start_new_session=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError(f"expbook {' '.join(args)} ran over {timeout}s")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed its side
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                # drain what is left, then stop
                ready, _, _ = select.select([master], [], [], 0.2)
                if not ready:
                    break
    finally:
        os.close(master)
        proc.wait(timeout=30)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return PtyResult(proc.returncode, strip_ansi(text))
