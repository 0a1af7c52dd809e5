"""In-process tests of the pipeline stages' cores on real files in tmp_path: prepare (digits and
CSV), per-step logging format, gradient accumulation, the prune hook, and torch.distributed
rank-0-only writing with metrics reduced across a 2-process gloo group."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline import paths, prepare, runtime, train
from pipeline.config import ParamsError, parse_params
from pipeline.steplog import StepLog, truncate_tsvs
from pipeline_helpers import read_json

FAST_TRAIN = {"epochs": 2, "hidden_dims": [32], "batch_size": 128, "num_threads": 1}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A directory holding data/prepared + metrics/prepare.json for the default digits split."""
    root = tmp_path_factory.mktemp("prepared")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        params = parse_params({})
        prepare.run(params.base, params.prepare)
    finally:
        os.chdir(cwd)
    return root


def _workdir(prepared: Path, dest: Path) -> Path:
    shutil.copytree(prepared / "data", dest / "data")
    shutil.copytree(prepared / "metrics", dest / "metrics")
    return dest


def test_prepare_digits_split_is_stratified_and_train_normalised(prepared: Path):
    stats = read_json(prepared / paths.PREPARE_METRICS)
    assert stats["size"] == {"train": 1257, "val": 270, "test": 270}
    assert stats["input_shape"] == [1, 8, 8] and stats["n_classes"] == 10
    counts = stats["class_counts"]["val"]
    assert max(counts.values()) - min(counts.values()) <= 2  # stratified
    X_train = np.load(prepared / paths.split_file("train", "X"))
    X_test = np.load(prepared / paths.split_file("test", "X"))
    assert X_train.dtype == np.float32
    assert np.allclose(X_train.mean(0), 0, atol=1e-5)  # fitted on train ...
    assert not np.allclose(X_test.mean(0), 0, atol=1e-3)  # ... not on test


def test_prepare_csv_source(tmp_dir: Path):
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [
        f"{x:.3f},{y:.3f},{'pos' if x + y > 0 else 'neg'}" for x, y in rng.normal(size=(200, 2))
    ]
    Path("data.csv").write_text("\n".join(rows) + "\n")
    params = parse_params({"prepare": {"source": "data.csv", "target": "label"}})
    stats = prepare.run(params.base, params.prepare)
    assert stats["size"] == {"train": 140, "val": 30, "test": 30}
    assert stats["input_shape"] == [2]
    assert read_json(paths.PREPARED_META)["classes"] == ["neg", "pos"]


@pytest.mark.parametrize(
    "prep, message",
    [
        (
            {"source": "data.csv", "target": "nope"},
            "params.yaml: prepare.target: column 'nope' not in data.csv",
        ),
        ({"source": "missing.csv"}, "params.yaml: prepare.source: no such file 'missing.csv'"),
    ],
)
def test_prepare_csv_bad_input_writes_nothing(tmp_dir: Path, prep, message):
    Path("data.csv").write_text("a,label\n1,x\n2,y\n")
    params = parse_params({"prepare": prep})
    with pytest.raises(ParamsError) as err:
        prepare.run(params.base, params.prepare)
    assert message in str(err.value)
    assert not paths.PREPARED_DIR.exists() and not paths.PREPARE_METRICS.exists()


def test_steplog_writes_dvclive_tsv_and_truncates(tmp_path: Path):
    import torch

    log = StepLog(tmp_path / "step")
    for step in range(4):
        log.add(step, torch.tensor(1.0 / (step + 1)), 0.1, torch.tensor(2.0), 32)
    assert not (tmp_path / "step").exists()  # buffered until flush
    log.flush()
    lines = (tmp_path / "step" / "loss.tsv").read_text().splitlines()
    assert lines[0] == "timestamp\tstep\tloss"
    assert [ln.split("\t")[1:] for ln in lines[1:3]] == [["0", "1.0"], ["1", "0.5"]]
    assert all(ln.split("\t")[0].isdigit() for ln in lines[1:])  # ms timestamps
    truncate_tsvs(tmp_path, 2)
    assert len((tmp_path / "step" / "lr.tsv").read_text().splitlines()) == 3


