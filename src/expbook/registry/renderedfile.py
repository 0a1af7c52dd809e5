"""A rendered registry text (`Rendered`): the text itself or an open cached file holding it,
and printing it: a cached file is copied to stdout by the kernel (os.sendfile), a fresh text
is written a slice at a time (`write_chunked`). Made by expbook.registry.rendered.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import IO, Any


class Rendered:
    """A rendered registry: the text itself (just rendered) or an open cached file holding it.

    `rows` is the row count (None if unknown), `warning` the error_summary() of the rows."""

    def __init__(
        self,
        *,
        text: str | None = None,
        fh: IO[bytes] | None = None,
        rows: int | None = None,
        warning: str | None = None,
    ) -> None:
        self._text = text
        self._fh = fh
        self.rows = rows
        self.warning = warning

    @property
    def cached(self) -> bool:
        return self._fh is not None

    def data(self) -> bytes:
        """The text as UTF-8 bytes."""
        if self._fh is None:
            return (self._text or "").encode()
        with self._fh as fh:
            fh.seek(0)
            return fh.read()

    def text(self) -> str:
        return (self._text or "") if self._fh is None else self.data().decode()

    def write_to(self, stream: IO[str] | None = None) -> None:
        """Print the text to `stream` (stdout): a cached file is copied by the kernel
        (os.sendfile) when the stream has a file descriptor, never loaded into memory."""
        stream = stream or sys.stdout
        if self._fh is None:
            # as UTF-8 bytes to the stream's binary buffer, as a cached file is: once `import
            # dvc` ran, sys.stdout is colorama's wrapper, which would strip escape sequences
            # from the text (and take ~2 s of CPU for 88 MB doing so)
            raw = getattr(stream, "buffer", None)
            if raw is None:
                write_chunked(stream, self._text or "")
                return
            stream.flush()
            write_chunked(raw, self._text or "")
            raw.flush()
            return
        stream.flush()
        out: Any = getattr(stream, "buffer", None)
        with self._fh as fh:
            if out is None:  # a text-only stream
                stream.write(fh.read().decode())
                return
            out.flush()
            try:
                fd = out.fileno()
            except (OSError, AttributeError, ValueError):  # an in-memory buffer (CliRunner)
                fd = None
            if fd is None or not _sendfile(fh.fileno(), fd):
                import shutil

                fh.seek(0)
                shutil.copyfileobj(fh, out, 1 << 20)
                out.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _sendfile(src: int, dst: int) -> bool:
    """Copy all of `src` to `dst` in the kernel; False (nothing written) where not supported."""
    size = os.fstat(src).st_size
    offset = 0
    while offset < size:
        try:
            sent = os.sendfile(dst, src, offset, size - offset)
        except OSError as exc:
            if offset == 0 and exc.errno in _NO_SENDFILE:
                return False
            raise
        if sent == 0:
            break
        offset += sent
    return True


# errno values of an fd pair sendfile cannot serve (a stream opened in append mode, a socket
# type it does not support...): the copy falls back to read/write
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}


def write_chunked(fh: IO, text: str) -> int:
    """Write `text` to a binary (as UTF-8) or text stream a slice at a time: 100k rows are
    88 MB of JSON, and encoding it whole would hold a second copy in memory. Returns bytes
    written to a binary stream (characters to a text one)."""
    binary = not hasattr(fh, "encoding")
    size = 0
    for start in range(0, len(text), _CHUNK):
        part = text[start : start + _CHUNK]
        data = part.encode() if binary else part
        # what write() returns is not counted on: a stream wrapper may return None (colorama's,
        # around sys.stdout once `import dvc` ran, as for a templated dvc.yaml)
        fh.write(data)
        size += len(data)
    return size


# characters written at a time by write_chunked
_CHUNK = 1 << 20
