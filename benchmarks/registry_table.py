"""Benchmark: `expbook registry` as a table beside `--format json` (issue 18), on the repos
benchmarks/registry.py synthesizes: the terminal page (in a pseudo-terminal), every row to a
file (--all), and the first reads after 100 new experiments. Run through registry.py:
    .venv/bin/python benchmarks/registry.py --table --sizes 2000 10000 100000 --runs 3 \
        --workdir /tmp/bench
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

from registry import (
    _PEAK,
    ENV,
    EXPBOOK,
    PY,
    _run,
    add_experiments,
    median_of,
    synthesize,
    timed,
)

TABLE_ALL = [PY, "-c", _PEAK, "registry", "--all"]


def timed_tty(args: list[str], cwd: Path, columns: int = 120, lines: int = 40) -> float:
    """Seconds of one run in a pseudo-terminal of `columns` x `lines` (what a person waits
    for), its output read as a terminal reads it."""
    import fcntl
    import struct
    import termios
    import threading

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**ENV, "COLUMNS": str(columns), "LINES": str(lines), "TERM": "xterm-256color"}

    def drain() -> None:
        while True:
            try:
                if not os.read(master, 1 << 16):
                    return
            except OSError:  # EIO: the child closed its side
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    code = proc.wait()
    elapsed = time.perf_counter() - start
    reader.join(10)
    os.close(master)
    if code != 0:
        raise SystemExit(f"{' '.join(args)} failed in a terminal ({code})")
    return elapsed


def bench_table(n: int, runs: int, workdir: Path) -> dict:
    """`expbook registry` as a table beside `--format json` (issue 18), warm: the terminal
    page (pty 120x40) and every row to a pipe (--all); then `runs` times: 100 new
    experiments, the next terminal page, the next JSON, and the terminal page once more."""
    path = workdir / f"repo-{n}"
    if not path.exists():
        t0 = time.perf_counter()
        synthesize(path, n)
        _run(["git", "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"], path)
        print(f"# N={n}: synthesized in {time.perf_counter() - t0:.1f}s", flush=True)
    page = [PY, "-c", _PEAK, "registry"]
    _run(EXPBOOK, path)  # fill the caches (untimed)
    timed_tty(page, path)
    res: dict = {"n": n}
    res["json_warm"], _ = median_of(runs, EXPBOOK, path)
    res["table_warm"] = statistics.median(timed_tty(page, path) for _ in range(runs))
    res["table_all_pipe"], out = median_of(runs, TABLE_ALL, path)
    res["table_all_rows"] = sum(line.startswith("│") for line in out.splitlines())
    new_table, new_json, again = [], [], []
    for _ in range(runs):
        add_experiments(path, 100)
        new_table.append(timed_tty(page, path))
        new_json.append(timed(EXPBOOK, path)[0])
        again.append(timed_tty(page, path))  # within 2 s of the new refs (the racy window)
    res["table_new100"] = statistics.median(new_table)
    res["json_new100"] = statistics.median(new_json)
    res["table_new100_again"] = statistics.median(again)
    return res


def print_table_results(results: list[dict], runs: int) -> None:
    print(
        f"\nregistry as a table beside JSON: medians of {runs} runs (seconds); page = the "
        "terminal page in a 120x40 pty, all = `--all` to a file; +100 = the first read after "
        "100 new experiments, again = the page right after that"
    )
    print(
        f"{'N':>7} {'json warm':>10} {'page warm':>10} {'all':>8} {'rows':>7} "
        f"{'json +100':>10} {'page +100':>10} {'again':>8}"
    )
    for r in results:
        print(
            f"{r['n']:>7} {r['json_warm']:10.3f} {r['table_warm']:10.3f} "
            f"{r['table_all_pipe']:8.3f} {r['table_all_rows']:>7} {r['json_new100']:10.3f} "
            f"{r['table_new100']:10.3f} {r['table_new100_again']:8.3f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for r in results:
        checks = []
        if r["n"] == 10000:
            checks.append(("--all to a file <= 2 s", r["table_all_pipe"] <= 2.0))
        if r["n"] == 100000:
            checks += [
                ("warm page <= 0.5 s", r["table_warm"] <= 0.5),
                ("+100: page <= 1 s", r["table_new100"] <= 1.0),
                ("+100: json <= 3 s", r["json_new100"] <= 3.0),
            ]
        for label, ok in checks:
            print(f"target N={r['n']}: {label}: {'met' if ok else 'NOT met'}")
