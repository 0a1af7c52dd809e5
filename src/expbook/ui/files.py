"""Files of an experiment for the dashboard: what the registry shows for its row and nothing
else. A commit row serves files tracked in git at that commit and its DVC outputs (from the
local DVC cache); the workspace row serves work-tree files tracked in git (the index) or
declared by dvc.yaml (outs, metrics, plots, files under a declared directory). Never ignored or
untracked files, nothing under `.git/` or `.dvc/`, nothing a symlink leads out to.

Used by expbook.ui.views (experiment page) and the `/api/file` endpoint.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from expbook.errors import NotFoundError
from expbook.registry.dvccache import dvc_cache_dir

if TYPE_CHECKING:
    import pygit2

    from expbook.registry import Experiment

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
# dvclive's sklearn plots (confusion matrix, ROC, PR...) are JSON under <dir>/plots/sklearn/
PLOT_TYPES = {".json": "application/json", ".tsv": "text/plain", ".csv": "text/plain"}
SKIP_DIRS = {".git", ".dvc", ".venv", "venv", "node_modules", "__pycache__"}
# a repo's documentation images are not an experiment's outputs (only skipped at the top)
DOC_DIRS = {"docs", "doc"}
MAX_FILES = 60
SYMLINK_MODE = 0o120000
# git's and DVC's own state (config.local, tmp/, cache, credentials): never served, at any depth
PRIVATE_DIRS = {".git", ".dvc"}
MAX_DVCYAML = 1_000_000  # bytes of one dvc.yaml read for its declared paths


def clean_path(path: str) -> str:
    """A repo-relative POSIX path, or NotFoundError for `..`, absolute or odd paths (a traversal
    attempt gets the same 404 as a missing file)."""
    if (
        not path
        or len(path) > 1000
        or "\\" in path
        or "\x00" in path
        or path.startswith("/")
        or (len(path) > 1 and path[1] == ":")
    ):
        raise NotFoundError(f"no file {path[:200]!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.lower() in PRIVATE_DIRS for p in parts):
        raise NotFoundError(f"no file {path[:200]!r}")
    return posixpath.normpath(path)


def _git(root: str) -> pygit2.Repository:
    from expbook.registry.gitrepo import open_repository

    return open_repository(root)


def read_git(root: str, rev: str, path: str) -> bytes | None:
    """A committed regular file's bytes at `rev` (None for absent paths, trees and symlinks)."""
    import pygit2

    repo = _git(root)
    try:
        tree = repo[rev].peel(pygit2.Commit).tree
        entry = tree[path]
    except (KeyError, ValueError, pygit2.GitError):  # a damaged commit/tree: no file (issue 19)
        return None
    if entry.filemode == SYMLINK_MODE or entry.type_str != "blob":
        return None
    blob = repo[entry.id]
    return blob.data if isinstance(blob, pygit2.Blob) else None


def read_workspace(root: str, path: str, allowed: Callable[[str], bool]) -> bytes | None:
    """A work-tree regular file that `allowed` (tracked or declared) and whose real path stays
    inside the repository; a symlink must lead to an allowed file too (or into the DVC cache,
    where DVC's `symlink` cache type points declared outs)."""
    if not allowed(path):
        return None
    real_root = os.path.realpath(root)
    full = os.path.realpath(os.path.join(real_root, path))
    rel = os.path.relpath(full, real_root).replace(os.sep, "/")
    in_cache = _inside(full, os.path.realpath(dvc_cache_dir(root)))
    if not in_cache and (rel.startswith("../") or rel == ".."):
        return None
    if not in_cache and rel != path:
        try:
            if not allowed(clean_path(rel)):
                return None
        except NotFoundError:
            return None
    try:
        if not stat.S_ISREG(os.stat(full).st_mode):  # a FIFO or device would block the server
            return None
        with open(full, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def workspace_rule(root: str, exp: Experiment) -> Callable[[str], bool]:
    """Which work-tree paths the workspace row may serve: tracked in git's index, or declared
    by a dvc.yaml (or the row's dvc.lock outs), or a file under such a declared directory."""
    import pygit2

    try:
        index = _git(root).index
        tracked = {e.path for e in index}
    except (pygit2.GitError, OSError, NotFoundError):
        tracked = set()
    declared = set(exp.outs or {}) | declared_paths(root, sorted(tracked))

    def allowed(path: str) -> bool:
        if path in tracked or path in declared:
            return True
        return any(path.startswith(d.rstrip("/") + "/") for d in declared)

    return allowed


def declared_paths(root: str, tracked: list[str]) -> set[str]:
    """Paths dvc.yaml files declare as stage outs/metrics/plots and top-level metrics/plots
    (the top dvc.yaml and every tracked one)."""
    import yaml

    found: set[str] = set()
    for yml in dict.fromkeys(["dvc.yaml", *(t for t in tracked if t.endswith("/dvc.yaml"))]):
        full = os.path.join(root, yml)
        try:
            st = os.stat(full)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_DVCYAML:
                continue
            with open(full, "rb") as fh:
                doc = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError, RecursionError, ValueError):
            continue
        if isinstance(doc, dict):
            found |= _dvcyaml_paths(posixpath.dirname(yml), doc)
    return found


