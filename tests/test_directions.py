"""Metric directions (issue 18): declared in pyproject.toml, read from the name, or unknown."""

from __future__ import annotations

import pytest

from expbook.registry import directions
from expbook.registry.directions import DirectionError


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("val.loss", "min"),
        ("metrics.train.loss", "min"),
        ("val_loss", "min"),
        ("test.error_rate", "min"),
        ("rmse", "min"),
        ("val/perplexity", "min"),
        ("train.epoch_time_s", "min"),
        ("latency_ms", "min"),
        ("val.acc", "max"),
        ("test.accuracy", "max"),
        ("val.f1", "max"),
        ("roc_auc", "max"),
        ("r2", "max"),
        ("mAP", "max"),
        ("val.iou", "max"),
        ("bleu", "max"),
        ("class_counts.3", None),
        ("val.score", None),
        ("mapping_size", None),
        ("acc_loss", None),
    ],
)
def test_direction_from_the_name(key: str, mode: str | None) -> None:
    assert directions.from_name(key) == mode
    d = directions.resolve(key)
    assert d.mode == mode
    assert d.source == ("name" if mode else "unknown")


def test_declaration_beats_the_name_and_exact_beats_glob(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.expbook.directions]\n"val.loss" = "max"\n"*.score" = "min"\n"val.*" = "max"\n'
    )
    declared = directions.load_declared(tmp_path)
    assert directions.resolve("val.loss", declared=declared).mode == "max"
    d = directions.resolve("metrics.test.score", declared=declared)
    assert (d.mode, d.source, d.label) == ("min", "declared", "[min, declared in pyproject.toml]")
    assert directions.resolve("val.score", declared=declared).mode == "min"  # longer glob
    assert directions.resolve("val.loss", "min", declared).label == "[min, --mode]"
    assert directions.resolve("train.loss").label == "[min, from the name]"


@pytest.mark.parametrize(
    "text",
    [
        '[tool.expbook.directions]\n"val.x" = "down"\n',
        "[tool.expbook\n",
        "[tool.expbook]\ndirections = 3\n",
    ],
)
def test_bad_declaration_names_the_file(tmp_path, text: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(DirectionError, match="pyproject.toml"):
        directions.load_declared(tmp_path)


def test_unknown_direction_is_refused_by_require(tmp_path) -> None:
    assert directions.load_declared(tmp_path) == {}
    with pytest.raises(DirectionError, match="--mode min\\|max"):
        directions.require("val.score")
    assert directions.require("val.score", "min").mode == "min"
