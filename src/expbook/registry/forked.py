"""Forked readers for the registry's cold read: a queue of chunk numbers in a pipe that several
processes take work from, children that send a dict back marshalled through a pipe and exit
with os._exit (no atexit hooks, no inherited buffers flushed, default signal handling).

Used by expbook.registry.reader (RepoReader.prefetch); plain os.fork and pipes, no
multiprocessing (its Pool could hang the process at exit: issue 8).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def chunk_queue(count: int) -> int | None:
    """The read end of a pipe holding the numbers 0..count-1 (4 bytes each, written at once,
    so every 4-byte read takes one whole number), None when no pipe is to be had."""
    try:
        rfd, wfd = os.pipe()
    except OSError:
        return None
    try:
        os.write(wfd, b"".join(i.to_bytes(4, "little") for i in range(count)))
    finally:
        os.close(wfd)
    return rfd


def fork_reader(work: Callable[[Any], dict], args: Any) -> tuple | None:
    """(pid, read end of its pipe) of a forked child running work(args), None if fork failed.

    The child writes the result marshalled (pickled if marshal cannot write a value, e.g. a
    YAML date) and exits at once: no atexit hooks, no flushing of the parent's buffers,
    default signal handling (Ctrl-C or SIGTERM end it quietly)."""
    import signal

    try:
        rfd, wfd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        return None
    if pid:
        os.close(wfd)
        return pid, rfd
    code = 1
    try:  # the child
        os.close(rfd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        import gc

        gc.disable()  # short-lived, builds no cycles: collections would be wasted time
        out = work(args)
        try:
            import marshal

            blob = b"m" + marshal.dumps(out)
        except ValueError:
            import pickle

            blob = b"p" + pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        with open(wfd, "wb", closefd=True) as fh:
            fh.write(blob)
        code = 0
    finally:
        os._exit(code)


def collect(child: tuple[int, int]) -> dict[str, dict]:
    """What a fork_reader child sent ({} when it failed: those commits are read here)."""
    pid, fd = child
    with open(fd, "rb", closefd=True) as fh:
        blob = fh.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not blob:
        return {}
    if blob[:1] == b"m":
        import marshal

        out = marshal.loads(memoryview(blob)[1:])
    else:
        import pickle

        out = pickle.loads(memoryview(blob)[1:])
    return out if isinstance(out, dict) else {}


def fork_safe() -> bool:
    """Whether this process may fork a reader: a threaded one could deadlock the child on a
    lock another thread held at the fork (the dashboard reads in one process)."""
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1 and (os.cpu_count() or 1) >= 2


def stop(pid: int, fd: int) -> None:
    import signal
    from contextlib import suppress

    with suppress(OSError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with suppress(OSError):
        os.close(fd)
