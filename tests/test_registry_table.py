"""`expbook registry` as a person sees it in a terminal (issue 18): the columns that matter
fit 80 and 120 columns (varied params and val/test metrics before per-item breakdowns such as
class_counts.3), one bounded page of rows with a line saying what was left out, every row
with --all or to a pipe; the dashboard's default columns follow the same ranking.

The repository is real: a committed DVC project and 40 seeded experiments written as exp refs
by `git fast-import` (what `dvc exp run` leaves in git, without running the stages).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, commit_all, dvc_init, git_init, sh
from expbook.registry.ranking import rank_columns
from expbook.registry.table import hidden_line
from expbook.registry.tabletext import left_out_line
from pty_helpers import max_width, run_in_pty
from repo_factory import IMPORT_PROBE, age_tree

N_EXPS = 40
DVC_YAML = """\
stages:
  prepare:
    cmd: python prepare.py
    params: [prepare]
    metrics:
      - data.json:
          cache: false
  train:
    cmd: python train.py
    params: [base, train]
    metrics:
      - metrics.json:
          cache: false
"""


def _files(i: int | None, rng: random.Random) -> dict[str, str]:
    """params.yaml, data.json (10 per-class counts) and metrics.json of experiment `i`."""
    lr = 0.01 if i is None else round(0.001 * (i + 1), 4)
    seed = 0 if i is None else i % 3
    params = (
        f"base:\n  seed: {seed}\nprepare:\n  source: digits\n  train_fraction: 0.7\n"
        f"train:\n  lr: {lr}\n  epochs: 5\n"
    )
    counts = {str(c): 120 + rng.randrange(10) for c in range(10)}
    acc = round(0.9 - lr + rng.random() / 100, 4)
    metrics = {
        "train": {"acc": round(acc + 0.05, 4), "loss": round(1 - acc, 4)},
        "val": {"acc": acc, "loss": round(1.1 - acc, 4)},
        "test": {"acc": round(acc - 0.01, 4)},
    }
    return {
        "params.yaml": params,
        "data.json": json.dumps({"class_counts": counts}),
        "metrics.json": json.dumps(metrics),
    }


def build_seeded_repo(path: Path, n: int = N_EXPS) -> Path:
    """A DVC project (prepare + train stages) and `n` experiments varying train.lr and
    base.seed, with val.acc/test.acc/train.acc and 10 class_counts.* metrics."""
    path.mkdir(parents=True, exist_ok=True)
    git_init(path)
    dvc_init(path)
    (path / "dvc.yaml").write_text(DVC_YAML)
    for name, text in _files(None, random.Random(18)).items():
        (path / name).write_text(text)
    commit_all(path, "baseline")
    add_experiments(path, 0, n)
    return path


def add_experiments(path: Path, first: int, n: int) -> None:
    """Experiments first..first+n-1 on HEAD as exp refs (git fast-import), one second apart:
    the later, the newer (commit times from 2023 on, before any baseline made today)."""
    base = sh("git", "rev-parse", "HEAD", cwd=path).stdout.strip()
    rng = random.Random(first)
    stream = []
    for i in range(first, first + n):
        who = f"t <t@expbook.invalid> {1_700_000_000 + i} +0000"
        msg = f"dvc: commit experiment {i}"
        stream.append(
            f"commit refs/exps/{base[:2]}/{base[2:]}/exp-{i:02d}\n"
            f"author {who}\ncommitter {who}\ndata {len(msg)}\n{msg}\nfrom {base}\n"
        )
        for name, text in _files(i, rng).items():
            stream.append(f"M 100644 inline {name}\ndata {len(text.encode())}\n{text}\n")
        stream.append("\n")
    proc = subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=path,
        input="".join(stream).encode(),
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    return build_seeded_repo(tmp_path_factory.mktemp("seeded") / "repo")


def header_of(text: str) -> str:
    """The table's header line (the first line drawn with ┃)."""
    return next(line for line in text.splitlines() if line.startswith("┃"))


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_table_fits_and_shows_what_matters(seeded, columns):
    """Issue 18: at 80 and 120 columns the table showed name plus class_counts.* columns
    (varied params were dropped before metrics, metrics right to left): train.lr, val.acc and
    test.acc must be visible, every line within the width, the hidden-columns line included."""
    result = run_in_pty(["registry"], cwd=seeded, columns=columns, rows=30)
    assert result.returncode == 0, result.text
    assert max_width(result.text) <= columns, result.text
    header = header_of(result.text)
    for key in ("name", "train.lr", "val.acc", "test.acc", "status"):
        assert f" {key} " in header, (key, result.text)
    if columns == 80:  # breakdowns come last: at 80 columns none has room
        assert "class_counts" not in header, result.text
    hidden = [ln for ln in result.lines if "columns hidden" in ln]
    assert len(hidden) == 1 and "--columns all" in hidden[0] and len(hidden[0]) <= 80


