"""Benchmark: wall time of the train stage with default params (`python -m pipeline.train`, the
command dvc.yaml runs) and the test accuracy it reaches; compared with `dvc repro` of the same
stage, measured in the same run. Run: `python benchmarks/train_speed.py` (target: < 10 s, >= 98 %).
"""

from __future__ import annotations

import argparse
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


def _timed(cmd: list[str], cwd: Path) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": "src",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        for rel in ("dvc.yaml", "params.yaml"):
            shutil.copy2(ROOT / rel, repo / rel)
        shutil.copytree(
            ROOT / "src/pipeline",
            repo / "src/pipeline",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        # dvclive reads HEAD, so the scratch repo needs a first commit
        for cmd in (
            ["git", "init", "-q"],
            [py, "-m", "dvc", "init", "-q"],
            ["git", "add", "-A"],
            [
                "git",
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@invalid",
                "commit",
                "-q",
                "-m",
                "bench",
            ],
        ):
            subprocess.run(cmd, cwd=repo, check=True)
        _timed([py, "-m", "pipeline.prepare"], repo)
        stage = [_timed([py, "-m", "pipeline.train"], repo) for _ in range(args.runs)]
        via_dvc = [
            _timed([py, "-m", "dvc", "repro", "-f", "-s", "train"], repo) for _ in range(args.runs)
        ]
        _timed([py, "-m", "pipeline.evaluate"], repo)
        acc = json.loads((repo / "metrics/evaluate/metrics.json").read_text())["test"]["acc"]
    s, d = statistics.median(stage), statistics.median(via_dvc)
    print(f"train stage (python -m pipeline.train), default params, {args.runs} runs")
    print(f"  median {s:.2f} s (target < 10 s); test accuracy {100 * acc:.2f} % (target >= 98 %)")
    print(f"  via `dvc repro -f -s train`: median {d:.2f} s; stage / dvc-wrapped = {s / d:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
