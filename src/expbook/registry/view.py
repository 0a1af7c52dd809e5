"""A remote's view of the registry: the refs `expbook fetch` keeps of a git remote under
`refs/expbook/remotes/<remote>/`, read as if they were the local refs (issue 23).

`RemoteView(path, remote)` is a repository path that carries the remote's name: every
registry read given it (collect, resolve, the rendered tables) reads the remote's refs
instead of the local ones, with no workspace row and HEAD the remote's default branch.
Used by expbook.registry.gitrepo (the one place refs are read) and expbook.share.team.
"""

from __future__ import annotations

import os
import re

NAMESPACE = "refs/expbook/remotes/"
# what a remote's namespace holds: <namespace><kind> -> the ref name it stands for
KINDS = {
    "exps/": "refs/exps/",
    "notes/": "refs/notes/",
    "sweeps/": "refs/expbook/sweeps/",
    "heads/": "refs/heads/",
    "tags/": "refs/tags/",
}
# a remote's default branch, as a symbolic ref to <namespace>heads/<branch>
HEAD = "HEAD"
# git remote names expbook makes a namespace for (a slash would nest one remote in another)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RemoteView(str):
    """The path of a repository, read through the namespace of `remote` (see the module)."""

    remote: str

    def __new__(cls, path: str | os.PathLike[str], remote: str) -> RemoteView:
        obj = super().__new__(cls, os.fspath(path))
        obj.remote = remote
        return obj


def view_of(repo: object) -> str | None:
    """The remote `repo` is a view of (a RemoteView), else None."""
    return repo.remote if isinstance(repo, RemoteView) else None


def valid_name(remote: str) -> bool:
    return bool(_NAME.match(remote)) and ".." not in remote and not remote.endswith(".lock")


def namespace(remote: str) -> str:
    """`refs/expbook/remotes/<remote>/`."""
    return f"{NAMESPACE}{remote}/"


def to_local(ref: str, remote: str) -> str | None:
    """The ref name a namespace ref stands for (`.../exps/ab/cd/x` -> `refs/exps/ab/cd/x`),
    None for a ref outside the remote's namespace or kinds."""
    base = namespace(remote)
    if not ref.startswith(base):
        return None
    rest = ref[len(base) :]
    for kind, local in KINDS.items():
        if rest.startswith(kind):
            return local + rest[len(kind) :]
    return None


def to_namespace(ref: str, remote: str) -> str | None:
    """The namespace ref a ref name is kept under (the inverse of to_local)."""
    for kind, local in KINDS.items():
        if ref.startswith(local):
            return namespace(remote) + kind + ref[len(local) :]
    return None


def map_refs(refs: dict[str, str], remote: str) -> dict[str, str]:
    """The remote's refs as the registry reads them: only those of its namespace, renamed."""
    out = {}
    for ref, sha in refs.items():
        local = to_local(ref, remote)
        if local is not None:
            out[local] = sha
    return out


def head_path(common_dir: str, remote: str) -> str:
    """The file of the symbolic ref that names the remote's default branch."""
    return os.path.join(common_dir, *namespace(remote).split("/")[:-1], HEAD)
