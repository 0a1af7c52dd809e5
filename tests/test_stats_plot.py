"""expbook.analysis.groupplot on fixed curves: mean ± std per step, and the PNG/SVG it writes."""

from __future__ import annotations

import math

import pytest

from expbook.analysis.curves import Curve
from expbook.analysis.groupplot import mean_curve, plot_group_curves
from expbook.errors import ExpbookError


def curve(values, steps=None):
    return Curve(
        "loss", "live/plots/metrics/loss.tsv", list(steps or range(len(values))), list(values)
    )


def test_mean_curve_aligns_steps_and_counts_runs():
    # the third run stopped after step 1 (e.g. pruned): later steps average two runs
    steps, mean, std, n = mean_curve(
        [curve([1.0, 2.0, 3.0]), curve([3.0, 4.0, 5.0]), curve([2.0, 3.0])]
    )
    assert steps == [0, 1, 2] and n == [3, 3, 2]
    assert mean == pytest.approx([2.0, 3.0, 4.0])
    assert std == pytest.approx([1.0, 1.0, math.sqrt(2)])


def test_single_run_has_zero_band_and_nan_is_skipped():
    steps, mean, std, n = mean_curve([curve([1.0, float("nan")])])
    assert (steps, mean, std, n) == ([0], [1.0], [0.0], [1])


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_group_curves_writes_the_file(tmp_path, suffix, magic):
    groups = {"lr=0.1": [curve([1.0, 0.5]), curve([1.2, 0.6])], "lr=0.2": [curve([0.9, 0.3])]}
    out = plot_group_curves("loss", groups, tmp_path / f"plot{suffix}")
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize(
    "groups, name, text",
    [
        ({"a": [curve([1.0])]}, "plot.gif", "plot.gif"),
        ({"a": []}, "plot.png", "nothing to plot"),
    ],
)
def test_bad_plot_input(tmp_path, groups, name, text):
    with pytest.raises(ExpbookError, match=text):
        plot_group_curves("loss", groups, tmp_path / name)
    assert not (tmp_path / name).exists()
