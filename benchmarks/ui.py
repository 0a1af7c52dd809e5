"""Benchmark: the dashboard (`expbook ui`) and `expbook report` on a synthesized repo with
N experiments (default 10,000), each with a dvclive step curve; prints medians.

Measures, against the targets of issue 9: table data of the first view (cold: a fresh app;
warm: the same app again), a filter round-trip (a new --where each time), step curves of 20
runs (cold from git, warm) and a report of 1,000 experiments (seconds and MB). Requests go
over a real socket to uvicorn.

And, against issue 21's, in headless Chromium (the page's own clock, from navigation start):
the first table paint, the Charts page of 20 runs x 20 metrics (its first panel drawn, and
its first screen: the panels in view and the parallel coordinates; panels below draw as they
scroll into view), and the size of `expbook report` of a repo shaped like
`make demo`'s (3 runs; tests/demo_repo.py). Run: make bench, or
    .venv/bin/python benchmarks/ui.py --n 10000 --runs 5 [--repo /tmp/ui-bench --keep]
    .venv/bin/python benchmarks/ui.py --charts-only --runs 5
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

    from demo_repo import files_tree

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
        tree = files_tree(repo, base.tree, files)
        sig = pygit2.Signature("bench", "bench@expbook.invalid", t0 + i, 0)
        oid = repo.create_commit(None, sig, sig, f"exp {i}", tree, [base.id])
        sha = str(base.id)
        repo.references.create(f"refs/exps/{sha[:2]}/{sha[2:]}/exp-{i:05d}", oid)
    _git(path, "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# installed before the page's scripts run: the moments the table and the chart grid appear
WATCH_JS = """
(function () {
  const tick = () => {
    const drawn = [...document.querySelectorAll('.panel-chart')].filter((d) => d.data).length;
    if (!window.__tableAt && document.querySelector('#experiments tbody tr')) window.__tableAt = performance.now();
    if (!window.__panelsAt && drawn) window.__panelsAt = performance.now();
    if (!window.__chartsAt && document.body && document.body.dataset.ready === 'charts') {
      window.__chartsAt = performance.now();
      window.__drawn = drawn;
    }
    if (!(window.__tableAt || window.__chartsAt)) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


def browser_timings(work: Path, runs: int) -> tuple[dict[str, list[float]], float]:
    """Issue 21's targets in headless Chromium; returns (timings in s, demo report size in MB)."""
    from urllib.parse import urlencode

    from demo_repo import build_demo_repo
    from expbook.ui import create_app
    from expbook.ui.report import write_report
    from ui_helpers import browser, serve, wait_for

    many = work / "charts20"
    if not many.exists():
        lrs = [10 ** (-4 + 3 * k / 19) for k in range(20)]
        names = build_demo_repo(many, lrs, extra=7, prefix="run-")  # 13 + 7 = 20 curve metrics
    else:
        names = [f"run-{i:02d}" for i in range(20)]
    results: dict[str, list[float]] = {}
    query = urlencode([("name", n) for n in names])
    with serve(create_app(str(many))) as url, browser() as d:
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_JS})

        def visit(view: str, mark: str) -> float:
            d.get("about:blank")
            d.get(url + view)
            return wait_for(d, f"window.{mark}", 60) / 1000

        visit("#/table", "__tableAt")  # warm the server's caches and the browser's
        visit("#/charts?" + query, "__chartsAt")
        for _ in range(runs):
            results.setdefault("first table paint (browser)", []).append(
                visit("#/table", "__tableAt")
            )
            results.setdefault("charts 20 runs x 20 metrics: first panel", []).append(
                visit("#/charts?" + query, "__panelsAt")
            )
            results.setdefault("charts 20 runs x 20 metrics: first screen", []).append(
                wait_for(d, "window.__chartsAt", 60) / 1000
            )
        # panels on screen then (the rest draw as they scroll into view), at 1400x1000
        print(
            f"charts page: {d.execute_script('return window.__drawn')} of 20 panels on the first screen"
        )
    demo = work / "demo"
    if not demo.exists():
        build_demo_repo(demo, [3e-4, 3e-3, 1e-2])
    out = work / "demo-report.html"
    for _ in range(max(1, runs // 2)):
        results.setdefault("report of the demo's runs (time)", []).append(
            timed(lambda: write_report(str(demo), out, force=True))
        )
    return results, out.stat().st_size / 1e6


def api_timings(path: Path, runs: int) -> tuple[dict[str, list[float]], float]:
    """Issue 9's targets over HTTP; returns (timings in s, size of a 1,000-run report in MB)."""
    import httpx

    from expbook import registry
    from expbook.ui import create_app
    from expbook.ui.report import write_report
    from ui_helpers import serve

    results: dict[str, list[float]] = {}
    registry.collect(str(path))  # the registry's own disk cache, as after any expbook call
    for _ in range(runs):
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
                timed(lambda n=names: http.get("api/curves", params={"name": n}).raise_for_status())
            )
            results.setdefault("curves of 20 runs, warm", []).append(
                timed(lambda n=names: http.get("api/curves", params={"name": n}).raise_for_status())
            )
    out = path.parent / "report.html"
    where = "name ~ 'exp-00*'"  # exp-00000 .. exp-00999: 1,000 experiments
    for _ in range(max(1, runs // 2)):
        results.setdefault("report of 1,000 experiments", []).append(
            timed(lambda: write_report(str(path), out, where=where))
        )
    return results, out.stat().st_size / 1e6


TARGETS = {
    "table first view, cold (fresh app)": 1.0,
    "table first view, warm": 0.2,
    "filter round-trip (new where)": 0.2,
    "curves of 20 runs, cold": 0.5,
    "curves of 20 runs, warm": 0.5,
    "report of 1,000 experiments": 3.0,
    "first table paint (browser)": 0.6,
    "charts 20 runs x 20 metrics: first panel": 1.5,
    "charts 20 runs x 20 metrics: first screen": 1.5,
    "report of the demo's runs (time)": 10.0,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", default=None, help="Reuse/keep the synthesized repos here.")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--charts-only", action="store_true", help="Only issue 21's browser and report targets."
    )
    args = parser.parse_args(argv)

    work = Path(args.repo or tempfile.mkdtemp(prefix="expbook-ui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[float]] = {}
    sizes: list[tuple[str, float, float]] = []
    try:
        if not args.charts_only:
            path = work / f"r{args.n}"
            if not path.exists():
                t = timed(lambda: synthesize(path, args.n))
                print(f"synthesized {args.n} experiments in {t:.0f} s: {path}")
            found, size_mb = api_timings(path, args.runs)
            results.update(found)
            sizes.append(("report of 1,000 experiments, size", size_mb, 10.0))
        found, demo_mb = browser_timings(work, args.runs)
        results.update(found)
        sizes.append(("report of the demo's runs, size", demo_mb, 2.0))
    finally:
        if not args.keep and not args.repo:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.n} experiments (browser: 20 runs), medians of {args.runs} runs (target):")
    for key, values in results.items():
        med = statistics.median(values)
        print(
            f"  {key:42s} {med * 1000:8.0f} ms  (<= {TARGETS[key] * 1000:.0f} ms)  n={len(values)}"
        )
    for key, mb, target in sizes:
        print(f"  {key:42s} {mb:8.2f} MB  (<= {target:g} MB)")


if __name__ == "__main__":
    main()
