"""A model's artifact at a commit: its `dvc.yaml` `artifacts:` entry, its DVC hash, whether the
DVC cache or remote holds its bytes, and the bytes themselves.

A name `dir:model` is declared in `dir/dvc.yaml`; `model` in the root `dvc.yaml` (as DVC and
GTO read it). The hash comes from the commit's dvc.lock (a stage output) or `PATH.dvc` (an
added file). Bytes are copied from the local DVC cache; when it lacks them, `dvc get` fetches
them from the DVC remote that commit configures (as `dvc artifacts get` does).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from expbook.registry.dvccache import dvc_cache_dir
from expbook.registry.dvcfiles import ParseError, cache_path, is_hash, parse_lock
from expbook.registry.modeltags import ModelError
from expbook.registry.yamlio import YAMLFileError, parse

if TYPE_CHECKING:
    from expbook.registry.gitrepo import GitRepo


@dataclass(frozen=True)
class Artifact:
    name: str
    path: str  # relative to the repository root
    type: str | None
    desc: str | None
    labels: tuple[str, ...]
    meta: dict[str, Any]
    md5: str | None  # the DVC hash at the commit (None: not DVC-tracked there)
    legacy: bool
    is_dir: bool


def _blob(repo: GitRepo, sha: str, path: str) -> bytes | None:
    tree = repo.tree_of(repo.commit(sha))
    hit = repo.blob_at(tree, path)
    if hit is None or hit[1] is not None or hit[0] == "tree":
        return None
    return repo.read(hit[0])


def _split(name: str) -> tuple[str, str]:
    if ":" in name:
        d, _, n = name.rpartition(":")
        return d.strip("/"), n
    return "", name


def declared(repo: GitRepo, sha: str, name: str) -> Artifact:
    """The artifact `name` as `sha`'s dvc.yaml declares it; ModelError if it does not."""
    folder, bare = _split(name)
    dvcyaml = posixpath.join(folder, "dvc.yaml") if folder else "dvc.yaml"
    data = _blob(repo, sha, dvcyaml)
    if data is None:
        raise ModelError(f"{sha[:7]} has no {dvcyaml}: declare the model under `artifacts:` there")
    try:
        doc = parse(data, f"{dvcyaml}@{sha[:7]}") or {}
    except YAMLFileError as exc:
        raise ModelError(str(exc)) from None
    entry = (doc.get("artifacts") or {}).get(bare) if isinstance(doc, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise ModelError(
            f"model {name!r} is not declared in {dvcyaml} at {sha[:7]}: add it under "
            f"`artifacts:` ({bare}: {{path: PATH, type: model}})"
        )
    path = posixpath.normpath(posixpath.join(folder, entry["path"]))
    md5, legacy, is_dir = _hash(repo, sha, path)
    labels = entry.get("labels") or []
    meta = entry.get("meta")
    return Artifact(
        name=name,
        path=path,
        type=entry.get("type"),
        desc=entry.get("desc"),
        labels=tuple(str(x) for x in labels) if isinstance(labels, list) else (),
        meta=meta if isinstance(meta, dict) else {},
        md5=md5,
        legacy=legacy,
        is_dir=is_dir,
    )


def _hash(repo: GitRepo, sha: str, path: str) -> tuple[str | None, bool, bool]:
    """(md5, legacy layout, is a directory) of `path` at `sha` from dvc.lock files or PATH.dvc."""
    tree = repo.tree_of(repo.commit(sha))
    for lock in repo.files_named(tree, "dvc.lock"):
        data = _blob(repo, sha, lock)
        if data is None:
            continue
        try:
            outs = parse_lock(lock, data)
        except (ParseError, YAMLFileError, ValueError):
            continue
        if path in outs and outs[path]["md5"]:
            o = outs[path]
            return str(o["md5"]), bool(o["legacy"]), bool(o["dir"])
    data = _blob(repo, sha, path + ".dvc")
    if data is not None:
        try:
            doc = parse(data, path + ".dvc") or {}
        except YAMLFileError:
            return None, False, False
        for out in doc.get("outs") or [] if isinstance(doc, dict) else []:
            md5 = isinstance(out, dict) and (out.get("md5") or out.get("etag"))
            if md5 and not is_hash(str(md5)):  # it names a cache file: never `../../x`
                raise ModelError(f"{path}.dvc: its out has hash {str(md5)[:80]!r}, not an md5")
            if md5:
                return str(md5), out.get("hash") != "md5", str(md5).endswith(".dir")
    return None, False, False


def _cache_objects(cache: str, art: Artifact) -> list[tuple[str, str]] | None:
    """[(relative path inside the artifact, cache object path)] or None when any is missing."""
    assert art.md5
    top = cache_path(cache, art.md5, art.legacy)
    if not os.path.isfile(top):
        return None
    if not art.is_dir:
        return [("", top)]
    try:
        with open(top, "rb") as fh:
            entries = json.loads(fh.read())
    except (OSError, ValueError, RecursionError):
        return None
    out = []
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict) or "relpath" not in e or not e.get("md5"):
            return None
        if not is_hash(str(e["md5"])):  # it names a cache file: never `../../etc/passwd`
            raise ModelError(f"{art.path}: the DVC cache lists a bad hash {str(e['md5'])[:80]!r}")
        obj = cache_path(cache, str(e["md5"]), art.legacy)
        if not os.path.isfile(obj):
            return None
        out.append((str(e["relpath"]), obj))
    return out


