"""Integrity of cached outputs: re-hash each experiment's outputs in the local DVC cache against
the md5 its dvc.lock records, as DVC computes it (file bytes; `.dir` objects: the listing and
every file in it; DVC 2's legacy layout with dos2unix text hashing), issue 14.

Used by `expbook verify`, `expbook show --verify` and reproduce/check (a corrupt recorded
checkpoint fails them). Python: `verify.verify_experiments(repo, registry.collect(repo))`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError
from expbook.registry.dvcfiles import is_hash

if TYPE_CHECKING:
    from expbook.registry import Experiment

CHUNK = 1 << 20


@dataclass
class Problem:
    exp: str
    path: str  # the output (and the file inside a directory output)
    kind: str  # "corrupt" | "missing" | "unreadable" (its dvc.lock)
    detail: str

    def __str__(self) -> str:
        return f"{self.exp}: {self.path}: {self.kind} ({self.detail})"


@dataclass
class Report:
    checked: int = 0  # cache objects hashed
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "problems": [vars(p) for p in self.problems],
        }


def md5_of(path: str, legacy: bool = False) -> str:
    """The md5 DVC records for a file: of its bytes (DVC 3); DVC 2 hashed text files with
    CRLF turned into LF (`md5-dos2unix`)."""
    from expbook.registry.files import open_regular

    digest = hashlib.md5()
    with open_regular(path) as fh:  # a FIFO or device in the cache: OSError, no hang
        head = fh.read(8000)
        text = legacy and b"\0" not in head
        data = head
        while data:
            digest.update(data.replace(b"\r\n", b"\n") if text else data)
            data = fh.read(CHUNK)
    return digest.hexdigest()


def object_path(cache_dir: str, md5: str) -> tuple[str, bool] | None:
    """(path, legacy) of an object in the cache (DVC 3 `files/md5/` first), None if absent."""
    for legacy, path in (
        (False, os.path.join(cache_dir, "files", "md5", md5[:2], md5[2:])),
        (True, os.path.join(cache_dir, md5[:2], md5[2:])),
    ):
        if os.path.isfile(path):
            return path, legacy
    return None


class Verifier:
    """Hashes cache objects once each (experiments share most of them)."""

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = cache_dir
        self.seen: dict[str, list[tuple[str, str, str]]] = {}
        self.checked = 0

    def check(self, md5: str) -> list[tuple[str, str, str]] | None:
        """(relpath inside the out, kind, detail) of each bad object; None: not in the cache."""
        if md5 in self.seen:
            return self.seen[md5]
        found = object_path(self.cache_dir, md5)
        if found is None:
            return None
        problems = self._check(md5, *found)
        self.seen[md5] = problems
        return problems

    def _check(self, md5: str, path: str, legacy: bool) -> list[tuple[str, str, str]]:
        bare = md5.removesuffix(".dir")
        self.checked += 1
        try:
            got = md5_of(path, legacy and not md5.endswith(".dir"))
        except OSError as err:
            return [("", "corrupt", f"cannot read cache object: {err.strerror}")]
        if got != bare:
            return [("", "corrupt", f"cache object hashes to {got}, dvc.lock says {bare}")]
        if not md5.endswith(".dir"):
            return []
        try:
            with open(path, "rb") as fh:
                entries = json.load(fh)
        except (OSError, ValueError, RecursionError) as err:
            return [("", "corrupt", f"unreadable directory listing: {err}")]
        problems = []
        for entry in entries if isinstance(entries, list) else []:
            rel, emd5 = str(entry.get("relpath", "?")), str(entry.get("md5", ""))
            if not is_hash(emd5):  # `../../etc/passwd` would hash a file outside the cache
                problems.append((rel, "corrupt", f"the listing names no md5: {emd5[:80]!r}"))
                continue
            sub = self.check(emd5)
            if sub is None:
                problems.append((rel, "missing", f"{emd5} not in the local cache"))
            else:
                problems += [(rel, kind, detail) for _, kind, detail in sub]
        return problems


def verify_outs(
    verifier: Verifier, exp: str, outs: dict[str, dict[str, Any]], in_git: Any = None
) -> list[Problem]:
    """Problems of one experiment's outs ({path: {"hash": "md5:..."}}); `in_git(path)` says
    whether git holds an out that is not in the cache (a `cache: false` output: not checked)."""
    problems = []
    for path, out in sorted(outs.items()):
        value = str(out.get("hash") or "")
        if not value.startswith("md5:"):
            continue  # no md5 recorded (e.g. an etag/checksum out): nothing to compare
        md5 = value[4:]
        found = verifier.check(md5)
        if found is None:
            if in_git is not None and in_git(path):
                continue
            problems.append(Problem(exp, path, "missing", f"{md5} not in the local cache"))
            continue
        for rel, kind, detail in found:
            problems.append(Problem(exp, f"{path}/{rel}" if rel else path, kind, detail))
    return problems


def verify_experiments(repo: str | os.PathLike[str], experiments: Sequence[Experiment]) -> Report:
    """Re-hash the cached outputs of registry Experiments (expbook.registry rows)."""
    from expbook.registry.dvccache import dvc_cache_dir
    from expbook.registry.gitrepo import GitRepo

    g = GitRepo(repo)
    verifier = Verifier(dvc_cache_dir(g.root))
    report = Report()
    for exp in experiments:
        if exp.status in ("queued", "running", "failed"):
            continue  # their dvc.lock is the baseline's: no outputs of their own yet

        def in_git(path: str, rev: str = exp.rev) -> bool:
            if rev == "workspace":
                return os.path.exists(os.path.join(g.root, path))
            try:
                g.repo.revparse_single(f"{rev}:{path}")
                return True
            except (KeyError, ValueError):
                return False

        # a dvc.lock that cannot be read lists no outs: never "all match" (issue 19 review)
        for path, why in sorted(exp.errors.items()):
            if posixpath.basename(path) == "dvc.lock":
                report.problems.append(Problem(exp.name, path, "unreadable", why))
        report.problems += verify_outs(verifier, exp.name, exp.outs, in_git)
    report.checked = verifier.checked
    return report


def check_recorded(cache_dir: str, outs: dict[str, str], what: str) -> None:
    """ExpbookError when an out recorded in `outs` ({path: md5}) is in the cache but corrupt
    (reproduce/check: a corrupt recorded checkpoint is not a reproduction)."""
    verifier = Verifier(cache_dir)
    for path, md5 in sorted(outs.items()):
        for rel, kind, detail in verifier.check(md5) or []:
            if kind == "corrupt":
                shown = f"{path}/{rel}" if rel else path
                raise ExpbookError(f"cache object for {shown} is corrupt ({detail}) in {what}")
