"""Helpers for the example-pipeline tests: build a committed git+DVC copy of the template
with fast params, read metrics/locks, and strip wall-clock values before comparing runs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import yaml

from conftest import ROOT, commit_all, copy_template, dvc_init, git_init, sh

# the example pipeline is not an installed package (pyproject installs expbook only)
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

# small but real: a few epochs of a narrow MLP keep one `dvc exp run` to a few seconds
FAST = {
    "train.epochs": 3,
    "train.hidden_dims": [64],
    "train.batch_size": 128,
    "train.num_threads": 1,
}


def make_repo(path: Path, params: dict | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git_init(path)
    dvc_init(path)
    copy_template(path, {**FAST, **(params or {})})
    commit_all(path, "template")
    return path


def run_stage(repo: Path, stage: str, env: dict | None = None, check: bool = True):
    return sh(
        sys.executable,
        "-m",
        f"pipeline.{stage}",
        cwd=repo,
        check=check,
        env={"PYTHONPATH": "src", **(env or {})},
    )


def set_params(repo: Path, values: dict) -> None:
    doc = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value in values.items():
        node = doc
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def without_timing(metrics: dict) -> dict:
    """Drop wall-clock values (kept under `time` keys by design) before comparing runs."""
    if isinstance(metrics, dict):
        return {k: without_timing(v) for k, v in metrics.items() if k != "time"}
    return metrics


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