def test_terminal_table_is_one_bounded_page_and_says_what_it_left_out(seeded):
    """Issue 18: a terminal got every row (100k rows: nothing for minutes); now one page of
    the newest rows that fits the window, then how many rows were left out and how to see
    them."""
    result = run_in_pty(["registry"], cwd=seeded, columns=100, rows=24)
    assert result.returncode == 0, result.text
    shown = [ln for ln in result.lines if ln.startswith("│")]
    assert 10 <= len(shown) <= 24 - 5, result.text
    assert len(result.lines) <= 24  # the page fits the window
    names = [ln.split("│")[1].strip() for ln in shown]
    assert names[:3] == ["workspace", "main", f"exp-{N_EXPS - 1:02d}"]  # newest first
    left = [ln for ln in result.lines if "rows not shown" in ln]
    total = N_EXPS + 2
    assert left == [f"{total - len(shown)} of {total} rows not shown: {left_out_hint()}"]
    # -n N asks for N rows: no page cut, no left-out line
    five = run_in_pty(["registry", "-n", "5"], cwd=seeded, columns=100, rows=24)
    assert sum(ln.startswith("│") for ln in five.lines) == 5
    assert not any("rows not shown" in ln for ln in five.lines)
    # --all in a terminal: every row, still within the width
    every = run_in_pty(["registry", "--all"], cwd=seeded, columns=100, rows=24)
    assert sum(ln.startswith("│") for ln in every.lines) == total
    assert max_width(every.text) <= 100


def left_out_hint() -> str:
    return "-n N, --where or --all shows them"


def test_all_to_a_pipe_gives_every_row(seeded):
    """Issue 18: `--all` (and any pipe) streams every row, with the readable columns."""
    for args in (["registry", "--all"], ["registry"]):
        proc = subprocess.run(
            [sys.executable, "-m", "expbook", *args],
            cwd=seeded,
            capture_output=True,
            text=True,
            env={**_env(), "COLUMNS": "80"},
        )
        assert proc.returncode == 0, proc.stderr
        rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("│")]
        names = {ln.split("│")[1].strip() for ln in rows}
        assert len(rows) == N_EXPS + 2 and {f"exp-{i:02d}" for i in range(N_EXPS)} <= names
        assert "rows not shown" not in proc.stdout
        assert " train.lr " in header_of(proc.stdout) and " val.acc " in header_of(proc.stdout)


