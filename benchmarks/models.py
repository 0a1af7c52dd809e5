"""Benchmark: the model registry at N GTO tags (default 1,500), expbook against `gto`, same run.

Synthesizes a repository with `--models` models whose versions are registered, assigned,
unassigned and deregistered until there are N annotated tags (GTO's format, written with
`git tag -a`), then times, as whole processes, medians of `--runs`:

    expbook model list --json          vs  gto show --json
    expbook model resolve M --stage S  vs  gto show M#S --ref

Target (issue 22): list and resolve at 1,500 tags <= 0.3 s warm. Run:
    .venv/bin/python benchmarks/models.py --tags 1500 --runs 5 [--repo /tmp/models-bench --keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_S = 0.3


def _git(path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=path, check=True, capture_output=True, text=True, env=env
    ).stdout


def synthesize(path: Path, n_tags: int, n_models: int) -> tuple[str, str]:
    """A git repo (no DVC needed to read tags) with `n_tags` GTO tags over `n_models` models;
    returns (a model, a stage) to resolve."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "bench")
    _git(path, "config", "user.email", "bench@expbook.invalid")
    commits = []
    # one commit per registered version: GTO refuses two versions of a model on one commit
    for i in range(n_tags // 4 + 1):
        (path / "f.txt").write_text(f"{i}\n")
        _git(path, "add", "f.txt")
        _git(path, "commit", "-q", "-m", f"c{i}")
        commits.append(_git(path, "rev-parse", "HEAD").strip())
    counter = {m: 0 for m in range(n_models)}
    written = 0
    step = 0
    t0 = 1_700_000_000
    while written < n_tags:
        m = step % n_models
        name = f"model-{m}"
        k = step // n_models  # the model's k-th cycle: register, assign, (un)assign...
        sha = commits[step]
        plan = [
            f"{name}@v0.{k}.0",
            f"{name}#staging",
            f"{name}#prod",
            f"{name}#staging!",
        ]
        for body in plan:
            if written >= n_tags:
                break
            counter[m] += 1
            env = {**os.environ, "GIT_COMMITTER_DATE": f"{t0 + written} +0000"}
            _git(path, "tag", "-a", f"{body}#{counter[m]}", "-m", body, sha, env=env)
            written += 1
        step += 1
    return "model-0", "prod"


def timed(cmd: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds: the child's user + sys) of `runs` runs after a
    warm-up. CPU time is what to compare on a loaded machine, where wall time waits for a core."""
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)  # warm-up
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", type=int, default=1500)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repo", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="expbook-models-bench-"))
    repo = args.repo or base / "repo"
    try:
        if not repo.exists():
            model, stage = synthesize(repo, args.tags, args.models)
        else:
            model, stage = "model-0", "prod"
        expbook, gto = str(BIN / "expbook"), str(BIN / "gto")
        rows = [
            ("list", [expbook, "model", "list", "--json"], [gto, "show", "--json"]),
            (
                "resolve",
                [expbook, "model", "resolve", model, "--stage", stage],
                [gto, "show", f"{model}#{stage}", "--ref"],
            ),
        ]
        print(f"model registry at {args.tags} tags, {args.models} models; median of {args.runs}")
        print(
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall waits for one)"
        )
        head = f"{'command':<9} {'expbook wall':>12} {'cpu':>6} {'gto wall':>9} {'cpu':>6}"
        print(f"{head} {'ratio':>6}  target (wall, cpu)")
        for what, mine, theirs in rows:
            (a, a_cpu), (b, b_cpu) = timed(mine, repo, args.runs), timed(theirs, repo, args.runs)
            met = "met" if a <= TARGET_S else "NOT met"
            met_cpu = "met" if a_cpu <= TARGET_S else "NOT met"
            print(
                f"{what:<9} {a:>12.3f} {a_cpu:>6.3f} {b:>9.3f} {b_cpu:>6.3f} {a / b:>6.3f}  "
                f"<= {TARGET_S} s: {met}, {met_cpu}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
