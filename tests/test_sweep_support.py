"""A tiny, fast DVC pipeline for the sweep tests (no torch): a `train` stage that "trains" for
`train.epochs` epochs writing dvclive-like metrics/TSV, honours EXPBOOK_PRUNE_FILE and fails on
`train.fail: true` or `train.lr == 0.666`. Imported by tests/test_sweep*.py (holds no tests).
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

from conftest import commit_all, dvc, dvc_init, git_init, sh

TRAIN_PY = textwrap.dedent("""\
    import json, os, sys, time
    import yaml
    p = yaml.safe_load(open("params.yaml"))
    t, seed = p["train"], p["base"]["seed"]
    if t["fail"] or t["lr"] == 0.666:
        sys.exit("train: asked to fail (lr=%s)" % t["lr"])
    os.makedirs("live/plots/metrics/val", exist_ok=True)
    tsv = "live/plots/metrics/val/acc.tsv"
    with open(tsv, "w") as f:
        f.write("timestamp\\tstep\\tacc\\n")
    quality = 1 - abs(t["lr"] - 0.01) * 10 - t["wd"] * 10 + seed * 0.001
    prune = os.environ.get("EXPBOOK_PRUNE_FILE")
    if t["pidfile"] and t["lr"] == 0.05:  # lets a test kill -9 this very trial
        with open(t["pidfile"], "w") as f:
            f.write(str(os.getpid()))
    for epoch in range(t["epochs"]):
        time.sleep(t["sleep"])
        acc = round(quality * (epoch + 1) / t["epochs"], 6)
        with open(tsv, "a") as f:
            f.write("%d\\t%d\\t%s\\n" % (int(time.time() * 1000), epoch, acc))
        with open("live/metrics.json", "w") as f:
            json.dump({"val": {"acc": acc}, "cost": t["lr"] * 100, "step": epoch}, f)
        if prune and os.path.exists(prune):
            break
    with open("model.bin", "w") as f:
        f.write("model %s %s %s" % (t["lr"], t["wd"], seed))
""")

DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [base, train]
        outs: [model.bin]
        metrics:
          - live/metrics.json:
              cache: false
        plots:
          - live/plots/metrics:
              x: step
              cache: false
""")

PARAMS_YAML = textwrap.dedent("""\
    # tiny pipeline params (comments must survive the sweep's params writer)
    base:
      seed: 0
    train:
      lr: 0.01   # learning rate
      wd: 0.0
      epochs: 2
      sleep: 0.0
      fail: false
      pidfile: ''
""")

_TEMPLATE: dict[str, Path] = {}


def _build(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git_init(path)
    dvc_init(path)
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text(PARAMS_YAML)
    dvc("repro", "-q", cwd=path)
    commit_all(path, "tiny pipeline")
    return path


def tiny_repo(dest: Path, tmp_factory=None) -> Path:
    """A committed DVC repo with the tiny pipeline (built once per process, then copied)."""
    if "repo" not in _TEMPLATE:
        base = Path(tmp_factory.mktemp("tiny-template")) if tmp_factory else dest.parent / "tpl"
        _TEMPLATE["repo"] = _build(base / "repo")
    shutil.copytree(_TEMPLATE["repo"], dest, symlinks=True)
    return dest


def run_cli(repo: Path, *args: str, check: bool = True, timeout: float = 300):
    """`expbook ...` in a real subprocess (as a user runs it)."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", "from expbook.cli import main; main()", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"expbook {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def exp_refs(repo: Path) -> dict[str, str]:
    """exp name -> sha of every refs/exps experiment ref (excluding DVC's internal ones)."""
    out = sh(
        "git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=repo
    ).stdout.split("\n")
    refs = {}
    for line in filter(None, out):
        ref, sha = line.split()
        parts = ref.split("/")
        if len(parts) == 5:
            refs[parts[-1]] = sha
    return refs


def exp_show(repo: Path) -> dict[str, dict]:
    """name -> data of each experiment `dvc exp show --json` lists."""
    data = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    out = {}
    for base in data:
        for exp in base.get("experiments") or []:
            for rev in exp.get("revs") or []:
                out[rev.get("name")] = rev
    return out
