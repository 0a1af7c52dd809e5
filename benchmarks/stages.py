"""Benchmark: what one demo trial costs as plain stage processes (`train.epochs: 2`): process
time of train + evaluate, train start-up (process start to first batch) and evaluate wall time,
each next to a bare `python -c "import torch"` timed in the same run (medians, interleaved).

Run: `python benchmarks/stages.py [--runs 5] [--src OTHER/src ...]`; each `--src` (e.g. an older
checkout's src/) is timed alongside this checkout's pipeline, for before/after numbers.
`--warm`: a demo trial (train + evaluate, the dvc.yaml commands) as plain processes vs through
`expbook sweep --warm-stages`' warm server (expbook.sweep.warm), interleaved, same run.
Targets (issue 12): trial <= 3.5 s process time, start-up <= 1.5 s, evaluate <= 1.5 s wall.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 2
# runs a stage as `python -m` would, and reports when the first batch enters the model
FIRST_BATCH = """
import os, runpy, sys, time
import torch
def hook(module, args):
    if not hasattr(hook, "done"):
        hook.done = True
        t0 = float(os.environ["BENCH_T0"])
        print(f"FIRST_BATCH {time.time() - t0:.4f} {time.process_time():.4f}", file=sys.stderr)
torch.nn.modules.module.register_module_forward_pre_hook(hook)
sys.argv = ["train"]
runpy.run_module("pipeline.train", run_name="__main__", alter_sys=True)
"""


def _run(argv: list[str], cwd: Path, src: str) -> tuple[float, float, str]:
    """(wall s, process s of the child, its stderr)."""
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "BENCH_T0": repr(time.time())}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, proc.stderr


def workdir(tmp: Path, name: str, src: str) -> Path:
    """params.yaml with train.epochs=2, prepared data, a git commit (older dvclive-based
    pipelines read HEAD)."""
    path = tmp / name
    path.mkdir()
    text = (ROOT / "params.yaml").read_text()
    (path / "params.yaml").write_text(text.replace("  epochs: 20", f"  epochs: {EPOCHS}", 1))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "bench"], cwd=path, check=True)
    _run([sys.executable, "-m", "pipeline.prepare"], path, src)
    return path


def warm_vs_plain(runs: int) -> None:
    """Process time and wall of a demo trial: plain stage processes vs the warm server."""
    sys.path.insert(0, str(ROOT / "src"))
    from expbook.sweep import warm

    os.environ["OMP_NUM_THREADS"] = "1"  # as _run and a `-j 2` sweep worker on 2 cores
    cmds = ["PYTHONPATH=src python -m pipeline.train", "PYTHONPATH=src python -m pipeline.evaluate"]
    rows: dict[str, list[float]] = {"plain": [], "plain wall": [], "warm": [], "warm wall": []}
    with tempfile.TemporaryDirectory(prefix="expbook-bench-warm-") as tmp:
        path = workdir(Path(tmp), "w", str(ROOT / "src"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        runner = warm.WarmRunner()
        ready = runner._wait_ready()
        server_wall = time.perf_counter() - start
        if not ready:
            raise SystemExit(f"the warm server is cold: {runner.why}")
        devnull = os.open(os.devnull, os.O_WRONLY)
        for _ in range(runs):
            wall = cpu = 0.0
            for argv in (
                [sys.executable, "-m", "pipeline.train"],
                [sys.executable, "-m", "pipeline.evaluate"],
            ):
                w, c, _err = _run(argv, path, "src")
                wall, cpu = wall + w, cpu + c
            rows["plain"].append(cpu)
            rows["plain wall"].append(wall)
            mark, cpu0 = time.perf_counter(), runner.cpu
            saved = os.dup(1), os.dup(2)
            os.dup2(devnull, 1), os.dup2(devnull, 2)
            try:
                for cmd in cmds:
                    req = warm.plan(cmd, str(path), dict(os.environ), "/bin/bash")
                    if req is None or runner.run(req) != 0:
                        raise SystemExit(f"{cmd}: not run warm, or failed")
            finally:
                os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            rows["warm wall"].append(time.perf_counter() - mark)
            rows["warm"].append(runner.cpu - cpu0)
        stages = runner.cpu
        runner.close()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    plain_cpu = sum(rows["plain"])
    server = total - plain_cpu - stages  # its imports, once per sweep worker
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(
        f"\n{runs} runs, demo trial (train + evaluate, train.epochs={EPOCHS}), "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(f"plain processes:   {med['plain']:.2f} s process, {med['plain wall']:.2f} s wall")
    print(f"warm (--warm-stages): {med['warm']:.2f} s process, {med['warm wall']:.2f} s wall")
    print(f"ratio warm/plain:  {med['warm'] / med['plain']:.2f}x process time")
    print(
        f"warm server start-up, once per worker: {server:.2f} s process, {server_wall:.2f} s wall"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--src", action="append", default=[], help="another pipeline's src/")
    parser.add_argument("--warm", action="store_true", help="plain vs --warm-stages trial")
    args = parser.parse_args()
    if args.warm:
        warm_vs_plain(args.runs)
        return
    variants = {"this checkout": str(ROOT / "src")}
    variants.update({src: str(Path(src).resolve()) for src in args.src})
    py = sys.executable
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="expbook-bench-stages-") as tmp:
        dirs = {
            name: workdir(Path(tmp), f"v{i}", src) for i, (name, src) in enumerate(variants.items())
        }
        torch_only = rows.setdefault("import torch", {"wall": [], "cpu": []})
        for _ in range(args.runs):
            wall, cpu, _err = _run([py, "-c", "import torch"], Path(tmp), "")
            torch_only["wall"].append(wall)
            torch_only["cpu"].append(cpu)
            for name, src in variants.items():
                row = rows.setdefault(
                    name, {k: [] for k in ("train", "first", "eval", "eval_cpu", "trial")}
                )
                t_wall, t_cpu, err = _run([py, "-c", FIRST_BATCH], dirs[name], src)
                first = next(ln for ln in err.splitlines() if ln.startswith("FIRST_BATCH"))
                e_wall, e_cpu, _err = _run([py, "-m", "pipeline.evaluate"], dirs[name], src)
                row["train"].append(t_cpu)
                row["first"].append(float(first.split()[1]))
                row["eval"].append(e_wall)
                row["eval_cpu"].append(e_cpu)
                row["trial"].append(t_cpu + e_cpu)
    med = {name: {k: statistics.median(v) for k, v in row.items()} for name, row in rows.items()}
    base = med.pop("import torch")
    print(
        f"\n{args.runs} runs, demo pipeline train.epochs={EPOCHS}, {os.cpu_count()} cores; "
        f'bare `python -c "import torch"`: {base["wall"]:.2f} s wall, {base["cpu"]:.2f} s process'
    )
    header = f"{'pipeline':20s} {'trial cpu':>10s} {'train cpu':>10s} {'start-up':>9s} {'eval wall':>10s} {'eval/torch':>10s}"
    print(header)
    for name, m in med.items():
        print(
            f"{name[-20:]:20s} {m['trial']:9.2f}s {m['train']:9.2f}s {m['first']:8.2f}s "
            f"{m['eval']:9.2f}s {m['eval'] / base['wall']:9.2f}x"
            f"   (trial = {m['trial'] / base['cpu']:.2f}x torch's import process time)"
        )


if __name__ == "__main__":
    main()