def in_local_cache(root: str, art: Artifact) -> bool:
    return art.md5 is not None and _cache_objects(dvc_cache_dir(root), art) is not None


def on_remote(root: str, art: Artifact) -> bool:
    """Does the workspace's default DVC remote hold the artifact's top object? (DVC's own
    remote access; False when no remote is configured or it cannot be reached)."""
    if art.md5 is None:
        return False
    from dvc.config import NoRemoteError
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(root) as dvc_repo:
            odb = dvc_repo.cloud.get_remote_odb(None, "pull")
            return bool(list(odb.oids_exist([art.md5])))
    except (NoRemoteError, DvcException, OSError):
        return False


def fetch(root: str, sha: str, art: Artifact, dest: str) -> str:
    """Write the artifact's bytes to `dest` (a file, or a directory for a directory output);
    from the local cache, else with `dvc get` from the commit's DVC remote. Returns where the
    bytes came from ("cache" or "remote"). The bytes are written in a temporary folder beside
    `dest` and moved into place whole: a failure leaves nothing at `dest`."""
    import tempfile

    from expbook.output.files import check_output_path

    if dest == "-":
        return _fetch_to_stdout(root, sha, art)
    if os.path.lexists(dest):  # a file, a folder, a link: never replaced
        raise ModelError(f"{dest} exists: choose another -o path or remove it first")
    check_output_path(dest, force=True)  # refuses a path inside .git/ or .dvc/
    parent = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(parent, exist_ok=True)
        work = tempfile.mkdtemp(prefix=".expbook-get-", dir=parent)
    except OSError as err:
        raise ModelError(f"cannot write {dest}: {err.strerror or err}") from None
    staged = os.path.join(work, "out")
    try:
        source = _fetch_into(root, sha, art, staged)
        _move_no_clobber(staged, dest)
    except FileExistsError:
        raise ModelError(f"{dest} exists: choose another -o path or remove it first") from None
    except OSError as err:
        raise ModelError(f"cannot write {dest}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return source


def _fetch_to_stdout(root: str, sha: str, art: Artifact) -> str:
    """`-o -`: a file artifact's bytes to stdout (a directory output has no one stream)."""
    import sys
    import tempfile

    if art.is_dir:
        raise ModelError(f"{art.path} is a directory output: give -o PATH for a folder, not -")
    work = tempfile.mkdtemp(prefix="expbook-get-")
    try:
        staged = os.path.join(work, "out")
        source = _fetch_into(root, sha, art, staged)
        with open(staged, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return source


def _move_no_clobber(staged: str, dest: str) -> None:
    """Move `staged` to `dest`, never replacing what appeared at `dest` meanwhile."""
    if os.path.isdir(staged):
        if os.path.lexists(dest):
            raise FileExistsError(dest)
        os.rename(staged, dest)  # fails on a non-empty folder that appeared since
        return
    try:
        os.link(staged, dest)  # FileExistsError when `dest` exists: atomic, no clobber
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(dest):
            raise FileExistsError(dest) from None
        os.replace(staged, dest)


def _fetch_into(root: str, sha: str, art: Artifact, staged: str) -> str:
    from expbook.proc import run

    objects = _cache_objects(dvc_cache_dir(root), art) if art.md5 else None
    if objects is not None:
        if art.is_dir:
            os.makedirs(staged)
            for rel, obj in objects:
                parts = rel.split("/")
                if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
                    raise ModelError(f"{art.path}: the DVC cache lists a bad file name {rel!r}")
                target = os.path.join(staged, *parts)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(obj, target)
        else:
            shutil.copyfile(objects[0][1], staged)
        return "cache"
    proc = run(["dvc", "get", root, art.path, "--rev", sha, "-o", staged], cwd=root)
    if proc.returncode != 0 or not os.path.lexists(staged):
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        errors = [line.removeprefix("ERROR:").strip() for line in lines if "ERROR" in line]
        why = (errors or lines or [f"exit code {proc.returncode}"])[0]
        if run(["dvc", "remote", "default"], cwd=root).returncode != 0:
            why = "no default DVC remote is configured (dvc remote add -d NAME URL)"
        raise ModelError(
            f"{art.path} at {sha[:7]} is not in the local DVC cache and `dvc get` could not "
            f"fetch it from the DVC remote: {why}"
        )
    return "remote"
