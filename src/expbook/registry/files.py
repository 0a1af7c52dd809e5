"""Where a snapshot's files come from: a git tree (`TreeReader`), the work tree (`DiskReader`,
stat keys for the cache) or nothing (`NoFiles`), and `find_dvcyamls` (every dvc.yaml of the
work tree). Used by expbook.registry.snapshot and the registry cache.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

if TYPE_CHECKING:
    import pygit2

    from expbook.registry.gitrepo import GitRepo

# a file's memo key: its blob id (a git tree), ("disk", path, mtime_ns, size) (the work tree),
# or ("tree", path) for a directory
Key = Hashable


class Files(Protocol):
    """What a snapshot reads files through; `read` and `listdir` only after `key` found it."""

    def key(self, path: str) -> Key | None: ...

    def read(self, path: str, key: Key) -> bytes: ...

    def listdir(self, path: str) -> list[str]: ...


class TreeReader:
    """Files of one git tree: `key(path)` is the blob id (memo key), None when absent."""

    def __init__(self, g: GitRepo, tree: pygit2.Tree) -> None:
        self.g, self.tree = g, tree
        self.keys: dict[str, Any] = {}  # path -> key: a snapshot asks for most paths twice

    def key(self, path: str) -> Key | None:
        hit = self.keys.get(path, self)
        if hit is self:
            found = self.g.blob_at(self.tree, path)
            hit = None if found is None else ("tree", path) if found[0] == "tree" else found[0]
            self.keys[path] = hit
        return cast("Key | None", hit)

    def read(self, path: str, key: Key) -> bytes:
        return self.g.read(cast("pygit2.Oid", key))  # key() gave the blob id

    def listdir(self, path: str) -> list[str]:
        return self.g.list_tree(self.tree, path)


class DiskReader:
    """Files of the work tree; `key` is (path, mtime, size) so the memo never serves old bytes."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.seen: dict[str, tuple[Any, ...] | None] = {}

    def key(
        self, path: str
    ) -> tuple[Any, ...] | None:  # ("disk", path, mtime_ns, size) or ("tree", path)
        full = os.path.join(self.root, path)
        try:
            st = os.stat(full)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink loop is there, not missing: read() says so
                key: tuple[Any, ...] = ("disk", path, "loop", 0)
                self.seen[path] = key
                return key
            self.seen[path] = None
            return None
        if os.path.isdir(full):
            return ("tree", path)
        key = ("disk", path, st.st_mtime_ns, st.st_size)
        self.seen[path] = key
        return key

    def read(self, path: str, key: Key) -> bytes:
        from expbook.registry.dvcfiles import ParseError

        try:
            return read_inside(self.root, path)
        except OSError as exc:  # a FIFO, socket, device, unreadable file: an error of its row
            raise ParseError(f"{path}: cannot be read: {exc.strerror or exc}") from exc

    def listdir(self, path: str) -> list[str]:
        out = []
        for dirpath, _dirs, files in os.walk(os.path.join(self.root, path)):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            out += [f"{rel}/{f}" for f in files]
        return sorted(out)


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file (a symlink to one is
    fine); OSError(EINVAL, "not a regular file (a FIFO)") for a FIFO, socket, device or
    directory, which could block forever or never end (a link to /dev/zero). The one way
    expbook opens a work-tree or cache file it reads (issue 19)."""
    _check_regular(os.stat(path).st_mode, path)
    # O_NONBLOCK: a FIFO swapped in after the stat does not block the open; O_NOCTTY: a
    # terminal device never becomes ours. Checked again on the open file.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        _check_regular(os.fstat(fd).st_mode, path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of the regular file `path` (open_regular's OSError otherwise); with `limit`,
    OSError(EFBIG) for a file larger than that many bytes, before anything is read."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if limit is not None and size > limit:
            raise OSError(
                errno.EFBIG,
                f"{size:,} bytes, over the {limit // 2**20} MiB limit",
                os.fspath(path),
            )
        return fh.read() if limit is None else fh.read(limit + 1)


# a params/metrics/plots/dvc.yaml/dvc.lock file of the work tree or a commit larger than this
# is an error of its row, never read: a 2 GB sparse metrics file took 60 s and 2 GB of memory
MAX_FILE_BYTES = 64 * 2**20


def read_inside(
    root: str, rel: str, limit: int | None = MAX_FILE_BYTES, what: str = "the repository"
) -> bytes:
    """The bytes of the work-tree file `rel` under `root`: a regular file (read_regular), at
    most `limit` bytes, and, after symlinks, still inside `root`: a committed link to
    ~/.aws/credentials or /etc/passwd is never read (OSError naming where it points)."""
    full = os.path.join(root, rel)
    real, top = os.path.realpath(full), os.path.realpath(root)
    if real != top and not real.startswith(top.rstrip(os.sep) + os.sep):
        _check_regular(os.stat(real).st_mode, full)  # a link to /dev/zero: named as a device
        raise OSError(errno.EACCES, f"a link to {real}, outside {what}", full)
    return read_regular(real, limit)


def _check_regular(mode: int, path: str | os.PathLike[str]) -> None:
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a file")
        raise OSError(errno.EINVAL, f"not a regular file ({kind})", os.fspath(path))


class NoFiles:
    """A snapshot with no files (a commit from before a sub-project existed)."""

    def key(self, path: str) -> Key | None:
        return None

    def read(self, path: str, key: Key) -> bytes:  # never called: key() finds nothing
        raise FileNotFoundError(path)

    def listdir(self, path: str) -> list[str]:
        return []


def find_dvcyamls(
    root: str, ignored: Callable[[str], bool]
) -> tuple[list[str], dict[str, tuple[str, int]]]:
    """(every dvc.yaml of the work tree, {"<dir>/": ("dir", mtime_ns)} of the folders walked).

    Skips .git/.dvc, DVC sub-projects (folders holding .dvc) and folders git ignores
    (`ignored(relpath + "/")`: a virtualenv or data folder is never walked)."""
    found: list[str] = []
    dirs: dict[str, tuple[str, int]] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        try:
            dirs[f"{rel or '.'}/"] = ("dir", os.stat(full).st_mtime_ns)
            with os.scandir(full) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            sub = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name in (".git", ".dvc") or ignored(sub + "/"):
                    continue
                if os.path.isdir(os.path.join(entry.path, ".dvc")):
                    continue  # a DVC sub-project: not part of this project
                stack.append(sub)
            elif entry.name == "dvc.yaml":
                found.append(sub)
    found.sort(key=lambda p: (p.count("/"), p))  # the root dvc.yaml first
    return found, dirs
