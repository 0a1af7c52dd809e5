"""Unit tests of the pipeline's params validation (src/pipeline/config.py): every bad input
names the file and the key; the committed params.yaml and the dataclass defaults agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

import pipeline_helpers  # noqa: F401  (puts src/ on sys.path for `pipeline`)
from conftest import ROOT
from pipeline.config import ParamsError, load_params, parse_params


def test_committed_params_are_valid_and_match_defaults():
    params = load_params(ROOT / "params.yaml")
    defaults = parse_params({})
    assert params == defaults


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"train": {"lr": -1}}, "params.yaml: train.lr must be > 0, got -1"),
        ({"train": {"lr": 0}}, "train.lr must be > 0"),
        ({"train": {"batch_size": 0}}, "train.batch_size must be > 0, got 0"),
        ({"train": {"batch_size": 1.5}}, "train.batch_size must be of type int"),
        ({"train": {"epochs": True}}, "train.epochs must be of type int"),
        ({"train": {"lr": "fast"}}, "train.lr must be of type float"),
        ({"train": {"model": "resnet"}}, "train.model must be one of mlp, cnn"),
        ({"train": {"scheduler": "exp"}}, "train.scheduler must be one of"),
        ({"train": {"optimizer": "lion"}}, "train.optimizer must be one of"),
        ({"train": {"hidden_dims": [64, 0]}}, "train.hidden_dims must be a list of positive"),
        ({"train": {"hidden_dims": []}}, "train.hidden_dims must have at least 1"),
        ({"train": {"dropout": 1.0}}, "train.dropout must be < 1"),
        ({"train": {"lrr": 0.1}}, "unknown key train.lrr"),
        ({"trian": {"lr": 0.1}}, "unknown key trian"),
        ({"base": {"device": "tpu"}}, "base.device must be one of"),
        ({"prepare": {"train_fraction": 0.8}}, "must sum to 1, got 1.1"),
        ({"prepare": {"val_fraction": 0}}, "prepare.val_fraction must be > 0"),
        ({"train": 3}, "train must be a mapping"),
    ],
)
def test_bad_params_name_file_and_key(doc, message):
    with pytest.raises(ParamsError, match="^params.yaml: ") as err:
        parse_params(doc, "params.yaml")
    assert message in str(err.value)


def test_int_is_accepted_where_float_expected():
    assert parse_params({"train": {"lr": 1, "weight_decay": 0}}).train.lr == 1.0


def test_configs_are_frozen():
    params = parse_params({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.lr = 0.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("train: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
    ],
)
def test_unreadable_params_file(tmp_path: Path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=message) as err:
        load_params(path)
    assert str(path) in str(err.value)


def test_missing_params_file(tmp_path: Path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "params.yaml")


def test_dvc_yaml_paths_match_paths_module():
    """dvc.yaml's outs/metrics must be exactly the files paths.py declares."""
    from pipeline import paths

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    declared = set()
    for stage in stages.values():
        for kind in ("outs", "metrics"):
            for out in stage.get(kind, []):
                declared.add(next(iter(out)) if isinstance(out, dict) else out)
    expected = {
        paths.PREPARED_DIR,
        paths.PREPARE_METRICS,
        paths.BEST_CKPT,
        paths.LAST_CKPT,
        paths.TRAIN_PLOTS_DIR,
        paths.ENVIRONMENT,
        paths.TRAIN_METRICS,
        paths.EVAL_PLOTS_DIR,
        paths.MISCLASSIFIED_PNG,
        paths.EVAL_METRICS,
    }
    assert declared == {str(p) for p in expected}


@pytest.mark.parametrize(
    "text, value",
    [("1e-05", 1e-05), ("1.0e-5", 1e-05), ("3e-4", 3e-4), ("0.001", 0.001), ("2", 2.0)],
)
def test_floats_as_dvc_exp_run_writes_them(tmp_path, text, value):
    """Bug: `dvc exp run -S train.lr=1e-5` writes `1e-05`, which YAML 1.1 reads as a string."""
    (tmp_path / "params.yaml").write_text(f"train:\n  lr: {text}\n")
    assert load_params(tmp_path / "params.yaml").train.lr == value
