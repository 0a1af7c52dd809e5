"""Builders of rich, real DVC repositories for tests (git init, dvc init, `dvc exp run`).

Used by tests/test_registry*.py and by other test files that need experiments to query.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import commit_all, dvc, dvc_init, git_init, sh

# A tiny stage: params from two files, metrics as JSON/YAML/TOML plus one metric file that is
# cached by DVC (so it lives only in .dvc/cache), `fail`/`corrupt` switches for bad experiments.
TRAIN_PY = textwrap.dedent("""\
    import json, os, sys
    import yaml
    p = yaml.safe_load(open("params.yaml"))
    extra = yaml.safe_load(open("conf/extra.yaml"))
    t = p["train"]
    if t.get("fail"):
        sys.exit("asked to fail")
    acc = round(1 - t["lr"] * 10 - t["wd"], 6)
    os.makedirs("metrics", exist_ok=True)
    os.makedirs("cached", exist_ok=True)
    with open("metrics/train.json", "w") as f:
        json.dump({"val": {"acc": acc, "loss": round(1 - acc, 6)}, "epoch": t["epochs"]}, f)
    with open("metrics/eval.yaml", "w") as f:
        if t.get("corrupt"):
            f.write("acc: [unclosed\\n  - : :")
        else:
            yaml.safe_dump({"test": {"acc": acc - 0.01, "f1": 0.5}}, f)
    with open("metrics/extra.toml", "w") as f:
        f.write(f"width = {extra['model']['width']}\\n[timing]\\nseconds = 1.5\\n")
    with open("cached/summary.json", "w") as f:
        json.dump({"best": {"acc": acc}, "layers": extra["model"]["layers"]}, f)
    with open("metrics/top.json", "w") as f:
        json.dump({"score": acc * 100}, f)
    with open("model.bin", "w") as f:
        f.write(f"model {t['lr']} {t['wd']}")
""")

DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params:
          - train
          - conf/extra.yaml:
              - model
        outs: [model.bin]
        metrics:
          - metrics/train.json:
              cache: false
          - metrics/eval.yaml:
              cache: false
          - metrics/extra.toml:
              cache: false
          - cached/summary.json
    params:
      - conf/top.toml
    metrics:
      - metrics/top.json
""")

SUB_PY = textwrap.dedent("""\
    import json, os, yaml
    p = yaml.safe_load(open("params.yaml"))
    os.makedirs("out", exist_ok=True)
    with open("out/metrics.json", "w") as f:
        json.dump({"score": p["k"] * 2}, f)
""")

SUB_DVC_YAML = textwrap.dedent("""\
    stages:
      subtrain:
        cmd: python sub.py
        deps: [sub.py]
        params: [k]
        metrics:
          - out/metrics.json:
              cache: false
""")


@dataclass
class RichRepo:
    """What `build_rich_repo` made: the path and the names/shas tests look up."""

    path: Path
    baselines: dict[str, str] = field(default_factory=dict)  # label -> sha
    exps: dict[str, str] = field(default_factory=dict)  # exp name -> sha
    queued: list[str] = field(default_factory=list)  # exp names
    failed: list[str] = field(default_factory=list)  # exp names
    branch: str = "feature"
    tag: str = "v1"


def write_project(path: Path) -> None:
    """Write the rich project's files (two params files, a sub-directory dvc.yaml)."""
    (path / "conf").mkdir(parents=True, exist_ok=True)
    (path / "sub").mkdir(exist_ok=True)
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text(
        "train:\n  lr: 0.01\n  wd: 0.001\n  epochs: 3\n  layers: [8, 4]\n  fail: false\n"
        "  corrupt: false\nseed: 7\n"
    )
    (path / "conf" / "extra.yaml").write_text("model:\n  width: 16\n  layers: 2\nunused: x\n")
    (path / "conf" / "top.toml").write_text('opt = "adam"\n[sched]\nwarmup = 2\n')
    (path / "sub" / "sub.py").write_text(SUB_PY)
    (path / "sub" / "dvc.yaml").write_text(SUB_DVC_YAML)
    (path / "sub" / "params.yaml").write_text("k: 3\n")
    (path / ".gitignore").write_text("")


def exp_run(path: Path, name: str, *sets: str, queue: bool = False, check: bool = True):
    args = ["exp", "run", "-P", "-n", name]
    for s in sets:
        args += ["-S", s]
    if queue:
        args.append("--queue")
    return dvc(*args, cwd=path, check=check)


def rev_parse(path: Path, rev: str) -> str:
    return sh("git", "rev-parse", rev, cwd=path).stdout.strip()


