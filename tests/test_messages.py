"""Issue 18 "Messages for common slips": each slip gets an error that says what to do.

- `--where "model = cnn"` said `unknown key 'cnn'`: now it says string values need quotes
  and shows `model = 'cnn'`;
- `expbook show ux-06` gave no suggestion (a prefix did): the closest names are suggested;
- `--sort-by val` silently picked `size.val` while `val.acc`, `val.loss` exist: an ambiguous
  key is an error listing the candidates;
- `expbook sweep -S ...` without `-m` answered in spec-file syntax: it says `-m/--metric KEY`;
- `-S train.lrr=...` gets a did-you-mean from the baseline's params.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, dvc_init, git_init, sh
from expbook.cli import cli

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    params: [train, model, data]
    metrics:
      - metrics.json:
          cache: false
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A baseline and experiments ux-006, ux-007 (git alone), with keys data.size.val and
    metrics val.acc / val.loss."""
    path = tmp_path_factory.mktemp("messages") / "repo"
    path.mkdir()
    git_init(path)
    dvc_init(path)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text(
        "train:\n  lr: 0.1\n  epochs: 2\nmodel: cnn\ndata:\n  size:\n    val: 100\n"
    )
    (path / "metrics.json").write_text(json.dumps({"val": {"acc": 0.5, "loss": 0.9}}))
    base = commit_all(path, "baseline")
    for i, name in enumerate(["ux-006", "ux-007"]):
        sh("git", "checkout", "-q", "--detach", base, cwd=path)
        text = (path / "params.yaml").read_text().replace("lr: 0.1", f"lr: 0.{i + 2}")
        (path / "params.yaml").write_text(text)
        sha = commit_all(path, name)
        sh("git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", sha, cwd=path)
    sh("git", "checkout", "-q", "-f", "main", cwd=path)
    return path


def run(repo: Path, *args: str):
    result = CliRunner().invoke(cli, [*args, "--repo", str(repo)] if args[0] != "sweep" else args)
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize(
    ("where", "shown"),
    [
        ("model = cnn", "model = 'cnn'"),
        ("model != cnn", "model != 'cnn'"),  # neighbour: another operator
        ("name ~ ux", "name ~ 'ux'"),  # neighbour: a glob
    ],
)
def test_an_unquoted_string_value_says_quotes(repo, where, shown):
    """issue 18: `--where "model = cnn"` said only `unknown key 'cnn'`."""
    result = run(repo, "registry", "--where", where)
    assert result.exit_code == 2
    assert "a string value needs quotes" in result.output and shown in result.output
    assert run(repo, "registry", "--where", "model = 'cnn'").exit_code == 0


def test_a_misspelled_key_still_gets_closest_keys_not_the_quotes_hint(repo):
    """issue 18 (neighbour): a mistyped key alone (no value beside it) keeps its hint."""
    result = run(repo, "registry", "--where", "modle = 'cnn'")
    assert result.exit_code == 2 and "closest keys" in result.output
    assert "needs quotes" not in result.output


@pytest.mark.parametrize("args", [["show", "ux-06"], ["compare", "ux-006", "ux-07"]])
def test_a_misspelled_experiment_name_suggests_the_closest(repo, args):
    """issue 18: `expbook show ux-06` gave no suggestion (only a substring did)."""
    result = run(repo, *args)
    assert result.exit_code == 2
    wanted = "ux-006" if args[0] == "show" else "ux-007"
    assert "similar:" in result.output and wanted in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["registry", "--sort-by", "val"],
        ["registry", "--where", "val > 1"],  # neighbour: the same key in --where
        ["best", "-m", "val", "--mode", "max"],  # neighbour: another command
    ],
)
def test_an_ambiguous_suffix_lists_the_candidates(repo, args):
    """issue 18: `--sort-by val` silently matched `size.val` though val.acc and val.loss
    exist; it is an error listing them."""
    result = run(repo, *args)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "ambiguous key 'val'" in out
    for key in ("size.val", "val.acc", "val.loss"):
        assert key in out
    assert run(repo, "registry", "--sort-by", "size.val").exit_code == 0
    assert run(repo, "registry", "--sort-by", "val.acc").exit_code == 0


def test_sweep_options_without_a_metric_say_the_option(repo, monkeypatch):
    """issue 18: `expbook sweep -S ...` without -m said `metric: missing: give {key: val.acc,
    mode: max}` (spec-file syntax)."""
    monkeypatch.chdir(repo)
    result = run(repo, "sweep", "-S", "train.lr=0.1,0.2")
    assert result.exit_code == 2
    assert "pass -m/--metric KEY" in result.output and "{key:" not in result.output


@pytest.mark.parametrize(
    ("key", "meant"),
    [("train.lrr", "train.lr"), ("modle", "model"), ("data.size.vla", "data.size.val")],
)
def test_a_misspelled_sweep_key_gets_did_you_mean(repo, monkeypatch, key, meant):
    """issue 18: `-S train.lrr=...` said only `unknown key 'train.lrr'`."""
    monkeypatch.chdir(repo)
    before = sh("git", "for-each-ref", cwd=repo).stdout
    result = run(repo, "sweep", "-S", f"{key}=1,2", "-m", "val.acc", "--mode", "max")
    assert result.exit_code == 2
    assert f"unknown key '{key}'" in result.output
    assert f"did you mean '{meant}'?" in result.output
    assert sh("git", "for-each-ref", cwd=repo).stdout == before


def test_a_misspelled_key_in_a_spec_file_gets_did_you_mean(repo, monkeypatch, tmp_path):
    """issue 18 (neighbour): the same hint for a spec file's params."""
    monkeypatch.chdir(repo)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "name: s\nmetric: {key: val.acc, mode: max}\nparams:\n  train.lrr: [0.1, 0.2]\n"
    )
    result = run(repo, "sweep", str(spec))
    assert result.exit_code == 2 and "did you mean 'train.lr'?" in result.output
