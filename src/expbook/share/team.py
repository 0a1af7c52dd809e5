"""The team's experiments without pulling them (issue 23): `fetch` copies a git remote's exp
refs, notes, sweep state, branch heads and tags (GTO model tags among them) into a namespace
of expbook's own, `refs/expbook/remotes/<remote>/{exps,notes,sweeps,heads,tags}/...`: the
remote is listed (`git ls-remote`) and only new or moved refs are fetched (`git fetch
--no-tags --refmap=`, by name, or by glob refspecs with `--prune` on a first look): only git
objects come (params, metrics, curves; never DVC-cached checkpoints), no ref of the user's, no
workspace file and nothing of the DVC cache changes. Refs that name no
readable commit are dropped with a warning. `view` is what `--remote NAME` reads;
`bring_home` pulls chosen experiments for real, as `dvc exp pull REMOTE EXP` does.

Used by `expbook fetch`, the read commands' `--remote` and `expbook pull REMOTE EXP`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import GitRepo, run_git
from expbook.registry.modeltags import parse_tag
from expbook.registry.view import (
    HEAD,
    KINDS,
    RemoteView,
    namespace,
    to_local,
    to_namespace,
    valid_name,
)

# kind of namespace ref -> (one, many) as `fetch` reports it
_WORDS = {
    "exps/": ("experiment", "experiments"),
    "notes/": ("notes ref", "notes refs"),
    "sweeps/": ("sweep state", "sweep states"),
    "heads/": ("branch", "branches"),
    "model": ("model tag", "model tags"),
    "tags/": ("tag", "tags"),
}
# DVC's own bookkeeping under refs/exps (queue stashes, executors): never an experiment
_DVC_INTERNAL = ("celery", "exec", "apply", "temp", "stash")


@dataclass
class Fetched:
    """What one `fetch` found: per kind (see _WORDS) the refs added, moved and gone, the
    refs dropped (ref -> why) and how many experiments the namespace holds now."""

    remote: str
    added: dict[str, int] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)
    gone: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    experiments: int = 0
    default_branch: str | None = None

    def summary(self) -> str:
        """One line: `origin: 2 new experiments, notes updated (5 experiments in all)`."""
        parts = []
        for kind, (one, many) in _WORDS.items():
            for counts, word in ((self.added, "new"), (self.moved, "updated"), (self.gone, "gone")):
                n = counts.get(kind, 0)
                if n:
                    parts.append(f"{n} {word} {one if n == 1 else many}")
        news = ", ".join(parts) or "nothing new"
        total = f"{self.experiments} experiment{'s' if self.experiments != 1 else ''} in all"
        return f"{self.remote}: {news} ({total}; kept under {namespace(self.remote)})"

    def warnings(self) -> list[str]:
        return [
            f"warning: dropped {ref} of {self.remote}: {why}"
            for ref, why in sorted(self.dropped.items())
        ]


def check_remote(g: GitRepo, remote: str) -> None:
    """ExpbookError unless `remote` is a configured git remote with a usable name."""
    proc = run_git("remote", cwd=g.root, check=False)
    names = proc.stdout.split()
    if remote not in names:
        known = ", ".join(names) or "none"
        if "/" in remote or ":" in remote or remote.endswith(".git"):  # a URL or a path
            raise ExpbookError(
                f"{remote!r} is a URL or path, not a git remote name (remotes: {known}): "
                f"expbook keeps a remote's experiments under its name; add it with "
                f"`git remote add NAME {remote}`, then use NAME"
            )
        raise ExpbookError(
            f"no git remote named {remote!r} (remotes: {known}); add one with "
            f"`git remote add {remote} URL`"
        )
    if not valid_name(remote):
        raise ExpbookError(f"git remote {remote!r}: expbook reads remotes named [A-Za-z0-9._-]")


def refspecs(remote: str) -> list[str]:
    """The refspecs a whole look fetches: each kind into its folder of the namespace."""
    ns = namespace(remote)
    return [f"+{local}*:{ns}{kind}*" for kind, local in KINDS.items()]


def namespace_refs(g: GitRepo, remote: str) -> dict[str, str]:
    """The refs kept of `remote` (raw names under its namespace) -> sha, read by git (10,000
    loose refs: ~0.05 s, where reading the files from Python takes ~1 s)."""
    out = run_git(
        "for-each-ref", "--format=%(objectname) %(refname)", namespace(remote), cwd=g.root
    ).stdout
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        if ref and not ref.endswith(f"/{HEAD}"):
            refs[ref] = sha
    return refs


def _read_refs(g: GitRepo, refs: list[str]) -> dict[str, str]:
    """{ref: sha} of the named refs that exist: one `git cat-file --batch-check` given their
    names (for-each-ref given 100 names takes as long as listing all 10,000 refs)."""
    if not refs:
        return {}
    out = run_git(
        "cat-file", "--batch-check=%(objectname)", cwd=g.root, input="".join(f"{r}\n" for r in refs)
    ).stdout.splitlines()
    return {ref: sha for ref, sha in zip(refs, out, strict=True) if not sha.endswith(" missing")}


# from this many new or moved refs on, one look fetches the whole namespace by glob refspecs
# (a first look); below it only the refs that changed, named one by one
WHOLE_FROM = 2000


def fetch(g: GitRepo, remote: str) -> Fetched:
    """Bring the remote's experiments, notes, sweep state, branch heads and tags up to date
    in its namespace (see the module); returns what changed. ExpbookError (nothing changed)
    when the remote is unknown or git cannot reach it.

    One `git ls-remote` lists the remote's refs under those prefixes; compared with the
    namespace, only new and moved refs are fetched (nothing at all when none changed) and
    refs gone from the remote are deleted: git then walks 100 refs, not 10,000."""
    check_remote(g, remote)
    with _fetch_lock(g, remote):
        return _fetch_locked(g, remote)


@contextlib.contextmanager
def _fetch_lock(g: GitRepo, remote: str) -> Iterator[None]:
    """Hold `.git/expbook-fetch-<remote>.lock` (flock: released when the process dies, however
    it dies): two fetches of one remote take turns instead of failing on each other's ref
    locks. Holding it, any `*.lock` file under the namespace is a leftover of a fetch that
    was killed (its git did not get to remove it) and is removed: it would fail every later
    fetch with "Unable to create '...lock': File exists"."""
    import fcntl

    path = os.path.join(g.common_dir, f"expbook-fetch-{remote}.lock")
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        folder = os.path.join(g.common_dir, *namespace(remote).split("/"))
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                if name.endswith(".lock"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(dirpath, name))
        yield


def _fetch_locked(g: GitRepo, remote: str) -> Fetched:
    ns = namespace(remote)
    before = namespace_refs(g, remote)
    theirs, default = _list_remote(g, remote)
    wanted = {to_namespace(ref, remote): sha for ref, sha in theirs.items()}
    changed = [ref for ref, sha in wanted.items() if ref and before.get(ref) != sha]
    gone = [ref for ref in before if ref not in wanted]
    if len(changed) >= WHOLE_FROM:
        _fetch(g, remote, ["--prune", *refspecs(remote)])
        after = namespace_refs(g, remote)
    else:
        if changed:
            specs = "".join(f"+{to_local(r, remote)}:{r}\n" for r in changed)
            _fetch(g, remote, ["--stdin"], specs)
        _delete(g, gone)
        # the namespace is ours (and locked): only the refs just fetched need reading again
        # (not all 10,000: a look after 100 new experiments reads 100)
        left = set(gone)
        after = {r: s for r, s in before.items() if r not in left}
        after.update(_read_refs(g, changed))
    result = Fetched(remote, default_branch=default)
    fresh = GitRepo(g.root)
    moved = {r: s for r, s in after.items() if before.get(r) != s}
    result.dropped = {r: why for r, s in moved.items() if (why := _unreadable(fresh, r, s, ns))}
    _delete(g, result.dropped)
    for ref in result.dropped:
        after.pop(ref)
    for ref in after.keys() | before.keys():
        kind = _kind(ref, ns)
        if kind is None:
            continue
        if ref not in before:
            result.added[kind] = result.added.get(kind, 0) + 1
        elif ref not in after:
            result.gone[kind] = result.gone.get(kind, 0) + 1
        elif before[ref] != after[ref]:
            result.moved[kind] = result.moved.get(kind, 0) + 1
    result.experiments = sum(1 for ref in after if _kind(ref, ns) == "exps/")
    _set_head(g, remote, default if f"{ns}heads/{default}" in after else None)
    return result


def _fetch(g: GitRepo, remote: str, args: list[str], stdin: str | None = None) -> None:
    """`git fetch` of `remote` into the namespace: no tags, no FETCH_HEAD, no auto-gc."""
    proc = run_git(
        "-c", "fetch.writeCommitGraph=false",
        # --atomic: one ref transaction, so an interrupted fetch leaves no half-moved namespace
        "fetch", "--atomic", "--no-tags", "--no-write-fetch-head", "--no-auto-maintenance",
        "--quiet",
        # --refmap=: no "opportunistic" update of the user's refs/remotes/<remote>/*
        "--refmap=", remote, *args,
        cwd=g.root, check=False, input=stdin,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ExpbookError(
            f"git fetch of {remote}'s experiments failed (nothing of it changed here): "
            f"{(proc.stderr or proc.stdout).strip()}"
        )


def _list_remote(g: GitRepo, remote: str) -> tuple[dict[str, str], str | None]:
    """({ref: sha} of the remote under the namespace's kinds, its default branch or None):
    one `git ls-remote --symref` (git 2.39 filters its listing by pattern on the client)."""
    patterns = [f"{local}*" for local in KINDS.values()]
    proc = run_git("ls-remote", "--symref", remote, "HEAD", *patterns, cwd=g.root, check=False)
    if proc.returncode != 0:
        raise ExpbookError(
            f"cannot reach git remote {remote!r}: {(proc.stderr or proc.stdout).strip()}"
        )
    refs: dict[str, str] = {}
    default = None
    for line in proc.stdout.splitlines():
        target, _, name = line.partition("\t")
        if target.startswith("ref: "):
            if name == "HEAD" and target.startswith("ref: refs/heads/"):
                default = target[len("ref: refs/heads/") :]
            continue
        if name.endswith("^{}") or not any(name.startswith(p) for p in KINDS.values()):
            continue
        refs[name] = target
    return refs, default


def _kind(ref: str, ns: str) -> str | None:
    """The report kind of a namespace ref (None: DVC's internal refs, the HEAD symref)."""
    rest = ref[len(ns) :]
    if rest.startswith("exps/"):
        parts = rest.split("/")
        return "exps/" if len(parts) == 4 and parts[1] not in _DVC_INTERNAL else None
    if rest.startswith("tags/"):
        return "model" if parse_tag(rest[len("tags/") :]) else "tags/"
    return next((k for k in KINDS if rest.startswith(k)), None)


def _unreadable(g: GitRepo, ref: str, sha: str, ns: str) -> str | None:
    """Why a fetched ref is dropped (it names no readable commit: as `expbook pull` refuses
    one), else None; a tag may be annotated (GTO's are), so it is peeled first."""
    from expbook.errors import NotFoundError
    from expbook.registry.commits import not_a_commit

    if ref.startswith(f"{ns}tags/"):
        try:
            sha = str(g.commit(sha).id)
        except NotFoundError as exc:
            return str(exc)
    return not_a_commit(g, sha)


def _delete(g: GitRepo, refs: Iterable[str]) -> None:
    lines = "".join(f"delete {ref}\n" for ref in refs)
    if lines:
        run_git("update-ref", "--no-deref", "--stdin", cwd=g.root, input=lines)


def _set_head(g: GitRepo, remote: str, branch: str | None) -> None:
    """Point the namespace's HEAD at the remote's default branch (or remove it)."""
    ns = namespace(remote)
    if branch is None:
        run_git("symbolic-ref", "--delete", f"{ns}HEAD", cwd=g.root, check=False)
        return
    want = f"{ns}heads/{branch}"
    now = run_git("symbolic-ref", "-q", f"{ns}HEAD", cwd=g.root, check=False).stdout.strip()
    if now != want:
        run_git("symbolic-ref", f"{ns}HEAD", want, cwd=g.root)


def view(
    repo: str | os.PathLike[str],
    remote: str,
    *,
    fetch_first: bool = True,
    say: Callable[[str], None] | None = None,
) -> RemoteView:
    """`repo` read through `remote`'s namespace (see expbook.registry.view), fetched first
    unless `fetch_first` is False; `say` gets the fetch's summary and warnings."""
    g = GitRepo(repo)
    if fetch_first:
        result = fetch(g, remote)
        for line in [result.summary(), *result.warnings()]:
            if say is not None:
                say(line)
    else:
        check_remote(g, remote)
        first = run_git(
            "for-each-ref", "--count=1", "--format=%(refname)", namespace(remote), cwd=g.root
        ).stdout
        if not first.strip():
            raise ExpbookError(
                f"nothing of {remote!r} fetched yet: run `expbook fetch {remote}` "
                "(or leave out --no-fetch)"
            )
    return RemoteView(repo, remote)


def bring_home(
    repo: str | os.PathLike[str], remote: str, names: Iterable[str], with_cache: bool | None = None
) -> list[tuple[str, str]]:
    """Pull the experiments `names` (anything `--remote` reads names) of `remote` home, as
    `dvc exp pull REMOTE EXP` does (see expbook.share.bringhome): their exp refs, and their
    checkpoints from the DVC remote when one is configured (or `with_cache`). Returns [(name, ref)] pulled; ExpbookError
    naming an experiment that is not on the remote, or a row that is no experiment."""
    from expbook.registry.lookup import require_commit, resolve
    from expbook.registry.rows import collect
    from expbook.share import bringhome
    from expbook.share.sync import _dvc_cache_flag

    remote_view = view(repo, remote)
    rows = collect(remote_view)
    chosen: list[tuple[str, str, str]] = []
    for name in names:
        row = require_commit(resolve(remote_view, name, rows))
        if row.kind != "experiment" or not row.ref:
            raise ExpbookError(
                f"{name!r} is {row.kind} {row.rev[:7]} of {remote}, not an experiment; "
                "`git fetch`/`git pull` brings branches and commits"
            )
        chosen.append((row.name, row.ref, row.rev))
    if chosen:
        g = GitRepo(repo)
        bringhome.land(g, remote, chosen)
        if not _dvc_cache_flag(g.root, with_cache):  # a DVC remote to fetch them from
            bringhome.fetch_cache(g, sorted({sha for _, _, sha in chosen}))
    return [(name, ref) for name, ref, _ in chosen]
