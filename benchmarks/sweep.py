"""Sweep speed: 16 short trials of the demo pipeline via expbook `-j 2`, DVC's queue (`-j 2`),
sequential `dvc exp run`, and the compute limit (the stage commands alone, two at a time).

Run: `.venv/bin/python benchmarks/sweep.py [--trials 16] [--tiny] [--skip queue,sequential]`; prints
seconds per method, process time per trial, ratios measured in the same run and (--tiny) the
start-up from launch to the first stage command (no assertions: a report); `--warm` adds
`expbook sweep` with `warm_stages: true` (opt-in warm stage runner). Issue 12 targets:
expbook >= 2x faster than the queue at 4 trials, >= 2.5x at 16, >= 10x with --tiny.

`--startup N [--old-src DIR] [--method grid|tpe]`: only the start-up, N times: `expbook sweep` of
2 trivial trials (`-j 2`; a plain grid, or TPE + median pruning as sweeps/lr-wd.yaml) from launch
to its first stage command, interleaved with the expbook at DIR (another
checkout's `src/`) when given; prints medians, best runs and the load average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "DVC_NO_ANALYTICS": "1",
    "PYTHONPATH": str(ROOT / "src"),
}
LRS = [3e-4, 1e-3, 3e-3, 1e-2, 2e-3, 5e-4, 5e-3, 2e-4]
WDS = [0.0, 1e-4, 3e-4, 1e-3]  # no 1e-05: `dvc exp run -S` writes it as text
EPOCHS = 2


def run(*args, cwd, env=None, check=True):
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env or ENV, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(*args, cwd, env=None):
    return run(sys.executable, "-m", "dvc", *args, cwd=cwd, env=env)


def child_cpu() -> float:
    """Process time of every finished child (and its waited-for children) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, float] = {}  # process time of a method's whole process tree
STARTUP: dict[str, float | None] = {}  # --tiny: launch -> first stage command
STAMPS: dict[str, Path] = {}  # --tiny: the file each stage command appends its start time to


def first_stamp(since: float) -> float | None:
    """Seconds from `since` (epoch time) to the first stage command started after it."""
    path = STAMPS.get("path")
    if path is None or not path.exists():
        return None
    stamps = [float(x) for x in path.read_text().split() if float(x) >= since]
    return min(stamps) - since if stamps else None


def trials(n: int) -> list[dict]:
    return [
        {"train.lr": lr, "train.weight_decay": wd}
        for lr, wd in itertools.islice(itertools.product(LRS, WDS), n)
    ]


# --tiny: a trivial stage (no torch), where per-trial overhead is all there is to measure
TINY_STAGE = """import json, os, time, yaml
if os.environ.get("BENCH_STAMPS"):  # when each stage command starts: the runner's start-up
    with open(os.environ["BENCH_STAMPS"], "a") as fh:
        fh.write(f"{time.time()}\\n")
t = yaml.safe_load(open("params.yaml"))["train"]
json.dump({"val": {"acc": 1 - t["lr"] - t["weight_decay"]}}, open("metrics.json", "w"))
"""
TINY_DVC_YAML = """stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train]
    metrics: [{metrics.json: {cache: false}}]
"""
TINY_PARAMS = "train:\n  lr: 0.001\n  weight_decay: 0.0\n  epochs: 2\n"
STAGES = ["train", "evaluate"]


def baseline(tmp: Path, tiny: bool = False) -> Path:
    """The demo pipeline, committed with train.epochs=2 and a full `dvc repro` (dvc.lock)."""
    repo = tmp / "baseline"
    repo.mkdir()
    if tiny:
        (repo / "train.py").write_text(TINY_STAGE)
        (repo / "dvc.yaml").write_text(TINY_DVC_YAML)
        (repo / "params.yaml").write_text(TINY_PARAMS)
    for rel in () if tiny else ("dvc.yaml", "params.yaml", "src/pipeline"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, repo / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, repo / rel)
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace("  epochs: 20", f"  epochs: {EPOCHS}", 1))
    run("git", "init", "-q", "-b", "main", cwd=repo)
    for k, v in (
        ("user.name", "bench"),
        ("user.email", "bench@localhost"),
        ("commit.gpgsign", "false"),
    ):
        run("git", "config", k, v, cwd=repo)
    dvc("init", "-q", cwd=repo)
    dvc("config", "core.autostage", "true", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "pipeline", cwd=repo)  # dvclive needs a commit to exist
    dvc("repro", "-q", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "baseline", cwd=repo)
    return repo