def build_rich_repo(path: Path, *, failed: bool = True) -> RichRepo:
    """Two baselines (main~1 tagged v1, main), a branch, real experiments, queued and failed ones.

    Experiments: on the first baseline `b1-lr` (train.lr=0.02); on the second `lr-small`,
    `wd-big` (conf/extra.yaml model.width=32, sub/params.yaml k=5) and `bad-metrics` (writes a
    corrupt metrics/eval.yaml). Queued: `later` (train.lr=0.005). Failed (real celery run of a
    stage that exits non-zero): `boom`.
    """
    git_init(path)
    dvc_init(path)
    write_project(path)
    dvc("repro", "-q", "-P", cwd=path)
    first = commit_all(path, "first baseline")
    sh("git", "tag", "v1", cwd=path)
    rich = RichRepo(path)
    rich.baselines["first"] = first
    exp_run(path, "b1-lr", "train.lr=0.02")
    rich.exps["b1-lr"] = None
    params = (path / "params.yaml").read_text()
    (path / "params.yaml").write_text(params.replace("seed: 7", "seed: 8"))
    dvc("repro", "-q", "-P", cwd=path)
    second = commit_all(path, "second baseline")
    rich.baselines["second"] = second
    sh("git", "branch", "feature", first, cwd=path)
    exp_run(path, "lr-small", "train.lr=0.001")
    exp_run(path, "wd-big", "conf/extra.yaml:model.width=32", "sub/params.yaml:k=5")
    exp_run(path, "bad-metrics", "train.corrupt=true")
    for name in rich.exps | {"lr-small": 0, "wd-big": 0, "bad-metrics": 0}:
        base = first if name == "b1-lr" else second
        rich.exps[name] = rev_parse(path, f"refs/exps/{base[:2]}/{base[2:]}/{name}")
    if failed:
        exp_run(path, "boom", "train.fail=true", queue=True)
        run_queue_until_done(path)
        rich.failed.append("boom")
    exp_run(path, "later", "train.lr=0.005", queue=True)
    rich.queued.append("later")
    return rich


def run_queue_until_done(path: Path, timeout: float = 120) -> None:
    """Start one celery worker and wait until nothing is queued or running, then stop it."""
    dvc("queue", "start", "-j", "1", cwd=path)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            out = dvc("queue", "status", cwd=path, check=False).stdout
            if "Queued" not in out and "Running" not in out and "Task" in out:
                return
            time.sleep(1)
        raise AssertionError(f"queue did not finish in {timeout}s:\n{out}")
    finally:
        dvc("queue", "stop", "--kill", cwd=path, check=False)


SMALL_TRAIN = (
    "import json, yaml\n"
    "p = yaml.safe_load(open('params.yaml'))\n"
    "json.dump({'acc': round(1 - p['lr'], 6)}, open('metrics.json', 'w'))\n"
)
SMALL_DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [lr]
    metrics:
      - metrics.json:
          cache: false
"""


def build_small_repo(path: Path, exps: dict[str, float] | None = None) -> dict[str, str]:
    """One stage (params.yaml lr -> metrics.json acc), a committed baseline, real experiments.

    Returns {"baseline": sha, <exp name>: sha, ...}; default experiments a (lr=0.2), b (lr=0.3).
    """
    git_init(path)
    dvc_init(path)
    (path / "train.py").write_text(SMALL_TRAIN)
    (path / "dvc.yaml").write_text(SMALL_DVC_YAML)
    (path / "params.yaml").write_text("lr: 0.1\n")
    dvc("repro", "-q", cwd=path)
    shas = {"baseline": commit_all(path, "baseline")}
    base = shas["baseline"]
    for name, lr in (exps if exps is not None else {"a": 0.2, "b": 0.3}).items():
        dvc("exp", "run", "-q", "-n", name, "-S", f"lr={lr}", cwd=path)
        shas[name] = rev_parse(path, f"refs/exps/{base[:2]}/{base[2:]}/{name}")
    return shas


def exp_show_json(path: Path, *extra: str) -> list:
    """`dvc exp show --json` of the repo (what the registry's values must equal)."""
    out = dvc("exp", "show", "--json", "-f", *extra, cwd=path).stdout
    return json.loads(out)


def exp_show_values(doc: list) -> dict[str, dict]:
    """rev -> {"params", "metrics", "param_errors", "metric_errors", "name"} from `dvc exp show
    --json`: each file's values flattened to "file:dotted.key" (the registry's key form)."""
    from expbook.registry import dvcfiles

    def flat(section: dict | None) -> tuple[dict, set]:
        values, errors = {}, set()
        for file, res in (section or {}).items():
            if res.get("error"):
                errors.add(file)
                continue
            for key, value in dvcfiles.flatten(res.get("data") or {}).items():
                values[f"{file}:{key}"] = value
        return values, errors

    out = {}
    for base in doc:
        entries = [base] + [r for rng in base.get("experiments") or [] for r in rng["revs"]]
        for entry in entries:
            data = entry.get("data") or {}
            params, param_errors = flat(data.get("params"))
            metrics, metric_errors = flat(data.get("metrics"))
            out[entry["rev"]] = {
                "params": params,
                "metrics": metrics,
                "param_errors": param_errors,
                "metric_errors": metric_errors,
                "name": entry.get("name"),
            }
    return out


if __name__ == "__main__":  # build one by hand to look at: python tests/repo_factory.py /tmp/x
    sys.path.insert(0, str(Path(__file__).parent))
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    os.chdir(target)
    t0 = time.monotonic()
    print(build_rich_repo(target), time.monotonic() - t0)


def age_tree(path: Path, seconds: int = 3600) -> None:
    """Backdate every file and directory under `path` (out of the caches' 2 s racy window), so
    cached entries are fully trusted and only a real change can invalidate them."""
    past = time.time() - seconds
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (past, past), follow_symlinks=False)
    os.utime(path, (past, past))


# `python -c IMPORT_PROBE ARGS...` runs the expbook CLI and reports at exit, on stderr, the
# modules it imported (`MODULES=a,b,...`)
IMPORT_PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('MODULES=' + ','.join(sorted(sys.modules))))\n"
    "from expbook.cli import main; main()\n"
)
