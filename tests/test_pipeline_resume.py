"""End-to-end: an interrupted training run resumed with `train.resume: true` (from the persisted
models/last.pt, dvclive resume) ends with metrics and checkpoints bit-identical to an
uninterrupted run on CPU, and its curves continue at the next step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import dvc
from pipeline_helpers import make_repo, md5, read_json, run_stage, set_params, without_timing

pytestmark = pytest.mark.slow
EPOCHS = 6


def _steps(repo: Path, rel: str) -> list[int]:
    header, *rows = (repo / "metrics/train/plots/metrics" / rel).read_text().splitlines()
    col = header.split("\t").index("step")
    return [int(r.split("\t")[col]) for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """Metrics and checkpoint hashes of one uninterrupted run."""
    repo = make_repo(tmp_path_factory.mktemp("ref") / "repo", {"train.epochs": EPOCHS})
    run_stage(repo, "prepare")
    run_stage(repo, "train")
    return {
        "metrics": without_timing(read_json(repo / "metrics/train/metrics.json")),
        "best": md5(repo / "models/best.pt"),
        "last": md5(repo / "models/last.pt"),
        "val_steps": _steps(repo, "val/acc.tsv"),
        "step_steps": _steps(repo, "step/loss.tsv"),
    }


def _assert_same_as_reference(repo: Path, reference: dict) -> None:
    metrics = without_timing(read_json(repo / "metrics/train/metrics.json"))
    assert metrics == reference["metrics"]
    assert md5(repo / "models/best.pt") == reference["best"]
    assert md5(repo / "models/last.pt") == reference["last"]
    assert _steps(repo, "val/acc.tsv") == reference["val_steps"]  # no gaps, no repeats
    assert _steps(repo, "step/loss.tsv") == reference["step_steps"]


def test_pruned_then_resumed_via_dvc_exp_run_matches_uninterrupted(tmp_path: Path, reference):
    """Interruption at an epoch boundary (the sweep's prune hook), resumed by `dvc exp run`."""
    repo = make_repo(tmp_path / "repo", {"train.epochs": EPOCHS})
    prune = tmp_path / "prune"
    prune.write_text("")
    first = dvc("exp", "run", "-n", "cut", cwd=repo, env={"EXPBOOK_PRUNE_FILE": str(prune)})
    assert "epoch 1:" not in first.stdout
    assert read_json(repo / "metrics/train/metrics.json")["pruned"] is True
    dvc("exp", "run", "-n", "resumed", "-S", "train.resume=true", cwd=repo)
    metrics = read_json(repo / "metrics/train/metrics.json")
    assert metrics["pruned"] is False and metrics["epochs_run"] == EPOCHS
    _assert_same_as_reference(repo, reference)


def test_killed_mid_run_then_resumed_matches_uninterrupted(tmp_path: Path, reference):
    """Interruption at an arbitrary point (SIGKILL), resumed by running the stage again."""
    repo = make_repo(tmp_path / "repo", {"train.epochs": EPOCHS})
    run_stage(repo, "prepare")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.train"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": "src"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if (repo / "models/last.pt").exists():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("training finished before it could be interrupted")
    assert (
        read_json(repo / "metrics/train/metrics.json")["step"] < EPOCHS - 1
        if (repo / "metrics/train/metrics.json").exists()
        else True
    )
    set_params(repo, {"train.resume": True})
    run_stage(repo, "train")
    _assert_same_as_reference(repo, reference)
