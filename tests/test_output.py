"""Tests of registry table rendering (expbook.output), step-curve parsing (expbook.analysis.curves),
CSV export (expbook.analysis.exporting) and plot files (expbook.analysis.plotting) on hand-made data."""

from __future__ import annotations

import csv
import io
import json

import pytest

from expbook.analysis.curves import Curve, guess_mode, match_metric, parse_tsv, summarize
from expbook.analysis.exporting import curves_csv, export_curves, safe_filename
from expbook.analysis.plotting import plot_curves
from expbook.errors import ExpbookError, NotFoundError
from expbook.output import (
    format_for,
    only_changed,
    ordered_columns,
    render,
    select_columns,
    short_names,
    sort_rows,
    write_atomic,
)
from expbook.registry.table import TableSpec, hidden_line, prepare, readable_columns

ROWS = [
    {
        "name": "a",
        "rev": "a" * 40,
        "kind": "experiment",
        "status": "success",
        "tags": ["x"],
        "notes": [],
        "sweep": None,
        "trial": None,
        "message": "m|1",
        "params.yaml:train.lr": 0.001,
        "params.yaml:seed": 7,
        "other.yaml:train.lr": 1,
        "m.json:val.acc": 0.9,
        "m.json:val.loss": 0.1,
    },
    {
        "name": "b",
        "rev": "b" * 40,
        "kind": "experiment",
        "status": "success",
        "tags": [],
        "notes": [],
        "sweep": None,
        "trial": None,
        "message": "two",
        "params.yaml:train.lr": 0.01,
        "params.yaml:seed": 7,
        "other.yaml:train.lr": 1,
        "m.json:val.acc": None,
        "m.json:val.loss": 0.3,
    },
    {
        "name": "c",
        "rev": "c" * 40,
        "kind": "experiment",
        "status": "failed",
        "tags": [],
        "notes": [],
        "sweep": None,
        "trial": None,
        "message": "three",
        "params.yaml:train.lr": 0.1,
        "params.yaml:seed": 7,
        "other.yaml:train.lr": 1,
        "m.json:val.acc": 0.95,
        "m.json:val.loss": 0.2,
    },
]


@pytest.mark.parametrize(
    "fmt, path, expected",
    [
        (None, None, "table"),
        (None, "r.csv", "csv"),
        (None, "out/R.JSON", "json"),
        (None, "r.md", "md"),
        (None, "r.html", "html"),
        (None, "r.htm", "html"),
        ("json", "r.csv", "json"),
    ],
)
def test_format_for(fmt, path, expected):
    assert format_for(fmt, path) == expected


@pytest.mark.parametrize(
    "fmt, path, fragment",
    [
        (None, "registry.xlsx", "registry.xlsx"),
        (None, "noext", "noext"),
        ("yaml", None, "yaml"),
    ],
)
def test_format_for_bad_input_names_it(fmt, path, fragment):
    with pytest.raises(ExpbookError, match=fragment):
        format_for(fmt, path)


def test_short_names_only_when_unambiguous():
    cols = ordered_columns(ROWS)
    short = short_names(cols)
    assert short["params.yaml:seed"] == "seed"
    assert short["m.json:val.acc"] == "val.acc"
    # two files both have train.lr: keep the full keys
    assert short["params.yaml:train.lr"] == "params.yaml:train.lr"
    assert short["other.yaml:train.lr"] == "other.yaml:train.lr"


@pytest.mark.parametrize(
    "include, drop, expected",
    [
        (["name,val.*"], [], ["name", "m.json:val.acc", "m.json:val.loss"]),
        (["val.loss", "name"], [], ["name", "m.json:val.loss"][::-1]),
        (
            [],
            ["*.yaml:*", "rev,kind,status,tags,notes,sweep,trial,message"],
            ["name", "m.json:val.acc", "m.json:val.loss"],
        ),
        (["*acc"], ["m.json:*"], []),
    ],
)
def test_select_columns_globs(include, drop, expected):
    assert select_columns(ordered_columns(ROWS), include, drop) == expected


def test_select_columns_unknown_glob_is_an_error():
    with pytest.raises(ExpbookError, match="'nothing\\*'"):
        select_columns(ordered_columns(ROWS), ["nothing*"])


def test_only_changed_drops_constant_data_columns_only():
    cols = only_changed(ROWS, ordered_columns(ROWS))
    assert "params.yaml:seed" not in cols and "other.yaml:train.lr" not in cols
    assert "params.yaml:train.lr" in cols and "m.json:val.acc" in cols
    assert "status" in cols and "sweep" in cols  # base columns always stay


@pytest.mark.parametrize(
    "descending, expected", [(False, ["a", "c", "b"]), (True, ["c", "a", "b"])]
)
def test_sort_puts_missing_last(descending, expected):
    assert [r["name"] for r in sort_rows(ROWS, "m.json:val.acc", descending)] == expected


