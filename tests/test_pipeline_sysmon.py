"""The example pipeline's system metrics (issue 21): one row per epoch of CPU %, RAM and the
process's RSS in dvclive-format TSVs named as dvclive's monitor_system names them, kept out of
metrics.json (they describe the machine, not the result)."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline import paths, prepare, sysmon, train
from pipeline.config import parse_params
from pipeline_helpers import read_json


def test_train_writes_system_metrics_per_epoch(tmp_dir: Path):
    params = parse_params(
        {"train": {"epochs": 2, "hidden_dims": [16], "batch_size": 256, "num_threads": 1}}
    )
    prepare.run(params.base, params.prepare)
    train.run(params.base, params.train)
    base = paths.TRAIN_PLOTS_DIR / "metrics"
    for name in (sysmon.CPU, sysmon.RAM, sysmon.RSS):
        rows = (base / (name + ".tsv")).read_text().splitlines()
        assert rows[0] == f"timestamp\tstep\t{os.path.basename(name)}", rows[0]
        assert [int(r.split("\t")[1]) for r in rows[1:]] == [0, 1]  # one row per epoch
        assert all(float(r.split("\t")[2]) >= 0 for r in rows[1:])
    rss = float((base / (sysmon.RSS + ".tsv")).read_text().splitlines()[1].split("\t")[2])
    assert 0.001 < rss < 64  # GB: this process, not the machine
    assert "system" not in read_json(paths.TRAIN_METRICS)


def test_monitor_reads_proc_without_psutil():
    """The /proc fallback gives the same metric names (psutil is optional)."""
    mon = sysmon.SystemMonitor()
    mon._psutil = None
    sum(range(200_000))
    values = mon.sample()
    assert {sysmon.RAM, sysmon.RSS} <= set(values)
    assert 0 <= values.get(sysmon.CPU, 0) <= 100
