"""The local DVC cache as the registry reads it: where it is (`cache.dir` from .dvc/config), the
path of an object, and the files of a snapshot that only the cache holds (`cache: true` outs and
files inside cached directory outs, through their `.dir` manifests), as DVC reads them.

Used by expbook.registry.snapshot (and, for the cache directory, by repro, ui, sweep and
analysis); never imports DVC.
"""

from __future__ import annotations

import json
import os
from typing import Any

from expbook.registry.dvcfiles import cache_path, is_hash


class CacheFiles:
    """Files of a snapshot that only the DVC cache holds: `cache: true` outs and files inside
    cached directory outs (`.dir` objects), as DVC reads them (README "Registry")."""

    def __init__(self, cache_dir: str, locks: dict[str, dict]) -> None:
        self.cache_dir, self.locks = cache_dir, locks
        self.missing: list[str] = []
        self.manifests: dict[str, Any] = {}

    def _object(self, md5: str, legacy: bool) -> str | None:
        path = cache_path(self.cache_dir, md5, legacy)
        if _exists(path):
            return path
        rel = rel_cache_path(md5, legacy)
        if rel not in self.missing:
            self.missing.append(rel)
        return None

    def _dir_out(self, path: str) -> tuple[str, dict] | None:
        for out, o in self.locks.items():
            if o["dir"] and o["md5"] and (path == out or path.startswith(out + "/")):
                return out, o
        return None

    def is_dir(self, path: str) -> bool:
        hit = self._dir_out(path)
        return hit is not None and (
            hit[0] == path
            or any(
                rel.startswith(path[len(hit[0]) + 1 :] + "/") for rel in self._manifest(*hit) or {}
            )
        )

    def _manifest(self, out: str, o: dict) -> dict[str, tuple[str, bool]] | None:
        """{relpath: (md5, legacy)} of a cached directory, None when its .dir is not here."""
        if out not in self.manifests:
            obj = self._object(o["md5"], o["legacy"])
            entries = None
            if obj is not None:
                try:
                    entries = {
                        e["relpath"]: (e["md5"], o["legacy"])
                        for e in json.loads(_read_file(obj, self.cache_dir, None))
                        # a hash that is no md5 (`../../etc/passwd`) never names a file
                        if isinstance(e, dict) and "relpath" in e and is_hash(e.get("md5"))
                    }
                except (ValueError, TypeError, RecursionError):  # ParseError is a ValueError
                    entries = None
            self.manifests[out] = entries
        return self.manifests[out]

    def listdir(self, path: str) -> list[str] | str:
        out, o = self._dir_out(path) or ("", {})
        manifest = self._manifest(out, o)
        if manifest is None:
            return f"{path}: not in local cache ({o['md5']})"
        inner = path[len(out) + 1 :] if path != out else ""
        return sorted(
            f"{out}/{rel}" for rel in manifest if not inner or rel.startswith(inner + "/")
        )

    def find(self, path: str) -> tuple:
        o = self.locks.get(path)
        if o and o["md5"] and not o["dir"]:
            md5, legacy = o["md5"], o["legacy"]
        else:
            hit = self._dir_out(path)
            if hit is None or hit[0] == path:
                return ("error", f"{path}: no such file")
            manifest = self._manifest(*hit)
            if manifest is None:
                return ("error", f"{path}: not in local cache ({hit[1]['md5']})")
            entry = manifest.get(path[len(hit[0]) + 1 :])
            if entry is None:
                return ("error", f"{path}: no such file")
            md5, legacy = entry
        obj = self._object(md5, legacy)
        if obj is None:
            return ("error", f"{path}: not in local cache ({md5})")
        return ("ok", ("cache", obj), lambda: _read_file(obj, self.cache_dir))


def rel_cache_path(md5: str, legacy: bool) -> str:
    """cache_path("", md5, legacy) without posixpath.join: called for every out of every commit."""
    return f"{md5[:2]}/{md5[2:]}" if legacy else f"files/md5/{md5[:2]}/{md5[2:]}"


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _read_file(path: str, cache_dir: str, limit: int | None = -1) -> bytes:
    """A cache object's bytes; ParseError naming it when it cannot be read (unreadable, or
    a FIFO or device put in the cache: never opened, issue 19), when it is a link out of
    the cache (never followed), or, with `limit` (default: a params/metrics file's
    MAX_FILE_BYTES; None for a `.dir` listing), when it is larger."""
    from expbook.registry.dvcfiles import ParseError
    from expbook.registry.files import MAX_FILE_BYTES, read_inside

    try:
        rel = os.path.relpath(path, cache_dir)
        limit = MAX_FILE_BYTES if limit == -1 else limit
        return read_inside(cache_dir, rel, limit, what="the DVC cache")
    except OSError as exc:
        raise ParseError(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def dvc_cache_dir(root: str) -> str:
    """The local DVC cache: `cache.dir` from .dvc/config(.local) or .dvc/cache."""
    dvc_dir = os.path.join(root, ".dvc")
    texts = []
    for name in ("config", "config.local"):
        try:
            with open(os.path.join(dvc_dir, name), encoding="utf-8", errors="replace") as fh:
                texts.append(fh.read())
        except OSError:
            pass
    if not any("cache" in text for text in texts):
        return os.path.join(dvc_dir, "cache")  # no [cache] section: skip configparser's import
    import configparser

    found = None
    for name in ("config", "config.local"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(os.path.join(dvc_dir, name), encoding="utf-8")
        except configparser.Error:
            continue
        if parser.has_option("cache", "dir"):
            found = parser.get("cache", "dir").strip().strip("'\"")
    if not found:
        return os.path.join(dvc_dir, "cache")
    # relative cache dirs are relative to the .dvc directory holding the config
    return os.path.normpath(os.path.join(dvc_dir, os.path.expanduser(found)))
