"""Write what expbook outputs, safely: one path check and one atomic writer for every
-o/--out/--report (refuses .git/ and .dvc/ except expbook's own cache, non-regular targets,
git-tracked files unless --force; writes through symlinks; honours the umask).

Used by expbook.output's emit() and by every command and library function that writes a file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from expbook import env
from expbook.errors import ExpbookError


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write a file via a temp file + os.replace so a failure never leaves half a file.

    The new file gets the mode an ordinary `open(path, "w")` would (0666 minus the umask, or the
    replaced file's mode), not mkstemp's 0600. An unwritable path is an ExpbookError naming it.
    Internal writes use this; user-chosen paths (-o/--report) go through `write_output`."""
    import tempfile

    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise ExpbookError(f"cannot write {os.fspath(path)!r}: {err.strerror or err}") from err
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_output(path: str | os.PathLike[str], data: str | bytes, *, force: bool = False) -> str:
    """THE writer of every user-chosen output path (-o/--output/--report); returns where it wrote.

    `-` writes to stdout. The path is checked first (`check_output_path`), then written
    atomically through any symlink to the symlink's target."""
    if os.fspath(path) == "-":
        import sys

        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
        return "-"
    target = check_output_path(path, force=force)
    write_atomic(target, data)
    return os.fspath(path)


def check_output_path(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """The real file a user-chosen output path will replace (symlinks followed), or ExpbookError.

    Refused (issue 14): a path inside a `.git/` or `.dvc/` directory (except expbook's own cache
    dir), an existing target that is not a regular file (device, FIFO, socket, directory), and an
    existing file tracked by git unless `force`."""
    shown = os.fspath(path)
    target = Path(os.path.realpath(path))
    _refuse_git_dirs(shown, target)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as err:
        raise ExpbookError(f"cannot write {shown!r}: {err.strerror or err}") from err
    if not stat.S_ISREG(st.st_mode):
        kind = _file_kind(st.st_mode)
        raise ExpbookError(
            f"refusing to write {shown!r}: it is {kind}, not a regular file (use `-o -` for stdout)"
        )
    if not force and _git_tracked(target):
        raise ExpbookError(
            f"refusing to overwrite {shown!r}: git tracks it; pass --force to overwrite it"
        )
    return target


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """The real directory a user-chosen output folder (export -o) names, refused like files."""
    shown = os.fspath(path)
    target = Path(os.path.realpath(path))
    _refuse_git_dirs(shown, target)
    if target.exists() and not target.is_dir():
        raise ExpbookError(f"refusing to write into {shown!r}: it is not a directory")
    return target


def _refuse_git_dirs(shown: str, target: Path) -> None:
    cache = os.environ.get(env.CACHE_DIR)
    if cache and _inside(target, Path(os.path.realpath(cache))):
        return
    parts = target.parts
    for i, part in enumerate(parts):
        if part in (".git", ".dvc"):
            if part == ".dvc" and parts[i + 1 : i + 3] == ("tmp", "expbook"):
                return  # expbook's own cache dir (registry/cache.py)
            raise ExpbookError(
                f"refusing to write {shown!r}: it is inside {part}/ "
                f"({os.fspath(Path(*parts[: i + 1]))}), which only git/DVC may change"
            )


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _git_tracked(target: Path) -> bool:
    """Whether the work tree holding `target` tracks it (looked up in git's index)."""
    root = target.parent
    while not (root / ".git").exists():
        if root.parent == root:
            return False
        root = root.parent
    from expbook.gitcmd import run_git

    relative = os.fspath(target.relative_to(root))
    try:
        proc = run_git("ls-files", "--error-unmatch", "--", relative, cwd=root, check=False)
    except OSError:  # no git on PATH: nothing can be tracked
        return False
    return proc.returncode == 0


# ---------------------------------------------------------------- columns