def fresh(base: Path, name: str) -> Path:
    """A copy of the baseline (with its own DVC cache: no run-cache hits across methods)."""
    dest = base.parent / name
    shutil.copytree(base, dest, symlinks=True)
    return dest


def exp_count(repo: Path) -> int:
    out = run("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo).stdout
    return sum(
        1
        for line in out.splitlines()
        if line.count("/") == 4
        and not line.startswith(("refs/exps/exec", "refs/exps/celery", "refs/exps/temp"))
    )


def _num(v) -> str:
    """`1.0e-05`, not `1e-05`: DVC writes -S values as given and YAML 1.1 reads 1e-05 as text."""
    text = repr(v)
    mantissa, sep, exponent = text.partition("e")
    return f"{mantissa}.0e{exponent}" if sep and "." not in mantissa else text


def s_args(t: dict) -> list[str]:
    return [a for k, v in {**t, "train.epochs": EPOCHS}.items() for a in ("-S", f"{k}={_num(v)}")]


def queue_failed(repo: Path, env: dict) -> int:
    out = dvc("queue", "status", cwd=repo, env=env).stdout
    return sum(1 for line in out.splitlines() if " Failed" in line)


def bench_compute_limit(base: Path, ts: list[dict]) -> float:
    """The train+evaluate stage commands of every trial as plain processes, two at a time."""
    import yaml

    slots = [fresh(base, f"limit-{i}") for i in range(2)]
    env = {
        **ENV,
        "PYTHONPATH": "src",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "EXPBOOK_NUM_THREADS": "1",
    }
    free = list(slots)

    def one(t):
        ws = free.pop()
        try:
            doc = yaml.safe_load((ws / "params.yaml").read_text())
            for k, v in t.items():
                doc["train"][k.split(".")[1]] = v
            (ws / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
            for stage in STAGES:
                if stage == "tiny":
                    run(sys.executable, "train.py", cwd=ws, env=env)
                else:
                    run(sys.executable, "-m", f"pipeline.{stage}", cwd=ws, env=env)
        finally:
            free.append(ws)

    start, cpu = time.perf_counter(), child_cpu()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, ts))
    CPU["compute limit"] = child_cpu() - cpu
    return time.perf_counter() - start


def bench_expbook(base: Path, ts: list[dict], warm: bool = False) -> tuple[float, int]:
    """`expbook sweep -j 2` of the trials (`warm`: with `warm_stages: true`)."""
    label = "expbook --warm-stages" if warm else "expbook"
    repo = fresh(base, "expbook-warm" if warm else "expbook")
    spec = repo.parent / f"bench-sweep{'-warm' if warm else ''}.yaml"
    lrs = sorted({t["train.lr"] for t in ts})
    wds = sorted({t["train.weight_decay"] for t in ts})
    spec.write_text(
        json.dumps(
            {
                "name": "bench",
                "metric": {"key": "val.acc", "mode": "max"},
                "parallel": 2,
                "params": {"train.lr": lrs, "train.weight_decay": wds, "train.epochs": EPOCHS},
                "budget": {"max_trials": len(ts)},
                **({"warm_stages": True} if warm else {}),
            }
        )
    )
    start, cpu, t0 = time.perf_counter(), child_cpu(), time.time()
    run(
        sys.executable,
        "-c",
        "from expbook.cli import main; main()",
        "sweep",
        str(spec),
        "--json",
        cwd=repo,
    )
    elapsed = time.perf_counter() - start
    CPU[label] = child_cpu() - cpu  # the workers reap their stage commands: all counted
    STARTUP[label] = first_stamp(t0)
    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    names = {
        rev.get("name")
        for b in shown
        for e in (b.get("experiments") or [])
        for rev in (e.get("revs") or [])
    }
    return elapsed, sum(1 for n in names if n and n.startswith("bench-"))


