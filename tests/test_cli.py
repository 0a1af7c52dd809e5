"""End-to-end tests of `expbook registry/show/compare/best/note/tag/push/pull/plot/export`
through click's CliRunner, on one real DVC repo whose experiments log dvclive step curves."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, dvc, dvc_init, git_init, sh
from expbook.cli import cli

TRAIN_PY = textwrap.dedent("""\
    import json
    import yaml
    from dvclive import Live
    p = yaml.safe_load(open("params.yaml"))["train"]
    with Live("dvclive", dvcyaml=None, save_dvc_exp=False) as live:
        for epoch in range(p["epochs"]):
            live.log_metric("train/loss", round(p["lr"] * 10 / (epoch + 1), 6))
            live.log_metric("val/acc", round(0.5 + 0.1 * epoch - p["lr"], 6))
            live.log_metric("val/loss", round(0.5 - 0.1 * epoch + p["lr"], 6))
            live.next_step()
    with open("environment.json", "w") as f:
        json.dump({"python": "3.11", "torch": "2.13.0", "threads": 1}, f)
    with open("model.pt", "w") as f:
        f.write(f"weights {p['lr']}")
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [train]
        outs:
          - model.pt
          - environment.json:
              cache: false
        metrics:
          - dvclive/metrics.json:
              cache: false
        plots:
          - dvclive/plots:
              cache: false
