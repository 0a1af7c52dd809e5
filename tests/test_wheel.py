"""issue 20: the built distribution works for a project that is not the example.

Builds the sdist and, from it, the wheel; installs the wheel into a fresh virtualenv (no
torch, no scikit-learn, no matplotlib: `import torch` must fail there); builds in tmp_path a DVC
repository whose pipeline is pure Python (a logistic regression trained by gradient descent
with the standard library); runs `dvc exp run` and an expbook sweep; then registry, show,
compare, stats, reproduce and report through the venv's own `expbook`, each exiting 0.
`expbook report` first says which extra it needs, then works once `expbook[ui]` is installed.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import commit_all, dvc_init, git_init, sh
from expbook import __version__

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

TRAIN = textwrap.dedent("""\
    \"\"\"A logistic regression on a seeded synthetic data set, in plain Python.\"\"\"
    import json, math, random
    import yaml

    with open("params.yaml") as f:
        p = yaml.safe_load(f)
    rng = random.Random(p["seed"])
    def point():
        y = rng.random() < 0.5
        return [rng.gauss(1.0 if y else -1.0, 1.2), rng.gauss(0.5 if y else -0.5, 1.2)], y
    data = [point() for _ in range(400)]
    train, val = data[:300], data[300:]
    w, b = [0.0, 0.0], 0.0
    for _ in range(p["train"]["epochs"]):
        for x, y in train:
            z = w[0] * x[0] + w[1] * x[1] + b
            g = 1 / (1 + math.exp(-z)) - y
            w = [w[0] - p["train"]["lr"] * g * x[0], w[1] - p["train"]["lr"] * g * x[1]]
            b -= p["train"]["lr"] * g
    def loss_acc(rows):
        loss = acc = 0.0
        for x, y in rows:
            q = min(max(1 / (1 + math.exp(-(w[0] * x[0] + w[1] * x[1] + b))), 1e-9), 1 - 1e-9)
            loss -= math.log(q if y else 1 - q)
            acc += (q > 0.5) == y
        return round(loss / len(rows), 6), round(acc / len(rows), 6)
    loss, acc = loss_acc(val)
    with open("metrics.json", "w") as f:
        json.dump({"val": {"loss": loss, "acc": acc}}, f)
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [seed, train]
        metrics:
          - metrics.json:
              cache: false
""")


def _env(venv: Path) -> dict[str, str]:
    """The environment of a user of that venv: its bin first, nothing of this test's venv."""
    ours = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != ours]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PATH": os.pathsep.join([str(venv / "bin"), *path]), "COLUMNS": "120"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the built wheel (and its dependencies) installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    # the sdist first, then the wheel built from the unpacked sdist (so the sdist is complete)
    sh(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT)
    assert (dist / f"expbook-{__version__}.tar.gz").is_file()
    wheel = dist / f"expbook-{__version__}-py3-none-any.whl"
    assert wheel.is_file()
    venv = tmp / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv)
    pip_install(venv, str(wheel))
    return venv


def pip_install(venv: Path, *what: str) -> None:
    """pip (this interpreter's, pointed at the venv: no ensurepip) installs into the venv;
    --no-compile: byte-compiling ~100 packages is most of an install's CPU time."""
    py = venv / "bin" / "python"
    sh(sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-compile", *what)


def test_the_wheel_installs_without_the_example_pipelines_dependencies(venv):
    py = venv / "bin" / "python"
    for module in ("torch", "sklearn", "matplotlib", "dvclive"):
        proc = sh(py, "-c", f"import {module}", check=False)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, module
    assert sh(venv / "bin" / "expbook", "--version").stdout.strip() == (
        f"expbook, version {__version__}"
    )


def test_the_wheel_runs_every_wing_on_a_non_torch_repository(venv, tmp_path):
    env = _env(venv)
    (tmp_path / "project").mkdir()
    repo = git_init(tmp_path / "project")
    dvc_init(repo)
    (repo / "train.py").write_text(TRAIN)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("seed: 0\ntrain:\n  lr: 0.05\n  epochs: 3\n")

    def run(*args: str, check: bool = True):
        return sh(*args, cwd=repo, env=env, check=check)

    run("dvc", "repro", "-q")
    commit_all(repo, "baseline")
    for name, lr in (("slow", "0.01"), ("fast", "0.2")):
        run("dvc", "exp", "run", "-q", "-n", name, "-S", f"train.lr={lr}")
    # 2 configs x 2 seeds: the groups stats compares
    run(
        "expbook", "sweep", "-S", "train.lr=0.01,0.2", "--seeds", "2", "--seed-key", "seed",
        "-m", "val.loss", "--name", "w",
    )  # fmt: skip
    rows = json.loads(run("expbook", "registry", "--json").stdout)
    names = {row["name"] for row in rows}
    assert {"slow", "fast", *(f"w-{i:03d}" for i in range(1, 5))} <= names, names
    table = run("expbook", "registry").stdout
    assert "fast" in table
    assert "val.acc" in run("expbook", "show", "fast").stdout
    assert "train.lr" in run("expbook", "compare", "main", "slow", "fast").stdout
    stats = run("expbook", "stats", "-m", "val.loss", "-g", "train.lr", "--where", "sweep = 'w'")
    assert "0.2" in stats.stdout and "0.01" in stats.stdout
    assert run("expbook", "reproduce", "fast").returncode == 0
    # the dashboard's extra is not installed: the report names it instead of a traceback
    report = tmp_path / "report.html"
    missing = run("expbook", "report", "-o", report, check=False)
    assert missing.returncode != 0 and "expbook[ui]" in missing.stderr
    assert "Traceback" not in missing.stderr and not report.exists()
    wheel = next((venv.parent / "dist").glob("*.whl"))
    start = time.monotonic()
    pip_install(venv, f"expbook[ui] @ {wheel.as_uri()}")
    print(f"expbook[ui] installed in {time.monotonic() - start:.0f} s")
    run("expbook", "report", "-o", report)
    assert report.stat().st_size > 100_000  # Plotly.js and the data inlined
    proc = sh(venv / "bin" / "python", "-c", "import torch", check=False)
    assert proc.returncode != 0
