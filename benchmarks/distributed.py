"""Distributed sweeps: (1) per-trial overhead of the Ray backend (a local Ray instance, git +
DVC remotes) vs the local backend on a trivial stage; (2) driver throughput: how many trial
completions per second the driver lands (fetch commit, note, ref, state, search) when trials
finish at once, and where that time goes.

Run: `.venv/bin/python benchmarks/distributed.py [--trials 8] [--instant 300] [--skip ray]`;
prints medians and ratios measured in the same run (a report, no assertions).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from expbook.sweep import workspace  # noqa: E402
from expbook.sweep.backends.ray import RayBackend  # noqa: E402
from expbook.sweep.driver import run_sweep  # noqa: E402
from expbook.sweep.runner import Handle, LocalBackend  # noqa: E402
from expbook.sweep.spec import _Ctx, build_spec  # noqa: E402

STAGE = """import json, yaml
t = yaml.safe_load(open("params.yaml"))["train"]
json.dump({"val": {"acc": 1 - t["lr"]}}, open("metrics.json", "w"))
open("model.bin", "w").write("model %s" % t["lr"])
"""
DVC_YAML = """stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""


def sh(*args, cwd) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stdout


def make_repo(root: Path) -> Path:
    """A committed trivial pipeline with a bare git remote `origin` and a local DVC remote."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("git", "config", "user.email", "bench@expbook.invalid", cwd=repo)
    sh("git", "config", "user.name", "bench", cwd=repo)
    sh(sys.executable, "-m", "dvc", "init", "-q", cwd=repo)
    (repo / "train.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("train:\n  lr: 0.1\n")
    sh(sys.executable, "-m", "dvc", "repro", "-q", cwd=repo)
    sh("git", "init", "-q", "--bare", root / "remote.git", cwd=root)
    sh("git", "remote", "add", "origin", root / "remote.git", cwd=repo)
    (root / "store").mkdir()
    sh(sys.executable, "-m", "dvc", "remote", "add", "-q", "-d", "store", root / "store", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "pipeline", cwd=repo)
    sh("git", "push", "-q", "origin", "main", cwd=repo)
    return repo


def spec_for(name: str, n: int, parallel: int, method: str = "grid"):
    params: dict = {"train.lr": [round(0.001 * (i + 1), 6) for i in range(n)]}
    data = {"name": name, "metric": "val.acc", "params": params, "parallel": parallel}
    if method != "grid":
        data.update(method=method, trials=n, params={"train.lr": {"low": 0.0, "high": 1.0}})
    return build_spec(data, _Ctx("<bench>"))


class Timed:
    """Wraps a backend factory: when the loop started/ended and when each result came back."""

    def __init__(self, factory, **kw) -> None:
        self.factory, self.kw = factory, kw
        self.done: list[float] = []
        self.started = self.closing = 0.0

    def __call__(self, *args):
        backend = self.factory(*args, **self.kw)
        outer = self
        start, poll, close = backend.start, backend.poll, backend.close

        def timed_start():
            start()
            outer.started = time.time()

        def timed_poll(timeout):
            results = poll(timeout)
            outer.done += [time.time()] * len(results)
            return results

        def timed_close(kill=False):
            outer.closing = time.time()
            close(kill)

        backend.start, backend.poll, backend.close = timed_start, timed_poll, timed_close
        return backend


def overhead(root: Path, n: int, which: list[str]) -> dict[str, float]:
    """Seconds per trial, trials one after another: median gap between completions."""
    out = {}
    for name in which:
        repo = make_repo(root / name)
        factory = Timed(LocalBackend) if name == "local" else Timed(RayBackend)
        t0 = time.time()
        result = run_sweep(spec_for(name, n, 1), str(repo), backend_factory=factory)
        wall = time.time() - t0
        bad = [t.error for t in result.trials if t.status != "success"]
        if bad:
            raise SystemExit(f"{name}: failed trials: {bad[:2]}")
        gaps = [b - a for a, b in zip([factory.started, *factory.done], factory.done)]
        out[name] = statistics.median(gaps[1:])  # the first trial pays worker start-up
        print(
            f"{name:6s} {n} trials: wall {wall:.1f} s, start {factory.started - t0:.1f} s, "
            f"first trial {gaps[0]:.2f} s, then median {out[name]:.2f} s/trial "
            f"(min {min(gaps[1:]):.2f}, max {max(gaps[1:]):.2f})"
        )
    return out


class Instant(RayBackend):
    """Trials that finish at once: their commits wait in the git remote already, so the
    driver's own work (fetch, note, ref, state, search) is all that is measured."""

    commits: dict[str, str] = {}
    url = ""

    def start(self) -> None:
        self.source = {"url": self.url, "baseline": self.baseline}
        self._ready: list[dict] = []

    def free_slots(self) -> int:
        return self.slots - len(self._ready)

    def submit(self, task: dict) -> Handle:
        self._tasks[task["number"]] = task
        self._ready.append(task)
        return Handle(task["number"], 0)

    def poll(self, timeout: float) -> list[dict]:
        results = []
        for task in self._ready:
            value = float(task["overrides"]["params.yaml:train.lr"])
            results.append(
                {
                    "number": task["number"],
                    "name": task["name"],
                    "status": "success",
                    "rev": self.commits[task["name"]],
                    "ref": workspace.exp_ref(self.baseline, task["name"]),
                    "values": [value],
                    "metrics": {"metrics.json:val.acc": value},
                }
            )
        self._ready = []
        self._land(results)
        return results

    def curve(self, handle, metric_key):
        return []

    def close(self, kill: bool = False) -> None:
        pass


