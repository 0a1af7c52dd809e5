"""The one git layer: refs and reflogs read as plain files (no import cost; the ref files by
`refscan`), commits, trees and blobs through pygit2 (imported only when an object must be
read), and `run_git`/`git` for git commands; a failure is a GitError naming the command and
git's message.

Used by every wing that touches git (registry, notes, share, repro, sweep, lifecycle).
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from expbook.errors import NotFoundError
from expbook.gitcmd import GitError, git, remove_worktree, run_git  # noqa: F401
from expbook.registry.refscan import RACY_NS as RACY_NS
from expbook.registry.refscan import read_refs, refs_unchanged

if TYPE_CHECKING:
    import pygit2

# how an object kind reads in an error row
_KINDS = {"blob": "a blob", "tree": "a tree", "tag": "an annotated tag", "commit": "a commit"}


class NotACommitError(NotFoundError):
    """A sha (a ref's target) that names an object other than a commit: a blob, a tree, a tag
    of one. `kind` says which ("a blob"), for the error row of the ref."""

    def __init__(self, sha: str, kind: str) -> None:
        super().__init__(f"{sha} is {kind}, not a commit")
        self.sha, self.kind = sha, kind


def find_root(start: str | os.PathLike[str] = ".") -> str:
    """The work tree root above `start` (the directory holding `.git`)."""
    path = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(path, ".git")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            raise NotFoundError(f"{os.path.abspath(start)} is not inside a git repository")
        path = parent


class GitRepo:
    """A git repository opened lazily: cheap file reads first, pygit2 when objects are needed."""

    def __init__(self, path: str | os.PathLike[str] = ".", view: str | None = None) -> None:
        self.root = find_root(path)
        dotgit = os.path.join(self.root, ".git")
        if os.path.isfile(dotgit):  # a worktree / submodule: `gitdir: <path>`
            with open(dotgit, encoding="utf-8") as fh:
                target = fh.read().strip().split(":", 1)[1].strip()
            dotgit = os.path.normpath(os.path.join(self.root, target))
        self.git_dir = dotgit
        common = os.path.join(dotgit, "commondir")
        if os.path.exists(common):
            with open(common, encoding="utf-8") as fh:
                self.common_dir = os.path.normpath(os.path.join(dotgit, fh.read().strip()))
        else:
            self.common_dir = dotgit
        self._tree_index: dict[tuple[str, str], tuple[str, ...]] = {}
        self.ref_state: dict[str, Any] = {}
        # view: a git remote whose namespace refs() reads instead (expbook.registry.view)
        self.view = view
        self.head_path = os.path.join(dotgit, "HEAD")
        if view is not None:
            from expbook.registry import view as _view

            self.head_path = _view.head_path(self.common_dir, view)

    # ------------------------------------------------------------------ pure-file reads
    def refs(self, prev: dict[str, Any] | None = None) -> dict[str, str]:
        """Every ref -> sha (loose refs override packed ones); annotated tags are peeled lazily.

        `prev` is the `ref_state` of an earlier call: what did not change since is not re-read
        (refscan.read_refs).
        """
        out, peeled, self.ref_state = read_refs(self.common_dir, prev)
        if self.view is not None:  # the remote's namespace, named as its own refs
            from expbook.registry.view import map_refs

            out, peeled = map_refs(out, self.view), map_refs(peeled, self.view)
        self.peeled = peeled
        self._refs = out
        return out

    def ref_stamp(self) -> dict[str, Any]:
        """A small summary of the last refs() read: what refs_unchanged() needs."""
        st = self.ref_state
        return {
            "time_ns": st["time_ns"],
            "packed": st["packed"][0] if st["packed"] else None,
            "dirs": {d: (v[0], v[2]) for d, v in st["dirs"].items()},
        }

    def refs_unchanged(self, stamp: dict[str, Any]) -> bool:
        """Whether refs() would still return what it did when `stamp` was taken, checked by
        stat alone: git writes refs by rename, so any change moves a directory's mtime."""
        return refs_unchanged(self.common_dir, stamp)

    def peel_tags(self, refs: dict[str, str]) -> dict[str, str]:
        """Tag refs -> commit sha (annotated tags resolved through packed-refs or pygit2)."""
        result = {}
        for ref, sha in refs.items():
            if not ref.startswith("refs/tags/"):
                continue
            if ref in self.peeled:
                result[ref] = self.peeled[ref]
            else:
                result[ref] = sha  # checked against the object type when read (see commit())
        return result

    def head(self) -> tuple[str | None, str | None]:
        """(sha of HEAD or None on an unborn branch, branch name or None when detached)."""
        try:
            with open(self.head_path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except FileNotFoundError:
            if self.view is None:
                raise
            return None, None  # a remote with no default branch (an empty one)
        if value.startswith("ref: "):
            ref = value[5:]
            if self.view is not None:
                from expbook.registry.view import to_local

                ref = to_local(ref, self.view) or ref
            sha = self.refs_cached().get(ref)
            branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None
            return sha, branch
        return value, None

    def refs_cached(self) -> dict[str, str]:
        if not hasattr(self, "_refs"):
            self.refs()
        return self._refs

    def reflog(self, ref: str) -> list[tuple[str, str]]:
        """Entries of a ref's reflog, newest first: (new sha, message)."""
        path = os.path.join(self.common_dir, "logs", *ref.split("/"))
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return []
        out = []
        for line in reversed(lines):
            head, _, message = line.partition("\t")
            parts = head.split(" ")
            if len(parts) >= 2:
                out.append((parts[1], message))
        return out

    # ------------------------------------------------------------------ objects (pygit2)
    @cached_property
    def repo(self) -> Any:  # a pygit2.Repository; its stubs type objects and notes too loosely
        import pygit2

        try:
            return pygit2.Repository(self.git_dir)
        except Exception as exc:  # pygit2.GitError and friends
            raise GitError(f"opening the git repository {self.root}", str(exc)) from exc

    def rev_commit(self, rev: str) -> pygit2.Commit:
        """The commit any git revision names (HEAD~2, a tag, a ref); NotFoundError otherwise."""
        import pygit2

        try:
            return self.repo.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
            raise NotFoundError(f"unknown revision {rev!r} in {self.root}") from exc

    def commit(self, sha: str) -> pygit2.Commit:
        """The commit `sha` names (an annotated tag is peeled); NotFoundError if missing,
        NotACommitError when it names a blob or a tree (or a tag of one): the one place a
        ref's object is peeled to a commit, so a ref to any other object is an error, never
        an AttributeError further on."""
        import pygit2

        try:
            # an Oid takes libgit2's exact lookup; a hex string its (slow) prefix search
            obj = self.repo[pygit2.Oid(hex=sha) if len(sha) == 40 else sha]
        except (KeyError, ValueError, TypeError) as exc:
            raise NotFoundError(f"commit {sha} is not in the repository") from exc
        if obj.type == pygit2.enums.ObjectType.TAG:
            try:
                obj = obj.peel(pygit2.Commit)
            except (KeyError, ValueError, TypeError, pygit2.GitError, pygit2.InvalidSpecError):
                raise NotACommitError(sha, "an annotated tag of no commit") from None
        if obj.type != pygit2.enums.ObjectType.COMMIT:
            raise NotACommitError(sha, _KINDS.get(obj.type_str, obj.type_str))
        return obj

    def tree_of(self, commit: pygit2.Commit) -> pygit2.Tree:
        """`commit.tree`; NotFoundError naming the commit when its tree is missing or damaged
        (libgit2 raises GitError there)."""
        try:
            return commit.tree
        except Exception as exc:  # pygit2.GitError, KeyError: a damaged object
            raise NotFoundError(
                f"commit {commit.id}: its tree {commit.tree_id} is missing or damaged"
            ) from exc

    def blob_at(
        self, tree: pygit2.Tree, path: str
    ) -> tuple[pygit2.Oid, None] | tuple[str, pygit2.Oid] | None:
        """(blob Oid, None) of `path` in `tree`, None when absent, ("tree", Oid) for a directory."""
        try:
            entry = tree[path]
        except KeyError:
            return None
        if entry.type_str == "tree":
            return ("tree", entry.id)
        return (entry.id, None)

    def read(self, oid: pygit2.Oid | str) -> bytes:
        # the object database's raw read: no Blob object built (half the cost of a cold read)
        return self.odb.read(oid)[1]

    @cached_property
    def odb(self) -> Any:
        return self.repo.odb

    def files_named(
        self, tree: pygit2.Tree, filename: str, skip: tuple[str, ...] = (".git", ".dvc")
    ) -> list[str]:
        """Every path of a blob called `filename` under `tree`, memoised per subtree id."""
        return [p for p in self._index(tree, filename, skip)]

    def _index(self, tree: Any, filename: str, skip: tuple[str, ...]) -> tuple[str, ...]:
        key = (str(tree.id), filename)
        hit = self._tree_index.get(key)
        if hit is not None:
            return hit
        found: list[str] = []
        for entry in tree:
            if entry.type_str == "tree":
                if entry.name in skip:
                    continue
                sub_tree = self.repo[entry.id]
                if ".dvc" in sub_tree:
                    continue  # a DVC sub-project: DVC leaves it out of this project
                for sub in self._index(sub_tree, filename, skip):
                    found.append(f"{entry.name}/{sub}")
            elif entry.name == filename:
                found.append(entry.name)
        result = tuple(found)
        self._tree_index[key] = result
        return result

    def ignored(self, path: str) -> bool:
        """Whether git ignores `path` (relative to the work tree root; a folder ends in /)."""
        try:
            return bool(self.repo.path_is_ignored(path))
        except Exception:  # an odd path: treat it as not ignored
            return False

    def list_tree(self, tree: pygit2.Tree, prefix: str) -> list[str]:
        """All blob paths under directory `prefix` of `tree` (for metrics directories)."""
        out = []
        entry = tree[prefix]
        stack = [(prefix, self.repo[entry.id])]
        while stack:
            base, sub = stack.pop()
            for e in sub:
                path = f"{base}/{e.name}"
                if e.type_str == "tree":
                    stack.append((path, self.repo[e.id]))
                else:
                    out.append(path)
        return sorted(out)


def open_repository(path: str | os.PathLike[str] = ".") -> Any:
    """The pygit2 repository of the work tree holding `path` (NotFoundError outside one)."""
    return GitRepo(path).repo


def signature(repo: Any) -> pygit2.Signature:
    """The repo's configured identity; DVC commits experiments without one, so do we."""
    import pygit2

    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return pygit2.Signature("expbook", "expbook@localhost")
