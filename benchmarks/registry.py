"""Benchmark: `expbook registry --format json` vs `dvc exp show --json` on synthesized repos.

Builds real DVC repos with N experiments written as exp refs through pygit2 plumbing, times
both tools cold and warm (medians of --runs), checks the values agree. Run: make bench, or
    .venv/bin/python benchmarks/registry.py --sizes 100 1000 10000 --runs 3
The warm curve alone, on repos kept from an earlier run (no cold runs, no dvc):
    .venv/bin/python benchmarks/registry.py --sizes 1000 10000 100000 --runs 7 \
        --workdir /tmp/bench --warm-only
The table (terminal page, --all, after +100 new experiments) beside JSON (issue 18):
    .venv/bin/python benchmarks/registry.py --table --sizes 2000 10000 100000 --runs 3 \
        --workdir /tmp/bench

Plumbing leaves every object loose (4 per experiment), which no real repo of that size has:
git packs objects and refs on its own once there are more than 6,700 loose objects (`gc.auto`).
So expbook is timed twice per size: on the loose repo as synthesized, then after running what
git's auto-gc would (`git gc --auto`, default settings; it does nothing below the threshold).
The main columns are the latter ("as git keeps it"); dvc is timed on that repo too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT / "src"),
    "DVC_NO_ANALYTICS": "1",
    "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    # time what users run: with compiled bytecode (kept out of the source tree)
    "PYTHONPYCACHEPREFIX": os.path.join(tempfile.gettempdir(), "expbook-bench-pycache"),
}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)
# the peak RSS of each expbook run (VmHWM of its own process) is written to stderr at exit
_PEAK = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('PEAK_KB=' + line.split()[1] + '\\n')\n"
    "atexit.register(_peak)\n"
    "from expbook.cli import main; main()\n"
)
EXPBOOK = [PY, "-c", _PEAK, "registry", "--format", "json"]
PEAKS: list[int] = []  # KiB, one per expbook run, in order
DVC_SHOW = [PY, "-m", "dvc", "exp", "show", "--json"]

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""


def _run(args: list[str], cwd: Path, stdout=subprocess.PIPE) -> str:
    proc = subprocess.run(args, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    PEAKS.extend(int(ln[8:]) for ln in proc.stderr.splitlines() if ln.startswith("PEAK_KB="))
    return proc.stdout or ""


def _lock(params: str, metrics: str, model_md5: str) -> str:
    md5 = hashlib.md5
    return (
        "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n"
        "    - path: train.py\n      hash: md5\n      md5: 0123456789abcdef0123456789abcdef\n"
        "      size: 10\n    params:\n      params.yaml:\n"
        f"        train:\n{params}"
        "    outs:\n    - path: metrics.json\n      hash: md5\n"
        f"      md5: {md5(metrics.encode()).hexdigest()}\n      size: {len(metrics)}\n"
        "    - path: model.bin\n      hash: md5\n"
        f"      md5: {model_md5}\n      size: 100\n"
    )


# from this many experiments on, repos are written with `git fast-import` (one pack) and
# `git pack-refs --all`: the state `git gc` leaves, without its half hour of repacking at 100k
FAST_IMPORT_FROM = 20000


def _experiment_files(i: int) -> tuple[str, str, str]:
    """params.yaml, metrics.json and dvc.lock of synthesized experiment `i`."""
    lr, wd = round(0.001 * (i + 1), 6), round((i % 7) * 0.01, 6)
    p = f"train:\n  lr: {lr}\n  wd: {wd}\n  epochs: 5\n  layers: [64, 32]\nseed: {i % 3}\n"
    m = json.dumps(
        {"val": {"acc": round(1 - lr / 20 - wd, 6), "loss": round(lr + wd, 6)}, "epoch": 5}
    )
    lock = _lock(
        f"          lr: {lr}\n          wd: {wd}\n", m, hashlib.md5(str(i).encode()).hexdigest()
    )
    return p, m, lock


def _fast_import(
    path: Path, base: str, n: int, first: int = 0, pack: bool = True, after: int = 0
) -> None:
    """The same experiments as synthesize()'s plumbing loop, streamed through `git fast-import`:
    experiments first..first+n-1, one second apart, the last one the newest and all newer than
    `after` (a unix time); `pack`: then `git pack-refs --all`."""
    start = max(int(time.time()) - n, after + 1)
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=path, stdin=subprocess.PIPE, env=ENV
    )
    assert proc.stdin is not None
    out = proc.stdin
    for i in range(first, first + n):
        chunks = [f"commit refs/exps/{base[:2]}/{base[2:]}/exp-{i:05d}\n".encode()]
        msg = f"dvc: commit experiment {i}".encode()
        who = f"bench <bench@expbook.invalid> {start + i - first} +0000"
        chunks.append(f"author {who}\ncommitter {who}\ndata {len(msg)}\n".encode() + msg + b"\n")
        chunks.append(f"from {base}\n".encode())
        for name, text in zip(("params.yaml", "metrics.json", "dvc.lock"), _experiment_files(i)):
            data = text.encode()
            chunks.append(f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n")
        out.write(b"".join(chunks) + b"\n")
    out.write(b"done\n")
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    if pack:
        _run(["git", "pack-refs", "--all"], path)


def add_experiments(path: Path, count: int) -> None:
    """`count` new experiments on the repo's baseline (loose refs, as `dvc exp run` leaves
    them), numbered after the ones there: what arrives between two registry reads."""
    base = _run(["git", "rev-parse", "HEAD"], path).strip()
    prefix = f"refs/exps/{base[:2]}/{base[2:]}/"
    names = _run(["git", "for-each-ref", "--format=%(refname)", prefix], path).split()
    newest = _run(
        ["git", "for-each-ref", "--sort=-committerdate", "--count=1"]
        + ["--format=%(committerdate:unix)", prefix],
        path,
    ).strip()
    _fast_import(path, base, count, first=len(names), pack=False, after=int(newest or 0))


def synthesize(path: Path, n: int) -> str:
    """A committed DVC repo with `n` experiments on one baseline, written with git plumbing."""
    import pygit2

    path.mkdir(parents=True)
    _run(["git", "init", "-q", "-b", "main"], path)
    for key, value in (("user.name", "bench"), ("user.email", "bench@expbook.invalid")):
        _run(["git", "config", key, value], path)
    _run([PY, "-m", "dvc", "init", "-q"], path)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "train.py").write_text("print('x')\n")
    params = "train:\n  lr: 0.1\n  wd: 0.0\n  epochs: 5\n  layers: [64, 32]\nseed: 1\n"
    metrics = json.dumps({"val": {"acc": 0.5, "loss": 1.0}, "epoch": 5})
    (path / "params.yaml").write_text(params)
    (path / "metrics.json").write_text(metrics)
    (path / "dvc.lock").write_text(_lock("          lr: 0.1\n", metrics, "0" * 32))
    (path / ".gitignore").write_text("/model.bin\n")
    _run(["git", "add", "-A"], path)
    _run(["git", "commit", "-q", "-m", "baseline"], path)
    repo = pygit2.Repository(str(path))
    base = repo.head.peel(pygit2.Commit)
    if n >= FAST_IMPORT_FROM:
        _fast_import(path, str(base.id), n)
        return str(base.id)
    sig = pygit2.Signature("bench", "bench@expbook.invalid", int(time.time()) - n, 0)
    for i in range(n):
        p, m, lock = _experiment_files(i)
        builder = repo.TreeBuilder(base.tree)
        for name, text in (("params.yaml", p), ("metrics.json", m), ("dvc.lock", lock)):
            builder.insert(name, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
        tree = builder.write()
        when = pygit2.Signature("bench", "bench@expbook.invalid", sig.time + i, 0)
        oid = repo.create_commit(None, when, when, f"dvc: commit experiment {i}", tree, [base.id])
        sha = str(base.id)
        repo.references.create(f"refs/exps/{sha[:2]}/{sha[2:]}/exp-{i:05d}", oid)
    return str(base.id)


def timed(args: list[str], cwd: Path, before=None) -> tuple[float, str]:
    """(seconds, stdout) of one run; stdout goes to a file, read back untimed: the time is
    the tool's own, not that of a pipe reader (reading 88 MB of JSON from a pipe into Python
    adds 0.5-1 s at 100k experiments)."""
    if before:
        before()
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        _run(args, cwd, stdout=sink)
        elapsed = time.perf_counter() - start
        sink.seek(0)
        return elapsed, sink.read().decode()


def median_of(runs: int, args: list[str], cwd: Path, before=None) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        t, out = timed(args, cwd, before)
        times.append(t)
    return statistics.median(times), out


def _dvc_values(doc: list) -> dict[str, tuple[dict, dict]]:
    sys.path.insert(0, str(ROOT / "src"))
    from expbook.registry.dvcfiles import flatten

    def flat(section: dict) -> dict:
        out = {}
        for file, res in (section or {}).items():
            for key, value in flatten(res.get("data") or {}).items():
                out[f"{file}:{key}"] = value
        return out

    values = {}
    for base in doc:
        entries = [base] + [r for rng in base.get("experiments") or [] for r in rng["revs"]]
        for entry in entries:
            data = entry.get("data") or {}
            values[entry["rev"]] = (flat(data.get("params")), flat(data.get("metrics")))
    return values


def check_equal(expbook_json: str, dvc_json: str) -> int:
    """How many rows differ between the two tools (params and metrics of every rev)."""
    rows = {r["rev"]: r for r in json.loads(expbook_json)}
    bad = 0
    for rev, (params, metrics) in _dvc_values(json.loads(dvc_json)).items():
        row = rows.get(rev)
        ours = {**row["params"], **row["metrics"]} if row else {}
        if row is None or any(ours.get(k) != v for k, v in {**params, **metrics}.items()):
            bad += 1
    return bad


def bench(
    n: int, runs: int, with_dvc: bool, workdir: Path, loose: bool = True, warm_only: bool = False
) -> dict:
    path = workdir / f"repo-{n}"
    res: dict = {"n": n}
    cache = path / ".dvc" / "tmp" / "expbook"
    drop = lambda: shutil.rmtree(cache, ignore_errors=True)  # noqa: E731
    if not path.exists():  # --workdir keeps synthesized repos between runs
        t0 = time.perf_counter()
        synthesize(path, n)
        print(f"# N={n}: synthesized in {time.perf_counter() - t0:.1f}s", flush=True)
        if loose and n < FAST_IMPORT_FROM:  # fast-imported repos are packed already
            res["loose_cold"], _ = median_of(runs, EXPBOOK, path, drop)
            res["loose_warm"], _ = median_of(runs, EXPBOOK, path)
        # what git itself does to a repo with this many loose objects (detached=off: wait)
        _run(["git", "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"], path)
    res["packed"] = not any((path / ".git" / "objects").glob("??/*"))
    del PEAKS[:]
    if warm_only:  # one untimed run fills (or validates) the cache
        res["expbook_cold"], res["peak_rss_mib"] = None, None
        _run(EXPBOOK, path)
    else:
        res["expbook_cold"], out = median_of(runs, EXPBOOK, path, drop)
        res["peak_rss_mib"] = max(PEAKS) / 1024 if PEAKS else None
    res["expbook_warm"], out = median_of(runs, EXPBOOK, path)
    rows = len(json.loads(out))
    res["rows"] = rows
    if with_dvc:
        res["dvc_cold"], dvc_out = median_of(runs, DVC_SHOW + ["-f"], path)
        _run(DVC_SHOW, path)  # fill DVC's own cache before timing warm
        res["dvc_warm"], _ = median_of(runs, DVC_SHOW, path)
        res["mismatched_rows"] = check_equal(out, dvc_out)
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--dvc-max",
        type=int,
        default=1000,
        help="skip dvc exp show above this many experiments (too slow)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the synthesized repos")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="build repos here and reuse those already there (implies --keep)",
    )
    parser.add_argument(
        "--no-loose", action="store_true", help="skip timing the repos before `git gc --auto`"
    )
    parser.add_argument(
        "--warm-only",
        action="store_true",
        help="time only warm runs (after one untimed run that fills the cache): no cold runs",
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="time the registry as a table beside JSON (issue 18) instead: warm, --all, "
        "and after +100 new experiments (e.g. --sizes 2000 10000 100000)",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="expbook-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.table:
        from registry_table import bench_table, print_table_results

        try:
            table_results = []
            for n in args.sizes:
                table_results.append(bench_table(n, args.runs, workdir))
                print(json.dumps(table_results[-1]), flush=True)
        finally:
            if not (args.keep or args.workdir):
                shutil.rmtree(workdir, ignore_errors=True)
        print_table_results(table_results, args.runs)
        return
    results = []
    try:
        for n in args.sizes:
            results.append(
                bench(
                    n,
                    args.runs,
                    n <= args.dvc_max and not args.warm_only,
                    workdir,
                    loose=not args.no_loose,
                    warm_only=args.warm_only,
                )
            )
            print(json.dumps(results[-1]), flush=True)
    finally:
        if not (args.keep or args.workdir):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"# repos kept in {workdir}")
    print(
        f"\nmedians of {args.runs} runs (seconds); ratios = dvc time / expbook time; the repo "
        "as git keeps it (after `git gc --auto`: packed from 6,700 loose objects on)"
    )
    print(
        f"{'N':>6} {'rows':>6} {'objects':>8} {'expbook cold':>13} {'expbook warm':>13} "
        f"{'peak MiB':>9} {'dvc cold':>9} {'dvc warm':>9} {'cold x':>7} {'warm x':>7} "
        f"{'mismatch':>8}"
    )
    for r in results:
        dc, dw = r.get("dvc_cold"), r.get("dvc_warm")
        fmt = lambda v: f"{v:9.3f}" if v is not None else f"{'-':>9}"  # noqa: E731
        cx = f"{dc / r['expbook_cold']:7.1f}" if dc else f"{'-':>7}"
        wx = f"{dw / r['expbook_warm']:7.1f}" if dw else f"{'-':>7}"
        objects = "packed" if r["packed"] else "loose"
        print(
            f"{r['n']:>6} {r['rows']:>6} {objects:>8} {fmt(r['expbook_cold']):>13} "
            f"{r['expbook_warm']:13.3f} {fmt(r.get('peak_rss_mib'))} {fmt(dc)} {fmt(dw)} "
            f"{cx} {wx} {r.get('mismatched_rows', '-'):>8}"
        )
    if any("loose_cold" in r for r in results):
        print("\nthe same repos with every object loose, as synthesized (before `git gc`):")
        print(f"{'N':>6} {'expbook cold':>13} {'expbook warm':>13}")
        for r in results:
            if "loose_cold" in r:
                print(f"{r['n']:>6} {r['loose_cold']:13.3f} {r['loose_warm']:13.3f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (shared machine: compare ratios)")
    for r in results:
        checks = []
        if r["n"] == 1000 and r.get("dvc_cold"):
            checks += [
                ("cold >= 20x dvc", r["dvc_cold"] / r["expbook_cold"] >= 20),
                ("warm >= 5x dvc", r["dvc_warm"] / r["expbook_warm"] >= 5),
            ]
        cold = r["expbook_cold"]
        if r["n"] == 10000:
            checks += [("cold <= 1 s", cold <= 1.0)] if cold is not None else []
            checks += [("warm <= 0.2 s", r["expbook_warm"] <= 0.2)]
        if r["n"] == 100000:
            checks += [("cold <= 5 s", cold <= 5.0)] if cold is not None else []
            checks += [("warm <= 0.3 s", r["expbook_warm"] <= 0.3)]
            if r.get("peak_rss_mib") is not None:
                checks += [("peak RSS <= 1 GiB", r["peak_rss_mib"] <= 1024)]
        if r.get("mismatched_rows") is not None:
            checks.append(("values equal dvc", r["mismatched_rows"] == 0))
        for label, ok in checks:
            print(f"target N={r['n']}: {label}: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
