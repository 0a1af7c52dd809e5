"""push/pull carry the model registry's tags (issue 22): GTO-format tags only
(`name@v1.2.3#N`, `name#stage#N`, ...: registry.modeltags.parse_tag), never other tags.

`push_model_tags` pushes the local ones the remote lacks; `pull_model_tags` fetches the
remote's into a private namespace, checks each names a readable commit (peeled: GTO's tags
are annotated) as `expbook pull` checks exp refs, and lands the good ones that are new here.
A tag that exists on both sides with another target is kept as it is and named.
Used by `expbook push` / `expbook pull`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from expbook.errors import ExpbookError, NotFoundError
from expbook.registry.gitrepo import GitRepo, run_git
from expbook.registry.modeltags import parse_tag

TAGS = "refs/tags/"
_INCOMING = "refs/expbook-incoming/model-tags/"


@dataclass
class TagSync:
    """How many model tags moved, and those refused (tag -> why)."""

    moved: int = 0
    refused: dict[str, str] = field(default_factory=dict)


def model_tags(refs: dict[str, str]) -> dict[str, str]:
    """The GTO-format tags among `refs` (ref name -> sha)."""
    return {r: s for r, s in refs.items() if r.startswith(TAGS) and parse_tag(r[len(TAGS) :])}


def _remote_tags(g: GitRepo, remote: str) -> dict[str, str]:
    proc = run_git("ls-remote", "--tags", remote, cwd=g.root, check=False)
    if proc.returncode != 0:
        raise ExpbookError(f"cannot list {remote}'s tags: {(proc.stderr or proc.stdout).strip()}")
    out = {}
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.endswith("^{}"):
            out[ref] = sha
    return model_tags(out)


def push_model_tags(g: GitRepo, remote: str) -> TagSync:
    """Push the local model tags the remote lacks; a name the remote holds with another
    target is refused (tags are never overwritten) and named."""
    ours = model_tags(g.refs())
    if not ours:
        return TagSync()
    theirs = _remote_tags(g, remote)
    result = TagSync()
    todo = []
    for ref, sha in sorted(ours.items()):
        if ref not in theirs:
            todo.append(ref)
        elif theirs[ref] != sha:
            result.refused[ref[len(TAGS) :]] = f"{remote} has it on another object ({theirs[ref]})"
    if todo:
        run_git("push", "--quiet", remote, *[f"{r}:{r}" for r in todo], cwd=g.root)
        result.moved = len(todo)
    return result


def pull_model_tags(g: GitRepo, remote: str) -> TagSync:
    """Fetch the remote's model tags that are new here, each checked (see the module)."""
    from expbook.registry.commits import not_a_commit

    theirs = _remote_tags(g, remote)
    ours = model_tags(g.refs())
    result = TagSync()
    for ref, sha in theirs.items():
        if ref in ours and ours[ref] != sha:
            result.refused[ref[len(TAGS) :]] = f"a local tag of that name is on {ours[ref]}"
    todo = sorted(r for r in theirs if r not in ours)
    if not todo:
        return result
    specs = [f"+{r}:{_INCOMING}{r[len(TAGS) :]}" for r in todo]
    try:
        proc = run_git(
            "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", remote, *specs,
            cwd=g.root, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ExpbookError(
                f"git fetch of {remote}'s model tags failed: {(proc.stderr or proc.stdout).strip()}"
            )
        fresh = GitRepo(g.root)
        lines = []
        for ref, sha in sorted(fresh.refs().items()):
            if not ref.startswith(_INCOMING):
                continue
            name = ref[len(_INCOMING) :]
            try:
                why = not_a_commit(fresh, str(fresh.commit(sha).id))
            except NotFoundError as exc:
                why = str(exc)
            if why is not None:
                result.refused[name] = why
                continue
            lines.append(f"create {TAGS}{name} {sha}\n")
        if lines:
            run_git("update-ref", "--stdin", cwd=g.root, input="".join(lines))
            result.moved = len(lines)
    finally:
        leftover = [r for r in GitRepo(g.root).refs() if r.startswith(_INCOMING)]
        if leftover:
            drop = "".join(f"delete {r}\n" for r in leftover)
            run_git("update-ref", "--no-deref", "--stdin", cwd=g.root, input=drop, check=False)
    return result


def refused_line(what: str, sync: TagSync) -> str | None:
    """`warning: ...` naming the refused tags, or None."""
    if not sync.refused:
        return None
    listing = "; ".join(f"{tag}: {why}" for tag, why in sorted(sync.refused.items()))
    return f"warning: {len(sync.refused)} model tag(s) not {what}: {listing}"
