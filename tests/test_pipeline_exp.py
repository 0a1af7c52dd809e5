"""End-to-end tests of the example pipeline under real `dvc exp run` in a tmp git+DVC copy of
the template: exp refs, `dvc exp show --json`, `dvc exp apply`, determinism, bad params."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import dvc, sh
from pipeline_helpers import make_repo, md5, read_json, without_timing

pytestmark = pytest.mark.slow
METRIC_FILES = (
    "metrics/prepare.json",
    "metrics/train/metrics.json",
    "metrics/evaluate/metrics.json",
)


def _exp_refs(repo: Path) -> list[str]:
    out = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo).stdout
    # refs/exps/<2 hex>/<baseline rest>/<name>; skip DVC's bookkeeping (exec/, celery/)
    return sorted(r for r in out.split() if len(r.split("/")[2]) == 2)


def _lock_hash(repo: Path, rev: str, path: str) -> str:
    import yaml

    lock = yaml.safe_load(sh("git", "show", f"{rev}:dvc.lock", cwd=repo).stdout)
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise KeyError(path)


def _metrics_at(repo: Path, rev: str) -> dict:
    return {
        f: without_timing(json.loads(sh("git", "show", f"{rev}:{f}", cwd=repo).stdout))
        for f in METRIC_FILES
    }


@pytest.fixture(scope="module")
def exps(tmp_path_factory) -> Path:
    """Three experiments: a (lr 1e-4), b (lr 1e-2), c (lr 1e-4 again, for determinism)."""
    repo = make_repo(tmp_path_factory.mktemp("exps") / "repo")
    for name, lr in (("a", 1e-4), ("b", 1e-2), ("c", 1e-4)):
        dvc("exp", "run", "-n", name, "-S", f"train.lr={lr}", cwd=repo)
    return repo


def test_exp_run_creates_ref_and_exp_show_lists_params_and_metrics(exps: Path):
    refs = _exp_refs(exps)
    assert len(refs) == 3 and {r.rsplit("/", 1)[-1] for r in refs} == {"a", "b", "c"}
    shown = json.loads(dvc("exp", "show", "--json", cwd=exps).stdout)
    runs = {}
    for row in shown:
        for exp in row.get("experiments") or []:
            for rev in exp["revs"]:
                runs[rev["name"]] = rev["data"]
    a = runs["a"]
    assert a["params"]["params.yaml"]["data"]["train"]["lr"] == 1e-4
    metrics = a["metrics"]
    assert metrics["metrics/train/metrics.json"]["data"]["val"]["acc"] > 0
    assert "f1" in metrics["metrics/evaluate/metrics.json"]["data"]["test"]
    assert metrics["metrics/prepare.json"]["data"]["size"]["train"] == 1257
    assert runs["b"]["params"]["params.yaml"]["data"]["train"]["lr"] == 1e-2


def test_same_params_give_identical_metrics_and_checkpoints(exps: Path):
    refs = {r.rsplit("/", 1)[-1]: r for r in _exp_refs(exps)}
    assert _metrics_at(exps, refs["a"]) == _metrics_at(exps, refs["c"])
    assert _metrics_at(exps, refs["a"]) != _metrics_at(exps, refs["b"])
    for ckpt in ("models/best.pt", "models/last.pt"):
        assert _lock_hash(exps, refs["a"], ckpt) == _lock_hash(exps, refs["c"], ckpt)


def test_exp_apply_restores_checkpoints(exps: Path):
    refs = {r.rsplit("/", 1)[-1]: r for r in _exp_refs(exps)}
    dvc("exp", "apply", "b", cwd=exps)
    assert md5(exps / "models/best.pt") == _lock_hash(exps, refs["b"], "models/best.pt")
    dvc("exp", "apply", "a", cwd=exps)
    assert md5(exps / "models/best.pt") == _lock_hash(exps, refs["a"], "models/best.pt")
    assert md5(exps / "models/last.pt") == _lock_hash(exps, refs["a"], "models/last.pt")
    assert (
        read_json(exps / "metrics/train/metrics.json")["val"]
        == json.loads(
            sh("git", "show", f"{refs['a']}:metrics/train/metrics.json", cwd=exps).stdout
        )["val"]
    )


def test_plots_diff_renders_every_plot_for_two_experiments(exps: Path):
    shown = json.loads(dvc("plots", "diff", "a", "b", "--json", cwd=exps).stdout)
    data = shown["data"]
    expected = {
        f"metrics/train/plots/metrics/{d}/{n}.tsv"
        for d, names in (
            ("train", ("loss", "acc")),
            ("val", ("loss", "acc", "precision", "recall", "f1")),
            ("step", ("loss", "lr", "grad_norm", "samples_per_s", "wallclock_s")),
        )
        for n in names
    }
    expected |= {
        f"metrics/evaluate/plots/sklearn/{n}.json"
        for n in ("confusion_matrix", "roc", "precision_recall")
    }
    expected.add("plots/misclassified.png")
    assert set(data) == expected
    for key, entries in data.items():
        revs = {rev for entry in entries for rev in entry["revisions"]}
        assert revs == {"a", "b"}, key