def throughput(root: Path, n: int, parallel: int) -> None:
    import pygit2

    repo = make_repo(root / f"instant-{parallel}")
    remote = pygit2.Repository(str(root / f"instant-{parallel}" / "remote.git"))
    base = remote.revparse_single("main")
    sig = pygit2.Signature("bench", "bench@expbook.invalid")
    Instant.url, Instant.commits = str(root / f"instant-{parallel}" / "remote.git"), {}
    for i in range(1, n + 1):
        name = f"t-{i:03d}"
        sha = remote.create_commit(None, sig, sig, f"exp {i}", base.tree_id, [base.id])
        remote.references.create(workspace.exp_ref(str(base.id), name), sha)
        Instant.commits[name] = str(sha)
    prof = cProfile.Profile()
    t0 = time.time()
    prof.enable()
    run_sweep(spec_for("t", n, parallel, "random"), str(repo), backend_factory=Instant)
    prof.disable()
    wall = time.time() - t0
    refs = sh("git", "for-each-ref", "refs/exps", cwd=repo).count("\n")
    print(
        f"instant trials, {n} with {parallel} in flight: {n / wall:.1f} completions/s ({refs} refs)"
    )
    stats = pstats.Stats(prof)
    parts = {
        "landing (all of it)": ("ray.py", "_land"),
        "  of which notes": ("state.py", "write_notes"),
        "sweep state ref (save)": ("state.py", "save"),
        "search ask": ("search.py", "ask"),
        "search tell": ("search.py", "tell"),
    }
    table = {
        (Path(f).name, fn): ct for (f, _l, fn), (_c, _n, _t, ct, _callers) in stats.stats.items()
    }  # type: ignore[attr-defined]
    for label, key in parts.items():
        print(f"  {label:24s} {1000 * table.get(key, 0.0) / n:7.2f} ms/trial")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=8, help="trials per backend in part 1")
    ap.add_argument("--instant", type=int, default=300, help="instant trials in part 2")
    ap.add_argument("--skip", default="", help="comma list: local,ray,instant")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    root = Path(tempfile.mkdtemp(prefix="expbook-dist-"))
    # a local `ray.init()` leaves ~/.ray/auth_token, which breaks later token-less `ray start`
    # clusters of this user: keep it in the benchmark's temp dir
    os.environ["HOME"] = str(root / "home")
    (root / "home").mkdir()
    try:
        which = [b for b in ("local", "ray") if b not in skip]
        if which:
            per = overhead(root, args.trials, which)
            if len(per) == 2:
                print(f"ray overhead: +{per['ray'] - per['local']:.2f} s per trial "
                      f"({per['ray'] / per['local']:.2f}x local)")  # fmt: skip
        if "instant" not in skip:
            for parallel in (8, 64):
                throughput(root, args.instant, parallel)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
