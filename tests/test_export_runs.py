"""`expbook export --to tensorboard|mlflow` on three real experiments of the tiny pipeline,
read back with TensorBoard's event reader and MLflow's own client and compared with the
registry; re-exports replace (TensorBoard) or update the same runs (MLflow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from expbook import registry
from expbook.analysis.curves import read_curves
from expbook.cli import cli
from expbook.registry import notes
from test_sweep_support import run_cli, tiny_repo

pytestmark = pytest.mark.slow
ACC = "live/metrics.json:val.acc"
LR = "params.yaml:train.lr"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = tiny_repo(tmp_path_factory.mktemp("export") / "repo", tmp_path_factory)
    run_cli(
        *(path, "sweep", "-S", "train.lr=0.002,0.006,0.01", "-S", "train.epochs=3"),
        *("--metric", "val.acc", "--name", "s"),
    )
    return path


def export(repo: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["export", "--repo", str(repo), *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def trials(repo: Path) -> list:
    return [e for e in registry.collect(repo) if (e.sweep or {}).get("name") == "s"]


def test_tensorboard_runs_hold_curves_final_metrics_and_hparams(repo, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = tmp_path / "tb"
    export(repo, "--to", "tensorboard", "-o", str(out), "--where", "sweep = 's'")
    export(repo, "--to", "tensorboard", "-o", str(out), "--where", "sweep = 's'")  # replaces
    exps = trials(repo)
    assert sorted(p.name for p in out.iterdir()) == sorted(e.name for e in exps)
    for exp in exps:
        run = out / exp.name
        assert len(list(run.glob("events.out.tfevents.*"))) == 1
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
        acc.Reload()
        curve = read_curves(repo, exp.rev)["val/acc"]
        scalars = acc.Scalars("val/acc")
        assert [s.step for s in scalars] == curve.steps == [0, 1, 2]
        assert [s.value for s in scalars] == pytest.approx(curve.values)
        assert [s.wall_time for s in scalars] == pytest.approx([t / 1000 for t in curve.timestamps])
        assert acc.Scalars("final/val.acc")[0].value == pytest.approx(exp.metrics[ACC])
        content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        assert hparams["train.lr"].number_value == pytest.approx(exp.params[LR])
        assert hparams["expbook.rev"].string_value == exp.rev


def test_mlflow_runs_hold_params_metrics_history_and_tags_and_update_in_place(
    repo, tmp_path, monkeypatch
):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [
        "--to",
        "mlflow",
        "--tracking-uri",
        uri,
        "--experiment",
        "tiny",
        "--where",
        "sweep = 's'",
    ]
    first = export(repo, *args).output
    assert first.count("created MLflow run") == 3
    exps = trials(repo)
    notes.add_note(repo, exps[0].rev, "worth a look")
    notes.set_tag(repo, exps[0].rev, "candidate")
    second = export(repo, *args).output
    assert second.count("updated MLflow run") == 3 and "created" not in second

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # mlflow.search_runs reads it
    runs = mlflow.search_runs(experiment_ids=[experiment.experiment_id], output_format="list")
    assert len(runs) == 3  # one per experiment, never duplicated
    by_rev = {r.data.tags["expbook.rev"]: r for r in runs}
    for exp in trials(repo):
        run = by_rev[exp.rev]
        assert run.info.status == "FINISHED" and run.info.run_name == exp.name
        assert float(run.data.params["train.lr"]) == pytest.approx(exp.params[LR])
        assert run.data.metrics["val.acc"] == pytest.approx(exp.metrics[ACC])
        assert run.data.tags["expbook.baseline"] == exp.baseline
        assert run.data.tags["expbook.status"] == "success"
        assert run.data.tags["expbook.sweep"] == "s"
        curve = read_curves(repo, exp.rev)["val/acc"]
        history = client.get_metric_history(run.info.run_id, "val/acc")
        assert [m.step for m in history] == curve.steps  # not doubled by the second export
        assert [m.value for m in history] == pytest.approx(curve.values)
        assert run.info.start_time == min(curve.timestamps)
        assert run.info.end_time >= run.info.start_time
    tagged = by_rev[exps[0].rev]
    assert tagged.data.tags["expbook.tags"] == "candidate"
    assert tagged.data.tags["mlflow.note.content"] == "worth a look"


@pytest.mark.parametrize(
    "target, blocked, extra",
    [
        ("mlflow", ("mlflow", "mlflow.tracking"), "expbook[mlflow]"),
        ("tensorboard", ("torch.utils.tensorboard",), "expbook[tensorboard]"),
    ],
)
def test_without_the_extra_the_error_names_it(repo, tmp_path, monkeypatch, target, blocked, extra):
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)  # what `import` sees when it is not installed
    args = ["-o", str(tmp_path / "out")] if target == "tensorboard" else []
    result = export(repo, "--to", target, *args, "s-001", code=2)
    assert extra in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--to", "tensorboard", "s-001"], "needs -o DIR"),
        (["--to", "mlflow", "-o", "x", "s-001"], "not -o"),
        (["--to", "tensorboard", "-o", "x", "s-001", "--where", "sweep = 's'"], "not both"),
        (["--to", "mlflow", "--where", "sweep = 'none'"], "no experiment matches"),
    ],
)
def test_bad_export_input(repo, args, fragment):
    assert fragment in export(repo, *args, code=2).output