def bench_queue(base: Path, ts: list[dict], timeout: float) -> float | None:
    repo = fresh(base, "queue")
    env = {**ENV, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "EXPBOOK_NUM_THREADS": "1"}
    start, t0 = time.perf_counter(), time.time()
    for t in ts:
        dvc("exp", "run", "--queue", *s_args(t), cwd=repo, env=env)
    dvc("queue", "start", "-j", "2", cwd=repo, env=env)
    polls = 0
    while exp_count(repo) < len(ts):
        time.sleep(0.5)
        polls += 1
        # `dvc queue status` costs a CPU-second: ask it rarely, so the queue is not slowed down
        if polls % 20 == 0 and exp_count(repo) + queue_failed(repo, env) >= len(ts):
            print(f"  dvc queue: {queue_failed(repo, env)} trial(s) failed")
            break
        if time.perf_counter() - start > timeout:
            dvc("queue", "stop", "--kill", cwd=repo, env=env)
            return None
        time.sleep(0.5)
    elapsed = time.perf_counter() - start
    dvc("queue", "stop", "--kill", cwd=repo, env=env)
    STARTUP["queue"] = first_stamp(t0)
    return elapsed


def bench_sequential(base: Path, ts: list[dict]) -> float:
    repo = fresh(base, "sequential")
    start = time.perf_counter()
    for t in ts:
        dvc("exp", "run", *s_args(t), cwd=repo)
    return time.perf_counter() - start


STARTUP_SPECS = {  # 2 trials, none with the baseline's params (DVC would skip that stage)
    "grid": {"params": {"train.lr": [2e-3, 3e-3], "train.weight_decay": [1e-4]}},
    "tpe": {  # as sweeps/lr-wd.yaml searches: TPE + median pruning (optuna on the driver)
        "method": "tpe",
        "trials": 2,
        "prune": {"method": "median", "min_epochs": 1},
        "params": {
            "train.lr": {"low": 2e-3, "high": 9e-3, "log": True},
            "train.weight_decay": [1e-4],
        },
    },
}


def bench_startup(
    base: Path, src: Path, stamps: Path, method: str = "grid"
) -> tuple[float | None, float]:
    """(launch -> first stage command, launch -> exit) of one 2-trial `expbook sweep -j 2`."""
    repo = fresh(base, f"startup-{time.monotonic_ns()}")
    spec = repo.parent / f"{repo.name}.json"
    body = {"name": "up", "metric": "val.acc", "parallel": 2, **STARTUP_SPECS[method]}
    spec.write_text(json.dumps(body))
    env = {**ENV, "PYTHONPATH": str(src), "BENCH_STAMPS": str(stamps)}
    t0, start = time.time(), time.perf_counter()
    run(
        sys.executable,
        "-c",
        "from expbook.cli import main; main()",
        "sweep",
        spec,
        cwd=repo,
        env=env,
    )
    total = time.perf_counter() - start
    STAMPS["path"] = stamps
    first = first_stamp(t0)
    shutil.rmtree(repo)
    return first, total


