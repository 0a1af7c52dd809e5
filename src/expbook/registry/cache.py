"""The registry's commit-keyed cache: per-commit data is immutable, so it is parsed once and
pickled under .dvc/tmp/expbook/ (or $EXPBOOK_CACHE_DIR); refs and notes are re-read every run.

Used by expbook.registry.collect.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from expbook import env

# bump when the shape of cached entries changes: old caches are then ignored, never misread
VERSION = 8
# marshal's format belongs to one Python version: the header names it
_MARSHAL_MAGIC = f"expbook-marshal-{sys.version_info[0]}.{sys.version_info[1]}\n".encode()


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC: building many small containers (unpickling 10k rows) triggers it
    over and over for nothing, as none of them form cycles; ~30% faster loads."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def enabled() -> bool:
    return os.environ.get(env.NO_CACHE, "").lower() not in ("1", "true", "yes", "on")


def cache_file(root: str, name: str) -> str:
    """`name` is "commits" (per-commit data) or "rows" (the last result and its fingerprint)."""
    base = os.environ.get(env.CACHE_DIR) or os.path.join(root, ".dvc", "tmp", "expbook")
    if os.environ.get(env.CACHE_DIR):
        # one cache dir may serve several repos: keep their files apart
        import hashlib

        tag = hashlib.sha1(os.path.abspath(root).encode()).hexdigest()[:12]
        return os.path.join(base, f"{name}-{tag}.pickle")
    return os.path.join(base, f"{name}.pickle")


def load(root: str, name: str) -> dict:
    """The cached state, or {} when absent, disabled, unreadable or from another version."""
    if not enabled():
        return {}
    try:
        with open(cache_file(root, name), "rb") as fh, no_gc():
            raw = fh.read()
            if raw.startswith(_MARSHAL_MAGIC):
                data = marshal.loads(memoryview(raw)[len(_MARSHAL_MAGIC) :])
            else:
                import pickle  # only caches holding values marshal cannot write

                data = pickle.loads(raw)
    except Exception:
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    return data


def save(root: str, name: str, data: dict) -> None:
    """Write atomically (temp file + os.replace) so a concurrent reader never sees half a file."""
    if not enabled():
        return
    import tempfile

    path = cache_file(root, name)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".registry-", suffix=".tmp")
        try:
            data = {**data, "version": VERSION}
            try:
                # marshal reads plain containers about twice as fast as pickle
                blob = _MARSHAL_MAGIC + marshal.dumps(data)
            except ValueError:  # an object marshal cannot write (e.g. a YAML date value)
                import pickle

                blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only repo still gets its registry, just without a cache


def files_unchanged(root: str, seen: dict, trusted_before: int | None = None) -> bool:
    """Whether the work-tree files read for a snapshot still have the same stat keys."""
    from expbook.registry.snapshot import DiskReader

    reader = DiskReader(root)
    for path, key in seen.items():
        if path.endswith("/"):  # a folder walked for dvc.yaml files: its mtime (find_dvcyamls)
            try:
                mtime = os.stat(os.path.join(root, path)).st_mtime_ns
            except OSError:
                return False
            if ("dir", mtime) != key or (trusted_before is not None and mtime >= trusted_before):
                return False
            continue
        now = reader.key(path)
        if now != key:
            return False
        # a file written in the same clock tick as the snapshot may differ with an equal key
        if trusted_before is not None and now and now[0] == "disk" and now[2] >= trusted_before:
            return False
    return True


def dvc_cache_fingerprint(cache_dir: str) -> tuple:
    """Mtimes of the DVC cache's object directories: `in_cache` holds while they are unchanged."""
    out = []
    for base in (cache_dir, os.path.join(cache_dir, "files", "md5")):
        try:
            with os.scandir(base) as it:
                out += [
                    (e.path, e.stat().st_mtime_ns) for e in it if len(e.name) == 2 and e.is_dir()
                ]
        except OSError:
            continue
    return tuple(sorted(out))
