"""Re-run an experiment's pipeline from scratch in a temporary git worktree and diff its results.

Used by `expbook reproduce` and `expbook check`; compares every metric and every output hash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError
from expbook.proc import popen
from expbook.registry.dvcfiles import flatten_file
from expbook.registry.gitrepo import GitRepo, remove_worktree, run_git
from expbook.repro.digest import (  # noqa: F401  (public names of this module too)
    _files_of,
    curve_name,
    matches,
    normalised_digest,
)

if TYPE_CHECKING:  # DVC is imported on use
    from dvc.repo import Repo

# Wall-clock-type values change on every run by nature; documented in README "Reproducing".
DEFAULT_IGNORE = (
    "*time*",
    "*per_s*",
    "*samples_per*",
    "*timestamp*",
    "*duration*",
    "*wallclock*",
    "system.*",
)
# Outputs whose content is about the machine, not the result (matched against the out's path
# and each file in it); dvclive's timestamp columns are already dropped via DEFAULT_IGNORE.
DEFAULT_IGNORE_OUT = ("*environment.json", "*report.html", "*report.md")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class ReproduceError(ExpbookError):
    """The pipeline could not be re-run (checkout failed, a stage failed, nothing recorded)."""


@dataclass
class Diff:
    kind: str  # "metric" | "out"
    key: str  # full metric key, or output path
    recorded: Any
    reproduced: Any
    status: str  # equal | within tolerance | differs | missing | new | ignored
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("equal", "within tolerance", "ignored")


@dataclass
class Reproduction:
    rev: str  # full sha reproduced
    name: str  # what the user asked for
    diffs: list[Diff] = field(default_factory=list)
    error: str | None = None
    workspace: str | None = None  # the kept worktree (--keep), else None
    recorded_metrics: dict[str, Any] = field(default_factory=dict)
    reproduced_metrics: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Equal within tolerance (and no error)."""
        return self.error is None and all(d.ok for d in self.diffs)

    @property
    def bit_exact(self) -> bool:
        return self.error is None and all(d.status in ("equal", "ignored") for d in self.diffs)

    @property
    def exit_code(self) -> int:
        return 2 if self.error else (0 if self.ok else 1)

    def summary(self) -> str:
        if self.error:
            return f"{self.name} ({self.rev[:7]}): error: {self.error}"
        bad = [d for d in self.diffs if not d.ok]
        if not bad:
            how = "bit-exactly" if self.bit_exact else "within tolerance"
            if any(d.kind == "out" and d.recorded != d.reproduced for d in self.diffs):
                how += " (ignored parts aside)"  # an output's bytes differ (its timestamps)
            return f"{self.name} ({self.rev[:7]}): reproduced {how}"
        return f"{self.name} ({self.rev[:7]}): NOT reproduced ({_plural(len(bad), 'difference')})"


def rev_parse(repo: str | os.PathLike[str], rev: str) -> str:
    """The full sha of a commit-ish; NotFoundError naming `rev` otherwise."""
    return str(GitRepo(repo).rev_commit(rev).id)


@contextmanager
def worktree(repo: str | os.PathLike[str], rev: str, keep: bool = False) -> Iterator[Path]:
    """A detached git worktree of `rev` with its own empty DVC cache; removed on exit unless keep."""
    root = Path(tempfile.mkdtemp(prefix="expbook-reproduce-"))
    path = root / "ws"
    proc = run_git("worktree", "add", "--detach", "--force", str(path), rev, cwd=repo, check=False)
    if proc.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ReproduceError(f"cannot check out {rev} into a worktree: {proc.stderr.strip()}")
    try:
        # a fresh cache dir: nothing can come from the original cache, run-cache or a remote
        (root / "cache").mkdir()
        dvc_dir = path / ".dvc"
        if dvc_dir.is_dir():
            with open(dvc_dir / "config.local", "a", encoding="utf-8") as fh:
                fh.write(f"\n[cache]\n    dir = {root / 'cache'}\n")
        yield path
    finally:
        if not keep:
            remove_worktree(repo, path)
            shutil.rmtree(root, ignore_errors=True)


def run_repro(path: Path, log: Path) -> None:
    """`dvc repro --force --no-run-cache` in `path` (never pulls); ReproduceError with the log tail."""
    cmd = [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    # its own process group: Ctrl-C or SIGTERM stops dvc and the stage it runs (proc.popen)
    # before the worktree is removed
    with (
        open(log, "w", encoding="utf-8") as fh,
        popen(cmd, cwd=path, stdout=fh, stderr=subprocess.STDOUT, env=env) as child,
    ):
        code = child.wait()
    if code != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:])
        raise ReproduceError(f"`dvc repro` failed with exit code {code}:\n{tail}")


