"""Push and pull experiments with everything expbook keeps about them: `dvc exp push/pull`
of the exp refs (and cached outputs when a DVC remote is configured), the notes ref (note and
tag lists merged on pull) and the sweep state refs.

Used by `expbook push/pull`; Python: `from expbook.share import sync; sync.push(".", "origin")`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, cast

from expbook.errors import ExpbookError
from expbook.proc import run
from expbook.registry.gitrepo import GitRepo, git, run_git, signature
from expbook.registry.notes import NOTES_REF, _locked, _open, _write, read_all

if TYPE_CHECKING:
    import pygit2

    from expbook.share.outputs import OutputCheck
    from expbook.share.remotes import Remote

_REMOTE_TMP_REF = "refs/notes/expbook-remote"


def _dvc_exp(
    action: str, root: str, remote: str, with_cache: bool | None, refs: list[str] | None = None
) -> None:
    """`dvc exp push|pull REMOTE --all-commits` (or of the exp `refs` only) with this
    interpreter's dvc."""
    which = ["--all-commits"] if refs is None else refs
    args = ["exp", action, remote, *which, *_dvc_cache_flag(root, with_cache)]
    proc = run([sys.executable, "-m", "dvc", *args], cwd=root)  # stopped on Ctrl-C/SIGTERM
    if proc.returncode != 0:
        # one line: DVC's error lines (an unreachable S3 bucket gives two) joined (issue 23)
        lines = [
            ln.strip().removeprefix("ERROR:").strip()
            for ln in (proc.stderr or proc.stdout).splitlines()
        ]
        raise ExpbookError(f"dvc exp {action} failed: {'; '.join(ln for ln in lines if ln)}")


