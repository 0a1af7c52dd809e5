"""Child processes that die with their command, and SIGTERM handled like Ctrl-C (issue 14).

`run()`/`popen()` start each child in its own process group; when the command is interrupted
(SIGINT -> KeyboardInterrupt, SIGTERM -> `Terminated`, a subclass of it, once `install()` ran),
the whole group is stopped (SIGTERM, then SIGKILL after a grace period) before the exception
goes on, so every `finally` (worktrees, temp dirs, sweep state) runs and nothing is orphaned.
The CLI calls `install()` and turns the exceptions into exit codes 130 / 143 (`exit_code`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported on use: the CLI installs the handler on every (fast) command
    import subprocess

GRACE_SECONDS = 5.0  # how long a stopped child group gets to exit before SIGKILL


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the same
    cleanup paths run for both."""


def install() -> None:
    """Make SIGTERM raise `Terminated` in the main thread (call once, from the CLI)."""

    owner = os.getpid()

    def on_term(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a forked child (the registry's reader pool): die as usual
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    with contextlib.suppress(ValueError):  # not the main thread (e.g. a test runner's worker)
        signal.signal(signal.SIGTERM, on_term)


def exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM: the shell's 128 + signal number."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def stop(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = GRACE_SECONDS
) -> None:
    """Stop `proc`'s whole process group: `sig`, then SIGKILL after `grace` seconds."""
    import subprocess

    for signum, wait in ((sig, grace), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already
            os.killpg(proc.pid, signum)
        try:
            proc.wait(timeout=wait)
            # the leader is gone; its group may still hold children: take them down too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def popen(args: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    """`subprocess.Popen(args)` in a new process group, stopped (group and all) when the block
    raises, is interrupted or terminated; the block's own exception goes on afterwards."""
    import subprocess

    proc = subprocess.Popen(list(args), process_group=0, **kwargs)
    try:
        yield proc
    except BaseException as exc:
        stop(proc, signal.SIGINT if type(exc) is KeyboardInterrupt else signal.SIGTERM)
        raise
    finally:
        if proc.poll() is None and proc.returncode is None:
            proc.wait()


def run(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    capture: bool = True,
    text: bool = True,
    input: str | bytes | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """Like `subprocess.run(args, capture_output=capture, text=text)`, the child in its own
    process group, which is stopped on Ctrl-C, SIGTERM or `timeout` (TimeoutExpired)."""
    import subprocess

    if capture:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    with popen(args, cwd=cwd, env=env, text=text, **kwargs) as proc:
        out, err = proc.communicate(input, timeout=timeout)
    return subprocess.CompletedProcess(list(args), proc.returncode, out, err)