# ---------------------------------------------------------------- snapshots
@dataclass
class OutState:
    use_cache: bool
    hash: str | None  # as dvc.lock records it
    files: dict[str, str] = field(default_factory=dict)  # uncached outs: file -> normalised digest


@dataclass
class Snapshot:
    """What a checkout of a pipeline says about its results (read with DVC's own API)."""

    metrics: dict[str, Any] = field(default_factory=dict)  # "path:a.b" -> value
    metric_files: set[str] = field(default_factory=set)
    outs: dict[str, OutState] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def hash_tree(
    root: str | os.PathLike[str],
    ignore: Iterable[str] = DEFAULT_IGNORE,
    recorded_cache: str | None = None,
) -> Snapshot:
    """Metrics, dvc.lock output hashes and normalised uncached outputs of a checkout.

    `recorded_cache` (a DVC cache's files/md5 dir): where to read cached metrics files that git
    does not hold, so their recorded values can be compared; they are copied into `root`.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    root = Path(root)
    ignore = list(ignore)
    snap = Snapshot()
    try:
        with Repo(str(root)) as repo:
            for out in repo.index.outs:
                rel = Path(os.path.relpath(out.fs_path, root)).as_posix()
                state = OutState(use_cache=out.use_cache, hash=out.hash_info.value or None)
                if not out.use_cache:
                    state.files = _files_of(root, rel, ignore)
                snap.outs[rel] = state
                if recorded_cache and out.metric and out.use_cache and state.hash:
                    _restore(Path(recorded_cache), state.hash, Path(out.fs_path))
                if out.plot:
                    snap.plots.append(rel)
            for path, entry in repo.metrics.show().get("", {}).get("data", {}).items():
                snap.metric_files.add(path)
                if "error" in entry:
                    snap.errors[path] = str(entry["error"])
                else:
                    flatten_file(path, entry.get("data", {}), snap.metrics)
            snap.plots += _top_level_plots(repo)
    except DvcException as err:
        raise ReproduceError(f"DVC cannot read the pipeline in {root}: {err}") from err
    snap.plots = sorted(set(snap.plots))
    return snap


def _restore(cache: Path, md5: str, target: Path) -> None:
    source = cache / md5[:2] / md5[2:]
    if not target.exists() and source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def cache_dir(repo: str | os.PathLike[str]) -> str | None:
    """The files/md5 directory of a repo's local DVC cache (None if DVC cannot tell)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(os.fspath(repo)) as dvc_repo:
            return dvc_repo.cache.local.path
    except (DvcException, AttributeError):
        return None


def _top_level_plots(repo: Repo) -> list[str]:
    out = []
    for dvcfile, defs in getattr(repo.index, "_plots", {}).items():
        wdir = os.path.relpath(os.path.dirname(dvcfile), repo.root_dir)
        for item in defs:
            for key, spec in item.items() if isinstance(item, dict) else [(item, None)]:
                y_files = spec.get("y") if isinstance(spec, dict) else None
                files = list(y_files) if isinstance(y_files, dict) else [key]
                out += [Path(os.path.normpath(os.path.join(wdir, f))).as_posix() for f in files]
    return out


# ---------------------------------------------------------------- comparison
def _nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _compare_values(a: Any, b: Any, tolerance: float) -> str:
    if a == b and isinstance(a, str) == isinstance(b, str):  # "1" vs 1 is a change
        return "equal"
    if _nan(a) and _nan(b):  # NaN == NaN is False, but a NaN reproduced is a NaN reproduced
        return "equal"
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numeric and abs(a - b) <= tolerance:
        return "within tolerance"
    return "differs"


