"""Which remotes a push uses, said out loud and checked before anything is sent (issue 19):
the git remote's URL and the DVC remote DVC itself would pick (the default of the merged
system/global/repo/local config, read fresh every push: expbook writes no config), and for a
local-path DVC remote that it is a writable directory (or can be made one) rather than a file,
a path under a file, or read-only; for an S3 remote that its bucket answers (issue 23).

Used by expbook.share.sync.push and `expbook push`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import run_git


@dataclass(frozen=True)
class Remote:
    """A remote as a push reports it: `kind` ("git"/"DVC"), name and URL."""

    kind: str
    name: str
    url: str

    def __str__(self) -> str:
        return f"{self.kind} remote {self.name!r} ({self.url})"


def git_remote(root: str, name: str) -> Remote:
    """The git remote `name` with its push URL (a path or URL given as-is keeps itself)."""
    proc = run_git("remote", "get-url", "--push", name, cwd=root, check=False)
    return Remote("git", name, proc.stdout.strip() if proc.returncode == 0 else name)


def dvc_remote(root: str) -> Remote | None:
    """The default DVC remote of the workspace's merged config (None when none is set);
    ExpbookError when the default names no remote section or its URL is empty."""
    from dvc.config import Config, ConfigError

    try:
        conf = Config(os.path.join(root, ".dvc"))
    except ConfigError as exc:
        raise ExpbookError(f"DVC config: {exc}") from None
    name = conf["core"].get("remote")
    if not name:
        return None
    section = conf["remote"].get(name)
    if section is None:
        known = ", ".join(sorted(conf["remote"])) or "none"
        raise ExpbookError(
            f"DVC's default remote {name!r} (core.remote) is not defined (remotes: {known}); "
            f"fix it with `dvc remote default NAME`"
        )
    url = str(section.get("url") or "").strip()
    # DVC reads a relative path from the config file's folder: an empty URL comes back as .dvc/
    if not url or os.path.realpath(url) == os.path.realpath(os.path.join(root, ".dvc")):
        raise ExpbookError(
            f"DVC remote {name!r} has an empty URL; set one with `dvc remote modify {name} url URL`"
        )
    remote = Remote("DVC", name, url)
    path = local_path(url)
    if path is not None:
        for inner in (".git", ".dvc"):
            folder = Path(os.path.realpath(os.path.join(root, inner)))
            real = Path(os.path.realpath(path))
            if real == folder or folder in real.parents:
                raise ExpbookError(f"refusing to push to {remote}: it is inside {inner}/")
    return remote


def local_path(url: str) -> Path | None:
    """The directory a local DVC remote URL names (a path or file://), None for other kinds."""
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if "://" in url or url.startswith(("remote://",)):
        return None
    return Path(url)


def check_writable(remote: Remote) -> None:
    """ExpbookError (one line) when a local-path remote is a file, lies under a file, or is
    read-only (for a missing directory: its nearest existing parent). Other kinds are left to
    DVC, whose errors are reported as they come."""
    path = local_path(remote.url)
    if path is None:
        return
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"lies under a file ({probe})"
        raise ExpbookError(f"cannot push to {remote}: the path {where}, not a directory")
    if probe.is_dir() and not _can_write(probe):
        what = "the directory" if probe == path else f"its parent {probe}"
        raise ExpbookError(f"cannot push to {remote}: {what} is read-only")


def _can_write(folder: Path) -> bool:
    """Whether a file can be made in `folder`, tried for real (root passes any permission
    check, but not a read-only mount or an immutable directory)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".expbook-probe-"):
            return True
    except OSError:
        return False


def check_reachable(root: str, remote: Remote) -> None:
    """ExpbookError (one line) when an S3 DVC remote's bucket cannot be reached with the
    workspace's DVC config (endpointurl, credentials): the server is down, the endpoint is
    wrong, the bucket does not exist or access is denied. Asked with one HEAD of the bucket,
    through DVC's own S3 filesystem, before anything is pushed. Other kinds are left to DVC."""
    if not remote.url.startswith("s3://"):
        return
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    bucket = remote.url[len("s3://") :].split("/", 1)[0]
    try:
        with Repo(root) as dvc_repo:
            odb = dvc_repo.cloud.get_remote_odb(remote.name, "push")
            odb.fs.fs.call_s3("head_bucket", Bucket=bucket)
    except DvcException as exc:  # e.g. dvc-s3 not installed
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = " (install it: pip install 'expbook[s3]')" if "dependencies" in first else ""
        raise ExpbookError(f"cannot push to {remote}: {first}{hint}") from None
    except FileNotFoundError:
        raise ExpbookError(
            f"cannot push to {remote}: bucket {bucket!r} does not exist{_at(root, remote)}; "
            "nothing was pushed"
        ) from None
    except PermissionError as exc:
        raise ExpbookError(
            f"cannot push to {remote}: access to bucket {bucket!r} denied{_at(root, remote)} "
            f"({_one_line(exc)}); check the credentials; nothing was pushed"
        ) from None
    except Exception as exc:  # botocore's connection errors, timeouts, bad endpoint URLs
        if any(k.__name__ == "NoCredentialsError" for k in type(exc).__mro__):
            raise ExpbookError(
                f"cannot push to {remote}: no AWS credentials found (none in the environment, "
                "~/.aws or the DVC config); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE, or `dvc remote modify --local "
                f"{remote.name} access_key_id ...`; nothing was pushed"
            ) from None
        raise ExpbookError(f"cannot reach {remote}: {_one_line(exc)}; nothing was pushed") from None


def _at(root: str, remote: Remote) -> str:
    """' at ENDPOINT' when the remote sets an endpointurl (an S3-compatible server)."""
    from dvc.config import Config, ConfigError

    try:
        endpoint = Config(os.path.join(root, ".dvc"))["remote"][remote.name].get("endpointurl")
    except (ConfigError, KeyError):  # read a moment ago: a race only loses the detail
        return ""
    return f" at {endpoint}" if endpoint else ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
