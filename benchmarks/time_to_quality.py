"""Time-to-quality, end to end: wall-clock from launch until some finished experiment's val
accuracy is within 0.5 pp of the best of a 27-point grid. DVC's queue runs the grid (`-j 2`);
`expbook sweep` runs TPE + median pruning (`-j 2`), once per search seed; same repo, same run.

Run: `.venv/bin/python benchmarks/time_to_quality.py [--epochs 8] [--seeds 0,1,2] [--trials 20]`.
Prints each method's time to quality, the medians and the ratio (issue 12 target: >= 3x).
The in-process search-quality comparison (compute, not wall-clock) is benchmarks/search.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import search as grid_spec  # benchmarks/search.py: the grid and the TPE space
import sweep as bench  # benchmarks/sweep.py: demo repo, dvc/git helpers

TOLERANCE = 0.005  # "within 0.5 percentage points"


def finished(repo: Path, seen: dict[str, tuple[float, float | None]], since: float) -> None:
    """Record (seconds since `since`, final val acc or None if pruned) of every new exp ref."""
    out = bench.run(
        "git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=repo
    )
    now = time.time() - since
    for line in out.stdout.splitlines():
        ref, sha = line.split()
        if ref.count("/") != 4 or ref.startswith(("refs/exps/exec", "refs/exps/celery")):
            continue
        if ref in seen:
            continue
        show = bench.run("git", "show", f"{sha}:metrics/train/metrics.json", cwd=repo, check=False)
        try:
            summary = json.loads(show.stdout)
        except json.JSONDecodeError:
            continue
        acc = None if summary.get("pruned") else summary.get("val", {}).get("acc")
        seen[ref] = (now, acc)


def reached(seen: dict[str, tuple[float, float | None]], target: float) -> float | None:
    times = [t for t, acc in seen.values() if acc is not None and acc >= target - 1e-12]
    return min(times) if times else None


def queue_grid(
    base: Path, epochs: int, timeout: float, points: int = 27
) -> dict[str, tuple[float, float | None]]:
    repo = bench.fresh(base, "queue")
    env = {**bench.ENV, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    seen: dict[str, tuple[float, float | None]] = {}
    start = time.time()
    keys = list(grid_spec.GRID)
    for combo in itertools.islice(itertools.product(*grid_spec.GRID.values()), points):
        sets = {**dict(zip(keys, combo)), "train.epochs": epochs}
        args = [a for k, v in sets.items() for a in ("-S", f"{k}={bench._num(v)}")]
        bench.dvc("exp", "run", "--queue", *args, cwd=repo, env=env)
    bench.dvc("queue", "start", "-j", "2", cwd=repo, env=env)
    try:
        while len(seen) < points and time.time() - start < timeout:
            time.sleep(0.5)
            finished(repo, seen, start)
    finally:
        bench.dvc("queue", "stop", "--kill", cwd=repo, env=env)
    return seen


def expbook_tpe(
    base: Path, epochs: int, seed: int, trials: int, target: float, timeout: float
) -> tuple[float | None, int]:
    """Seconds until a finished, unpruned trial reaches `target` (None: never), trials seen."""
    repo = bench.fresh(base, f"expbook-{seed}")
    spec = repo.parent / f"tpe-{seed}.json"
    spec.write_text(
        json.dumps(
            {
                "name": "tpe",
                "method": "tpe",
                "seed": seed,
                "trials": trials,
                "parallel": 2,
                "metric": {"key": "val.acc", "mode": "max"},
                "params": {**grid_spec.SPACE, "train.epochs": epochs},
                "prune": {"method": "median", "min_epochs": 2},
            }
        )
    )
    seen: dict[str, tuple[float, float | None]] = {}
    start = time.time()
    cmd = [sys.executable, "-c", "from expbook.cli import main; main()", "sweep", str(spec)]
    proc = subprocess.Popen(
        cmd, cwd=repo, env=bench.ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while proc.poll() is None and time.time() - start < timeout:
            time.sleep(0.5)
            finished(repo, seen, start)
            if reached(seen, target) is not None:
                break
        finished(repo, seen, start)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # a good model exists: stop like a user would
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:  # measured already; do not lose the run
                print(f"  seed {seed}: sweep still running 120 s after Ctrl-C, killed")
                proc.kill()
                proc.wait()
    return reached(seen, target), len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--grid-points", type=int, default=27, help="fewer: a quick smoke run")
    args = parser.parse_args()
    bench.EPOCHS = args.epochs
    with tempfile.TemporaryDirectory(prefix="expbook-bench-ttq-") as tmp:
        base = bench.baseline(Path(tmp))
        grid = queue_grid(base, args.epochs, args.timeout, args.grid_points)
        accs = [acc for _, acc in grid.values() if acc is not None]
        if len(accs) < args.grid_points:
            print(f"DVC queue finished only {len(accs)}/{args.grid_points} grid points")
        best = max(accs)
        queue_ttq = reached(grid, best - TOLERANCE)
        queue_all = max(t for t, _ in grid.values())
        print(
            f"DVC queue, {args.grid_points}-point grid -j 2: best val acc {best:.4f}; within 0.5 pp after "
            f"{queue_ttq:.1f} s (whole grid {queue_all:.1f} s)",
            flush=True,
        )
        ours = []
        for seed in map(int, args.seeds.split(",")):
            secs, n = expbook_tpe(
                base, args.epochs, seed, args.trials, best - TOLERANCE, args.timeout
            )
            shown = "not reached" if secs is None else f"{secs:.1f} s"
            print(f"expbook TPE+median -j 2, seed {seed}: {shown} ({n} trials seen)", flush=True)
            ours.append(secs if secs is not None else float("inf"))
    med = statistics.median(ours)
    print(
        f"\ntime to within 0.5 pp of the grid's best ({args.epochs} epochs): DVC queue grid "
        f"{queue_ttq:.1f} s, expbook TPE median {med:.1f} s over seeds {args.seeds}: "
        f"{queue_ttq / med:.2f}x faster (issue 12 target >= 3x)"
    )


if __name__ == "__main__":
    main()