def compare(
    before: Snapshot,
    after: Snapshot,
    *,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    ignore_out: Iterable[str] = DEFAULT_IGNORE_OUT,
    tolerance: float = 0.0,
) -> list[Diff]:
    """Diff rows: every metric, then every output (hash; uncached outs by normalised content)."""
    ignore, ignore_out = list(ignore), list(ignore_out)
    diffs: list[Diff] = []
    for key in sorted(set(before.metrics) | set(after.metrics)):
        a, b = before.metrics.get(key), after.metrics.get(key)
        name = key.split(":", 1)[-1]
        if matches(name, ignore) or (any(":" in p for p in ignore) and matches(key, ignore)):
            status = "ignored"
        elif key not in after.metrics:
            status = "missing"
        elif key not in before.metrics:
            status = "new"
        else:
            status = _compare_values(a, b, tolerance)
        diffs.append(Diff("metric", key, a, b, status))
    for path in sorted(set(before.errors) | set(after.errors)):
        diffs.append(
            Diff(
                "metric",
                path,
                before.errors.get(path),
                after.errors.get(path),
                "unreadable",
                "a metrics file could not be read",
            )
        )
    metric_files = before.metric_files | after.metric_files
    for path in sorted(set(before.outs) | set(after.outs)):
        if path in metric_files:
            continue  # compared value by value above (timing keys ignored, tolerance applied)
        a, b = before.outs.get(path), after.outs.get(path)
        if matches(path, ignore_out):
            diffs.append(Diff("out", path, a and a.hash, b and b.hash, "ignored"))
        elif b is None or b.hash is None:
            diffs.append(Diff("out", path, a and a.hash, None, "missing"))
        elif a is None:
            diffs.append(Diff("out", path, None, b.hash, "new"))
        elif a.hash == b.hash:
            diffs.append(Diff("out", path, a.hash, b.hash, "equal"))
        elif not a.use_cache and a.files and b.files:
            diffs.append(_compare_files(path, a, b, ignore_out))
        else:
            diffs.append(Diff("out", path, a.hash, b.hash, "differs"))
    return diffs


def _compare_files(path: str, a: OutState, b: OutState, ignore_out: list[str]) -> Diff:
    """An uncached out whose hash changed: equal if every file matches once ignored keys/columns go."""
    changed = [
        f
        for f in sorted(set(a.files) | set(b.files))
        if not matches(f, ignore_out) and a.files.get(f) != b.files.get(f)
    ]
    if not changed:
        return Diff(
            "out",
            path,
            a.hash,
            b.hash,
            "equal",
            "identical once ignored keys/columns (e.g. timestamps) are dropped",
        )
    shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
    return Diff("out", path, a.hash, b.hash, "differs", f"changed: {shown}")


def _check_recorded_cache(repo: str | os.PathLike[str], sha: str, before: Snapshot) -> None:
    """A recorded output whose object in the repo's DVC cache no longer matches its dvc.lock
    hash (a tampered/bit-rotted checkpoint) fails the reproduction (issue 14)."""
    from expbook.registry.dvccache import dvc_cache_dir
    from expbook.registry.gitrepo import find_root
    from expbook.repro.verify import check_recorded

    recorded = {rel: o.hash for rel, o in before.outs.items() if o.use_cache and o.hash}
    if recorded:
        check_recorded(dvc_cache_dir(find_root(repo)), recorded, f"{sha[:7]}'s DVC cache")


# ---------------------------------------------------------------- entry points
def reproduce(
    repo: str | os.PathLike[str] = ".",
    rev: str = "HEAD",
    *,
    name: str | None = None,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    ignore_out: Iterable[str] = DEFAULT_IGNORE_OUT,
    tolerance: float = 0.0,
    keep: bool = False,
) -> Reproduction:
    """Re-run `rev`'s pipeline from scratch in a worktree and compare with what it recorded.

    Errors while re-running are reported in `Reproduction.error` (exit code 2), not raised; an
    unknown rev raises NotFoundError.
    """
    if tolerance < 0:
        raise ExpbookError(f"--tolerance must be >= 0, got {tolerance}")
    sha = rev_parse(repo, rev)
    result = Reproduction(rev=sha, name=name or rev)
    ignore, ignore_out = list(ignore), list(ignore_out)
    with worktree(repo, sha, keep=keep) as path:
        if keep:
            result.workspace = str(path)
        try:
            # cached metrics files are read from the original cache; the run itself never is
            before = hash_tree(path, ignore, recorded_cache=cache_dir(repo))
            if not before.outs and not before.metrics:
                raise ReproduceError(f"{sha[:7]} records no outputs or metrics (no dvc.lock?)")
            result.plots = before.plots
            _check_recorded_cache(repo, sha, before)
            run_repro(path, path.parent / "repro.log")
            after = hash_tree(path, ignore)
        except ExpbookError as err:
            result.error = str(err)
            return result
        result.recorded_metrics, result.reproduced_metrics = before.metrics, after.metrics
        result.diffs = compare(
            before, after, ignore=ignore, ignore_out=ignore_out, tolerance=tolerance
        )
    return result
