"""Parse what DVC keeps in a commit: dvc.yaml / dvc.lock, params and metrics files, cache paths.

Pure functions over bytes (no git, no DVC import); used by expbook.registry to build rows.
Values follow `dvc exp show --json`: YAML 1.2 numbers, metrics keep only numbers/strings.
"""

from __future__ import annotations

import json
import posixpath
import sys
from typing import Any

class ParseError(ValueError):
    """A params/metrics/dvc file that exists but cannot be parsed."""


def load_bytes(path: str, data: bytes) -> Any:
    """Parse a params/metrics file by its extension the way DVC does (default: YAML)."""
    ext = posixpath.splitext(path)[1].lower()
    try:
        if ext == ".json":
            return json.loads(data)
        if ext == ".toml":
            import tomllib

            return tomllib.loads(data.decode("utf-8"))
        if ext == ".py":
            raise ParseError(f"{path}: python params files are not supported")
        from expbook import fastyaml

        return fastyaml.loads(data)
    except ParseError:
        raise
    except Exception as exc:  # every parser has its own error types
        kind = {".json": "JSON", ".toml": "TOML"}.get(ext, "YAML")
        raise ParseError(f"{path}: {kind} file structure is corrupted ({exc.__class__.__name__})")


def flatten(data: Any, prefix: str = "", out: dict | None = None) -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": value}; lists and scalars stay values."""
    if out is None:
        out = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                flatten(value, name, out)
            else:
                out[name] = value
    elif prefix:
        out[prefix] = data
    return out


def extract_metrics(data: Any) -> Any:
    """Keep numbers/strings and non-empty dicts of them, as DVC's metrics show does."""
    if isinstance(data, (int, float, str)):
        return data
    if not isinstance(data, dict):
        return None
    ret = {}
    for key, value in data.items():
        kept = extract_metrics(value)
        if kept not in (None, {}):
            ret[key] = kept
    return ret


def select_params(flat: dict[str, Any], key_paths: list[str] | None) -> dict[str, Any]:
    """The params DVC reports for a file tracked with these key paths (None/[] = whole file)."""
    if not key_paths:
        return flat
    out = {}
    for key, value in flat.items():
        for kp in key_paths:
            if key == kp or key.startswith(kp + "."):
                out[key] = value
                break
    return out


def _join(wdir: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(wdir, path)) if wdir else posixpath.normpath(path)


def parse_dvcyaml(path: str, data: bytes) -> dict:
    """dvc.yaml -> {"params": {file: [keys] | None}, "metrics": {file: cached?}, "outs": [..]}.

    Paths are repo-relative posix paths; `None` keys mean the whole params file is tracked.
    Raises ParseError on a corrupt file.
    """
    doc = load_bytes(path, data) or {}
    if not isinstance(doc, dict):
        raise ParseError(f"{path}: expected a mapping at top level")
    base = posixpath.dirname(path)
    params: dict[str, list[str] | None] = {}
    metrics: dict[str, bool] = {}

    def add_params(wdir: str, entries: Any) -> None:
        for entry in entries or []:
            if isinstance(entry, str):
                _merge(params, _join(wdir, "params.yaml"), [entry])
            elif isinstance(entry, dict):
                for file, keys in entry.items():
                    _merge(params, _join(wdir, file), list(keys) if keys else None)

    def add_outs(wdir: str, entries: Any, force_metric: bool) -> None:
        for entry in entries or []:
            if isinstance(entry, dict):
                for file, opts in entry.items():
                    opts = opts or {}
                    if force_metric:
                        metrics[_join(wdir, file)] = bool(opts.get("cache", True))
            elif isinstance(entry, str) and force_metric:
                metrics[_join(wdir, entry)] = True

    for name, stage in (doc.get("stages") or {}).items():
        if not isinstance(stage, dict):
            raise ParseError(f"{path}: stage {name!r} is not a mapping")
        wdir = _join(base, stage.get("wdir", "."))
        wdir = "" if wdir == "." else wdir
        add_params(wdir, stage.get("params"))
        add_outs(wdir, stage.get("metrics"), True)
    for file in doc.get("params") or []:  # top-level params files are tracked whole
        _merge(params, _join(base, file), None)
    for file in doc.get("metrics") or []:
        metrics.setdefault(_join(base, file), False)
    return {"params": params, "metrics": metrics}


def _merge(params: dict, file: str, keys: list[str] | None) -> None:
    # a file tracked whole anywhere is reported whole (DVC's _merge_params)
    if file in params and params[file] is None:
        return
    if keys is None:
        params[file] = None
    else:
        params.setdefault(file, []).extend(k for k in keys if k not in params[file])


def parse_lock(path: str, data: bytes) -> dict[str, dict]:
    """dvc.lock -> {out path: {"md5": hex, "size": int|None, "legacy": bool, "dir": bool}}."""
    outs = _fast_lock_outs(data)
    if outs is None:
        outs = _lock_outs(load_bytes(path, data) or {})
    base = posixpath.dirname(path)
    result = {}
    for out in outs:
        md5 = out.get("md5") or out.get("etag") or out.get("checksum")
        result[_join(base, str(out["path"]))] = {
            "md5": md5, "size": out.get("size"),
            # DVC 2 lock entries have no `hash: md5` and live in the legacy cache layout
            "legacy": out.get("hash") != "md5",
            "dir": bool(md5 and str(md5).endswith(".dir")),
        }
    return result