""")
# final val/acc = 0.5 + 0.1 * (epochs - 1) - lr ; final train/loss = lr * 10 / epochs.
# `dvc exp run -S` starts from the previous run's workspace, so `long` keeps lr-low's lr=0.001:
# main 0.69/0.0333, lr-high 0.6/0.333, lr-low 0.699/0.00333, long 0.899/0.002 (val.acc/train.loss)
EXPS = {
    "lr-high": ["train.lr=0.1"],
    "lr-low": ["train.lr=0.001"],
    "long": ["train.epochs=5", "train.opt=sgd"],
}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_repo(tmp_path_factory) -> Path:
    """A baseline on `main` plus three `dvc exp run` experiments with dvclive curves."""
    path = tmp_path_factory.mktemp("live")
    git_init(path)
    dvc_init(path)
    commit_all(path, "init dvc")  # dvclive needs a HEAD to exist
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("train:\n  lr: 0.01\n  epochs: 3\n  opt: adam\nseed: 1\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "baseline")
    for name, sets in EXPS.items():
        dvc("exp", "run", "-n", name, *[a for s in sets for a in ("-S", s)], cwd=path)
    sh("git", "checkout", "-q", "--", ".", cwd=path)  # back to the committed baseline
    return path


@pytest.fixture
def repo_copy(live_repo: Path, tmp_path: Path) -> Path:
    """A private copy for tests that write (notes, tags, branches, apply)."""
    dest = tmp_path / "copy"
    shutil.copytree(live_repo, dest, symlinks=True)
    return dest


def run(repo: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, [*args[:1], "--repo", str(repo), *args[1:]])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def registry_json(repo: Path, *args: str) -> list[dict]:
    return json.loads(run(repo, "registry", "--format", "json", *args).stdout)


# ---------------------------------------------------------------- registry


def test_registry_json_lists_experiments_with_params_and_metrics(live_repo):
    rows = {r["name"]: r for r in registry_json(live_repo)}
    assert set(EXPS) <= set(rows)
    assert rows["lr-high"]["params"]["params.yaml:train.lr"] == 0.1
    assert rows["long"]["params"]["params.yaml:train.opt"] == "sgd"
    assert rows["long"]["metrics"]["dvclive/metrics.json:val.acc"] == pytest.approx(0.899)
    assert rows["lr-high"]["kind"] == "experiment"


@pytest.mark.parametrize(
    "where, expected",
    [
        ("train.lr >= 0.01 and kind = 'experiment'", {"lr-high"}),
        ("val.acc > 0.695 and kind = 'experiment'", {"lr-low", "long"}),
        ("name ~ 'lr-*'", {"lr-high", "lr-low"}),
        ("`params.yaml:train.opt` = 'sgd'", {"long"}),
        ("params.epochs in (5, 7)", {"long"}),
    ],
)
def test_registry_where(live_repo, where, expected):
    assert {r["name"] for r in registry_json(live_repo, "--where", where)} == expected


@pytest.mark.parametrize(
    "where, fragment",
    [
        ("loss > 1", "ambiguous key 'loss'"),  # train.loss and val.loss
        ("nope = 1", "unknown key 'nope'"),
        ("val.acc >", "cannot parse"),
    ],
)
def test_registry_bad_where_exits_2_naming_the_problem(live_repo, where, fragment):
    result = run(live_repo, "registry", "--format", "json", "--where", where, code=2)
    assert "Error:" in result.output and fragment in result.output


def test_registry_sort_top_columns(live_repo):
    rows = registry_json(
        live_repo, "--sort-by", "val.acc", "--desc", "--top", "2", "--columns", "name,val.acc"
    )
    assert [r["name"] for r in rows] == ["long", "lr-low"]
    assert rows[0] == {
        "name": "long",
        "metrics": {"dvclive/metrics.json:val.acc": pytest.approx(0.899)},
    }
    rows = registry_json(live_repo, "--sort-by", "val.acc", "--asc", "--top", "1")
    assert rows[0]["name"] == "lr-high"


def test_registry_only_changed_and_drop(live_repo):
    rows = registry_json(live_repo, "--only-changed", "--drop", "train.loss")
    assert "params.yaml:seed" not in rows[0]["params"]  # same everywhere
    assert "params.yaml:train.lr" in rows[0]["params"]
    assert "dvclive/metrics.json:train.loss" not in rows[0]["metrics"]


@pytest.mark.parametrize(
    "name, check",
    [
        ("registry.csv", lambda text: list(csv.DictReader(text.splitlines()))[0]["name"]),
        ("registry.md", lambda text: text.startswith("| name |")),
        ("registry.html", lambda text: "<table>" in text and "lr-high" in text),
        ("registry.json", lambda text: json.loads(text)),
    ],
)
def test_registry_output_file_format_from_extension(live_repo, tmp_path, name, check):
    run(live_repo, "registry", "-o", str(tmp_path / name))
    assert check((tmp_path / name).read_text())


def test_registry_output_unknown_extension_writes_nothing(live_repo, tmp_path):
    result = run(live_repo, "registry", "-o", str(tmp_path / "r.xlsx"), code=2)
    assert "r.xlsx" in result.output and not (tmp_path / "r.xlsx").exists()


def test_registry_table_uses_short_names(live_repo):
    out = run(live_repo, "registry").stdout
    assert "train.lr" in out and "params.yaml:train.lr" not in out and "lr-high" in out
    out = run(live_repo, "registry", "--full-names", "--columns", "name,train.lr").stdout
    assert "params.yaml:train.lr" in out


def test_registry_table_is_readable_by_default(live_repo, tmp_path):
    """Issue 13: the terminal table shows name/status/created, the params that differ and the
    metrics, hides columns equal in every row, and says so in one last line."""
    out = run(live_repo, "registry").stdout
    assert "train.lr" in out and "val.acc" in out and "status" in out and "created" in out
    assert "seed" not in out and "message" not in out  # seed: 1 in every row
    last = out.rstrip().splitlines()[-1]
    assert "columns hidden" in last and "--columns all" in last
    full = run(live_repo, "registry", "--columns", "all").stdout
    assert "seed" in full and "message" in full and "columns hidden" not in full
    # files and machine formats keep every column
    run(live_repo, "registry", "-o", str(tmp_path / "r.md"))
    assert "seed" in (tmp_path / "r.md").read_text()
    assert "params.yaml:seed" in registry_json(live_repo)[0]["params"]


def test_registry_baseline_selection(live_repo):
    rows = registry_json(live_repo, "--baseline", "main", "--where", "kind = 'experiment'")
    assert {r["name"] for r in rows} == set(EXPS)
    assert "nope" in run(live_repo, "registry", "--baseline", "nope", code=2).output
    assert set(EXPS) <= {r["name"] for r in registry_json(live_repo, "--all-commits")}


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_registry_machine_formats_skip_heavy_imports(live_repo, fmt):
    """The fast path (issue 3 benchmark): json/csv must not import pandas, rich or dvc."""
    script = (
        "import sys\nfrom expbook.cli import main\n"
        f"sys.argv = ['expbook', 'registry', '--format', '{fmt}']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = [m for m in ('pandas', 'rich', 'dvc', 'matplotlib', 'numpy') "
        "if m in sys.modules]\nsys.stderr.write(f'HEAVY={heavy}')\n"
    )
    proc = sh(sys.executable, "-c", script, cwd=live_repo)
    assert "lr-high" in proc.stdout and "HEAVY=[]" in proc.stderr


# ---------------------------------------------------------------- show / compare / best
def test_show_prints_params_metrics_curves_environment_outs(live_repo):
    out = run(live_repo, "show", "long").stdout
    for text in (
        "train.lr",
        "val.acc",
        "curves:",
        "val/acc",
        "max @ step 4",
        "min @ step 4",
        "environment (environment.json)",
        "torch: 2.13.0",
        "model.pt",
    ):
        assert text in out, text


def test_show_json_has_curve_summaries(live_repo):
    info = json.loads(run(live_repo, "show", "lr-low", "--json").stdout)
    acc = info["curves"]["val/acc"]
    assert acc["steps"] == 3 and acc["first"] == pytest.approx(0.499)
    assert acc["best"] == pytest.approx(0.699) and acc["best_step"] == 2
    assert info["environment"]["content"]["threads"] == 1
    assert info["params"]["params.yaml:train.lr"] == 0.001
    assert info["outs"]["model.pt"]["in_cache"] is True
    assert info["outs"]["environment.json"]["in_git"] is True


def test_show_unknown_experiment_exits_2(live_repo):
    result = run(live_repo, "show", "no-such-exp", code=2)
    assert "no-such-exp" in result.output


def test_compare_json_params_that_differ_and_metric_deltas(live_repo):
    data = json.loads(run(live_repo, "compare", "lr-high", "lr-low", "--json").stdout)
    assert [e["name"] for e in data["experiments"]] == ["lr-high", "lr-low"]
    assert data["params"] == {"params.yaml:train.lr": [0.1, 0.001]}
    acc = data["metrics"]["dvclive/metrics.json:val.acc"]
    assert acc["deltas"][0] is None and acc["deltas"][1] == pytest.approx(0.099)


def test_compare_table(live_repo):
    out = run(live_repo, "compare", "lr-high", "long").stdout
    assert "lr-high" in out and "long" in out and "train.opt" in out and "+0.299" in out


def test_compare_needs_two(live_repo):
    assert "two" in run(live_repo, "compare", "lr-high", code=2).output


@pytest.mark.parametrize(
    "args, winner",
    [
        (["--metric", "val.acc"], "long"),
        (["--metric", "train.loss", "--mode", "min"], "long"),
        (["--metric", "val.acc", "--where", "name ~ 'lr-*'"], "lr-low"),
        (["--metric", "val.acc", "--mode", "min"], "lr-high"),
        # a score has no name to read a direction from (issue 18): --mode says it
        (["--score", "val.acc - 0.2 * train.epochs", "--mode", "max"], "lr-low"),
        (["--score", "-abs(val.acc - 0.62)", "--mode", "max"], "lr-high"),
    ],
)
def test_best(live_repo, args, winner):
    data = json.loads(run(live_repo, "best", *args, "--json").stdout)
    assert data["best"]["name"] == winner


def test_best_prints_the_winner_and_its_params(live_repo):
    out = run(live_repo, "best", "--metric", "val.acc", "--top", "3").stdout
    assert out.startswith("best: long") and "train.epochs" in out and "ranking:" in out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--metric", "nope"], "unknown key 'nope'"),
        ([], "exactly one of"),
        (["--metric", "val.acc", "--where", "val.acc > 5"], "no finished experiment"),
        (["--score", "val.acc +"], "cannot parse"),
    ],
)
def test_best_bad_input(live_repo, args, fragment):
    assert fragment in run(live_repo, "best", *args, code=2).output


def test_best_branch_and_apply_hand_over_to_dvc(repo_copy):
    run(repo_copy, "best", "--metric", "val.acc", "--branch", "winner")
    winner_params = sh("git", "show", "winner:params.yaml", cwd=repo_copy).stdout
    assert "epochs: 5" in winner_params
    run(repo_copy, "best", "--metric", "train.loss", "--mode", "min", "--apply")
    assert "lr: 0.001" in (repo_copy / "params.yaml").read_text()


# ---------------------------------------------------------------- note / tag / push / pull
def test_note_and_tag_show_up_in_registry_and_show(repo_copy):
    run(repo_copy, "note", "lr-low", "looks stable")
    run(repo_copy, "tag", "lr-low", "candidate")
    run(repo_copy, "tag", "long", "candidate")
    assert {r["name"] for r in registry_json(repo_copy, "--where", "tag = 'candidate'")} == {
        "lr-low",
        "long",
    }
    info = json.loads(run(repo_copy, "show", "lr-low", "--json").stdout)
    assert info["notes"] == ["looks stable"] and info["tags"] == ["candidate"]
    run(repo_copy, "tag", "long", "candidate", "--remove")
    assert [r["name"] for r in registry_json(repo_copy, "--where", "tag = 'candidate'")] == [
        "lr-low"
    ]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["tag", "lr-low", "nope", "--remove"], "no tag 'nope'"),
        (["tag", "lr-low", "two words"], "two words"),
        (["note", "lr-low", "  "], "empty"),
        (["note", "nothing-here", "x"], "nothing-here"),
        (["tag", "workspace", "x"], "workspace"),
    ],
)
def test_annotate_bad_input(repo_copy, args, fragment):
    assert fragment in run(repo_copy, *args, code=2).output


def test_push_and_pull_share_notes_through_a_remote(repo_copy, tmp_path):
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", remote)
    sh("git", "remote", "add", "origin", remote, cwd=repo_copy)
    sh("git", "push", "-q", "origin", "main", cwd=repo_copy)
    run(repo_copy, "tag", "main", "golden")
    run(repo_copy, "push", "origin", "--no-cache")  # no DVC remote: refs and notes only
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", "-b", "main", remote, clone)
    run(clone, "pull", "origin")
    info = json.loads(run(clone, "show", "main", "--json").stdout)
    assert info["tags"] == ["golden"]


# ---------------------------------------------------------------- plot / export
@pytest.mark.parametrize("name", ["curves.png", "curves.html"])
def test_plot_overlays_curves(live_repo, tmp_path, name):
    out = tmp_path / name
    run(live_repo, "plot", "val/acc", "lr-high", "lr-low", "long", "-o", str(out))
    data = out.read_bytes()
    if name.endswith(".png"):
        assert data.startswith(b"\x89PNG")
    else:
        assert b"<svg" in data and all(n.encode() in data for n in ("lr-high", "lr-low", "long"))


def test_plot_ambiguous_metric_lists_matches(live_repo, tmp_path):
    result = run(live_repo, "plot", "loss", "lr-high", "-o", str(tmp_path / "c.png"), code=2)
    assert "train/loss, val/loss" in result.output and not (tmp_path / "c.png").exists()


def test_plot_unknown_metric_writes_nothing(live_repo, tmp_path):
    result = run(live_repo, "plot", "f1", "lr-high", "-o", str(tmp_path / "c.png"), code=2)
    assert "'f1'" in result.output and "val/acc" in result.output  # lists what exists
    assert not (tmp_path / "c.png").exists()


def test_export_writes_one_csv_per_experiment(live_repo, tmp_path):
    run(live_repo, "export", "lr-high", "long", "-o", str(tmp_path / "curves"))
    rows = list(csv.DictReader((tmp_path / "curves" / "long.csv").read_text().splitlines()))
    # one long table: each curve keeps its own step axis (issue 18)
    assert list(rows[0])[:4] == ["experiment", "curve", "step", "value"]
    val_acc = [r for r in rows if r["curve"] == "val/acc"]
    assert [r["step"] for r in val_acc] == ["0", "1", "2", "3", "4"]
    assert float(val_acc[-1]["value"]) == pytest.approx(0.899)
    assert {r["curve"] for r in rows} == {"train/loss", "val/acc", "val/loss"}
    assert (tmp_path / "curves" / "lr-high.csv").exists()
