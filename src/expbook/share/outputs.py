"""Are experiments' cached outputs (checkpoints) shared? Checks every DVC-cached output of
experiment commits against the DVC remote of the *workspace's* configuration, pushes what is
missing, and names what cannot be shared.

Why: `dvc exp push` reads the DVC remote from each experiment's own commit; experiments run
before a remote was configured have none there, and their checkpoints are skipped without a
word (issue 11). Used by `expbook push` (ensure_shared) and `expbook pull` (missing_outputs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import GitRepo, run_git

if TYPE_CHECKING:  # DVC is imported on use
    from dvc.repo import Repo
    from dvc_data.hashfile.db import HashFileDB
    from dvc_data.hashfile.hash_info import HashInfo

# experiment name -> {output path: the hash ids of its objects (a directory's manifest and files)}
Outputs = dict[str, dict[str, set["HashInfo"]]]


class NotSharedError(ExpbookError):
    """Outputs of pushed experiments that are not on the DVC remote (push exits 1)."""

    exit_code = 1


@dataclass
class OutputCheck:
    """Per experiment (name) the outputs (path) some of whose objects are `missing`."""

    remote: str | None  # the DVC remote checked (None: none configured)
    outputs: int = 0  # cached outputs checked
    pushed: int = 0  # objects this check pushed
    missing: dict[str, list[str]] = field(default_factory=dict)

    def listing(self) -> str:
        return "; ".join(f"{name}: {', '.join(paths)}" for name, paths in self.missing.items())


def exp_refs(root: str) -> dict[str, str]:
    """Experiment name -> commit of every `refs/exps/<2>/<38>/<name>` ref."""
    out = {}
    for ref, sha in GitRepo(root).refs().items():
        parts = ref.split("/")
        if len(parts) == 5 and parts[1] == "exps" and len(parts[2]) == 2:
            out[parts[4] if parts[4] not in out else f"{parts[4]}@{sha[:7]}"] = sha
    return out


@contextmanager
def _dvc(root: str) -> Iterator[Repo]:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(root) as dvc_repo:
            yield dvc_repo
    except DvcException as exc:
        raise ExpbookError(f"DVC: {exc}") from exc
    except OSError as exc:  # a remote directory we may not write, a file in its way (issue 19)
        where = f": {exc.filename}" if exc.filename else ""
        raise ExpbookError(f"DVC: {exc.strerror or exc}{where}") from exc
    except _cloud_errors() as exc:  # an S3 server gone mid-push, a timeout (issue 23)
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ExpbookError(f"DVC remote unreachable: {text}") from exc


def _cloud_errors() -> tuple[type[Exception], ...]:
    """botocore's errors (connection, timeout, S3 error replies) when dvc-s3 is installed:
    they are neither DvcException nor OSError."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return ()
    return (BotoCoreError, ClientError)


