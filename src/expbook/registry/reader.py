"""One registry read's git side: resolves refs, reads per-commit snapshots (a forked child
process reads a share of them on cold runs of many commits), caches them, and fingerprints the
repository state.

Used by expbook.registry; never imports DVC.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Iterable, Mapping
from functools import cached_property

from expbook.errors import NotFoundError
from expbook.registry import cache as _cache
from expbook.registry import dvccache, dvcstate, forked, snapshot
from expbook.registry.commits import read_commit, read_commits
from expbook.registry.gitrepo import RACY_NS, GitRepo
from expbook.registry.notes import NOTES_REF


class RepoReader:
    """One registry read: resolves refs, reads (or reuses) per-commit data, builds rows."""

    def __init__(self, repo: str | os.PathLike, fresh: bool = False) -> None:
        from expbook.registry.view import view_of

        # a RemoteView reads the remote's namespace as the refs (issue 23)
        self.g = GitRepo(repo, view=view_of(repo))
        # fresh: read no cache file (they are still written): the retry after a cache entry
        # of an unexpected shape (see rows.collect)
        self.fresh = fresh
        # the DVC project: the git root, or a sub-project (`dvc init --subdir`) around `repo`;
        # its files are read relative to it, as DVC does
        self.root = project_root(repo, self.g.root)
        self.prefix = os.path.relpath(self.root, self.g.root).replace(os.sep, "/")
        self.prefix = "" if self.prefix == "." else self.prefix
        self.dvc_dir = os.path.join(self.root, ".dvc")
        self.cache_dir = dvccache.dvc_cache_dir(self.root)
        self.dirty = False
        self.memo: dict = {}
        # ids of snapshot dicts a row holds (rowdata._own); the snapshots keep them alive
        self.handed_out: set[int] = set()

    def any_in_cache(self, objects: list[str]) -> bool:
        """Whether any of `objects` (paths relative to the DVC cache dir) is there."""
        dirs = self.object_dirs
        return any(
            rel.rpartition("/")[0] in dirs and os.path.exists(os.path.join(self.cache_dir, rel))
            for rel in objects
        )

    def resolve_baseline(
        self,
        spec: str,
        refs: Mapping[str, str],
        branches: Iterable[str],
        tags: Iterable[str],
        exps: Iterable[tuple[str, str, str, str]],
    ) -> str:
        """The commit sha `--baseline` names: a branch, tag or ref, a unique prefix of a known
        baseline commit, or any revision git resolves; NotFoundError names it otherwise."""
        for cand in (f"refs/heads/{spec}", f"refs/tags/{spec}", spec):
            if cand in refs:
                return self.g.commit(refs[cand]).id.__str__()
        known = set(branches) | set(tags) | {e[0] for e in exps}
        matches = sorted(s for s in known if s.startswith(spec.lower()))
        if len(matches) == 1:
            return matches[0]
        try:
            return str(self.g.commit(spec).id)
        except (NotFoundError, ValueError):
            pass
        raise NotFoundError(
            f"baseline {spec!r} matches no commit"
            if not matches
            else f"baseline {spec!r} is ambiguous: {', '.join(m[:10] for m in matches)}"
        )

    @cached_property
    def object_dirs(self) -> set[str]:
        # the cache's two-hex-digit object folders, listed once: an object whose folder is
        # absent costs no stat (outs of 10k experiments are 10k stats otherwise)
        found: set[str] = set()
        for sub in ("", "files/md5"):
            try:
                with os.scandir(os.path.join(self.cache_dir, sub)) as it:
                    found.update(posixpath.join(sub, e.name) for e in it if len(e.name) == 2)
            except OSError:
                continue
        return found

    @cached_property
    def state(self) -> dict:
        # loaded only when some row must be rebuilt: an unchanged repo never unpickles it
        return {} if self.fresh else _cache.load(self.root, "commits")

    def load_cache(self, name: str) -> dict:
        return {} if self.fresh else _cache.load(self.root, name)

    @property
    def commits(self) -> dict[str, dict]:
        return self.state.setdefault("commits", {})

    # ---------------------------------------------------------------- per-commit data
    def commit_data(self, sha: str) -> dict | None:
        data = self.commits.get(sha)
        # a cache file that was missing may have been fetched (`dvc pull`) since
        if data is not None and not self.any_in_cache(data["missing"]):
            return data
        snap = read_commit(self.g, sha, self.cache_dir, self.memo, self.prefix)
        if snap is not None:
            self.commits[sha] = snap
            self.dirty = True
        return snap

    def prefetch(self, shas: list[str]) -> None:
        """Read the uncached commits in batches (read_commits); from PARALLEL_MIN of them on
        PARALLEL_JOBS cores: this process and forked children take chunks from one queue (a
        pipe of chunk numbers: a busy core takes fewer), the children send theirs back
        marshalled through a pipe."""
        todo = [sha for sha in dict.fromkeys(shas) if sha not in self.commits]
        jobs = min(PARALLEL_JOBS, os.cpu_count() or 1)
        size = max(CHUNK, -(-len(todo) // MAX_CHUNKS))
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
        queue = None
        if len(todo) >= PARALLEL_MIN and jobs >= 2 and forked.fork_safe():
            queue = forked.chunk_queue(len(chunks))
        if queue is None:  # in this process, still in batches
            for i in range(0, len(todo), CHUNK):
                part = todo[i : i + CHUNK]
                self.commits.update(
                    read_commits(self.g, part, self.cache_dir, self.memo, self.prefix)
                )
            self.dirty = self.dirty or bool(todo)
            return
        children = []
        try:
            for _ in range(jobs - 1):
                child = forked.fork_reader(
                    read_chunk, (self.root, self.cache_dir, self.prefix, queue, chunks)
                )
                if child is not None:
                    children.append(child)
            self.commits.update(
                _drain(queue, chunks, self.g, self.cache_dir, self.memo, self.prefix)
            )
            # the parse results of this process's share: held by its snapshots already
            self.memo.clear()
            while children:  # commits a failed child took are read one by one later
                self.commits.update(forked.collect(children[0]))
                children.pop(0)
        finally:
            os.close(queue)
            for pid, fd in children:  # interrupted: stop the others, leave no zombie
                forked.stop(pid, fd)
        self.dirty = True

    def workspace_data(self, head: str | None) -> dict:
        cached = self.state.get("workspace")
        if (
            cached
            and _cache.files_unchanged(self.root, cached["seen"])
            and not self.any_in_cache(cached["missing"])
        ):
            return cached
        # the work tree's dvc.yaml files, committed or not (a new sub-directory one counts);
        # the directories walked are in `seen`, so a dvc.yaml added later is noticed
        prefix = f"{self.prefix}/" if self.prefix else ""
        dvcyamls, dirs = snapshot.find_dvcyamls(self.root, lambda rel: self.g.ignored(prefix + rel))
        reader = snapshot.DiskReader(self.root)
        snap = snapshot.read_snapshot(reader, dvcyamls, self.cache_dir, {})
        snap.update(dvcyamls=dvcyamls, seen={**dirs, **reader.seen}, time_ns=time.time_ns())
        self.state["workspace"] = snap
        self.dirty = True
        return snap

    # ---------------------------------------------------------------- notes
    def notes(self, refs: dict[str, str]) -> dict[str, dict]:
        sha = refs.get(NOTES_REF)
        cached = self.state.get("notes")
        if cached is not None and cached[0] == sha:
            return cached[1]
        from expbook.registry import notes as _notes

        try:
            data = _notes.read_tree(self.g, sha) if sha else {}
        except NotFoundError as exc:  # the notes ref names a missing commit
            data = {"": {"error": str(exc)}}
        self.state["notes"] = (sha, data)
        self.dirty = True
        return data

    def save(self) -> None:
        if self.dirty:
            _cache.save(self.root, "commits", self.state)


# cold reads of this many commits or more use PARALLEL_JOBS processes (reading git objects
# and parsing YAML is CPU-bound; below the threshold a fork costs more than it saves)
PARALLEL_MIN = 1500
PARALLEL_JOBS = 2
# commits per chunk of the prefetch queue (at most MAX_CHUNKS chunks: 4 bytes each in a pipe)
CHUNK = 250
MAX_CHUNKS = 4000


def project_root(start: str | os.PathLike, git_root: str) -> str:
    """The DVC project `start` is in: the nearest directory up to the git root holding .dvc
    (a sub-project of `dvc init --subdir`), else the git root."""
    path = os.path.abspath(start)
    git_root = os.path.abspath(git_root)
    while path.startswith(git_root) and path != git_root:
        if os.path.isdir(os.path.join(path, ".dvc")):
            return path
        path = os.path.dirname(path)
    return git_root


def _drain(
    queue: int, chunks: list[list[str]], g: GitRepo, cache_dir: str, memo: dict, prefix: str
) -> dict[str, dict]:
    """Snapshots of the chunks taken from `queue` until it is empty."""
    out: dict[str, dict] = {}
    while len(took := os.read(queue, 4)) == 4:
        out.update(read_commits(g, chunks[int.from_bytes(took, "little")], cache_dir, memo, prefix))
    return out


def read_chunk(args: tuple) -> dict[str, dict]:
    """A forked reader's work: chunks from the queue, with a fresh repository handle."""
    root, cache_dir, prefix, queue, chunks = args
    return _drain(queue, chunks, GitRepo(root), cache_dir, {}, prefix)


