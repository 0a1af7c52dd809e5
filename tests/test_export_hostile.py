"""Exports under hostile or everyday input: the CSV export keeps each curve on its own step
axis (issue 18), `--to mlflow --tracking-uri file:DIR` works under MLflow 3, every exporter's
output location (-o, a TensorBoard log dir, an MLflow tracking URI given or from
MLFLOW_TRACKING_URI) is refused inside .git/ or .dvc/ and git stays sound (issue 19), and a
missing curve's hint never asks to `dvc pull` what git holds (issue 18).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, sh
from expbook.cli import cli
from test_sweep_support import run_cli, tiny_repo

EPOCHS = "timestamp\tstep\tacc\n100\t0\t0.5\n200\t1\t0.7\n300\t2\t0.8\n"
STEPS = "timestamp\tstep\tloss\n" + "".join(f"{10 * i}\t{i}\t{1 / (i + 1):.6g}\n" for i in range(8))


def export(repo: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["export", "--repo", str(repo), *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def _tsv_points(text: str) -> list[tuple[str, str, str]]:
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))[1:]
    return [(step, str(float(value)), stamp) for stamp, step, value in rows]


def test_csv_export_keeps_each_curve_on_its_own_step_axis(dvc_repo, tmp_path):
    """issue 18: `export main -o curves/` merged per-epoch val/acc and per-optimizer-step
    train/loss into one table keyed by step (epoch 1 sat on the row of step 1). Read back,
    every curve of the CSV equals its TSV point for point."""
    live = dvc_repo / "dvclive/plots/metrics"
    (live / "val").mkdir(parents=True)
    (live / "train").mkdir(parents=True)
    (live / "val/acc.tsv").write_text(EPOCHS)
    (live / "train/loss.tsv").write_text(STEPS)
    commit_all(dvc_repo, "curves on two step axes")
    out = tmp_path / "curves"
    export(dvc_repo, "main", "-o", str(out))
    (written,) = out.iterdir()
    with open(written, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["experiment", "curve", "step", "value", "timestamp"]
    assert {r["experiment"] for r in rows} == {"main"}
    for curve, text in (("val/acc", EPOCHS), ("train/loss", STEPS)):
        got = [
            (r["step"], str(float(r["value"])), r["timestamp"]) for r in rows if r["curve"] == curve
        ]
        assert got == _tsv_points(text), curve


# ---------------------------------------------------------------- the real pipeline
@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = tiny_repo(tmp_path_factory.mktemp("export-hostile") / "repo", tmp_path_factory)
    run_cli(path, "sweep", "-S", "train.lr=0.002,0.006", "-m", "val.acc", "--mode", "max",
            "--name", "s")  # fmt: skip
    return path


def _git_state(repo: Path) -> tuple[str, list[str]]:
    refs = sh("git", "for-each-ref", cwd=repo).stdout
    listing = sorted(str(p.relative_to(repo)) for p in (repo / ".git").rglob("*"))
    listing = [p for p in listing if not p.startswith((".git/index", ".git/logs"))]
    return refs, listing


@pytest.mark.slow
def test_mlflow_file_store_of_the_readme_works_under_mlflow_3(repo, tmp_path, monkeypatch):
    """issue 19: `--tracking-uri file:DIR` died with MlflowException (MLflow 3 keeps the file
    store in maintenance mode unless opted in). Now the runs land there, with a note."""
    mlflow = pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    result = export(repo, "--to", "mlflow", "--tracking-uri", f"file:{store}", "s-001", "s-002")
    assert result.output.count("created MLflow run") == 2
    assert "maintenance mode" in result.output
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(tracking_uri=f"file:{store}")
    exp = client.get_experiment_by_name("expbook")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["expbook.name"] for r in runs) == ["s-001", "s-002"]
    assert len(client.get_metric_history(runs[0].info.run_id, "val/acc")) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, env",
    [
        (["--to", "mlflow", "--tracking-uri", "file:.git/refs"], None),
        (["--to", "mlflow", "--tracking-uri", "FILE:{repo}/.git"], None),
        (["--to", "mlflow", "--tracking-uri", "file://{repo}/.git/objects"], None),
        (["--to", "mlflow", "--tracking-uri", "sqlite:///{repo}/.git/mlflow.db"], None),
        (["--to", "mlflow", "--tracking-uri", "{repo}/.dvc/mlruns"], None),
        (["--to", "mlflow"], "sqlite:///{repo}/.dvc/tmp/mlflow.db"),  # MLflow's default URI
        (["--to", "tensorboard", "-o", "{repo}/.git/tb"], None),
        (["--to", "csv", "-o", "{repo}/.dvc/curves"], None),
    ],
)
def test_every_exporter_refuses_an_output_inside_git_or_dvc(repo, monkeypatch, args, env):
    """issue 19: --tracking-uri into .git/ was not covered by the -o guard and corrupted refs;
    one guard now covers every exporter's output (neighbours: sqlite, a plain path, the
    MLFLOW_TRACKING_URI default, TensorBoard's log dir, the CSV folder)."""
    pytest.importorskip("mlflow")
    monkeypatch.chdir(repo)
    if env:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env.format(repo=repo))
    before = _git_state(repo)
    result = export(repo, *(a.format(repo=repo) for a in args), "s-001", code=2)
    assert "refusing to write" in result.output and "Traceback" not in result.output
    assert "inside .git/" in result.output or "inside .dvc/" in result.output
    assert _git_state(repo) == before
    assert not (repo / ".dvc/curves").exists() and not (repo / ".dvc/mlruns").exists()
    sh("git", "fsck", "--no-progress", "--strict", cwd=repo)


@pytest.mark.slow
def test_the_missing_curve_hint_never_asks_to_pull_what_git_holds(repo, tmp_path):
    """issue 18: with the DVC cache gone, `plot NAME EXP` for a missing curve told the user to
    `dvc pull` live/plots/metrics and live/metrics.json, which are committed (cache: false);
    only model.bin is really missing. Neighbour: `export` of a commit without curves."""
    clone = tmp_path / "repo"
    shutil.copytree(repo, clone, symlinks=True)
    shutil.rmtree(clone / ".dvc/cache")
    shutil.rmtree(clone / ".dvc/tmp", ignore_errors=True)  # the registry's cache too
    plotted = run_cli(clone, "plot", "val/loss", "s-001", "-o", str(tmp_path / "x.png"),
                      check=False)  # fmt: skip
    assert plotted.returncode == 2 and "matches no step curve" in plotted.stderr
    assert "model.bin" in plotted.stderr
    assert "live/plots/metrics" not in plotted.stderr and "live/metrics.json" not in plotted.stderr
    sh("git", "checkout", "-q", "-b", "nocurves", cwd=clone)
    sh("git", "rm", "-q", "-r", "live/plots", cwd=clone)
    sh("git", "commit", "-q", "-m", "no curves", cwd=clone)
    exported = run_cli(clone, "export", "nocurves", "-o", str(tmp_path / "c"), check=False)
    assert exported.returncode == 2 and "has no dvclive step curves" in exported.stderr
    assert "model.bin" in exported.stderr and "live/metrics.json" not in exported.stderr
