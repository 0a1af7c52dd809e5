"""Resolve a templated dvc.yaml (`vars`, `${}` interpolation, `foreach`, `matrix`) exactly as
DVC does, by running DVC's own resolver (`dvc.parsing.DataResolver`) over a commit's files.

Used by expbook.registry.snapshot for dvc.yaml files that use templating only: importing
dvc.parsing costs ~0.45 s, paid once per process on a cold read, and its results are cached
per commit with the rest of the snapshot (README "Templated dvc.yaml" has the measurements).
"""

from __future__ import annotations

import io
import posixpath
from typing import IO, Any

from expbook.registry.dvcfiles import ParseError
from expbook.registry.files import Files, Key


class UnresolvedError(ParseError):
    """DVC could not resolve the dvc.yaml either; `deps` are the files its resolver read before
    it gave up (the same files give the same error: the error is memoised on them)."""

    def __init__(self, message: str, deps: dict[str, Key | None]) -> None:
        super().__init__(message)
        self.deps = deps


class _ReaderFS:
    """The few filesystem calls dvc.parsing makes, answered from a snapshot reader (a git tree
    or the work tree); records every path it was asked about with its key, so the result is
    reused only while those files are unchanged."""

    sep = "/"

    def __init__(self, reader: Files) -> None:
        self.reader = reader
        self.deps: dict[str, Key | None] = {}

    def _key(self, path: str) -> Key | None:
        path = posixpath.normpath(path)
        if path not in self.deps:
            self.deps[path] = self.reader.key(path)
        return self.deps[path]

    def exists(self, path: str) -> bool:
        return self._key(path) is not None

    def isdir(self, path: str) -> bool:
        key = self._key(path)
        return isinstance(key, tuple) and key[0] == "tree"

    def open(self, path: str, mode: str = "r", encoding: str | None = None, **_kw: Any) -> IO[Any]:
        key = self._key(path)
        if key is None or self.isdir(path):
            raise FileNotFoundError(path)
        data = self.reader.read(posixpath.normpath(path), key)
        if "b" in mode:
            return io.BytesIO(data)
        return io.StringIO(data.decode(encoding or "utf-8"))

    @staticmethod
    def join(*parts: str) -> str:
        return posixpath.join(*parts)

    @staticmethod
    def normpath(path: str) -> str:
        return posixpath.normpath(path)

    @staticmethod
    def relpath(path: str, start: str = "") -> str:
        return posixpath.relpath(path, start or ".")

    @staticmethod
    def suffix(path: str) -> str:
        return posixpath.splitext(path)[1]


class _Repo:
    """What DataResolver reads of a dvc Repo: its filesystem and its `parsing` config."""

    def __init__(self, fs: _ReaderFS) -> None:
        self.fs = fs
        self.config: dict[str, Any] = {}


def resolve(
    path: str, doc: dict[str, Any], reader: Files
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Key | None]]:
    """(resolved dvc.yaml, tracked vars {file: {key: value}}, files read {path: key}).

    The resolved document has DVC's generated stage names (`fit@big`, `grid@x-p`) and every
    `${}` substituted; tracked vars are the values of vars files the stages used (DVC lists
    those as params when the file is not a params file already). Raises UnresolvedError with
    DVC's message when DVC could not resolve the file either.
    """
    from dvc.parsing import DataResolver

    fs = _ReaderFS(reader)
    wdir = posixpath.dirname(path)
    try:
        resolver = DataResolver(_Repo(fs), wdir, doc)
        resolved = {
            "stages": resolver.resolve()["stages"],
            "params": resolver.resolve_params(),
            "metrics": resolver.resolve_metrics(),
        }
    except Exception as exc:  # DVC's ResolveError and friends; its message names the problem
        raise UnresolvedError(f"{path}: {_first_line(exc)}", dict(fs.deps)) from exc
    tracked: dict[str, dict[str, Any]] = {}
    for per_file in resolver.tracked_vars.values():
        for file, values in per_file.items():
            tracked.setdefault(posixpath.normpath(file), {}).update(values)
    return resolved, tracked, dict(fs.deps)


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split("\n")[:3]).strip()
    return text or exc.__class__.__name__
