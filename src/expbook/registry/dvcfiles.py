"""Parse what DVC keeps in a commit: dvc.yaml / dvc.lock, params and metrics files, cache paths.

Pure functions over bytes (no git, no DVC import); used by expbook.registry.snapshot to build rows.
Values follow `dvc exp show --json`: YAML 1.2 numbers, metrics keep only numbers/strings.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from typing import Any

_fast_json_loads: Callable[[bytes | str], Any]
try:  # a dependency of DVC; ~3x faster to parse than json (10k metrics files on a cold read)
    from orjson import loads as _fast_json_loads
except ImportError:  # pragma: no cover - orjson is optional
    _fast_json_loads = json.loads


_LONG_DIGITS = re.compile(rb"\d{19}")  # orjson turns ints past 64 bits into floats


def _json_loads(data: bytes) -> Any:
    """orjson when it reads the text as json does; json for NaN and ints past 64 bits."""
    if _LONG_DIGITS.search(data):
        return json.loads(data)
    try:
        return _fast_json_loads(data)
    except ValueError:
        return json.loads(data)


class ParseError(ValueError):
    """A params/metrics/dvc file that exists but cannot be parsed."""


def _shallow(path: str, doc: Any) -> Any:
    """`doc`, if it nests at most fastyaml.MAX_DEPTH levels (as YAML files must): a JSON file
    990 levels deep parsed, then killed `registry` with a RecursionError in the recursive
    walkers after it (extract_metrics, flatten). Walked iteratively."""
    from expbook.registry.fastyaml import MAX_DEPTH

    stack = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        if children and depth >= MAX_DEPTH:
            raise ParseError(f"{path}: nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return doc


def load_bytes(path: str, data: bytes) -> Any:
    """Parse a params/metrics file by its extension the way DVC does (default: YAML)."""
    ext = posixpath.splitext(path)[1].lower()
    try:
        if ext == ".json":
            return _shallow(path, _json_loads(data))
        if ext == ".toml":
            import tomllib

            return _shallow(path, tomllib.loads(data.decode("utf-8")))
        if ext == ".py":
            from expbook.registry.pyparams import parse_py

            try:
                return parse_py(data.decode("utf-8"), path)
            except SyntaxError as exc:
                raise ParseError(f"{path}: Python file structure is corrupted") from exc
        from expbook.registry import fastyaml

        try:
            return fastyaml.loads(data)
        except fastyaml.LimitError as exc:  # an alias bomb or absurd nesting: one row error
            raise ParseError(f"{path}: {exc}") from exc
    except ParseError:
        raise
    except Exception as exc:  # every parser has its own error types
        kind = {".json": "JSON", ".toml": "TOML"}.get(ext, "YAML")
        raise ParseError(
            f"{path}: {kind} file structure is corrupted ({exc.__class__.__name__})"
        ) from exc


def flatten(data: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
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


def flatten_file(path: str, data: Any, out: dict[str, Any]) -> dict[str, Any]:
    """A parsed file's nested values as `"<path>:a.b.c"` keys in `out`, as the registry names
    them (also used by reproduce/check and the sweep runner, so all see the same keys)."""
    for key, value in flatten(data).items():
        out[f"{path}:{key}"] = value
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


def parse_dvcyaml(path: str, data: bytes) -> dict[str, Any]:
    """dvc.yaml -> {"params": {file: [keys] | None}, "metrics": {file: cached?}}, or
    {"templated": doc} when it uses vars/${}/foreach/matrix (resolved by snapshot.py).

    Paths are repo-relative posix paths; `None` keys mean the whole params file is tracked.
    Raises ParseError on a corrupt file.
    """
    doc = load_bytes(path, data) or {}
    if not isinstance(doc, dict):
        raise ParseError(f"{path}: expected a mapping at top level")
    if is_templated(data, doc):
        return {"templated": doc}  # resolved with the commit's other files (snapshot.py)
    return parse_dvcyaml_doc(path, doc)


_MARKERS = (b"${", b"foreach", b"matrix", b"vars")


def is_templated(data: bytes, doc: dict[str, Any]) -> bool:
    """Whether DVC's resolver would change this dvc.yaml (a cheap test first: most are not)."""
    if not any(marker in data for marker in _MARKERS):
        return False
    if "vars" in doc or b"${" in data:
        return True
    stages = doc.get("stages")
    return isinstance(stages, dict) and any(
        isinstance(s, dict) and ("foreach" in s or "matrix" in s) for s in stages.values()
    )


def parse_dvcyaml_doc(path: str, doc: dict[str, Any]) -> dict[str, Any]:
    """parse_dvcyaml() of an already parsed (or resolved) dvc.yaml document."""
    try:
        return _dvcyaml_files(path, doc)
    except ParseError:
        raise
    except (TypeError, AttributeError, ValueError) as exc:  # e.g. `params: 5`
        raise ParseError(f"{path}: not a DVC pipeline file ({exc})") from exc


def _dvcyaml_files(path: str, doc: dict[str, Any]) -> dict[str, Any]:
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


def _merge(params: dict[str, Any], file: str, keys: list[str] | None) -> None:
    # a file tracked whole anywhere is reported whole (DVC's _merge_params)
    if file in params and params[file] is None:
        return
    if keys is None:
        params[file] = None
    else:
        params.setdefault(file, []).extend(k for k in keys if k not in params[file])


# an out's hash as DVC writes it: an md5 (`.dir` for a directory), a cloud etag (`<hex>-<parts>`)
_HASH = re.compile(r"[0-9A-Za-z]+(?:-[0-9]+)?(?:\.dir)?\Z")