def test_accumulation_counts_optimizer_steps_not_iterations(prepared: Path, tmp_dir: Path):
    _workdir(prepared, tmp_dir)
    params = parse_params({"train": {**FAST_TRAIN, "batch_size": 100, "accumulation_steps": 3}})
    train.run(params.base, params.train)
    rows = (paths.STEP_PLOTS_DIR / "loss.tsv").read_text().splitlines()[1:]
    # 1257 samples / 100 = 13 micro-batches -> 5 optimizer steps per epoch
    assert [int(r.split("\t")[1]) for r in rows] == list(range(10))
    metrics = read_json(paths.TRAIN_METRICS)
    assert metrics["step"] == 1 and set(metrics["val"]) == {
        "loss",
        "acc",
        "precision",
        "recall",
        "f1",
    }
    env = read_json(paths.ENVIRONMENT)
    assert env["parameters"] == metrics["params"] and env["dataset_sizes"]["test"] == 270
    assert any(p.startswith("torch==") for p in env["packages"])


def test_prune_file_stops_cleanly_after_the_epoch(
    prepared: Path, tmp_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    _workdir(prepared, tmp_dir)
    (tmp_dir / "prune-me").write_text("")
    monkeypatch.setenv(runtime.PRUNE_FILE_ENV, str(tmp_dir / "prune-me"))
    params = parse_params({"train": {**FAST_TRAIN, "epochs": 5}})
    summary = train.run(params.base, params.train)
    assert summary["pruned"] is True and summary["stopped_epoch"] == 1
    metrics = read_json(paths.TRAIN_METRICS)
    assert metrics["pruned"] is True and metrics["epochs_run"] == 1
    assert paths.BEST_CKPT.exists() and paths.LAST_CKPT.exists()


def _distributed_worker(rank: int, world: int, init_file: str, dirs: list, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        os.chdir(dirs[rank])
        reduced = runtime.reduce_sums([float(rank + 1)])
        params = parse_params({"train": FAST_TRAIN})
        summary = train.run(params.base, params.train)
        with open(out.format(rank=rank), "w", encoding="utf-8") as fobj:
            json.dump(
                {
                    "reduced": reduced,
                    "last_train": summary["last_train"],
                    "main": runtime.is_main_process(),
                },
                fobj,
            )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_only_rank0_writes_and_metrics_are_reduced(prepared: Path, tmp_path: Path):
    import torch.multiprocessing as mp

    dirs = [str(_workdir(prepared, tmp_path / f"rank{r}")) for r in range(2)]
    out = str(tmp_path / "result{rank}.json")
    mp.spawn(_distributed_worker, args=(2, str(tmp_path / "pg-init"), dirs, out), nprocs=2)
    results = [read_json(Path(out.format(rank=r))) for r in range(2)]
    assert [r["reduced"] for r in results] == [[3.0], [3.0]]
    assert [r["main"] for r in results] == [True, False]
    # each rank trained on its half but both report the same, all-reduced train metrics
    assert results[0]["last_train"] == results[1]["last_train"]
    rank0, rank1 = Path(dirs[0]), Path(dirs[1])
    for rel in (paths.TRAIN_METRICS, paths.BEST_CKPT, paths.LAST_CKPT, paths.ENVIRONMENT):
        assert (rank0 / rel).exists()
        assert not (rank1 / rel).exists()
    assert not (rank1 / paths.TRAIN_PLOTS_DIR).exists()


def test_truncate_tolerates_a_row_cut_off_by_a_crash(tmp_path):
    """Bug (review): a last TSV line cut off mid-write made train.resume fail for good."""
    path = tmp_path / "loss.tsv"
    path.write_text("timestamp\tstep\tloss\n1\t0\t0.5\n2\t1\t0.4\n17000")
    truncate_tsvs(tmp_path, 5)
    assert path.read_text() == "timestamp\tstep\tloss\n1\t0\t0.5\n2\t1\t0.4\n"
