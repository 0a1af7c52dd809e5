"""Search quality: TPE + median pruning vs a 27-point grid on the demo pipeline (digits MLP).

Trains in-process (benchmarks may import src/pipeline); pruning uses the real mechanism: a watcher
thread reads the dvclive TSV, asks optuna, and creates $EXPBOOK_PRUNE_FILE. Compute = epochs run.
Run: `.venv/bin/python benchmarks/search.py [--epochs 8] [--seeds 0,1,2] [--budget 0.3]`.
Wall-clock time to quality, end to end against DVC's queue: benchmarks/time_to_quality.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from expbook import env as envnames  # noqa: E402
from expbook.sweep.runner import read_tsv  # noqa: E402
from expbook.sweep.search import Search  # noqa: E402
from expbook.sweep.spec import _Ctx, build_spec  # noqa: E402

GRID = {
    "train.lr": [3e-4, 1e-3, 3e-3],
    "train.weight_decay": [0.0, 1e-4, 1e-3],
    "train.dropout": [0.0, 0.2, 0.4],
}
SPACE = {
    "train.lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "train.weight_decay": {"low": 0.0, "high": 1e-3},
    "train.dropout": {"low": 0.0, "high": 0.5},
}
TSV = Path("metrics/train/plots/metrics/val/acc.tsv")
PRUNE = Path("prune-request")


def train(doc: dict, config: dict, epochs: int, on_epoch=None) -> tuple[float, int]:
    """One in-process training; returns (final val acc, epochs run)."""
    from pipeline import config as pconf
    from pipeline import train as ptrain

    doc = {**doc, "train": {**doc["train"], "epochs": epochs, "log_steps": False}}
    for key, value in config.items():
        doc["train"][key.split(".", 1)[1]] = value
    params = pconf.parse_params(doc)
    PRUNE.unlink(missing_ok=True)
    stop = threading.Event()
    watcher = None
    if on_epoch is not None:
        watcher = threading.Thread(target=_watch, args=(on_epoch, stop, time.time()), daemon=True)
        watcher.start()
    with contextlib.redirect_stdout(io.StringIO()):
        summary = ptrain.run(params.base, params.train)
    stop.set()
    if watcher:
        watcher.join()
    rows = read_tsv(TSV)
    return (rows[-1][1] if rows else float("nan")), int(summary["epochs_run"])


def _watch(on_epoch, stop: threading.Event, since: float) -> None:
    seen = 0
    while not stop.is_set():
        rows = read_tsv(TSV, since=since)
        for step, value in rows[seen:]:
            if on_epoch(step, value):
                PRUNE.touch()
        seen = len(rows)
        time.sleep(0.005)


def run_grid(doc: dict, epochs: int) -> tuple[float, int]:
    keys = list(GRID)
    best, cost = 0.0, 0
    for combo in itertools.product(*GRID.values()):
        acc, ran = train(doc, dict(zip(keys, combo)), epochs)
        best, cost = max(best, acc), cost + ran
    return best, cost


def run_tpe(doc: dict, epochs: int, seed: int, budget_epochs: float) -> tuple[float, int, int]:
    spec = build_spec(
        {
            "name": "bench",
            "method": "tpe",
            "trials": 20,
            "seed": seed,
            "metric": {"key": "val.acc", "mode": "max"},
            "params": SPACE,
            "prune": {"method": "median", "min_epochs": 2},
        },
        _Ctx("bench"),
    )
    search = Search(spec)
    best, cost, n = 0.0, 0, 0
    while cost + epochs <= budget_epochs:  # never start a trial the budget could not finish
        config = search.ask(n)
        acc, ran = train(
            doc, config, epochs, on_epoch=lambda step, value, n=n: search.report(n, step, value)
        )
        pruned = ran < epochs
        search.tell(n, [acc], "pruned" if pruned else "success")
        cost += ran
        if not pruned:
            best = max(best, acc)
        n += 1
    return best, cost, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=float, default=0.3, help="fraction of grid compute")
    args = parser.parse_args()
    import yaml

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="expbook-bench-search-") as tmp:
        os.chdir(tmp)
        shutil.copy2(ROOT / "params.yaml", "params.yaml")
        from pipeline import prepare

        with contextlib.redirect_stdout(io.StringIO()):
            prepare.main()
        doc = yaml.safe_load(Path("params.yaml").read_text())
        doc["train"]["model"] = "mlp"
        os.environ[envnames.PRUNE_FILE] = str(Path(tmp) / PRUNE)
        start = time.perf_counter()
        grid_best, grid_cost = run_grid(doc, args.epochs)
        grid_s = time.perf_counter() - start
        print(
            f"grid: 27 configs x {args.epochs} epochs: best val acc {grid_best:.4f}, "
            f"{grid_cost} epochs, {grid_s:.1f} s"
        )
        gaps, fracs = [], []
        for seed in map(int, args.seeds.split(",")):
            start = time.perf_counter()
            best, cost, n = run_tpe(doc, args.epochs, seed, args.budget * grid_cost)
            gap = (grid_best - best) * 100
            gaps.append(gap)
            fracs.append(cost / grid_cost)
            print(
                f"tpe+median seed {seed}: {n} trials, best val acc {best:.4f} "
                f"(grid - tpe = {gap:+.2f} pp), {cost} epochs = {cost / grid_cost:.0%} of grid, "
                f"{time.perf_counter() - start:.1f} s"
            )
    print(
        f"median over seeds: gap {statistics.median(gaps):+.2f} pp (target <= 0.5), "
        f"compute {statistics.median(fracs):.0%} of grid (target <= 30%)"
    )


if __name__ == "__main__":
    main()
