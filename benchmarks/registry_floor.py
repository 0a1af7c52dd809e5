"""Benchmark: the floor under a cold registry read (issue 8's 100k target), per experiment.

On a repo of N synthesized experiments (benchmarks/registry.py makes it, or reuses one kept
in --workdir), prints the CPU time per experiment (median of --runs, garbage collector off as
in the registry's read) of the work any reader of those experiments must do, next to the
budget the 100k cold target leaves (target seconds x cores / 100,000):
  git      pygit2 reads each experiment's commit, tree and its three blobs, nothing else
  cat-file `git cat-file --batch` does the same lookups in C (its own CPU, user + sys)
  parse    the registry's own parsers on those bytes (dvc.lock, params.yaml, metrics.json)
  lean     git, then parse, over all experiments (all reads, then all parses; the registry
           does this per batch of 250): no memo, snapshot assembly, cache or row
  mixed    the same commit by commit (read one experiment's blobs, parse them, next)
  expbook  what expbook's cold read costs as a whole (`registry --format json`, CPU of all
           its processes; registry.py times its wall clock)
Run: .venv/bin/python benchmarks/registry_floor.py --n 100000 --workdir /tmp/bench-regcold
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import registry as bench  # benchmarks/registry.py: the synthesized repos

sys.path.insert(0, str(bench.ROOT / "src"))
FILES = ("dvc.lock", "params.yaml", "metrics.json")
PARALLEL_JOBS = 2  # expbook.registry.reader.PARALLEL_JOBS


def blobs_of(path: Path, shas: list[str]) -> Iterator[tuple]:
    """Each commit's time, message and three blobs, read as they are asked for, through a new
    repository handle (cold libgit2 object cache, as a cold registry read has), looked up by
    Oid as GitRepo does."""
    import pygit2

    repo = pygit2.Repository(str(path))
    odb = repo.odb
    for sha in shas:
        commit = repo[pygit2.Oid(hex=sha)]
        tree = commit.tree
        yield (commit.commit_time, commit.message, *(odb.read(tree[f].id)[1] for f in FILES))


def read_blobs(path: Path, shas: list[str]) -> list[tuple]:
    return list(blobs_of(path, shas))


def mixed(path: Path, shas: list[str]) -> list[dict]:
    """read and parse commit by commit."""
    return [parse(item) for item in blobs_of(path, shas)]


def parse(item: tuple) -> dict:
    from expbook.registry import snapshot

    lock, params, metrics = item[2:]
    return {
        "outs": snapshot._lock_of("dvc.lock", lock)[1],
        "params": snapshot._params_of("params.yaml", lambda: params, None),
        "metrics": snapshot._metrics_of("metrics.json", lambda: metrics),
    }


def cpu_us(fn, n: int) -> float:
    """CPU microseconds per experiment of fn() in this process, gc off."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        kept = fn()  # held until timed: freeing 100k snapshots is no part of reading them
        spent = time.process_time() - start
        del kept
    finally:
        gc.enable()
    return spent / n * 1e6


def children_cpu_us(args: list[str], cwd: Path, n: int, stdin: bytes | None = None) -> float:
    """CPU microseconds per experiment of a child process (user + sys of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {k: v for k, v in bench.ENV.items() if k != "EXPBOOK_CACHE_DIR"}  # the cache it drops
    subprocess.run(
        args,
        cwd=cwd,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env=env,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent / n * 1e6


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-regcold"))
    ap.add_argument("--target", type=float, default=5.0, help="cold target at 100k, seconds")
    args = ap.parse_args(argv)
    import pygit2

    path = args.workdir / f"repo-{args.n}"
    if not path.exists():
        args.workdir.mkdir(parents=True, exist_ok=True)
        bench.synthesize(path, args.n)
    repo = pygit2.Repository(str(path))
    shas = [
        str(ref.target) for ref in repo.references.iterator() if ref.name.startswith("refs/exps/")
    ]
    n = len(shas)
    blobs = read_blobs(path, shas)
    batch = "".join(f"{s}:{f}\n" for s in shas for f in FILES).encode()
    cache = path / ".dvc" / "tmp" / "expbook"
    measures = {
        "git": lambda: cpu_us(lambda: read_blobs(path, shas), n),
        "cat-file": lambda: children_cpu_us(
            ["git", "cat-file", "--batch", "--buffer"], path, n, batch
        ),
        "parse": lambda: cpu_us(lambda: [parse(b) for b in blobs], n),
        "lean": lambda: cpu_us(lambda: [parse(b) for b in read_blobs(path, shas)], n),
        "mixed": lambda: cpu_us(lambda: mixed(path, shas), n),
        "expbook": lambda: (
            shutil.rmtree(cache, ignore_errors=True),
            children_cpu_us(bench.EXPBOOK, path, n),
        )[1],
    }
    cores = min(PARALLEL_JOBS, os.cpu_count() or 1)  # the processes a cold read uses
    budget = args.target * cores / 100_000 * 1e6
    print(f"# N={n} experiments, {cores} cores, load {os.getloadavg()[0]:.1f}, {args.runs} runs")
    print(
        f"# budget of a {args.target:g} s cold read of 100k on {cores} cores: {budget:.0f} us CPU/exp"
    )
    for name, measure in measures.items():
        runs = [measure() for _ in range(args.runs)]
        print(
            f"{name:>9} {statistics.median(runs):8.1f} us/exp  (runs: "
            + ", ".join(f"{r:.1f}" for r in runs)
            + ")"
        )


if __name__ == "__main__":
    main()
