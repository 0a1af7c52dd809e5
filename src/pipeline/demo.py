"""`make demo`: run three learning rates as DVC experiments, print the experiment table and
render `dvc plots diff` HTML into demo-out/ (gitignored).

Every run (prepare, train, evaluate) happens in a scratch copy (`dvc exp run --temp`): the work
tree stays exactly as committed, so `git status` is empty afterwards. (Reproducing the baseline
in place would rewrite dvc.lock and the metrics and plots files: their timings and timestamps
differ on every run.)

Run from the repository root: `PYTHONPATH=src python -m pipeline.demo` (what `make demo` does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

LEARNING_RATES = ("3e-4", "3e-3", "1e-2")
OUT_DIR = Path("demo-out")


def _dvc(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    print(f"$ dvc {' '.join(args)}", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], check=False, env={**os.environ, **(env or {})}
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"demo: `dvc {' '.join(args)}` failed with exit code {proc.returncode}")
    return proc


def exp_name(lr: str) -> str:
    return f"demo-lr-{lr.replace('.', 'p')}"


def _expbook_table() -> bool:
    """The experiment table through `expbook registry`; False if expbook is not usable."""
    exe = Path(sys.executable).parent / "expbook"
    if not exe.exists():
        return False
    cmd = [
        str(exe),
        "registry",
        "-c",
        "name,*train.lr,*val.acc,*test.acc,*test.f1",
        "--sort-by",
        "test.acc",
        "--desc",
    ]
    print(f"$ expbook {' '.join(cmd[1:])}", flush=True)
    # not a terminal under make: rich would squeeze the table to 80 columns
    proc = subprocess.run(cmd, check=False, env={**os.environ, "COLUMNS": "110"})
    return proc.returncode == 0


def main() -> int:
    # stage commands call `python`: make it this interpreter (the project's venv)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    start = time.perf_counter()
    names = [exp_name(lr) for lr in LEARNING_RATES]
    # a previous demo's experiments: replace them rather than fail on the name clash
    subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "remove", *names], capture_output=True, check=False
    )
    for lr, name in zip(LEARNING_RATES, names):
        # --temp: each run in a scratch copy, so the work tree stays as committed
        _dvc("exp", "run", "--temp", "-n", name, "-S", f"train.lr={lr}")
    if not _expbook_table():
        _dvc(
            "exp",
            "show",
            "--no-pager",
            "--drop",
            ".*",
            "--keep",
            r"^Experiment$|^train\.lr$|^val\.acc$|^test\.acc$|^test\.f1$|^best\.epoch$",
            env={"COLUMNS": "110"},
        )
    OUT_DIR.mkdir(exist_ok=True)
    _dvc("plots", "diff", "HEAD", *names, "-o", str(OUT_DIR / "plots"))
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s")
    print(f"  plots:       {OUT_DIR / 'plots' / 'index.html'} (open in a browser)")
    print(f"  experiments: dvc exp show   (names {', '.join(names)})")
    print("  checkpoints: dvc exp apply <name>  restores models/*.pt of an experiment")
    print("\nnext, in this venv (source .venv/bin/activate):")
    print("  expbook registry   every experiment: varied params, metrics, status")
    print("  expbook ui         the dashboard in your browser (http://127.0.0.1:8765)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
