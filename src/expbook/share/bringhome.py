"""`expbook pull REMOTE EXP`'s landing step (issue 23): the chosen experiments' refs, already
fetched and checked in the remote's namespace by expbook.share.team, are created under
refs/exps/ in one git transaction, then their checkpoints are fetched from the DVC remote
(DVC's own `Repo.fetch(revs=...)`, what `dvc exp pull` runs for the cache).

Not `dvc exp pull REMOTE REF`: it lists and parses every exp ref of the remote first, so one
ref DVC cannot parse (`refs/exps/ab/cd.../x/y`, pushed by anyone) failed every pull, and a
local experiment of that name on another commit was only a warning ("diverged") while the
pull reported success. Used by expbook.share.team.bring_home.
"""

from __future__ import annotations

import sys

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import GitRepo, run_git

_FETCH = """\
import sys
from dvc.exceptions import DvcException
from dvc.repo import Repo
try:
    with Repo(sys.argv[1]) as repo:
        repo.fetch(revs=sys.argv[2:], workspace=False)
except DvcException as exc:
    print(f"ERROR: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def land(g: GitRepo, remote: str, chosen: list[tuple[str, str, str]]) -> None:
    """Create the exp refs of `chosen` ([(name, ref, sha)]) here, all or none: ExpbookError
    (nothing changed) when one already exists on another commit."""
    ours = g.refs()
    lines = []
    for name, ref, sha in chosen:
        have = ours.get(ref)
        if have is not None and have != sha:
            raise ExpbookError(
                f"experiment {name!r}: your {ref} is on {have[:7]}, {remote}'s on {sha[:7]}; "
                f"nothing was pulled (delete yours with `git update-ref -d {ref}` to take theirs)"
            )
        if have is None:
            lines.append(f"create {ref} {sha}\n")
    if lines:
        run_git("update-ref", "--stdin", cwd=g.root, input="".join(lines))


def fetch_cache(g: GitRepo, shas: list[str]) -> None:
    """Fetch the DVC-cached outputs of the commits `shas` from the default DVC remote."""
    from expbook.proc import run

    proc = run([sys.executable, "-c", _FETCH, g.root, *shas], cwd=g.root)
    if proc.returncode != 0:
        lines = [ln.strip().removeprefix("ERROR:").strip() for ln in proc.stderr.splitlines()]
        text = "; ".join(ln for ln in lines if ln) or f"exit code {proc.returncode}"
        raise ExpbookError(f"the experiments' refs came, their checkpoints did not: {text}")
