"""Benchmark: pygit2 vs GitPython (vs plain file reads) on the git operations the registry uses.

Builds a repo with N experiment refs (benchmarks/registry.py's synthesizer), then times: import,
listing refs, reading each experiment commit (time, message, parents) and reading three blobs
by path from its tree. Prints medians of --runs and the ratio to the fastest. Run:
    .venv/bin/python benchmarks/git_backends.py --n 1000 --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from registry import ENV, synthesize

FILES = ("params.yaml", "metrics.json", "dvc.lock")

PYGIT2 = """
import sys, time
t0 = time.perf_counter()
import pygit2
t1 = time.perf_counter()
repo = pygit2.Repository(sys.argv[1])
refs = {r: repo.references[r].target for r in repo.references if r.startswith("refs/exps/")}
t2 = time.perf_counter()
total = 0
for oid in refs.values():
    c = repo[oid]
    meta = (c.commit_time, c.message.split("\\n", 1)[0], c.parent_ids)
    tree = c.tree
    for name in FILES:
        total += len(repo[tree[name].id].data)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, len(refs), total)
"""

GITPYTHON = """
import sys, time
t0 = time.perf_counter()
import git
t1 = time.perf_counter()
repo = git.Repo(sys.argv[1])
refs = {r.path: r.commit for r in repo.refs if r.path.startswith("refs/exps/")}
t2 = time.perf_counter()
total = 0
for c in refs.values():
    meta = (c.committed_date, c.message.split("\\n", 1)[0], c.parents)
    for name in FILES:
        total += len((c.tree / name).data_stream.read())
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, len(refs), total)
"""

# expbook's own ref reading: plain files (packed-refs + loose refs), no library import
FILEREFS = """
import sys, time
t0 = time.perf_counter()
from expbook.registry.gitrepo import GitRepo
t1 = time.perf_counter()
refs = {r: s for r, s in GitRepo(sys.argv[1]).refs().items() if r.startswith("refs/exps/")}
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, 0.0, len(refs), 0)
"""


def run(code: str, path: Path) -> list[float]:
    code = f"FILES = {FILES!r}\n" + code
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=ENV, check=True
    ).stdout.split()
    return [float(x) for x in out[:3]] + [int(out[3]), int(out[4])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="expbook-gitbench-"))
    try:
        synthesize(workdir / "repo", args.n)
        results = {}
        for label, code in (
            ("pygit2", PYGIT2),
            ("GitPython", GITPYTHON),
            ("plain files (refs only)", FILEREFS),
        ):
            runs = [run(code, workdir / "repo") for _ in range(args.runs)]
            assert len({r[3] for r in runs}) == 1 and runs[0][3] == args.n, runs
            results[label] = [statistics.median(r[i] for r in runs) for i in range(3)]
        print(f"N={args.n} experiment refs, medians of {args.runs} runs (seconds)")
        print(f"{'backend':<24} {'import':>8} {'list refs':>10} {'read commits+3 blobs':>21}")
        for label, (imp, refs, read) in results.items():
            print(f"{label:<24} {imp:8.3f} {refs:10.3f} {read:21.3f}")
        py, gp = results["pygit2"], results["GitPython"]
        print(
            f"GitPython / pygit2: import {gp[0] / py[0]:.1f}x, refs {gp[1] / py[1]:.1f}x, "
            f"reads {gp[2] / py[2]:.1f}x"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