def test_prepare_top_without_direction_takes_the_largest():
    rows, cols = prepare(ROWS, TableSpec(sort_by="val.loss", top=1))
    assert [r["name"] for r in rows] == ["b"]
    rows, _ = prepare(ROWS, TableSpec(sort_by="val.loss", top=1, ascending=True))
    assert [r["name"] for r in rows] == ["a"]


def test_prepare_keeps_every_column_and_columns_all_means_every_column():
    _, cols = prepare(ROWS, TableSpec())
    assert cols == ordered_columns(ROWS) and "message" in cols and "sweep" in cols
    _, cols = prepare(ROWS, TableSpec(columns=("all",), drop=("message",)))
    assert cols == [c for c in ordered_columns(ROWS) if c != "message"]


def test_readable_columns_hide_constant_and_empty_columns():
    """Issue 13: 30 class-count columns equal in every row must not fill the terminal table."""
    cols, hidden = readable_columns(ROWS, ordered_columns(ROWS))
    assert cols[:2] == ["name", "status"] and "rev" not in cols and "message" not in cols
    assert "params.yaml:seed" not in cols  # 7 in every row
    assert "params.yaml:train.lr" in cols and "m.json:val.acc" in cols
    assert hidden["constant"] == len(ordered_columns(ROWS)) - len(cols) and hidden["width"] == 0
    line = hidden_line(hidden)
    assert (
        line and line.startswith(f"{hidden['constant']} columns hidden") and "--columns all" in line
    )


def test_readable_columns_fit_the_width_keeping_name_key_metrics_and_varied_params():
    """Issue 18: varied params are kept with the val/test metrics (they were dropped first)."""
    cols, _ = readable_columns(ROWS, ordered_columns(ROWS))
    metrics = {"m.json:val.acc", "m.json:val.loss"}
    narrow, hidden = readable_columns(ROWS, ordered_columns(ROWS), width=40, metric_keys=metrics)
    assert narrow == [c for c in cols if c in narrow] and len(narrow) < len(cols)  # order kept
    assert narrow[0] == "name" and "m.json:val.loss" in narrow and "m.json:val.acc" in narrow
    assert "params.yaml:train.lr" in narrow and "tags" not in narrow
    assert hidden["width"] == len(cols) - len(narrow)
    assert readable_columns(ROWS, ["name"], width=5)[0] == ["name"]  # never nothing
    assert hidden_line({"constant": 0, "width": 0}) is None


def test_render_json_and_csv_round_trip():
    cols = ordered_columns(ROWS)
    data = json.loads(render(ROWS, cols, "json"))
    assert data[1]["m.json:val.acc"] is None and data[0]["tags"] == ["x"]
    table = list(csv.DictReader(io.StringIO(render(ROWS, cols, "csv"))))
    assert table[0]["params.yaml:train.lr"] == "0.001"
    assert table[1]["m.json:val.acc"] == "" and table[0]["tags"] == '["x"]'


def test_render_markdown_escapes_pipes_and_html_escapes_markup():
    rows = [{**ROWS[0], "name": "<b>x</b>"}]
    md = render(rows, ["name", "message", "m.json:val.acc"], "md")
    assert md.splitlines()[0] == "| name | message | val.acc |"
    assert "m\\|1" in md
    html = render(rows, ["name", "message"], "html")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x" not in html


def test_render_table_shows_short_names_and_short_revs():
    text = render(ROWS, ["name", "rev", "params.yaml:seed", "m.json:val.acc"], "table")
    assert "seed" in text and "params.yaml:seed" not in text
    assert "aaaaaaa" in text and "a" * 40 not in text and "0.95" in text


def test_write_atomic_leaves_no_partial_file(tmp_path):
    target = tmp_path / "sub" / "r.csv"
    write_atomic(target, "x\n")
    assert target.read_text() == "x\n"
    with pytest.raises(TypeError):
        write_atomic(target, 123)  # not text: the old file must survive untouched
    assert target.read_text() == "x\n"
    assert [p.name for p in target.parent.iterdir()] == ["r.csv"]


# ---------------------------------------------------------------- curves
TSV = "timestamp\tstep\tacc\n1700000000000\t0\t0.5\n1700000001000\t1\t0.7\n1700000002000\t2\t0.6\n"


def test_parse_dvclive_tsv():
    steps, values, stamps = parse_tsv(TSV)
    assert steps == [0, 1, 2] and values == [0.5, 0.7, 0.6]
    assert stamps == [1700000000000, 1700000001000, 1700000002000]


def test_parse_tsv_without_timestamps_and_with_a_torn_last_line():
    """A running experiment may leave half a line: it is skipped, not an error."""
    steps, values, stamps = parse_tsv("step\tloss\n0\t1.0\n1\t0.5\n2\t")
    assert steps == [0, 1] and values == [1.0, 0.5] and stamps == [None, None]


@pytest.mark.parametrize("bad", ["", "a\tb\n1\t2\n", "step\n1\n"])
def test_parse_tsv_rejects_non_dvclive_files(bad):
    with pytest.raises(NotFoundError, match="bad.tsv"):
        parse_tsv(bad, "bad.tsv")