def _lock_outs(doc: dict) -> list[dict]:
    outs = []
    for stage in (doc.get("stages") or {}).values():
        if isinstance(stage, dict):
            outs += [o for o in stage.get("outs") or [] if isinstance(o, dict) and "path" in o]
    return outs


def _fast_lock_outs(data: bytes) -> list[dict] | None:
    """The outs of a DVC-written (schema 2.0) dvc.lock by a line scan; None if unusual.

    Reading only `outs` lists skips parsing deps/params, which dominate a lock file and
    most of a cold registry read. Anything unexpected falls back to the YAML parser.
    """
    text = data.decode("utf-8", "replace")
    if not text.startswith("schema: '2.0'\n"):
        return None
    from expbook.fastyaml import scalar

    outs: list[dict] = []
    outs_indent = -1
    current: dict | None = None
    for line in text.split("\n"):
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if outs_indent >= 0 and body:
            if indent == outs_indent and body.startswith("- "):
                current = {}
                outs.append(current)
                body = body[2:]
            elif indent <= outs_indent:
                outs_indent, current = -1, None
            if current is not None and outs_indent >= 0:
                key, sep, value = body.partition(": ")
                if not sep:
                    if body.rstrip().endswith(":"):
                        continue  # nested (e.g. `files:` of a dir out): not needed
                    return None
                if indent <= outs_indent + 2:
                    value = value.strip()
                    if value[:1] in "'\"":
                        value = value[1:-1]
                        current[key.strip()] = value
                    else:
                        current[key.strip()] = scalar(value)
                continue
        if body.rstrip() == "outs:":
            outs_indent, current = indent, None
    if any("path" not in o for o in outs):
        return None
    return outs


def cache_path(cache_dir: str, md5: str, legacy: bool) -> str:
    """Where DVC keeps an object: <cache>/files/md5/xx/rest (DVC 3) or <cache>/xx/rest (DVC 2)."""
    if legacy:
        return posixpath.join(cache_dir, md5[:2], md5[2:])
    return posixpath.join(cache_dir, "files", "md5", md5[:2], md5[2:])


def merge_dvcyamls(parsed: list[dict], has_default_params: bool) -> dict:
    """Combine several parsed dvc.yaml files; params.yaml at the root is tracked whole if present."""
    params: dict[str, list[str] | None] = {}
    metrics: dict[str, bool] = {}
    for doc in parsed:
        for file, keys in doc["params"].items():
            _merge(params, file, None if keys is None else list(keys))
        for file, cached in doc["metrics"].items():
            metrics[file] = metrics.get(file, False) or cached
    if has_default_params:
        params["params.yaml"] = None
    return {"params": params, "metrics": metrics}


# ---------------------------------------------------------------- reading one snapshot
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
        self.seen: dict[str, tuple] = {}

    def key(self, path: str):
        import os

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
        import os

        with open(os.path.join(self.root, path), "rb") as fh:
            return fh.read()

    def listdir(self, path: str) -> list[str]:
        import os

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
        state, value = _memo(memo, ("dvc.yaml", path, key),
                             lambda: parse_dvcyaml(path, reader.read(path, key)))
        if state == "error":
            errors[path] = value
            continue
        parsed.append(value)
        lock = posixpath.join(posixpath.dirname(path), "dvc.lock")
        lkey = reader.key(lock)
        if lkey is not None:
            state, value = _memo(memo, ("dvc.lock", lock, lkey),
                                 lambda: parse_lock(lock, reader.read(lock, lkey)))
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
        state, value = _memo(memo, ("flat", key),
                             lambda: flatten(load_bytes(file, reader.read(file, key))))
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
            if fkey is not None:
                data = lambda p=path, k=fkey: reader.read(p, k)  # noqa: E731
                memo_key = ("metric", fkey)
            elif path in locks and locks[path]["md5"] and not locks[path]["dir"]:
                cpath = cache_path(cache_dir, locks[path]["md5"], locks[path]["legacy"])
                if not _exists(cpath):
                    errors[path] = f"{path}: not in local cache ({locks[path]['md5']})"
                    missing.append(cache_path("", locks[path]["md5"], locks[path]["legacy"]))
                    continue
                data = lambda c=cpath: _read_file(c)  # noqa: E731
                memo_key = ("metric-cache", cpath)
            else:
                errors[path] = f"{path}: no such file"
                continue
            state, value = _memo(memo, memo_key,
                                 lambda p=path, d=data: flatten(extract_metrics(load_bytes(p, d())) or {}))
            if state == "error":
                errors[path] = value
                continue
            for name, val in value.items():
                metrics[sys.intern(f"{path}:{name}")] = val

    outs = {path: {"hash": f"md5:{o['md5']}" if o["md5"] else None, "size": o["size"],
                   # relative to the cache dir: cached snapshots survive a moved cache/repo
                   "cache": cache_path("", o["md5"], o["legacy"]) if o["md5"] else None}
            for path, o in locks.items()}
    return {"params": params, "metrics": metrics, "outs": outs, "errors": errors,
            "missing": missing, "metric_files": list(spec["metrics"])}


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def dvc_cache_dir(root: str) -> str:
    """The local DVC cache: `cache.dir` from .dvc/config(.local) or .dvc/cache."""
    import configparser
    import os

    dvc_dir = os.path.join(root, ".dvc")
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
