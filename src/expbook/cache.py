"""The registry's commit-keyed cache: per-commit data is immutable, so it is parsed once and
pickled under .dvc/tmp/expbook/ (or $EXPBOOK_CACHE_DIR); refs and notes are re-read every run.

Used by expbook.registry.collect.
"""

from __future__ import annotations

import os
import pickle

from expbook import env

# bump when the shape of cached entries changes: old caches are then ignored, never misread
VERSION = 3


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
    """The cached state, or an empty one when absent, disabled, unreadable or from another version."""
    if not enabled():
        return {}
    try:
        with open(cache_file(root, name), "rb") as fh:
            data = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, ImportError):
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
            with os.fdopen(fd, "wb") as fh:
                pickle.dump({**data, "version": VERSION}, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        pass  # a read-only repo still gets its registry, just without a cache