def test_summary_and_best_step():
    curve = Curve("val/acc", "dvclive/plots/metrics/val/acc.tsv", *parse_tsv(TSV))
    s = summarize(curve)
    assert s["mode"] == "max" and s["best"] == 0.7 and s["best_step"] == 1
    assert (s["first"], s["last"], s["min"], s["max"]) == (0.5, 0.6, 0.5, 0.7)
    assert s["mean"] == pytest.approx(0.6) and s["std"] == pytest.approx(0.0816497, rel=1e-5)
    assert summarize(curve, "min")["best_step"] == 0


@pytest.mark.parametrize(
    "name, mode",
    [
        ("train/loss", "min"),
        ("val/acc", "max"),
        ("rmse", "min"),
        ("f1", "max"),
        ("val/error_rate", "min"),
    ],
)
def test_guess_mode(name, mode):
    assert guess_mode(name) == mode


def test_match_metric():
    curves = {n: Curve(n, n) for n in ("train/loss", "val/loss", "val/acc")}
    assert match_metric("acc", curves) == "val/acc"
    assert match_metric("val/loss", curves) == "val/loss"
    with pytest.raises(NotFoundError, match="train/loss, val/loss"):
        match_metric("loss", curves)
    with pytest.raises(NotFoundError, match="'f1'"):
        match_metric("f1", curves)


# ---------------------------------------------------------------- export / plot
def _curves():
    return {
        "train/loss": Curve("train/loss", "p", [0, 1, 2], [1.0, 0.5, 0.25], [10, 20, 30]),
        "val/acc": Curve("val/acc", "q", [0, 2], [0.5, 0.75], [11, 31]),
    }


def test_curves_csv_is_a_long_table_each_curve_on_its_own_steps():
    """issue 18: one row per point (experiment, curve, step, value, timestamp); a table keyed
    by step put points of different step axes on one row."""
    rows = list(csv.DictReader(io.StringIO(curves_csv(_curves(), "e1"))))
    assert list(rows[0]) == ["experiment", "curve", "step", "value", "timestamp"]
    assert [(r["curve"], r["step"], r["value"], r["timestamp"]) for r in rows] == [
        ("train/loss", "0", "1.0", "10"),
        ("train/loss", "1", "0.5", "20"),
        ("train/loss", "2", "0.25", "30"),
        ("val/acc", "0", "0.5", "11"),
        ("val/acc", "2", "0.75", "31"),
    ]
    assert {r["experiment"] for r in rows} == {"e1"}
    plain = {"x": Curve("x", "p", [5], [1.5], [None])}  # no timestamps: no timestamp column
    assert curves_csv(plain, "e").splitlines() == ["experiment,curve,step,value", "e,x,5,1.5"]


def test_export_writes_one_csv_per_experiment_with_safe_unique_names(tmp_path):
    paths = export_curves([("a/b", _curves()), ("a:b", _curves())], tmp_path / "out")
    assert [p.name for p in paths] == ["a_b.csv", "a_b-2.csv"]
    assert safe_filename("../x") == "x"


@pytest.mark.parametrize("name", ["curves.png", "curves.html", "curves.svg"])
def test_plot_files(tmp_path, name):
    series = [("exp-1", _curves()["train/loss"]), ("exp-2", _curves()["val/acc"])]
    path = plot_curves("loss", series, tmp_path / name)
    data = path.read_bytes()
    if name.endswith(".png"):
        assert data.startswith(b"\x89PNG")
    else:
        text = data.decode()
        assert "<svg" in text and "exp-1" in text and "exp-2" in text  # the legend names them
        if name.endswith(".html"):
            assert text.startswith("<!DOCTYPE html>") and "<?xml" not in text


def test_plot_unknown_extension_writes_nothing(tmp_path):
    with pytest.raises(ExpbookError, match="curves.pdf"):
        plot_curves("loss", [("e", _curves()["train/loss"])], tmp_path / "curves.pdf")
    assert list(tmp_path.iterdir()) == []


def test_wide_table_keeps_every_column_readable(monkeypatch):
    """Bug: a registry with ~100 metric columns collapsed every rich column to nothing on an
    80-column terminal; the table now keeps its natural width."""
    from expbook.output import to_table

    monkeypatch.setenv("COLUMNS", "80")
    columns = [f"metrics.json:class_{i}.acc" for i in range(40)]
    rows = [{c: 0.25 * (i % 4) for i, c in enumerate(columns)}]
    text = to_table(rows, columns, {c: c for c in columns})
    assert all(c in text for c in columns)


def test_unwritable_output_is_an_error_not_a_traceback(tmp_path):
    """Bug: `expbook export main -o /proc/x` ended in a raw FileNotFoundError traceback."""
    from expbook.errors import ExpbookError
    from expbook.output import write_atomic

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExpbookError, match="cannot write"):
        write_atomic(blocker / "sub" / "out.csv", "a,b\n")
    assert blocker.read_text() == "x"