def test_table_file_keeps_every_column_and_row(seeded, tmp_path):
    out = tmp_path / "registry.txt"
    sh(sys.executable, "-m", "expbook", "registry", "-o", str(out), cwd=seeded, env=_env())
    text = out.read_text()
    assert sum(ln.startswith("│") for ln in text.splitlines()) == N_EXPS + 2
    assert "class_counts.9" in text and "prepare.source" in text and "columns hidden" not in text


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def test_ranking_puts_breakdowns_and_preparation_constants_last():
    """Issue 18: one ranking (the terminal table and the dashboard)."""
    params = ["params.yaml:prepare.source", "params.yaml:base.seed", "params.yaml:train.lr"]
    metrics = [f"data.json:class_counts.{i}" for i in range(10)]
    metrics += ["metrics.json:train.acc", "metrics.json:val.acc", "metrics.json:test.acc"]
    metrics += ["metrics.json:val.loss", "metrics.json:test.note"]
    varying = set(params[1:]) | set(metrics)
    order = rank_columns(params, metrics, varying, meta=["status", "created"])
    assert order[:4] == [
        "metrics.json:val.acc",
        "metrics.json:test.acc",
        "params.yaml:base.seed",
        "params.yaml:train.lr",
    ]
    assert order.index("metrics.json:val.loss") < order.index("status")
    assert order.index("status") < order.index("metrics.json:train.acc")
    assert order.index("created") < order.index("data.json:class_counts.0")
    assert order[-1] == "params.yaml:prepare.source"  # never varies
    by_sort = rank_columns(params, metrics, varying, sort_by="metrics.json:train.acc")
    assert by_sort[0] == "metrics.json:train.acc"


@pytest.mark.parametrize("total", [5, 999, 99_999])
def test_footer_lines_fit_80_columns(total):
    """Issue 18: the hidden-columns line was 100+ characters."""
    line = hidden_line({"constant": total, "width": total})
    assert line is not None and len(line) <= 80
    left = left_out_line(total * 1000, 17)  # up to 100 million rows
    assert left is not None and len(left) <= 80


def test_dashboard_default_columns_use_the_same_ranking(seeded):
    """Issue 18: the dashboard ranked metrics on its own (metricRank in app.js); /api/table
    now sends the registry's ranking and app.js takes its default columns from it."""
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from expbook.ui import create_app

    client = TestClient(create_app(str(seeded)), base_url="http://127.0.0.1")
    cols = client.get("/api/table").json()["columns"]
    ranked = cols["ranked"]
    assert ranked.index("metrics.json:val.acc") < ranked.index("data.json:class_counts.0")
    assert ranked.index("params.yaml:train.lr") < ranked.index("metrics.json:train.acc")
    app_js = (ROOT / "src" / "expbook" / "ui" / "static" / "app.js").read_text()
    assert "cols.ranked" in app_js and "function metricRank" not in app_js


def _json(path: Path, **env: str) -> tuple[str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, "registry", "--format", "json"],
        cwd=path,
        capture_output=True,
        text=True,
        env={**_env(), **env},
        check=True,
    )
    return proc.stdout, set(proc.stderr.rpartition("MODULES=")[2].split(","))


def test_new_experiments_extend_the_cached_outputs(tmp_path):
    """Issue 18: after new experiments, the next read cost what exists, not what is new (+100
    at 100k: 5-10 s for JSON, twice in a row). Now the new rows are read alone and spliced
    into the cached JSON and terminal page, which stay equal to a fresh render; a re-read
    right after is answered from the cache (no row built)."""
    path = build_seeded_repo(tmp_path / "repo", n=12)
    age_tree(path)
    _json(path)
    page = run_in_pty(["registry"], cwd=path, columns=100, rows=20).text
    commits = path / ".dvc" / "tmp" / "expbook" / "commits.pickle"
    before = commits.stat().st_mtime_ns
    add_experiments(path, 12, 3)
    grown, _ = _json(path)
    fresh, _ = _json(path, EXPBOOK_NO_CACHE="1")
    assert grown == fresh and len(json.loads(grown)) == 12 + 3 + 2
    assert commits.stat().st_mtime_ns == before  # the 12 old commits were not read again
    again, modules = _json(path)  # within 2 s of the new refs: once re-rendered twice
    assert again == fresh and "expbook.registry.rows" not in modules
    new_page = run_in_pty(["registry"], cwd=path, columns=100, rows=20).text
    fresh_page = run_in_pty(
        ["registry"], cwd=path, columns=100, rows=20, env={"EXPBOOK_NO_CACHE": "1"}
    ).text
    assert new_page == fresh_page != page and "exp-14" in new_page
