"""issue 18, "the first command must work for anyone": `make demo` installs only the tool and
the example pipeline (no apt-get, no root, no ray/mlflow/tensorboard), and after the demo the
work tree of a fresh clone is clean (it used to reproduce the baseline in place, rewriting
dvc.lock, the metrics and the plots: 9 modified files), its last lines pointing to
`expbook registry` and `expbook ui`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, commit_all, copy_template, dvc, dvc_init, git_init, sh


def test_make_demo_installs_only_the_tool_and_the_example(tmp_path):
    venv = tmp_path / "venv"  # absent: make prints the whole recipe, running nothing
    # a clean environment for make: under `make test` MAKELEVEL/MAKEFLAGS would make this
    # inner make print "make[1]: Entering directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line and not line.startswith("#")]
    installs = [line for line in lines if "pip install" in line]
    assert installs[-2:] == [
        f"{venv}/bin/python -m pip install -q torch==2.13.0",
        f'{venv}/bin/python -m pip install -q -e ".[example,ui]"',
    ]
    for word in ("apt-get", "sudo", "ray", "mlflow", "tensorboard", "dev", "chromium"):
        assert not any(word in line for line in lines), (word, lines)
    assert lines[-1] == f"PYTHONPATH=src {venv}/bin/python -m pipeline.demo"
    assert not venv.exists()


@pytest.mark.slow
def test_the_demo_leaves_a_fresh_clone_clean(tmp_path):
    """The baseline is committed with its results (as this repository is); a fresh clone has
    none of its DVC outputs cached, which made the old demo re-run the pipeline in place."""
    (tmp_path / "origin").mkdir()
    origin = git_init(tmp_path / "origin")
    dvc_init(origin)
    copy_template(origin, {"train.epochs": 2})
    shutil.copy2(ROOT / ".gitignore", origin / ".gitignore")
    dvc("repro", "-q", cwd=origin)
    commit_all(origin, "baseline with its results")
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", origin, clone)
    git_init(clone)  # the identity, as a user has one
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "COLUMNS": "100"}
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.demo"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sh("git", "status", "--porcelain", cwd=clone).stdout == ""
    last = proc.stdout.strip().splitlines()[-2:]
    assert last[0].split()[:2] == ["expbook", "registry"], last
    assert last[1].split()[:2] == ["expbook", "ui"], last
    names = sh("git", "for-each-ref", "--format=%(refname:short)", "refs/exps", cwd=clone)
    assert len(names.stdout.split()) == 3
