"""Read one snapshot of a DVC project - a git commit's tree or the work tree - into params,
metrics (from git or the local DVC cache), outs and per-file errors.

Used by expbook.registry; parsing itself lives in expbook.registry.dvcfiles.
"""

from __future__ import annotations

import posixpath
import sys
from collections.abc import Callable, Hashable
from functools import partial
from typing import TYPE_CHECKING, Any

from expbook.registry.dvccache import CacheFiles, rel_cache_path
from expbook.registry.dvcfiles import (
    ParseError,
    extract_metrics,
    flatten,
    load_bytes,
    merge_dvcyamls,
    parse_dvcyaml,
    parse_dvcyaml_doc,
    parse_lock,
    select_params,
)
from expbook.registry.files import DiskReader, NoFiles, TreeReader, find_dvcyamls  # noqa: F401

if TYPE_CHECKING:
    from expbook.registry.files import Files, Key


def _params_of(path: str, load: Callable[[], bytes], keys: list[str] | None) -> dict:
    """The tracked params of a params file, keyed `path:a.b` as the registry names them."""
    flat = select_params(flatten(load_bytes(path, load())), keys)
    return {sys.intern(f"{path}:{name}"): val for name, val in flat.items()}


def _metrics_of(path: str, load: Callable[[], bytes]) -> dict:
    """The numbers/strings of a metrics file, keyed `path:a.b`."""
    flat = flatten(extract_metrics(load_bytes(path, load())) or {})
    return {sys.intern(f"{path}:{name}"): val for name, val in flat.items()}


def _lock_of(path: str, data: bytes) -> tuple[dict, dict]:
    """(parse_lock(), the snapshot's `outs` of it)."""
    locks = parse_lock(path, data)
    outs = {
        out: {
            "hash": f"md5:{o['md5']}" if o["md5"] else None,
            "size": o["size"],
            # relative to the cache dir: cached snapshots survive a moved cache/repo
            "cache": rel_cache_path(o["md5"], o["legacy"]) if o["md5"] else None,
        }
        for out, o in locks.items()
    }
    return locks, outs


# what read_snapshot() memoises per blob, by the first item of the memo key: the function of
# (key, the blob's bytes) it stores, so prime() can fill the memo ahead for many commits
PRIMED: dict[str, Callable[[tuple, bytes], Any]] = {
    "dvc.lock": lambda key, data: _lock_of(key[1], data),
    "params": lambda key, data: _params_of(
        key[2], lambda: data, None if key[1] is None else list(key[1])
    ),
    "metrics": lambda key, data: _metrics_of(key[1], lambda: data),
}


def prime(memo: dict, g: Any, jobs: list[tuple[tuple, Any]]) -> None:
    """Fill `memo` for many commits: `jobs` are (memo key as read_snapshot makes it, blob id).
    All blobs are read, then every lock file parsed, then every params file...: one kind of
    work at a time keeps it in the CPU's caches. A failing job is left to read_snapshot."""
    todo = [(key, oid) for key, oid in dict(jobs).items() if key not in memo]
    try:
        blobs = [g.read(oid) for _, oid in todo]
    except Exception:  # a missing object: read_snapshot says so for its own commit
        return
    for i in sorted(range(len(todo)), key=lambda i: todo[i][0][0]):
        key = todo[i][0]
        try:
            _memo(memo, key, partial(PRIMED[key[0]], key, blobs[i]))
        except Exception:
            continue


def _memo(memo: dict, key: Hashable, fn: Callable[..., Any]) -> tuple[str, Any]:
    hit = memo.get(key, memo)
    if hit is memo:
        try:
            hit = ("ok", fn())
        except ParseError as exc:
            hit = ("error", str(exc))
        memo[key] = hit
    return hit


class Merged:
    """Dicts merged from per-file parts without copying the common single part: the parts
    are memoised and shared between snapshots, so they are never changed in place."""

    def __init__(self) -> None:
        self.value: dict = {}
        self.owned = True

    def add(self, part: dict) -> None:
        if not self.value:
            self.value, self.owned = part, False
        elif part:
            if not self.owned:
                self.value, self.owned = dict(self.value), True
            self.value.update(part)

    def set(self, key: str, val: Any) -> None:
        self.add({key: val})


