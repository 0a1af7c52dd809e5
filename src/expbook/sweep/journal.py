"""A `journal:PATH` optuna storage checked before a sweep appends to it (issue 19): a worker
killed mid-write leaves a torn last line (no newline); optuna skips it on read but appends
its next record onto it, which makes a corrupt line in the middle of the journal, and every
worker then dies reading it. The torn tail is cut off (with a warning) under optuna's own
journal lock; a bad line before the end is refused with its line number, never appended to.

Used by expbook.sweep.shared.open_storage.
"""

from __future__ import annotations

import json
import os
import sys

from expbook.errors import ExpbookError


def repair(path: str, shown: str) -> str | None:
    """Check the journal at `path` (a file that may not exist yet); returns the warning when a
    torn last line was cut off, raises ExpbookError (nothing written) when it is damaged."""
    from optuna.storages.journal import JournalFileSymlinkLock

    if not os.path.exists(path):
        return None
    if not os.path.isfile(path):
        raise ExpbookError(f"--storage {shown!r}: {path} is not a regular file")
    lock = JournalFileSymlinkLock(path)  # what optuna's JournalFileBackend locks appends with
    lock.acquire()
    try:
        return _repair_locked(path, shown)
    finally:
        lock.release()


def _repair_locked(path: str, shown: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ExpbookError(f"--storage {shown!r}: cannot read {path}: {exc.strerror}") from exc
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the journal ends with a newline
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError:
            raise ExpbookError(
                f"--storage {shown!r}: the journal is damaged at line {number} of {len(lines)} "
                "(not a JSON record); nothing was written to it. Restore it from a copy, or "
                "start a new journal file"
            ) from None
    if not tail:
        return None
    keep = len(data) - len(tail)
    try:
        with open(path, "r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise ExpbookError(
            f"--storage {shown!r}: its last line is torn and it cannot be repaired "
            f"({exc.strerror}); nothing was written to it"
        ) from exc
    return (
        f"--storage {shown!r}: cut off a torn last line ({len(tail)} bytes, no newline: a "
        "worker stopped mid-write); the records before it are kept"
    )


def warn(text: str | None) -> None:
    if text:
        print(f"warning: {text}", file=sys.stderr)
