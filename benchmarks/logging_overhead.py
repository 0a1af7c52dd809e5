"""Benchmark: per-step logging overhead of the train stage (buffered dvclive-format step curves)
versus the same loop with step logging off, and versus plain dvclive per step (log_metric +
next_step per optimizer step), all measured in this run. Run: `python benchmarks/logging_overhead.py`.

Runs train.run() in-process on the default params (prepare done once in a temp dir), variants
interleaved; prints medians of >= 5 runs each and overhead ratios (target: buffered <= 3 %).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


class DvcliveEveryStep:
    """Drop-in for pipeline.steplog.StepLog that logs each step straight through dvclive."""

    def __init__(self, directory, enabled: bool = True):
        from dvclive import Live

        self.live = Live(dir="naive-live", save_dvc_exp=False, dvcyaml=None, report=None)

    def start(self, elapsed_s: float = 0.0) -> None:
        pass

    def add(self, step, loss, lr, grad_norm, n_samples) -> None:
        self.live.log_metric("batch/loss", loss.item())
        self.live.log_metric("batch/lr", lr)
        self.live.log_metric("batch/grad_norm", grad_norm.item())
        self.live.next_step()

    def flush(self) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args(argv)

    from pipeline import prepare, train
    from pipeline.config import load_params
    from pipeline.steplog import StepLog

    params = load_params(ROOT / "params.yaml")
    cfg = (
        params.train
        if args.epochs is None
        else dataclasses.replace(params.train, epochs=args.epochs)
    )
    variants = ("off", "buffered", "dvclive per step")
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        prepare.run(params.base, params.prepare)
        for i in range(args.runs + 1):
            for variant in variants:
                train.StepLog = DvcliveEveryStep if variant == "dvclive per step" else StepLog
                run_cfg = dataclasses.replace(cfg, log_steps=variant != "off")
                start, start_cpu = time.perf_counter(), time.process_time()
                with contextlib.redirect_stdout(io.StringIO()):
                    train.run(params.base, run_cfg)
                if i:  # the first round warms caches (imports, allocator): not counted
                    wall[variant].append(time.perf_counter() - start)
                    cpu[variant].append(time.process_time() - start_cpu)
                if variant == "buffered":
                    with open(Path(tmp) / "metrics/train/plots/metrics/step/loss.tsv") as fobj:
                        steps = sum(1 for _ in fobj) - 1
    print(f"train.run, {cfg.epochs} epochs, {steps} optimizer steps, medians of {args.runs} runs")
    off_w, off_c = statistics.median(wall["off"]), statistics.median(cpu["off"])
    for variant in variants:
        w, c = statistics.median(wall[variant]), statistics.median(cpu[variant])
        print(
            f"  {variant:17s} wall {w:.3f} s ({100 * (w / off_w - 1):+5.1f} %)   "
            f"cpu {c:.3f} s ({100 * (c / off_c - 1):+5.1f} %)"
        )
    print("  target: buffered <= +3 % of train time with logging off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
