"""Benchmark: the dashboard (`expbook ui`) and `expbook report` on a synthesized repo with
N experiments (default 10,000), each with a dvclive step curve; prints medians.

Measures, against the targets of issue 9: table data of the first view (cold: a fresh app;
warm: the same app again), a filter round-trip (a new --where each time), step curves of 20
runs (cold from git, warm) and a report of 1,000 experiments (seconds and MB). Requests go
over a real socket to uvicorn. Run: make bench, or
    .venv/bin/python benchmarks/ui.py --n 10000 --runs 5 [--repo /tmp/ui-bench --keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - dvclive/plots:
          cache: false
"""


def _git(path: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)


def synthesize(path: Path, n: int) -> None:
    """A DVC repo with `n` experiments on one baseline, written with git plumbing (as
    benchmarks/registry.py does) plus a 200-step dvclive curve per experiment."""
    import pygit2

    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "bench")
    _git(path, "config", "user.email", "bench@expbook.invalid")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=path, check=True)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "train.py").write_text("print('x')\n")
    (path / "params.yaml").write_text("train:\n  lr: 0.1\n  wd: 0.0\nseed: 1\n")
    (path / "metrics.json").write_text(json.dumps({"val": {"acc": 0.5, "loss": 1.0}}))
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "baseline")
    repo = pygit2.Repository(str(path))
    base = repo.head.peel(pygit2.Commit)
    t0 = int(time.time()) - n
    for i in range(n):
        lr, wd = round(0.001 * (i + 1), 6), round((i % 7) * 0.01, 6)
        acc = round(1 - lr / 20 - wd, 6)
        files = {
            "params.yaml": f"train:\n  lr: {lr}\n  wd: {wd}\nseed: {i % 3}\n",
            "metrics.json": json.dumps({"val": {"acc": acc, "loss": round(lr + wd, 6)}}),
            "dvclive/plots/metrics/train/loss.tsv": "timestamp\tstep\tloss\n"
            + "".join(
                f"{1700000000000 + s * 1000}\t{s}\t{1 / (1 + s * lr):.6f}\n" for s in range(200)
            ),
        }
        tree = _tree(repo, base.tree, files)
        sig = pygit2.Signature("bench", "bench@expbook.invalid", t0 + i, 0)
        oid = repo.create_commit(None, sig, sig, f"exp {i}", tree, [base.id])
        sha = str(base.id)
        repo.references.create(f"refs/exps/{sha[:2]}/{sha[2:]}/exp-{i:05d}", oid)
    _git(path, "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet")


def _tree(repo, base, files: dict[str, str]):
    import pygit2

    nested: dict = {}
    for name, text in files.items():
        node = nested
        *dirs, leaf = name.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = text

    def build(tree, node):
        builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
        for name, value in node.items():
            if isinstance(value, dict):
                sub = tree[name] if tree is not None and name in tree else None
                builder.insert(
                    name, build(repo[sub.id] if sub else None, value), pygit2.enums.FileMode.TREE
                )
            else:
                builder.insert(name, repo.create_blob(value.encode()), pygit2.enums.FileMode.BLOB)
        return builder.write()

    return build(base, nested)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", default=None, help="Reuse/keep the synthesized repo here.")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    import httpx

    from expbook.ui import create_app
    from expbook.ui.report import write_report
    from ui_helpers import serve

    work = Path(args.repo or tempfile.mkdtemp(prefix="expbook-ui-bench-"))
    path = work / f"r{args.n}"
    if not path.exists():
        t = timed(lambda: synthesize(path, args.n))
        print(f"synthesized {args.n} experiments in {t:.0f} s: {path}")
    results: dict[str, list[float]] = {}
    try:
        from expbook import registry

        registry.collect(str(path))  # the registry's own disk cache, as after any expbook call
        for _ in range(args.runs):
            app = create_app(str(path))
            with serve(app) as url, httpx.Client(base_url=url, timeout=120) as http:
                results.setdefault("table first view, cold (fresh app)", []).append(
                    timed(lambda: http.get("api/table").raise_for_status())
                )
                for _ in range(3):
                    results.setdefault("table first view, warm", []).append(
                        timed(lambda: http.get("api/table").raise_for_status())
                    )
                for i in range(3):
                    where = f"val.acc > {0.5 + 0.01 * i + 0.001 * len(results)} and train.wd < 0.05"
                    results.setdefault("filter round-trip (new where)", []).append(
                        timed(
                            lambda w=where: http.get(
                                "api/table",
                                params={"where": w, "sort": "metrics.json:val.acc", "desc": "1"},
                            ).raise_for_status()
                        )
                    )
                offset = 20 * len(results.get("curves of 20 runs, cold", []))
                names = [f"exp-{i:05d}" for i in range(offset, offset + 20)]
                results.setdefault("curves of 20 runs, cold", []).append(
                    timed(
                        lambda n=names: http.get(
                            "api/curves", params={"name": n}
                        ).raise_for_status()
                    )
                )
                results.setdefault("curves of 20 runs, warm", []).append(
                    timed(
                        lambda n=names: http.get(
                            "api/curves", params={"name": n}
                        ).raise_for_status()
                    )
                )
        out = work / "report.html"
        where = "name ~ 'exp-00*'"  # exp-00000 .. exp-00999: 1,000 experiments
        for _ in range(max(1, args.runs // 2)):
            results.setdefault("report of 1,000 experiments", []).append(
                timed(lambda: write_report(str(path), out, where=where))
            )
        size_mb = out.stat().st_size / 1e6
    finally:
        if not args.keep and not args.repo:
            shutil.rmtree(work, ignore_errors=True)
    targets = {
        "table first view, cold (fresh app)": 1.0,
        "table first view, warm": 0.2,
        "filter round-trip (new where)": 0.2,
        "curves of 20 runs, cold": 0.5,
        "curves of 20 runs, warm": 0.5,
        "report of 1,000 experiments": 3.0,
    }
    print(f"\n{args.n} experiments, medians of {args.runs} runs (target in brackets):")
    for key, values in results.items():
        med = statistics.median(values)
        print(
            f"  {key:40s} {med * 1000:8.0f} ms  (<= {targets[key] * 1000:.0f} ms)  n={len(values)}"
        )
    print(f"  {'report size':40s} {size_mb:8.1f} MB  (<= 10 MB)")


if __name__ == "__main__":
    main()
