"""Benchmark (issue 23): the team's experiments on a git remote, read without pulling them.

A bare git remote on disk gets N experiment refs (synthesized with git plumbing, as in
benchmarks/registry.py, pushed by an "author" clone); a fresh clone then times
`expbook registry --remote origin --format json` (fetch into refs/expbook/remotes/origin/ +
read): the first look (target ≤ 30 s at 10,000), a look after 100 new experiments were
pushed (target ≤ 2 s) and a look with nothing new. Beside it, in the same run, another fresh
clone times `dvc exp pull origin -A --no-cache` + `dvc exp show -A --json`, DVC's way to see
them, for N up to --dvc-max (DVC needs ~39 s for `exp show` of 1,000 experiments alone, see
docs/benchmarks.md: at 10,000 one run takes many minutes, so larger N are left to
`--dvc-max 10000`). Run:
    .venv/bin/python benchmarks/team.py                 # N = 10,000, dvc at 1,000
    .venv/bin/python benchmarks/team.py --sizes 1000 10000 --dvc-max 1000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry import PY, _run, add_experiments, synthesize
from registry import timed as _wall

CPU: dict[str, float] = {}  # CPU seconds (user + sys) of the last timed run's processes


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    """(wall seconds, stdout) of one run; its CPU seconds (with git's) are kept in CPU: on a
    shared machine the wall time includes waiting for a core."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, out = _wall(args, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, out


LOOK = [PY, "-c", "from expbook.cli import main; main()", "registry", "--remote", "origin"]
LOOK += ["--format", "json"]
DVC_PULL = [PY, "-m", "dvc", "exp", "pull", "origin", "-A", "--no-cache"]
DVC_SHOW = [PY, "-m", "dvc", "exp", "show", "-A", "--json"]


def _push_all(author: Path, remote: Path) -> None:
    _run(["git", "push", "-q", str(remote), "main", "refs/exps/*:refs/exps/*"], author)


def _clone(remote: Path, dest: Path) -> Path:
    _run(["git", "clone", "-q", str(remote), str(dest)], dest.parent)
    return dest


def bench(n: int, runs: int, dvc_max: int, workdir: Path) -> dict:
    res: dict = {"n": n}
    author = workdir / f"author-{n}"
    remote = workdir / f"remote-{n}.git"
    t0 = time.perf_counter()
    synthesize(author, n)
    _run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], workdir)
    _push_all(author, remote)
    print(f"# N={n}: remote made in {time.perf_counter() - t0:.1f}s", flush=True)

    times: dict[str, list[float]] = {}

    def note(key: str, wall: float) -> None:
        times.setdefault(key, []).append(wall)
        times.setdefault(f"{key}_cpu", []).append(CPU["last"])

    for i in range(runs):  # each run a fresh clone: a first look is a first look
        carol = _clone(remote, workdir / f"carol-{n}-{i}")
        t, out = timed(LOOK, carol)
        note("first_look", t)
        rows = json.loads(out)
        assert sum(r["kind"] == "experiment" for r in rows) == n + 100 * i, len(rows)
        add_experiments(author, 100)
        _push_all(author, remote)
        t, out = timed(LOOK, carol)
        note("after_100", t)
        assert sum(r["kind"] == "experiment" for r in json.loads(out)) == n + 100 * (i + 1)
        note("look_nothing_new", timed(LOOK, carol)[0])
        shutil.rmtree(carol)
    res.update({key: statistics.median(values) for key, values in times.items()})
    if n <= dvc_max:
        dave = _clone(remote, workdir / f"dave-{n}")
        res["dvc_exp_pull_A"] = timed(DVC_PULL, dave)[0]
        res["dvc_exp_pull_A_cpu"] = CPU["last"]
        t, out = timed(DVC_SHOW, dave)
        res["dvc_exp_show_A"] = t
        res["dvc_exp_show_A_cpu"] = CPU["last"]
        doc = json.loads(out)
        res["dvc_rows"] = sum(len(r["revs"]) for b in doc for r in b.get("experiments") or [])
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000])
    parser.add_argument("--runs", type=int, default=1, help="fresh clones per size (medians)")
    parser.add_argument("--dvc-max", type=int, default=1000, help="time dvc up to this N")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="expbook-bench-team-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            res = bench(n, args.runs, args.dvc_max, workdir)
            line = ", ".join(f"{k} {v:.2f}s" if isinstance(v, float) else f"{k} {v}"
                             for k, v in res.items())  # fmt: skip
            print(line, flush=True)
            if n == 10000:
                for kind, what in (("", "wall"), ("_cpu", "CPU")):
                    met = res[f"first_look{kind}"] <= 30 and res[f"after_100{kind}"] <= 2
                    verdict = "met" if met else "NOT met"
                    print(f"targets, {what} (first look ≤ 30 s, +100 ≤ 2 s): {verdict}")
            print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