def _outputs(dvc_repo: Repo, revs: dict[str, str]) -> tuple[Outputs, dict[str, str]]:
    """(name -> {output path: HashInfos (a directory's manifest and files)}, name -> error) of
    each commit, read with DVC's own index at that commit (what `dvc push` of it would send);
    a commit DVC cannot read (a broken dvc.yaml) is an error entry, not a failed push."""
    from dvc.exceptions import DvcException

    by_sha: dict[str, list[str]] = {}
    for name, sha in revs.items():
        by_sha.setdefault(sha, []).append(name)
    out: Outputs = {}
    errors: dict[str, str] = {}
    for sha in dvc_repo.brancher(revs=sorted(by_sha), workspace=False, sha_only=True):
        found: dict[str, set[HashInfo]] = {}
        try:
            for o in dvc_repo.index.outs:
                if not o.use_cache or not o.hash_info or not o.hash_info.value:
                    continue
                used = o.get_used_objs(force=True)  # force: no prompt for a missing .dir
                ids = set().union(*used.values()) if used else set()
                found[str(o)] = ids or {o.hash_info}
        except DvcException as exc:
            for name in by_sha.get(sha, []):
                errors[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        for name in by_sha.get(sha, []):
            out[name] = found
    return out, errors


def _remote_odb(dvc_repo: Repo, remote: str | None) -> HashFileDB | None:
    from dvc.config import NoRemoteError

    try:
        return dvc_repo.cloud.get_remote_odb(remote, "push")
    except NoRemoteError:
        return None


def _present(odb: HashFileDB, ids: set[HashInfo]) -> set[str]:
    values = {h.value for h in ids}
    return set(odb.oids_exist(values)) if values else set()


@contextmanager
def _outputs_of(
    repo: str | os.PathLike[str], names: list[str] | None, check: OutputCheck
) -> Iterator[tuple[Repo | None, Outputs, dict[str, str], set[HashInfo]]]:
    """(open DVC repo, or None when there are no experiments; {name: {path: hash ids}};
    {name: error}; every hash id) of the experiments `names` (None: all); counts the outputs
    in `check.outputs`."""
    root = GitRepo(repo).root
    revs = exp_refs(root)
    if names is not None:
        revs = {n: s for n, s in revs.items() if n in set(names)}
    if not revs:
        yield None, {}, {}, set()
        return
    with _dvc(root) as dvc_repo:
        outputs, errors = _outputs(dvc_repo, revs)
        every = {h for paths in outputs.values() for ids in paths.values() for h in ids}
        check.outputs = sum(len(p) for p in outputs.values())
        yield dvc_repo, outputs, errors, every


def _mark_missing(
    check: OutputCheck, outputs: Outputs, errors: dict[str, str], present: set[str]
) -> OutputCheck:
    """Record in `check.missing` each experiment's outputs not all in `present` (hash values)
    and the experiments whose outputs could not be read."""
    for name, paths in sorted(outputs.items()):
        bad = sorted(p for p, ids in paths.items() if any(h.value not in present for h in ids))
        if bad:
            check.missing[name] = bad
    for name, error in sorted(errors.items()):
        check.missing[name] = [f"(outputs unreadable: {error})"]
    return check


def ensure_shared(
    repo: str | os.PathLike[str], remote: str | None = None, names: list[str] | None = None
) -> OutputCheck:
    """Check every cached output of the experiments (`names`, default all) is on the DVC
    remote (`remote`, default the workspace's default remote); push missing objects from the
    local cache. Returns the check; `missing` lists what still is not shared."""
    check = OutputCheck(remote)
    with _outputs_of(repo, names, check) as (dvc_repo, outputs, errors, every):
        if dvc_repo is None:
            return check
        odb = _remote_odb(dvc_repo, remote)
        if odb is not None:
            check.remote = remote or dvc_repo.config["core"].get("remote")
            there = _present(odb, every)
            todo = {h for h in every if h.value not in there}
            if todo:
                result = dvc_repo.cloud.push(todo, remote=remote)
                check.pushed = len(result.transferred)
                there |= _present(odb, todo)
        else:
            there = set()
    return _mark_missing(check, outputs, errors, there)


def missing_outputs(
    repo: str | os.PathLike[str], names: list[str], remote: str | None = None
) -> OutputCheck:
    """Outputs of the experiments `names` that are neither in the local cache nor on the DVC
    remote (what a `dvc exp apply` + `dvc pull` of them could not restore)."""
    check = OutputCheck(remote)
    with _outputs_of(repo, names, check) as (dvc_repo, outputs, errors, every):
        if dvc_repo is None:
            return check
        here = _present(dvc_repo.cache.local, every)
        odb = _remote_odb(dvc_repo, remote)
        there = _present(odb, every - {h for h in every if h.value in here}) if odb else set()
        check.remote = (remote or dvc_repo.config["core"].get("remote")) if odb else None
    return _mark_missing(check, outputs, errors, here | there)


def _commit_has_remote(g: GitRepo, sha: str, name: str) -> bool:
    import configparser

    try:
        blob = g.repo.revparse_single(f"{sha}:.dvc/config")
    except (KeyError, ValueError):
        return False
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(blob.data.decode("utf-8", "replace"))
    except configparser.Error:
        return False
    has_default = parser.get("core", "remote", fallback="").strip("'\" ") == name
    return has_default and parser.has_section(f'remote "{name}"')


def without_remote(repo: str | os.PathLike[str], names: list[str]) -> tuple[str, list[str]]:
    """(the workspace's default DVC remote, the experiments `names` committed without it):
    `dvc exp apply` restores an experiment's own `.dvc/config`, so a `dvc pull` after it finds
    no remote. Nothing is written (issue 19: a pinned copy in `.dvc/config.local` kept pushes
    going to an old URL after the team changed it); `expbook pull` says what to do instead.
    ("", []) when there is no default remote or every experiment has it."""
    g = GitRepo(repo)
    revs = {n: s for n, s in exp_refs(g.root).items() if n in set(names)}
    if not revs:
        return "", []
    with _dvc(g.root) as dvc_repo:
        shared = dvc_repo.config.read("repo")
        name = shared.get("core", {}).get("remote")
        if not name or name not in shared.get("remote", {}):
            return "", []
    return name, sorted(n for n, sha in revs.items() if not _commit_has_remote(g, sha, name))


def remote_exp_names(repo: str | os.PathLike[str], git_remote: str) -> list[str]:
    """Names of the experiments the git remote holds (what `dvc exp pull --all-commits` got)."""
    proc = run_git("ls-remote", git_remote, "refs/exps/*", cwd=GitRepo(repo).root, check=False)
    names = []
    for line in proc.stdout.splitlines():
        parts = line.split("\t")[-1].split("/")
        if len(parts) == 5 and len(parts[2]) == 2:
            names.append(parts[4])
    return names


def describe_missing(check: OutputCheck, verb: str) -> str:
    where = f"DVC remote {check.remote!r}" if check.remote else "any DVC remote (none configured)"
    n = sum(len(p) for p in check.missing.values())
    return f"{n} output(s) of {len(check.missing)} experiment(s) {verb} {where}: {check.listing()}"