def _dvcyaml_paths(base: str, doc: dict[str, Any]) -> set[str]:
    out: set[str] = set()

    def add(wdir: str, entries: Any) -> None:
        for entry in entries if isinstance(entries, list) else []:
            names = (
                [entry]
                if isinstance(entry, str)
                else list(entry)
                if isinstance(entry, dict)
                else []
            )
            for name in names:
                if isinstance(name, str):
                    joined = posixpath.normpath(posixpath.join(wdir, name))
                    if not joined.startswith("../") and joined != "..":
                        out.add(joined)
            if isinstance(entry, dict):  # top-level plots: {id: {y: {file: field}}}
                for opts in entry.values():
                    y = opts.get("y") if isinstance(opts, dict) else None
                    if isinstance(y, dict):
                        add(wdir, [k for k in y if isinstance(k, str)])

    stages = doc.get("stages")
    for stage in stages.values() if isinstance(stages, dict) else []:
        if isinstance(stage, dict):
            wdir = stage.get("wdir", ".")
            wdir = posixpath.join(base, wdir) if isinstance(wdir, str) else base
            for key in ("outs", "metrics", "plots"):
                add(wdir, stage.get(key))
    for key in ("metrics", "plots"):
        add(base, doc.get(key))
    return out


def read_cache(root: str, digest: str) -> bytes | None:
    """An object of the local DVC cache by md5 (DVC 3 `files/md5/` layout, then DVC 2's)."""
    md5 = digest.split(":", 1)[-1]
    if len(md5) != 32 or not all(c in "0123456789abcdef" for c in md5):
        return None
    base = dvc_cache_dir(root)
    for full in (
        os.path.join(base, "files", "md5", md5[:2], md5[2:]),
        os.path.join(base, md5[:2], md5[2:]),
    ):
        if os.path.isfile(full):
            with open(full, "rb") as fh:
                return fh.read()
    return None


def read_file(root: str, exp: Experiment, path: str) -> tuple[bytes, str]:
    """(bytes, source) of `path` for experiment `exp`: git at its commit, else its DVC out from
    the local cache; the workspace row reads the work tree. NotFoundError otherwise."""
    path = clean_path(path)
    data: bytes | None
    if exp.rev == "workspace":
        data, source = read_workspace(root, path, workspace_rule(root, exp)), "workspace"
    else:
        data, source = read_git(root, exp.rev, path), "git"
        if data is None:
            out = (exp.outs or {}).get(path)
            if out and out.get("hash"):
                data, source = read_cache(root, str(out["hash"])), "dvc cache"
    if data is None:
        raise NotFoundError(f"no file {path!r} in {exp.name}")
    return data, source


def content_type(path: str) -> str | None:
    ext = posixpath.splitext(path)[1].lower()
    return IMAGE_TYPES.get(ext) or PLOT_TYPES.get(ext)


def list_media(root: str, exp: Experiment) -> list[dict[str, str]]:
    """Images and dvclive sklearn plots of an experiment: [{path, kind, source[, title]}] (the
    title from dvc.yaml's plots, when one is set)."""
    found: dict[str, dict[str, str]] = {}

    def consider(path: str, source: str) -> None:
        ext = posixpath.splitext(path)[1].lower()
        if ext in IMAGE_TYPES:
            found.setdefault(path, {"path": path, "kind": "image", "source": source})
        elif ext == ".json" and "/plots/sklearn/" in f"/{path}":
            found.setdefault(path, {"path": path, "kind": "sklearn", "source": source})

    if exp.rev == "workspace":
        allowed = workspace_rule(root, exp)
        for folder, dirs, files in os.walk(root):
            top = folder == root
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not (top and d in DOC_DIRS))
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                if allowed(rel):  # only what /api/file would serve
                    consider(rel, "workspace")
                if len(found) >= MAX_FILES:
                    return list(found.values())
    else:
        import pygit2

        repo = _git(root)
        try:
            tree = repo[exp.rev].peel(pygit2.Commit).tree
        except (KeyError, ValueError, pygit2.GitError):  # a damaged commit (issue 19)
            return []
        stack = [("", tree)]
        while stack and len(found) < MAX_FILES:
            prefix, sub = stack.pop()
            for entry in sub:
                path = prefix + (entry.name or "")
                if entry.type_str == "tree":
                    if entry.name not in SKIP_DIRS and not (not prefix and entry.name in DOC_DIRS):
                        child = repo[entry.id]
                        if isinstance(child, pygit2.Tree):
                            stack.append((path + "/", child))
                elif entry.filemode != SYMLINK_MODE:
                    consider(path, "git")
    for path, out in sorted((exp.outs or {}).items()):
        image = content_type(path) in IMAGE_TYPES.values()
        if path not in found and image and out.get("in_cache"):
            found[path] = {"path": path, "kind": "image", "source": "dvc cache"}
    from expbook.ui.titles import declared_titles, title_of  # dvc.yaml's `title:` (issue 21)

    titles = declared_titles(root, exp.rev)
    for item in found.values():
        title = title_of(item["path"], titles)
        if title:
            item["title"] = title
    return sorted(found.values(), key=lambda f: (f["kind"], f["path"]))
