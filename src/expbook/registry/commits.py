"""Commits into snapshots: one commit (`read_commit`), or many at once (`read_commits`, the
cold read's batches), where most commits are laid out like the one before them.

A batch reads its first commit the ordinary way (snapshot.read_snapshot), which shows the
files a snapshot of that layout parses; the other commits' files are then read from git and
parsed together, one kind of file after another (snapshot.prime). A commit whose tree matches
the first one's layout (the same dvc.yaml files, the same blob for every file the first one
looked up except the parsed parts, each of those parsed without error) is put together from
the parsed parts directly (`_Layout`), with what read_snapshot would give it; any other commit
is read the ordinary way. Used by expbook.registry.reader.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from expbook.errors import NotFoundError
from expbook.registry import snapshot
from expbook.registry.gitrepo import GitRepo, NotACommitError


def read_commit(
    g: GitRepo, sha: str, cache_dir: str, memo: dict, prefix: str = "", commit: Any = None
) -> dict | None:
    """The snapshot of commit `sha`; None when it is not a readable commit of the repository
    (missing, a blob/tree/tag of none, a commit whose tree is missing or damaged): the row
    then names the problem (GitRepo.problem)."""
    try:
        if commit is None:
            commit = g.commit(sha)
        return _read(g, commit, cache_dir, memo, prefix)[0]
    except damaged():
        return None


def problem(g: GitRepo, sha: str) -> str:
    """What is wrong with `sha` as a commit to read, in the words a ref's error row shows
    ("points at a blob, not a commit (<sha>)", a missing object, a commit whose tree is
    missing); asked only for a row that read_commit could not read."""
    return not_a_commit(g, sha) or (
        f"points at commit {sha}, which could not be read (a damaged object in its tree)"
    )


def not_a_commit(g: GitRepo, sha: str) -> str | None:
    """None when `sha` is a commit whose tree can be read; else what is wrong with it, as
    problem() says it (also what `expbook pull` checks each incoming exp ref with)."""
    try:
        commit = g.commit(sha)
    except NotACommitError as exc:
        return f"points at {exc.kind}, not a commit ({sha})"
    except NotFoundError:
        return f"points to {sha!r}, which is not a commit in the repository"
    if str(commit.id) != sha:
        return f"points at an annotated tag ({sha}), not a commit"
    try:
        g.tree_of(commit)
    except NotFoundError:
        return f"points at commit {sha}, whose tree {commit.tree_id} is missing or damaged"
    return None


def damaged() -> tuple[type[Exception], ...]:
    """What reading a commit whose objects are missing or damaged raises (libgit2's GitError
    for a tree it cannot read, KeyError for a missing object, NotFoundError from GitRepo)."""
    import pygit2

    return (NotFoundError, KeyError, pygit2.GitError)


def _read(
    g: GitRepo, commit: Any, cache_dir: str, memo: dict, prefix: str, recipe: list | None = None
) -> tuple[dict, snapshot.TreeReader | None]:
    """(the snapshot of `commit`, the reader of its tree: what it looked up)."""
    tree = project_tree(g, commit, prefix)
    files = None
    if tree is None:  # the commit predates the sub-project: nothing of it to read
        snap = snapshot.read_snapshot(snapshot.NoFiles(), [], cache_dir, memo)
        dvcyamls: list[str] = []
    else:
        dvcyamls = g.files_named(tree, "dvc.yaml")
        files = snapshot.TreeReader(g, tree)
        snap = snapshot.read_snapshot(files, dvcyamls, cache_dir, memo, recipe)
    _stamp(snap, commit, dvcyamls)
    return snap, files


def _stamp(snap: dict, commit: Any, dvcyamls: list[str]) -> None:
    snap.update(
        sha=str(commit.id),
        time=commit.commit_time,
        # who ran it: DVC commits an experiment as the git identity of the one who ran it
        author=commit.author.raw_name.decode("utf-8", "replace"),
        message=commit.message.split("\n", 1)[0].strip(),
        parents=[str(p) for p in commit.parent_ids],
        dvcyamls=dvcyamls,
    )


def project_tree(g: GitRepo, commit: Any, prefix: str) -> Any:
    """The tree of the DVC project in `commit`: its root tree, or the sub-project's folder
    (None when the commit predates the sub-project)."""
    tree = g.tree_of(commit)
    if not prefix:
        return tree
    hit = g.blob_at(tree, prefix)
    return g.repo[hit[1]] if hit and hit[0] == "tree" else None


class _Layout:
    """What the snapshot of a template commit was made of: the memo keys of its parts (lock
    outs, params, metrics, in the order read_snapshot merged them) and every other file it
    looked up. `usable` is False when it read anything else (templating, a metrics directory,
    a file from the DVC cache) or had errors: then no commit is put together from it."""

    def __init__(self, snap: dict, files: snapshot.TreeReader | None, recipe: list) -> None:
        import pygit2

        self.snap = snap
        self.parts = recipe
        self.part_paths = {key[-2] for key in recipe}
        self.fixed = {} if files is None else dict(files.keys)
        for path in self.part_paths - set(snap["dvcyamls"]):  # a dvc.yaml stays fixed, also
            self.fixed.pop(path, None)  # when it is a params or metrics file too
        self.usable = (
            files is not None
            and not (snap["errors"] or snap["unreadable"] or snap["missing"])
            and all(key[0] in snapshot.PRIMED and type(key[-1]) is pygit2.Oid for key in recipe)
            and all(key is None or type(key) is pygit2.Oid for key in self.fixed.values())
        )

    def snapshot(self, files: snapshot.TreeReader, dvcyamls: list[str], memo: dict) -> dict | None:
        """The snapshot of a commit whose tree `files` reads, put together from `memo`; None
        when that commit is laid out otherwise or a part of it is not parsed (yet)."""
        if dvcyamls != self.snap["dvcyamls"]:
            return None
        if any(files.key(path) != key for path, key in self.fixed.items()):
            return None
        merged = {"dvc.lock": snapshot.Merged(), "params": snapshot.Merged()}
        merged["metrics"] = snapshot.Merged()
        for key in self.parts:
            hit = memo.get((*key[:-1], files.key(key[-2])))
            if hit is None or hit[0] != "ok":
                return None
            merged[key[0]].add(hit[1][1] if key[0] == "dvc.lock" else hit[1])
        return {
            "params": merged["params"].value,
            "metrics": merged["metrics"].value,
            "outs": merged["dvc.lock"].value,
            "errors": {},
            "unreadable": [],
            "missing": [],
            "metric_files": self.snap["metric_files"],
        }


def read_commits(
    g: GitRepo, shas: list[str], cache_dir: str, memo: dict, prefix: str = ""
) -> dict[str, dict]:
    """read_commit() of each of `shas`, one kind of work at a time: the first commit shows
    which files a snapshot parses; those of the others are read from git together, then
    parsed one kind of file after another into `memo` (snapshot.prime), then each snapshot is
    put together from the memo (_Layout), or read as usual when its commit is laid out
    otherwise: what it needs that is not primed is parsed on demand."""
    import pygit2

    out: dict[str, dict] = {}
    commits = []
    for sha in shas:
        try:
            commits.append((sha, g.commit(sha)))
        except NotFoundError:
            continue
    templates: list[tuple] = []
    rest: list[tuple[str, Any]] = []
    layout = None
    for i, (sha, commit) in enumerate(commits):
        before = len(memo)
        recipe: list = []
        try:
            snap, files = _read(g, commit, cache_dir, memo, prefix, recipe)
        except damaged():
            continue  # read alone later (read_commit), which names the problem
        out[sha] = snap
        new = list(islice(reversed(memo.keys()), len(memo) - before))
        templates = [k for k in new if k[0] in snapshot.PRIMED and type(k[-1]) is pygit2.Oid]
        if templates:
            layout = _Layout(snap, files, recipe)
            rest = commits[i + 1 :]
            break
    if layout is not None and layout.usable:
        templates = layout.parts  # every part, also those an earlier commit parsed already
    jobs = []
    readers: list[tuple[str, Any, Any, Any]] = []  # (sha, commit, tree, its reader)
    for sha, commit in rest:
        try:
            tree = project_tree(g, commit, prefix)
        except damaged():
            continue  # read alone later (read_commit), which names the problem
        files = None if tree is None else snapshot.TreeReader(g, tree)
        readers.append((sha, commit, tree, files))
        if files is not None:
            for key in templates:
                oid = files.key(key[-2])  # the file's path: second to last in a memo key
                if type(oid) is pygit2.Oid:
                    jobs.append(((*key[:-1], oid), oid))
    snapshot.prime(memo, g, jobs)
    for sha, commit, tree, files in readers:
        made: dict | None = None
        if files is not None and layout is not None and layout.usable:
            dvcyamls = g.files_named(tree, "dvc.yaml")
            made = layout.snapshot(files, dvcyamls, memo)
            if made is not None:
                _stamp(made, commit, dvcyamls)
        if made is None:
            made = read_commit(g, sha, cache_dir, memo, prefix, commit)
        if made is not None:
            out[sha] = made
    return out
