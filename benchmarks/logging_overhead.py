"""Benchmark: per-step logging overhead of the train stage (buffered dvclive-format step curves)
versus the same training loop with step logging off. Run: `python benchmarks/logging_overhead.py`.

Runs train.run() in-process on the default params (prepare done once in a temp dir), alternating
on/off, and prints medians of >= 5 runs each and the overhead ratio (target: <= 3 %).
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args(argv)

    from pipeline import prepare, train
    from pipeline.config import load_params

    params = load_params(ROOT / "params.yaml")
    cfg = params.train if args.epochs is None else dataclasses.replace(params.train, epochs=args.epochs)
    times: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        prepare.run(params.base, params.prepare)
        for i in range(args.runs * 2 + 1):
            on = i % 2 == 0
            start, start_cpu = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(io.StringIO()):
                train.run(params.base, dataclasses.replace(cfg, log_steps=on))
            if i:  # first run warms caches (imports, allocator): not counted
                times[on].append(time.perf_counter() - start)
                cpu[on].append(time.process_time() - start_cpu)
        steps = sum(1 for _ in open(Path(tmp) / "metrics/train/plots/metrics/step/loss.tsv")) - 1
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"train.run, {cfg.epochs} epochs, {steps} optimizer steps, {args.runs} runs each")
    con, coff = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"  step logging off: median wall {off:.3f} s, cpu {coff:.3f} s")
    print(f"  step logging on:  median wall {on:.3f} s, cpu {con:.3f} s")
    print(f"  overhead: wall {100 * (on / off - 1):+.1f} %, cpu {100 * (con / coff - 1):+.1f} % "
          "(target <= 3 %; dvclive log_metric + next_step per batch measured +60-85 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
