"""Refs read as plain files (packed-refs and the loose refs under refs/), with a stat cache:
an unchanged directory or file is not re-read. No pygit2, no git process: the cheapest way to
ask "did any ref move?" (`refs_unchanged`). Used by `gitrepo.GitRepo.refs`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

# a file or directory changed less than this before a cached read may have changed unseen
RACY_NS = 2_000_000_000


def _read_packed(path: str) -> tuple[dict[str, str], dict[str, str]]:
    out: dict[str, str] = {}
    peeled: dict[str, str] = {}
    last = None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            if line.startswith("^"):
                if last:
                    peeled[last] = line[1:].strip()
                continue
            sha, _, name = line.strip().partition(" ")
            if name:
                out[name] = sys.intern(sha)
                last = name
    return out, peeled


def read_refs(
    common_dir: str, prev: dict[str, Any] | None = None
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """(every ref -> sha, packed-refs' peeled tags, the state for the next call) of the git
    directory `common_dir`; loose refs override packed ones.

    `prev` is the state of an earlier call: directories and files whose stat did not change
    are not re-read (git replaces ref files by rename, so a change always shows in the
    directory's mtime and the file's inode). Entries modified within RACY_NS of that earlier
    read are re-read anyway, as a same-tick change would not show.
    """
    prev = prev or {}
    trusted_before = prev.get("time_ns", 0) - RACY_NS
    old_dirs = prev.get("dirs", {})
    new_dirs: dict[str, tuple[Any, ...]] = {}
    out: dict[str, str] = {}
    peeled: dict[str, str] = {}
    packed = os.path.join(common_dir, "packed-refs")
    now_ns = time.time_ns()
    try:
        st = os.stat(packed)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        old = prev.get("packed")
        if old and old[0] == key and st.st_mtime_ns < trusted_before:
            out, peeled = dict(old[1]), dict(old[2])
        else:
            out, peeled = _read_packed(packed)
        new_packed = (key, dict(out), dict(peeled))
    except OSError:
        new_packed = None
    loose: dict[str, str] = {}
    stack = [(os.path.join(common_dir, "refs"), "refs/")]
    while stack:
        dirpath, prefix = stack.pop()
        try:
            dst = os.stat(dirpath)
        except OSError:
            continue
        old = old_dirs.get(dirpath)
        if old and old[0] == dst.st_mtime_ns and dst.st_mtime_ns < trusted_before:
            files, subdirs = old[1], old[2]
        else:
            files, subdirs = _scan_dir(dirpath, old[1] if old else {}, trusted_before)
        new_dirs[dirpath] = (dst.st_mtime_ns, files, subdirs)
        for name, rec in files.items():
            if rec[3]:
                loose[prefix + name] = rec[3]
        for name in subdirs:
            stack.append((os.path.join(dirpath, name), f"{prefix}{name}/"))
    for ref in loose:
        peeled.pop(ref, None)
    out.update(loose)
    return out, peeled, {"time_ns": now_ns, "dirs": new_dirs, "packed": new_packed}


def refs_unchanged(common_dir: str, stamp: dict[str, Any]) -> bool:
    """Whether read_refs() would still return what it did when `stamp` (GitRepo.ref_stamp)
    was taken, checked by stat alone: git writes refs by rename, so any change moves a
    directory's mtime."""
    trusted_before = stamp["time_ns"] - RACY_NS
    try:
        st = os.stat(os.path.join(common_dir, "packed-refs"))
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key != stamp["packed"] or (key is not None and key[1] >= trusted_before):
        return False
    dirs = stamp["dirs"]
    stack = [os.path.join(common_dir, "refs")]
    while stack:
        dirpath = stack.pop()
        old = dirs.get(dirpath)
        try:
            mtime = os.stat(dirpath).st_mtime_ns
        except OSError:
            if old is None:
                continue
            return False
        if old is None or old[0] != mtime or mtime >= trusted_before:
            return False
        stack += [os.path.join(dirpath, name) for name in old[1]]
    return True


def _scan_dir(
    dirpath: str, old_files: dict[str, Any], trusted_before: int
) -> tuple[dict[str, Any], list[Any]]:
    files: dict[str, tuple[Any, ...]] = {}
    subdirs: list[str] = []
    with os.scandir(dirpath) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
                continue
            if entry.name.endswith(".lock"):
                continue  # a ref being written by git right now
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            old = old_files.get(entry.name)
            if (
                old
                and old[:3] == (st.st_ino, st.st_mtime_ns, st.st_size)
                and st.st_mtime_ns < trusted_before
            ):
                files[entry.name] = old
                continue
            sha = None
            try:
                fd = os.open(entry.path, os.O_RDONLY)
                try:
                    value = os.read(fd, 4096).decode("utf-8", "replace").strip()
                finally:
                    os.close(fd)
                # symbolic refs (refs/remotes/origin/HEAD) duplicate real ones: skipped;
                # anything else is kept, so a ref holding garbage is an error row
                if value and not value.startswith("ref:"):
                    sha = sys.intern(value[:64])
            except OSError:
                pass
            files[entry.name] = (st.st_ino, st.st_mtime_ns, st.st_size, sha)
    return files, subdirs