def startup_report(runs: int, old_src: str | None, method: str = "grid") -> None:
    """`--startup`: interleaved start-up runs of this checkout (and --old-src), medians."""
    srcs = {"this": ROOT / "src"}
    if old_src:
        srcs["old"] = Path(old_src).resolve()
    res: dict[str, list[tuple[float | None, float]]] = {name: [] for name in srcs}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="expbook-bench-startup-") as tmp:
        base = baseline(Path(tmp), tiny=True)
        for i in range(runs):
            names = list(srcs) if i % 2 == 0 else list(reversed(srcs))
            for name in names:
                stamps = Path(tmp) / f"stamps-{i}-{name}"
                res[name].append(bench_startup(base, srcs[name], stamps, method))
                first, total = res[name][-1]
                print(
                    f"  {name}: first stage command {first or float('nan'):.2f} s, exit {total:.2f} s"
                )
            load.append(os.getloadavg()[0])
    print(
        f"\nstart-up ({method}), {runs} run(s) each, {os.cpu_count()} cores, 1-min load {min(load):.1f}-{max(load):.1f}"
    )
    medians = {}
    for name, rows in res.items():
        firsts = sorted(f for f, _ in rows if f is not None)
        totals = sorted(t for _, t in rows)
        if not firsts:
            print(f"{name}: no stage command ran")
            continue
        medians[name] = statistics.median(firsts)
        print(
            f"{name} ({srcs[name]}): launch -> first stage command median {medians[name]:.2f} s "
            f"(best {firsts[0]:.2f} s); launch -> exit median {statistics.median(totals):.2f} s"
        )
    if len(medians) == 2:
        print(
            f"old / this, same run: {medians['old'] / medians['this']:.2f}x (issue 12 target <= 2 s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--skip", default="", help="comma list of: limit,expbook,queue,sequential")
    parser.add_argument("--queue-timeout", type=float, default=900)
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a trivial one-stage pipeline instead of the demo (overhead only)",
    )
    parser.add_argument("--startup", type=int, default=0, metavar="N", help="start-up only, N runs")
    parser.add_argument(
        "--old-src", default=None, help="with --startup: an older src/ to interleave"
    )
    parser.add_argument("--method", choices=sorted(STARTUP_SPECS), default="grid", help="--startup")
    parser.add_argument(
        "--warm", action="store_true", help="also `expbook sweep` with --warm-stages, same run"
    )
    args = parser.parse_args()
    if args.startup:
        startup_report(args.startup, args.old_src, args.method)
        return
    if args.tiny:
        STAGES[:] = ["tiny"]
    skip = set(filter(None, args.skip.split(",")))
    ts = trials(args.trials)
    with tempfile.TemporaryDirectory(prefix="expbook-bench-sweep-") as tmp:
        base = baseline(Path(tmp), args.tiny)
        if args.tiny:
            STAMPS["path"] = Path(tmp) / "stamps"
            ENV["BENCH_STAMPS"] = str(STAMPS["path"])
        res: dict[str, float | None] = {}

        def record(name: str, secs: float | None) -> None:
            res[name] = secs
            print(f"  {name}: {'timed out' if secs is None else f'{secs:.1f} s'}", flush=True)

        if "limit" not in skip:
            record("compute limit (stage cmds, 2 at a time)", bench_compute_limit(base, ts))
        if "expbook" not in skip:
            secs, visible = bench_expbook(base, ts)
            record("expbook sweep -j 2", secs)
            print(f"  expbook: {visible}/{len(ts)} trials visible to `dvc exp show --json`")
            if args.warm:
                secs, visible = bench_expbook(base, ts, warm=True)
                record("expbook sweep -j 2 --warm-stages", secs)
                print(f"  warm: {visible}/{len(ts)} trials visible to `dvc exp show --json`")
        if "queue" not in skip:
            record(
                "dvc exp run --queue + queue start -j 2", bench_queue(base, ts, args.queue_timeout)
            )
        if "sequential" not in skip:
            record("dvc exp run, one by one", bench_sequential(base, ts))
    kind = "tiny one-stage pipeline" if args.tiny else f"demo pipeline, train.epochs={EPOCHS}"
    print(f"\n{len(ts)} trials, {kind}, {os.cpu_count()} cores")
    limit = res.get("compute limit (stage cmds, 2 at a time)")
    ours = res.get("expbook sweep -j 2")
    for name, secs in res.items():
        if secs is None:
            print(f"{name:45s}  timed out")
            continue
        line = f"{name:45s} {secs:8.1f} s  {secs / len(ts):6.2f} s/trial"
        if limit:
            line += f"  {secs / limit:5.2f}x limit"
        if ours and name.startswith("expbook sweep -j 2 --warm"):
            line += f"  {secs / ours:4.2f}x expbook's plain time"
        elif ours and name != "expbook sweep -j 2":
            line += f"  expbook is {secs / ours:4.1f}x faster"
        print(line)
    for name, cpu in CPU.items():
        print(f"process time per trial, {name:14s} {cpu / len(ts):6.2f} s")
    for name, secs in STARTUP.items():
        if secs is not None:
            print(f"start-up (launch -> first stage command), {name}: {secs:.2f} s")
    queue = res.get("dvc exp run --queue + queue start -j 2")
    if ours and queue:
        target = 10 if args.tiny else (2.5 if len(ts) >= 16 else 2)
        print(
            f"expbook vs DVC queue, same run: {queue / ours:.2f}x faster "
            f"(issue 12 target >= {target}x at {len(ts)} trials)"
        )


if __name__ == "__main__":
    main()