def _merge_docs(local: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
    merged = dict(remote)
    merged.update(local)
    for key in ("notes", "tags"):
        seen = list(remote.get(key, []))
        seen += [x for x in local.get(key, []) if x not in seen]
        merged[key] = seen
    return merged


def _dvc_cache_flag(root: str, with_cache: bool | None) -> list[str]:
    # without a default DVC remote `dvc exp push/pull` fails on the cache step: skip it then
    if with_cache is None:
        from expbook.share.remotes import dvc_remote

        with_cache = dvc_remote(root) is not None  # DVC's merged config, as `dvc push` reads it
    return [] if with_cache else ["--no-cache"]


def push_remotes(
    repo: str | os.PathLike[str], remote: str = "origin", with_cache: bool | None = None
) -> list[Remote]:
    """The remotes `push` will use (the git remote, then the default DVC remote unless
    with_cache=False), each checked first: a local DVC remote path that is a file, under a
    file or read-only, or an S3 bucket that does not answer, is an ExpbookError before anything
    is pushed (issues 19, 23)."""
    from expbook.share.remotes import check_reachable, check_writable, dvc_remote, git_remote

    root = GitRepo(repo).root
    used = [git_remote(root, remote)]
    if with_cache is not False:
        found = dvc_remote(root)
        if found is not None:
            check_writable(found)
            check_reachable(root, found)  # an S3 bucket that does not answer (issue 23)
            used.append(found)
    return used


SWEEPS_PREFIX = "refs/expbook/sweeps/"  # expbook.sweep.state keeps one state ref per sweep


def push(
    repo: str | os.PathLike[str] = ".", remote: str = "origin", with_cache: bool | None = None
) -> OutputCheck | None:
    """`dvc exp push REMOTE --all-commits` then push refs/notes/expbook to the git remote.

    Cached outputs go to the default DVC remote when one is configured (or `with_cache`);
    then every experiment's cached outputs are checked on it and missing ones pushed with the
    workspace's remote config (`share.outputs`). No config is written: the remote is the one
    the workspace's DVC config names at this push (`push_remotes`). Returns that check (None with
    with_cache=False); NotSharedError (exit 1) names outputs that could not be shared.
    """
    g = _open(repo)
    push_remotes(g.root, remote, with_cache)  # refuse an unusable DVC remote before any push
    _dvc_exp("push", g.root, remote, with_cache)
    if NOTES_REF in g.refs():
        git("push", remote, f"{NOTES_REF}:{NOTES_REF}", cwd=g.root)
    if any(ref.startswith(SWEEPS_PREFIX) for ref in g.refs()):
        # sweep state (expbook sweep status/best), fast-forward only
        git("push", remote, f"{SWEEPS_PREFIX}*:{SWEEPS_PREFIX}*", cwd=g.root)
    if with_cache is False:
        return None
    from expbook.share import outputs

    check = outputs.ensure_shared(g.root)
    if check.missing:
        raise outputs.NotSharedError(
            "refs and notes were pushed, but "
            + outputs.describe_missing(check, "are not on")
            + " (add one with `dvc remote add -d NAME URL`, or push with --no-cache to share "
            "refs only)"
        )
    return check


def pull(
    repo: str | os.PathLike[str] = ".", remote: str = "origin", with_cache: bool | None = None
) -> int:
    """`dvc exp pull REMOTE --all-commits`, fetch the remote notes and merge them into ours.

    Lists (notes, tags) are unioned; other keys keep the local value. Returns how many
    commits' notes changed.

    The remote's exp refs, sweep state refs and notes ref are checked before any lands
    (`incoming_refs`): one that points at a blob, a tree, a tag or a commit whose tree is
    missing is refused, the others are pulled, and an ExpbookError names the refused ones
    (exit 2), so one bad remote ref cannot break every clone.
    """
    g = _open(repo)
    good, bad = incoming_refs(g, remote, "refs/exps/")
    if not bad:
        _dvc_exp("pull", g.root, remote, with_cache)
    elif good:
        _dvc_exp("pull", g.root, remote, with_cache, refs=good)
    # sweep state: fast-forward only; a diverged local state is kept (git refuses the update)
    sweeps, bad_sweeps = incoming_refs(g, remote, SWEEPS_PREFIX)
    if sweeps:
        specs = [f"{ref}:{ref}" for ref in sweeps]
        git("fetch", "--no-tags", remote, *specs, cwd=g.root, check=False)
    refused = {**bad, **bad_sweeps}
    try:
        changed = merge_remote_notes(g, remote)
    except RefusedRef as exc:
        changed, refused[exc.ref] = 0, exc.why
    if refused:
        listing = "; ".join(f"{ref}: {why}" for ref, why in sorted(refused.items()))
        raise ExpbookError(
            f"refused {len(refused)} ref(s) of {remote} (the others were pulled): {listing}"
        )
    return changed


_INCOMING = "refs/expbook-incoming/"  # where the remote's refs are fetched to be checked


class RefusedRef(ExpbookError):
    """A remote's ref that names no readable commit: refused by pull before it lands."""

    def __init__(self, ref: str, why: str) -> None:
        super().__init__(f"{ref}: {why}")
        self.ref, self.why = ref, why


def incoming_refs(g: GitRepo, remote: str, prefix: str) -> tuple[list[str], dict[str, str]]:
    """(the remote's refs under `prefix` that name a readable commit, {refused ref: why}):
    they are fetched into a private namespace (objects only: no ref under `prefix` changes),
    each checked as the registry reads it (commits.not_a_commit), and the namespace removed."""
    from expbook.registry.commits import not_a_commit

    probe = run_git("ls-remote", remote, f"{prefix}*", cwd=g.root, check=False)
    if probe.returncode != 0 or not probe.stdout.strip():
        return [], {}  # an unknown remote: `dvc exp pull` says so; no such refs: nothing
    good: list[str] = []
    bad: dict[str, str] = {}
    incoming = _INCOMING + prefix[len("refs/") :]
    try:
        proc = run_git(
            "fetch", "--no-tags", "--no-write-fetch-head", remote,
            f"+{prefix}*:{incoming}*", cwd=g.root, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ExpbookError(
                f"git fetch of {remote}'s {prefix}* failed, nothing of it was pulled: "
                f"{(proc.stderr or proc.stdout).strip()}"
            )
        fresh = GitRepo(g.root)
        for ref, sha in sorted(fresh.refs().items()):
            if ref.startswith(incoming):
                name = prefix + ref[len(incoming) :]
                why = not_a_commit(fresh, sha)
                if why is None:
                    good.append(name)
                else:
                    bad[name] = why
    finally:
        _drop_incoming(g)
    return good, bad


def _drop_incoming(g: GitRepo) -> None:
    fresh = GitRepo(g.root)
    for ref in fresh.refs():
        if ref.startswith(_INCOMING):
            run_git("update-ref", "--no-deref", "-d", ref, cwd=g.root, check=False)


def merge_remote_notes(g: GitRepo, remote: str) -> int:
    """Fetch the remote's notes ref and merge it into ours; returns how many notes changed."""
    probe = run_git("ls-remote", remote, NOTES_REF, cwd=g.root, check=False)
    if probe.returncode != 0 or not probe.stdout.strip():
        return 0
    git("fetch", "--no-tags", remote, f"+{NOTES_REF}:{_REMOTE_TMP_REF}", cwd=g.root)
    from expbook.registry.commits import not_a_commit

    fetched = GitRepo(g.root)
    why = not_a_commit(fetched, fetched.refs().get(_REMOTE_TMP_REF, ""))
    if why is not None:  # their notes ref names a blob...: refused, ours untouched
        run_git("update-ref", "--no-deref", "-d", _REMOTE_TMP_REF, cwd=g.root, check=False)
        raise RefusedRef(NOTES_REF, why)
    changed = 0
    with _locked(g):
        fresh = GitRepo(g.root)
        theirs = read_all(fresh, _REMOTE_TMP_REF)
        ours = read_all(fresh)
        for sha, doc in theirs.items():
            merged = _merge_docs(ours.get(sha, {}), doc)
            if merged != ours.get(sha):
                # kept even when the experiment itself was not pulled: our next push must not
                # drop the remote's note
                _write(fresh, sha, merged)
                changed += 1
        _record_merge(fresh.repo, remote)
        fresh.repo.references.delete(_REMOTE_TMP_REF)
    return changed


def push_notes(
    repo: str | os.PathLike[str] = ".", remote: str = "origin", attempts: int = 8
) -> None:
    """Push the notes ref; when another writer pushed first, merge theirs and try again
    (sweep workers sharing one study all push notes to one remote)."""
    g = _open(repo)
    for _ in range(attempts):
        proc = run_git("push", "-q", remote, f"{NOTES_REF}:{NOTES_REF}", cwd=g.root, check=False)
        if proc.returncode == 0:
            return
        merge_remote_notes(g, remote)
    raise ExpbookError(f"git push {remote} {NOTES_REF} kept being rejected: {proc.stderr.strip()}")


def _record_merge(repo: pygit2.Repository, remote: str) -> None:
    """Make the remote's notes commit an ancestor of ours (a merge commit with our merged tree)
    so the next `git push` of the notes ref is a fast-forward, not a rejection."""
    theirs = repo.references[_REMOTE_TMP_REF].target
    head = repo.references.get(NOTES_REF)
    if head is None:
        repo.references.create(NOTES_REF, theirs)
        return
    ours = head.target
    if ours == theirs or repo.descendant_of(ours, theirs):
        return
    if repo.descendant_of(theirs, ours):
        head.set_target(theirs)  # nothing of ours is missing there: fast-forward
        return
    sig = signature(repo)
    tree = cast("pygit2.Commit", repo[ours]).tree_id  # a notes ref points at a commit
    merge = repo.create_commit(
        None, sig, sig, f"Merge expbook notes from {remote}", tree, [ours, theirs]
    )
    head.set_target(merge)
