"""Read one snapshot of a DVC project - a git commit's tree or the work tree - into params,
metrics (from git or the local DVC cache), outs and per-file errors.

Used by expbook.registry; parsing itself lives in expbook.registry.dvcfiles.
"""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from expbook.registry.dvcfiles import (
    ParseError,
    cache_path,
    extract_metrics,
    flatten,
    load_bytes,
    merge_dvcyamls,
    parse_dvcyaml,
    parse_lock,
    select_params,
)


class TreeReader:
    """Files of one git tree: `key(path)` is the blob id (memo key), None when absent."""

    def __init__(self, g, tree) -> None:
        self.g, self.tree = g, tree

    def key(self, path: str):
        hit = self.g.blob_at(self.tree, path)
        if hit is None:
            return None
        return ("tree", path) if hit[0] == "tree" else hit[0]

    def read(self, path: str, key) -> bytes:
        return self.g.read(key)

    def listdir(self, path: str) -> list[str]:
        return self.g.list_tree(self.tree, path)


class DiskReader:
    """Files of the work tree; `key` is (path, mtime, size) so the memo never serves old bytes."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.seen: dict[str, tuple | None] = {}

    def key(self, path: str):
        full = os.path.join(self.root, path)
        try:
            st = os.stat(full)
        except OSError:
            self.seen[path] = None
            return None
        if os.path.isdir(full):
            return ("tree", path)
        key = ("disk", path, st.st_mtime_ns, st.st_size)
        self.seen[path] = key
        return key

    def read(self, path: str, key) -> bytes:
        with open(os.path.join(self.root, path), "rb") as fh:
            return fh.read()

    def listdir(self, path: str) -> list[str]:
        out = []
        for dirpath, _dirs, files in os.walk(os.path.join(self.root, path)):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            out += [f"{rel}/{f}" for f in files]
        return sorted(out)


def _memo(memo: dict, key, fn):
    hit = memo.get(key, memo)
    if hit is memo:
        try:
            hit = ("ok", fn())
        except ParseError as exc:
            hit = ("error", str(exc))
        memo[key] = hit
    return hit


def read_snapshot(reader, dvcyamls: list[str], cache_dir: str, memo: dict) -> dict:
    """Params, metrics, outs and per-file errors of one commit (or the workspace).

    `memo` maps file keys (blob ids) to parse results so identical files parse once.
    Returns {"params", "metrics", "outs", "errors", "missing"}; `missing` lists cache objects
    (relative to the cache dir)
    that were absent (a later run re-reads the snapshot if they appear).
    """
    errors: dict[str, str] = {}
    parsed, locks = [], {}
    for path in dvcyamls:
        key = reader.key(path)
        if key is None:
            continue
        state, value = _memo(
            memo,
            ("dvc.yaml", path, key),
            lambda path=path, key=key: parse_dvcyaml(path, reader.read(path, key)),
        )
        if state == "error":
            errors[path] = value
            continue
        parsed.append(value)
        lock = _lock_path(path)
        lkey = reader.key(lock)
        if lkey is not None:
            state, value = _memo(
                memo,
                ("dvc.lock", lock, lkey),
                lambda lock=lock, lkey=lkey: parse_lock(lock, reader.read(lock, lkey)),
            )
            if state == "error":
                errors[lock] = value
            else:
                locks.update(value)
    spec = merge_dvcyamls(parsed, reader.key("params.yaml") is not None)

    params: dict[str, Any] = {}
    for file, keys in spec["params"].items():
        key = reader.key(file)
        if key is None:
            errors[file] = f"{file}: no such file"
            continue
        state, value = _memo(
            memo,
            ("flat", key),
            lambda file=file, key=key: flatten(load_bytes(file, reader.read(file, key))),
        )
        if state == "error":
            errors[file] = value
            continue
        for name, val in select_params(value, keys).items():
            params[sys.intern(f"{file}:{name}")] = val

    metrics: dict[str, Any] = {}
    missing: list[str] = []
    for file in spec["metrics"]:
        key = reader.key(file)
        if isinstance(key, tuple) and key[0] == "tree":
            files = [(p, reader.key(p)) for p in reader.listdir(file)]
        else:
            files = [(file, key)]
        for path, fkey in files:
            data: Callable[[], bytes]
            if fkey is not None:
                data = partial(reader.read, path, fkey)
                memo_key = ("metric", fkey)
            elif path in locks and locks[path]["md5"] and not locks[path]["dir"]:
                cpath = cache_path(cache_dir, locks[path]["md5"], locks[path]["legacy"])
                if not _exists(cpath):
                    errors[path] = f"{path}: not in local cache ({locks[path]['md5']})"
                    missing.append(_rel_cache_path(locks[path]["md5"], locks[path]["legacy"]))
                    continue
                data = partial(_read_file, cpath)
                memo_key = ("metric-cache", cpath)
            else:
                errors[path] = f"{path}: no such file"
                continue
            state, value = _memo(
                memo,
                memo_key,
                lambda p=path, d=data: flatten(extract_metrics(load_bytes(p, d())) or {}),
            )
            if state == "error":
                errors[path] = value
                continue
            for name, val in value.items():
                metrics[sys.intern(f"{path}:{name}")] = val

    outs = {
        path: {
            "hash": f"md5:{o['md5']}" if o["md5"] else None,
            "size": o["size"],
            # relative to the cache dir: cached snapshots survive a moved cache/repo
            "cache": _rel_cache_path(o["md5"], o["legacy"]) if o["md5"] else None,
        }
        for path, o in locks.items()
    }
    return {
        "params": params,
        "metrics": metrics,
        "outs": outs,
        "errors": errors,
        "missing": missing,
        "metric_files": list(spec["metrics"]),
    }


def _lock_path(dvcyaml: str) -> str:
    return (
        "dvc.lock"
        if dvcyaml == "dvc.yaml"
        else posixpath.join(posixpath.dirname(dvcyaml), "dvc.lock")
    )


def _rel_cache_path(md5: str, legacy: bool) -> str:
    """cache_path("", md5, legacy) without posixpath.join: called for every out of every commit."""
    return f"{md5[:2]}/{md5[2:]}" if legacy else f"files/md5/{md5[:2]}/{md5[2:]}"


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


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
