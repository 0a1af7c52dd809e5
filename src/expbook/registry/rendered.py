"""The registry's rendered-output cache: `expbook registry --format json|csv` on an unchanged
repository is answered by streaming one file, with no row built, parsed or even loaded.

Layout, in the registry's cache dir (expbook.registry.cache): a small index file ("rendered")
maps each cache key (format and table options, expbook's own code) to the repository state it
was rendered under (the same fingerprint as collect()'s) plus the name of the file holding the
text. Each text file is written under a fresh name (temp file + os.replace), the index after
it, so a concurrent reader sees either the old or the new entry, never half a file; the index
keeps the last MAX_ENTRIES keys and the files it no longer names are deleted, so the cache
stays bounded on disk. The `Rendered` text (printed by os.sendfile) is in `renderedfile`.
Used by expbook.registry.table (render_output, collect_rendered).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from expbook.registry import cache as _cache
from expbook.registry.renderedfile import Rendered as Rendered
from expbook.registry.renderedfile import write_chunked

# keys (format x options) kept; each holds one text file
MAX_ENTRIES = 4
# the index file's cache name; "output" held the texts themselves (cache VERSION 6)
INDEX = "rendered"
_LEGACY = "output"
# files no index names are kept this long (a concurrent writer's, before its index lands)
ORPHAN_AGE_S = 60


# extend(old text's path, what render kept, the new rows) -> (text, rows, kept) or None
Extend = Callable[[str, "dict | None", list], "tuple[str | bytes | list, int, dict | None] | None"]


def rendered(
    repo: str | os.PathLike,
    options: tuple,
    render: Callable[[list], tuple],
    all_commits: bool | str,
    baseline: str | None,
    extend: Extend | None = None,
) -> Rendered:
    """The registry of `repo` rendered by `render(rows) -> (text, row count[, kept])`, from
    the cache when the repository and `options` are unchanged. When only experiments were
    added since, `extend` (given) splices them into the cached text (expbook.registry.
    increment), `kept` being what render kept for it; None from it renders afresh. `render`
    may raise: nothing is cached. A cache entry of another shape (an older expbook's) is a
    miss, never an error."""
    from expbook.registry import reader as _col

    c = _col.RepoReader(repo)
    # -A / --baseline are part of the key too (also checked by the fingerprint): switching
    # between them keeps both answers cached instead of replacing one with the other
    okey = repr((options, all_commits, baseline, _code_stamp()))
    if c.g.view is not None:  # a remote's view (issue 23) has texts of its own
        okey = repr((okey, "remote", c.g.view))
    entries = c.load_cache(INDEX).get("entries", {})
    entry = None
    try:
        entry = entries[okey]
        hit = _open_if_valid(c, entry, all_commits, baseline)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError):
        hit, entry = None, None  # no entry, or one of another shape
        entries = entries if isinstance(entries, dict) else {}
    if hit is not None:
        return hit
    if extend is not None and entry is not None and _cache.enabled():
        grown = _extended(c, entries, okey, entry, extend, all_commits, baseline)
        if grown is not None:
            return grown
    from expbook.registry.rows import _read_rows, _unless_cache_misshapen, error_summary

    # the rows are not cached on their own: the text is, and an unchanged repo is answered
    # from it (writing both costs a cold read of 10k experiments ~0.1 s for nothing)
    rows, stamp = _unless_cache_misshapen(
        lambda fresh: _read_rows(repo, all_commits, baseline, fresh, keep_rows=False)
    )
    text, count, *kept = render(rows)
    warning = error_summary(rows)
    if stamp is not None and _cache.enabled():
        fingerprint = stamp["fingerprint"]
        ref_state = stamp.pop("ref_state", None)
        new = {
            **stamp,
            # the refs are checked by stat (stamp["refs"]): what was read of them is kept
            # beside the text (increment.save_side), read only to extend it
            "fingerprint": (*fingerprint[:1], None, *fingerprint[2:]),
            "warning": warning,
            "rows": count,
        }
        side = (ref_state, kept[0] if kept else None) if extend and ref_state else None
        _save(c.root, entries, okey, new, text, side)
    return Rendered(text=text, rows=count, warning=warning)


def _extended(
    c: Any,
    entries: dict,
    okey: str,
    entry: dict,
    extend: Extend,
    all_commits: bool | str,
    baseline: str | None,
) -> Rendered | None:
    """The cached text of `entry` with the experiments added since spliced in by `extend`
    (saved as the new entry), or None when that is not how the repository changed."""
    from expbook.registry import increment

    if not isinstance(entry.get("file"), str) or os.sep in entry["file"]:
        return None
    path = os.path.join(_folder(c.root), entry["file"])
    try:
        if os.stat(path).st_size != entry["size"]:
            return None  # changed behind expbook's back (or being replaced): render afresh
    except OSError:
        return None
    side = increment.load_side(increment.side_path(path))
    if side is None:
        return None
    old_state, kept = side
    found = increment.added_experiments(c, entry, old_state, all_commits, baseline)
    if found is None or (found[0] and entry.get("warning") is not None):
        return None
    added, new_state = found
    stamp = {**entry, "refs": c.g.ref_stamp()}
    if not added:  # the same refs, re-read (a racy stamp): the same text, a fresh stamp
        return _restamp(c, entries, okey, stamp, path)
    try:
        grown = extend(path, kept, added)
    except OSError:
        return None
    if grown is None:
        return None
    text, count, kept = grown
    stamp["rows"] = count
    saved = _save(c.root, entries, okey, stamp, text, (new_state, kept))
    if saved is not None:  # 128 MB of JSON at 100k: copied from the file, not decoded
        with suppress(OSError):
            return Rendered(fh=open(saved, "rb"), rows=count, warning=entry.get("warning"))
    if not isinstance(text, str):
        text = (text if isinstance(text, bytes) else b"".join(text)).decode()
    return Rendered(text=text, rows=count, warning=entry.get("warning"))


def _restamp(c: Any, entries: dict, okey: str, entry: dict, path: str) -> Rendered | None:
    """`entry` saved again with its fresh ref stamp; its text opened."""
    kept = {k: v for k, v in entries.items() if k != okey and isinstance(v, dict)}
    kept[okey] = entry
    _cache.save(c.root, INDEX, {"entries": dict(list(kept.items())[-MAX_ENTRIES:])})
    try:
        fh = open(path, "rb")  # noqa: SIM115 (Rendered closes it)
    except OSError:
        return None
    return Rendered(fh=fh, rows=entry.get("rows"), warning=entry.get("warning"))


def _open_if_valid(
    c: Any, entry: dict, all_commits: bool | str, baseline: str | None
) -> Rendered | None:
    """The cached text of `entry`, opened, if the repository is still in the state it was
    rendered under; else None."""
    from expbook.registry import reader as _col

    warning, rows, name, size = entry["warning"], entry["rows"], entry["file"], entry["size"]
    if warning is not None and not isinstance(warning, str):
        raise TypeError("cached warning is not text")
    if not isinstance(name, str) or os.sep in name or (rows is not None and type(rows) is not int):
        raise TypeError("cached file name or row count of another shape")
    # the refs are checked by stat alone: no ref file is read on a hit
    if not c.g.refs_unchanged(entry["refs"]):
        return None
    rest = _col.fingerprint(c, None, all_commits, baseline)[0]
    if not _col.still_valid(c, entry, rest):
        return None
    try:
        fh = open(os.path.join(_folder(c.root), name), "rb")  # noqa: SIM115 (Rendered closes it)
    except OSError:  # evicted by a concurrent writer since the index was read: a miss
        return None
    if os.fstat(fh.fileno()).st_size != size:
        fh.close()
        return None
    return Rendered(fh=fh, rows=rows, warning=warning)


def _folder(root: str) -> str:
    return os.path.dirname(_cache.cache_file(root, INDEX))


def _prefix(root: str) -> str:
    """Text files of this repository's index: `<index name minus .pickle>.<token>.txt`."""
    return os.path.basename(_cache.cache_file(root, INDEX)).removesuffix(".pickle") + "."


def _save(
    root: str,
    entries: dict,
    okey: str,
    entry: dict,
    text: str | bytes | list,
    side: tuple | None,
) -> str | None:
    """Write the text under a fresh name (and `side`, (ref state, kept), beside it for extending
    it later), then the index naming it (last MAX_ENTRIES keys); delete the files of replaced
    and evicted entries, and orphans of crashed writers. Returns the text file's path (None
    when it could not be written)."""
    import tempfile

    from expbook.registry import increment

    folder, prefix = _folder(root), _prefix(root)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{prefix}", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(text, str):
                    size = write_chunked(fh, text)
                else:  # bytes, or pieces of them (increment.splice_json)
                    size = sum(fh.write(p) for p in ([text] if isinstance(text, bytes) else text))
            name = f"{prefix}{os.urandom(8).hex()}.txt"
            if side is not None:  # before the text is named: never a text without its refs
                increment.save_side(increment.side_path(os.path.join(folder, name)), *side)
            os.replace(tmp, os.path.join(folder, name))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError:
        return None  # a read-only repo still gets its registry, just without a cache
    kept = {k: v for k, v in entries.items() if k != okey and isinstance(v, dict)}
    kept[okey] = {**entry, "file": name, "size": size}
    kept = dict(list(kept.items())[-MAX_ENTRIES:])
    _cache.save(root, INDEX, {"entries": kept})
    names = _with_sides({v.get("file") for v in kept.values()})
    dropped = _with_sides({v.get("file") for v in entries.values() if isinstance(v, dict)})
    _evict(root, folder, prefix, names, dropped - names)
    return os.path.join(folder, name)


def _with_sides(names: set) -> set:
    """Text file names plus the names of their side files (increment.side_path)."""
    return names | {n[: -len(".txt")] + ".refs" for n in names if isinstance(n, str)}


def _evict(root: str, folder: str, prefix: str, keep: set, dropped: set) -> None:
    """Delete the text files of entries this write replaced or evicted (`dropped`), files no
    index names that are older than ORPHAN_AGE_S (a crashed or raced writer's: a concurrent
    writer's newer file may be about to be named by its index) and the legacy output cache."""
    import time

    legacy = _cache.cache_file(root, _LEGACY)
    if os.path.exists(legacy):
        _unlink(legacy)
    old = time.time() - ORPHAN_AGE_S
    try:
        with os.scandir(folder) as it:
            found = [e for e in it if e.name.startswith((prefix, f".{prefix}"))]
    except OSError:
        return
    for e in found:
        if e.name in keep:
            continue
        if e.name in dropped:
            _unlink(e.path)  # a reader that opened it still reads it whole (POSIX unlink)
            continue
        try:
            stale = e.stat().st_mtime < old
        except OSError:
            continue
        if stale:
            _unlink(e.path)


def _unlink(path: str) -> None:
    with suppress(OSError):
        os.unlink(path)


def _code_stamp() -> tuple:
    """Stat keys of expbook's own modules: text rendered by an edited or upgraded expbook
    (a changed parser or renderer) is never served from the output cache."""
    base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = []
    for folder, _dirs, files in os.walk(base):
        for name in files:
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                out.append(
                    (os.path.relpath(os.path.join(folder, name), base), st.st_mtime_ns, st.st_size)
                )
    return tuple(sorted(out))
