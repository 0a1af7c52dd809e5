"""Files of an experiment for the dashboard: images and dvclive plots committed in git at its
commit, or DVC outputs read from the local DVC cache; never anything outside the repository.

Used by expbook.ui.views (experiment page) and the `/api/file` endpoint.
"""

from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING

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
    if any(p in ("", ".", "..") for p in parts) or parts[0] in (".git",):
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


def read_workspace(root: str, path: str) -> bytes | None:
    """A work-tree file whose real path stays inside the repository (no symlinks out)."""
    real_root = os.path.realpath(root)
    full = os.path.realpath(os.path.join(real_root, path))
    if os.path.commonpath([full, real_root]) != real_root or not os.path.isfile(full):
        return None
    rel = os.path.relpath(full, real_root).split(os.sep)
    if rel[0] == ".git":
        return None
    with open(full, "rb") as fh:
        return fh.read()


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
        data, source = read_workspace(root, path), "workspace"
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
    """Images and dvclive sklearn plots of an experiment: [{path, kind, source}]."""
    found: dict[str, dict[str, str]] = {}

    def consider(path: str, source: str) -> None:
        ext = posixpath.splitext(path)[1].lower()
        if ext in IMAGE_TYPES:
            found.setdefault(path, {"path": path, "kind": "image", "source": source})
        elif ext == ".json" and "/plots/sklearn/" in f"/{path}":
            found.setdefault(path, {"path": path, "kind": "sklearn", "source": source})

    if exp.rev == "workspace":
        for folder, dirs, files in os.walk(root):
            top = folder == root
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not (top and d in DOC_DIRS))
            for name in sorted(files):
                consider(
                    os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"),
                    "workspace",
                )
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
    return sorted(found.values(), key=lambda f: (f["kind"], f["path"]))