def all_commits(c: RepoReader, starts: list[str]) -> list[str]:
    import pygit2

    seen: list[str] = []
    walker = c.g.repo.walk(None, pygit2.enums.SortMode.TIME)
    for sha in starts:
        try:
            walker.push(c.g.commit(sha).id)
        except (NotFoundError, ValueError, KeyError, TypeError):
            continue  # a ref to a missing or non-commit object: nothing to walk from it
    for commit in walker:
        seen.append(str(commit.id))
    return seen


def fingerprint(
    c: RepoReader, refs: dict[str, str] | None, all_commits: bool | str, baseline: str | None
) -> tuple[tuple, list]:
    """(everything a registry read depends on besides immutable git objects, pending exps)."""
    try:
        with open(c.g.head_path, encoding="utf-8") as fh:
            head_text = fh.read()
    except FileNotFoundError:
        if c.g.view is None:
            raise
        head_text = ""  # a remote with no default branch
    # a remote's view has no DVC queue of this machine's
    pending = [] if c.g.view else dvcstate.pending(c.g, c.dvc_dir)
    key = f"{all_commits if all_commits == 'exp' else bool(all_commits)}:{baseline}"
    if c.g.view is not None:
        key += f":remote={c.g.view}"  # never the local rows for a remote's, nor back
    fingerprint = (
        key,
        refs,
        head_text,
        tuple((p.rev, p.baseline, p.name, p.status) for p in pending),
        _cache.dvc_cache_fingerprint(c.cache_dir),
        c.cache_dir,
    )
    return fingerprint, pending


def still_valid(c: RepoReader, entry: dict, fingerprint: tuple) -> bool:
    if entry.get("fingerprint") != fingerprint:
        return False
    trusted_before = entry["time_ns"] - RACY_NS
    # a cache object added or removed in the clock tick of the last read leaves mtimes equal
    return all(mtime < trusted_before for _, mtime in fingerprint[4]) and (
        entry["workspace_seen"] is None
        or _cache.files_unchanged(c.root, entry["workspace_seen"], trusted_before)
    )
