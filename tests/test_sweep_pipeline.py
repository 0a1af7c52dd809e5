"""A real sweep of the example pipeline (torch, dvclive): trials are DVC experiments with the
pipeline's metrics, its own params validation gates the sweep, and pruning stops a trial."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import dvc, sh
from pipeline_helpers import make_repo, run_stage

VALIDATE = "PYTHONPATH=src python -m pipeline.config"


def expbook(repo, *args, check=True):
    return sh(sys.executable, "-m", "expbook", *args, cwd=repo, check=check)


@pytest.mark.slow
def test_grid_sweep_of_the_pipeline_creates_experiments_dvc_shows(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.epochs": 2})
    dvc("repro", "-q", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "baseline", cwd=repo)
    out = json.loads(
        expbook(
            repo,
            "sweep",
            "-S",
            "train.lr=0.001,0.003",
            "--metric",
            "val.acc",
            "--mode",
            "max",
            "-j",
            "2",
            "--name",
            "lr",
            "--validate",
            VALIDATE,
            "--json",
        ).stdout
    )
    assert [t["status"] for t in out["trials"]] == ["success", "success"]
    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    exps = {e["name"]: e for base in shown for e in (base.get("experiments") or [])}
    assert {"lr-001", "lr-002"} <= set(exps)
    data = exps["lr-002"]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["train"]["lr"] == 0.003
    assert 0 < data["metrics"]["metrics/evaluate/metrics.json"]["data"]["test"]["acc"] <= 1
    rows = json.loads(
        expbook(repo, "registry", "--where", "sweep = 'lr'", "--format", "json").stdout
    )
    assert sorted(r["name"] for r in rows) == ["lr-001", "lr-002"]


@pytest.mark.slow
def test_pipeline_validation_rejects_a_bad_trial_before_anything_runs(tmp_path):
    repo = make_repo(tmp_path / "repo")
    proc = expbook(
        repo,
        "sweep",
        "-S",
        "train.lr=0.001,-1",
        "--metric",
        "val.acc",
        "--validate",
        VALIDATE,
        check=False,
    )
    assert proc.returncode != 0
    assert "train.lr must be > 0, got -1" in proc.stderr
    assert sh("git", "for-each-ref", "refs/exps", cwd=repo).stdout == ""


def test_config_module_validates_params_yaml(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.batch_size": 0})
    proc = run_stage(repo, "config", check=False)
    assert proc.returncode == 2
    assert "params.yaml: train.batch_size must be > 0, got 0" in proc.stderr