def is_hash(value: object) -> bool:
    """Whether `value` is an out hash as DVC writes it: it names a cache file, so anything
    else (`../../etc/passwd` in a dvc.lock, a .dvc file or a `.dir` listing) is refused."""
    return isinstance(value, str) and _HASH.match(value) is not None


def parse_lock(path: str, data: bytes) -> dict[str, dict[str, Any]]:
    """dvc.lock -> {out path: {"md5": hex, "size": int|None, "legacy": bool, "dir": bool}}."""
    outs = _fast_lock_outs(data)
    if outs is None:
        outs = _lock_outs(path, load_bytes(path, data) or {})
    base = posixpath.dirname(path)
    result = {}
    for out in outs:
        md5 = out.get("md5") or out.get("etag") or out.get("checksum")
        if isinstance(md5, int) and not isinstance(md5, bool):
            md5 = f"{md5:032d}"  # YAML read an all-digit hash as a number
        if md5 and not is_hash(str(md5)):
            # the hash names a cache file: `../../etc/passwd` would be read outside the cache
            raise ParseError(
                f"{path}: out {str(out['path'])!r} has hash {str(md5)[:80]!r}, not an md5 "
                "(hex digits, `.dir` for a directory)"
            )
        result[_join(base, str(out["path"]))] = {
            "md5": md5,
            "size": out.get("size"),
            # DVC 2 lock entries have no `hash: md5` and live in the legacy cache layout
            "legacy": out.get("hash") != "md5",
            "dir": bool(md5 and str(md5).endswith(".dir")),
        }
    return result


def _lock_outs(path: str, doc: Any) -> list[dict[str, Any]]:
    """The outs of a parsed dvc.lock; ParseError naming the file when it is not one (a garbage
    lock must be an error of its row, never a row without outs)."""

    def bad(why: str) -> ParseError:
        return ParseError(f"{path}: not a DVC lock file ({why})")

    if not isinstance(doc, dict):
        raise bad(f"top level is {type(doc).__name__}, not a mapping")
    # schema 2.0 nests stages under `stages:`; a DVC 1 lock file maps stage names at the top
    stages = doc.get("stages") or {} if ("schema" in doc or "stages" in doc) else doc
    if not isinstance(stages, dict):
        raise bad("`stages` is not a mapping")
    outs = []
    for name, stage in stages.items():
        if not isinstance(stage, dict):
            raise bad(f"stage {name!r} is not a mapping")
        entries = stage.get("outs") or []
        if not isinstance(entries, list):
            raise bad(f"outs of stage {name!r} are not a list")
        for out in entries:
            if not isinstance(out, dict) or "path" not in out:
                raise bad(f"an out of stage {name!r} has no path")
            outs.append(out)
    return outs


def _fast_lock_outs(data: bytes) -> list[dict[str, Any]] | None:
    """The outs of a DVC-written (schema 2.0) dvc.lock by a line scan; None if unusual.

    Reading only `outs` lists skips parsing deps/params, which dominate a lock file and
    most of a cold registry read. Anything unexpected falls back to the YAML parser.
    """
    text = data.decode("utf-8", "replace")
    if not text.startswith("schema: '2.0'\n"):
        return None
    from expbook.registry.fastyaml import scalar

    outs: list[dict[str, Any]] = []
    pos = 0
    while True:
        # jump from one `outs:` line to the next: deps and params lines are never looked at
        hit = text.find("outs:", pos)
        if hit < 0:
            break
        start = text.rfind("\n", 0, hit) + 1
        end = text.find("\n", hit)
        end = len(text) if end < 0 else end
        pos = end + 1
        if text[start:hit].strip(" "):
            continue  # not a key line
        if text[hit + 5 : end].strip():
            return None  # `outs: <value>` on one line: unusual, the full parser judges it
        outs_indent = hit - start
        current: dict[str, Any] | None = None
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            body = line.lstrip(" ")
            indent = len(line) - len(body)
            if not body:
                pos = end + 1
                continue
            if indent == outs_indent and body.startswith("- "):
                current = {}
                outs.append(current)
                body = body[2:]
            elif indent <= outs_indent:
                break  # the block ended: this line is looked at again for `outs:`
            if current is None:
                if body.rstrip() == "outs:":
                    break  # a nested `outs:` (a stage named outs): the outer loop takes it
                pos = end + 1
                continue
            pos = end + 1
            key, sep, value = body.partition(": ")
            if not sep:
                if body.rstrip().endswith(":"):
                    continue  # nested (e.g. `files:` of a dir out): not needed
                return None
            if indent <= outs_indent + 2:
                key, value = key.strip(), value.strip()
                if value[:1] in "'\"":
                    current[key] = value[1:-1]
                elif key in ("path", "md5", "etag", "checksum"):
                    current[key] = value  # hashes/paths stay text (an all-digit md5 is no int)
                else:
                    current[key] = scalar(value)
    if any("path" not in o for o in outs):
        return None
    return outs


def cache_path(cache_dir: str, md5: str, legacy: bool) -> str:
    """Where DVC keeps an object: <cache>/files/md5/xx/rest (DVC 3) or <cache>/xx/rest (DVC 2)."""
    if legacy:
        return posixpath.join(cache_dir, md5[:2], md5[2:])
    return posixpath.join(cache_dir, "files", "md5", md5[:2], md5[2:])


def merge_dvcyamls(parsed: list[dict[str, Any]], has_default_params: bool) -> dict[str, Any]:
    """Combine parsed dvc.yaml files; a root params.yaml is tracked whole when present."""
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