def read_snapshot(
    reader: Files, dvcyamls: list[str], cache_dir: str, memo: dict, recipe: list | None = None
) -> dict:
    """Params, metrics, outs and per-file errors of one commit (or the workspace).

    `memo` maps file keys (blob ids) to parse results so identical files parse once; the
    returned dicts may be shared with other snapshots read with the same memo (read-only).
    Returns {"params", "metrics", "outs", "errors", "unreadable", "missing", "metric_files"};
    `unreadable` lists the files of `errors` that exist but do not parse, `missing` the cache
    objects (relative to the cache dir) that were absent (re-read when they appear).
    `recipe`, when given, gets the memo key of each part merged into params, metrics and outs,
    in order, and ("other", what) for anything else read (templating, a metrics directory,
    a file from the DVC cache): registry/commits.py puts snapshots of commits laid out the
    same way together from it.
    """
    errors: dict[str, str] = {}
    unreadable: list[str] = []  # files that exist but cannot be parsed: the row's status is error
    parsed: list[dict] = []
    locks = Merged()
    outs = Merged()
    tracked: dict[str, dict] = {}
    for path in dvcyamls:
        key = reader.key(path)
        if key is None:
            continue
        state, value = _memo(
            memo,
            ("dvc.yaml", path, key),
            lambda path=path, key=key: parse_dvcyaml(path, reader.read(path, key)),
        )
        if state == "ok" and "templated" in value:
            if recipe is not None:
                recipe.append(("other", "templated"))
            state, value = _resolved(reader, path, key, value["templated"], memo)
        if state == "error":
            errors[path] = value
            unreadable.append(path)
            continue
        parsed.append(value)
        for file, values in value.get("tracked", {}).items():
            tracked.setdefault(file, {}).update(values)
        lock = _lock_path(path)
        lkey = reader.key(lock)
        if lkey is not None:
            state, value = _memo(
                memo,
                ("dvc.lock", lock, lkey),
                lambda lock=lock, lkey=lkey: _lock_of(lock, reader.read(lock, lkey)),
            )
            if state == "error":
                errors[lock] = value
                unreadable.append(lock)
            else:
                locks.add(value[0])
                outs.add(value[1])
                if recipe is not None:
                    recipe.append(("dvc.lock", lock, lkey))
    spec = _spec(memo, parsed, reader.key("params.yaml") is not None)
    cached = CacheFiles(cache_dir, locks.value)

    def read(path: str, what: tuple, parse: Callable[[Callable[[], bytes]], dict]) -> dict | None:
        """A params/metrics file's values parsed once per content (memo); None, with the
        reason in `errors`, when it is absent or does not parse."""
        found = _source(reader, cached, path)
        if found[0] != "ok":
            errors[path] = found[1]
            return None
        key = (*what, path, found[1])
        state, value = _memo(memo, key, partial(parse, found[2]))
        if state == "error":
            errors[path] = value
            unreadable.append(path)
            return None
        if recipe is not None:
            recipe.append(key)
        return value

    params = Merged()
    for file, keys in spec["params"].items():
        value = read(
            file,
            ("params", None if keys is None else tuple(keys)),
            partial(_params_of, file, keys=keys),
        )
        if value is not None:
            params.add(value)
    # values of vars files that stages interpolated: DVC lists them as params unless the file
    # is a params file already (dvc/repo/params/show.py:_collect_vars)
    for file, values in tracked.items():
        if file not in spec["params"]:
            if recipe is not None:
                recipe.append(("other", "vars"))
            for name, val in flatten(values).items():
                params.set(sys.intern(f"{file}:{name}"), val)

    metrics = Merged()
    for file in spec["metrics"]:
        key = reader.key(file)
        if isinstance(key, tuple) and key[0] == "tree":
            paths = reader.listdir(file)  # a metrics directory: every file in it, as DVC does
            if recipe is not None:
                recipe.append(("other", "listdir"))
        elif key is None and cached.is_dir(file):
            if recipe is not None:
                recipe.append(("other", "cached dir"))
            listed = cached.listdir(file)
            if isinstance(listed, str):
                errors[file] = listed
                continue
            paths = listed
        else:
            paths = [file]
        for path in paths:
            value = read(path, ("metrics",), partial(_metrics_of, path))
            if value is not None:
                metrics.add(value)

    return {
        "params": params.value,
        "metrics": metrics.value,
        "outs": outs.value,
        "errors": errors,
        "unreadable": unreadable,
        "missing": cached.missing,
        "metric_files": spec["metric_files"],
    }


def _spec(memo: dict, parsed: list[dict], has_default_params: bool) -> dict:
    """merge_dvcyamls() of the snapshot's parsed dvc.yaml files, once per distinct set (the
    parsed values are memoised objects, so identity tells them apart)."""
    key = ("spec", tuple(map(id, parsed)), has_default_params)
    hit = memo.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], parsed)):
        return hit[1]
    spec = merge_dvcyamls(parsed, has_default_params)
    spec["metric_files"] = list(spec["metrics"])
    memo[key] = (tuple(parsed), spec)
    return spec


def _resolved(reader: Files, path: str, key: Key | None, doc: dict, memo: dict) -> tuple[str, Any]:
    """A templated dvc.yaml resolved by DVC's resolver, memoised on the files it read (its
    vars files and params.yaml change from commit to commit; the dvc.yaml rarely does)."""
    from expbook.registry import templating

    seen = memo.setdefault(("templated", path, key), [])
    for read, earlier in seen:
        if all(reader.key(p) == k for p, k in read.items()):
            return earlier
    deps: dict | None = None
    result: tuple[str, Any]
    try:
        resolved, tracked, deps = templating.resolve(path, doc, reader)
        result = ("ok", {**parse_dvcyaml_doc(path, resolved), "tracked": tracked})
    except templating.UnresolvedError as exc:
        result, deps = ("error", str(exc)), exc.deps
    except ParseError as exc:
        result = ("error", str(exc))
    if deps is not None:  # memoised on the files the resolver read: never on no files at all
        seen.append((deps, result))
    return result


def _source(reader: Files, cached: CacheFiles, path: str) -> tuple:
    """Where a params/metrics file's bytes come from: ("ok", memo key, loader) from the tree /
    work tree or the DVC cache, else ("error", reason)."""
    key = reader.key(path)
    if key is not None:
        if isinstance(key, tuple) and key[0] == "tree":
            return ("error", f"{path}: is a directory")
        return ("ok", key, lambda: reader.read(path, key))
    return cached.find(path)


def _lock_path(dvcyaml: str) -> str:
    return (
        "dvc.lock"
        if dvcyaml == "dvc.yaml"
        else posixpath.join(posixpath.dirname(dvcyaml), "dvc.lock")
    )
