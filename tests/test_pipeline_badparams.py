"""End-to-end: bad params.yaml values make `dvc exp run` fail before any training, naming the
file and key, with a non-zero exit, no experiment ref and the previous checkpoints intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import dvc, sh
from pipeline_helpers import make_repo, md5, set_params

pytestmark = pytest.mark.slow


def _exp_refs(repo: Path) -> list[str]:
    out = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo).stdout
    return sorted(r for r in out.split() if len(r.split("/")[2]) == 2)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A repo whose baseline was reproduced and committed (so models/*.pt exist)."""
    repo = make_repo(tmp_path_factory.mktemp("bad") / "repo")
    dvc("repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "baseline", cwd=repo)
    (repo / "data.csv").write_text(
        "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    )
    return repo


@pytest.mark.parametrize(
    "values, message",
    [
        ({"train.lrr": 0.1}, "params.yaml: unknown key train.lrr"),
        ({"train.lr": "fast"}, "params.yaml: train.lr must be of type float"),
        ({"train.lr": 0}, "params.yaml: train.lr must be > 0, got 0"),
        ({"train.batch_size": 0}, "params.yaml: train.batch_size must be > 0, got 0"),
        ({"train.model": "resnet"}, "params.yaml: train.model must be one of mlp, cnn"),
        ({"train.scheduler": "exp"}, "params.yaml: train.scheduler must be one of"),
        (
            {"prepare.train_fraction": 0.5},
            "params.yaml: prepare.train_fraction + prepare.val_fraction",
        ),
        (
            {"prepare.source": "data.csv", "prepare.target": "klass"},
            "params.yaml: prepare.target: column 'klass' not in data.csv",
        ),
    ],
)
def test_bad_params_fail_fast_without_experiment_or_damage(baseline: Path, values, message):
    original = (baseline / "params.yaml").read_text()
    before = {
        p: md5(baseline / p)
        for p in ("models/best.pt", "models/last.pt", "metrics/train/metrics.json")
    }
    try:
        set_params(baseline, values)
        proc = dvc("exp", "run", cwd=baseline, check=False)
        assert proc.returncode != 0
        assert message in proc.stdout + proc.stderr
        assert "epoch 0" not in proc.stdout  # failed before any training
        assert _exp_refs(baseline) == []
        assert {p: md5(baseline / p) for p in before} == before
    finally:
        (baseline / "params.yaml").write_text(original)
