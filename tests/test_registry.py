"""The registry on a rich real repo (two baselines, branch, tag, exps, queued, failed, corrupt
and cached metrics, a sub-directory dvc.yaml): rows and values equal `dvc exp show --json`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from expbook import registry
from expbook.errors import NotFoundError
from repo_factory import build_rich_repo, exp_show_json, exp_show_values

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    path = tmp_path_factory.mktemp("rich") / "repo"
    path.mkdir()
    return build_rich_repo(path)


@pytest.fixture(scope="module")
def rows(rich):
    return registry.collect(rich.path)


@pytest.fixture(scope="module")
def dvc_show(rich):
    return exp_show_json(rich.path, "-a", "-T")


def test_every_dvc_row_has_equal_params_and_metrics(rows, dvc_show):
    ours = {row.rev: row for row in rows}
    theirs = exp_show_values(dvc_show)
    assert set(theirs) == set(ours)
    for rev, want in theirs.items():
        row = ours[rev]
        assert row.params == want["params"], row.name
        assert row.metrics == want["metrics"], row.name
        assert want["metric_errors"] <= set(row.errors), row.name
        if want["name"] and rev != "workspace":
            assert row.name == want["name"]


def test_row_kinds_statuses_and_names(rich, rows):
    by_name = {row.name: row for row in rows}
    first, second = rich.baselines["first"], rich.baselines["second"]
    assert rows[0].kind == "workspace" and rows[0].rev == "workspace"
    assert rows[0].baseline == second
    assert by_name["main"].kind == "baseline" and by_name["main"].rev == second
    assert by_name["main"].branches == ["main"] and by_name["main"].ref == "refs/heads/main"
    # DVC names a commit by tag before branch (dvc/repo/experiments/utils.py:describe)
    assert by_name["v1"].rev == first and by_name["v1"].git_tags == ["v1"]
    assert by_name["v1"].branches == ["feature"]
    for name, sha in rich.exps.items():
        row = by_name[name]
        base = first if name == "b1-lr" else second
        # a corrupt metrics file makes its row's status `error` (issue 14 "Honest status")
        status = "error" if name == "bad-metrics" else "success"
        assert (row.kind, row.status, row.rev, row.baseline) == ("experiment", status, sha, base)
        assert row.ref == f"refs/exps/{base[:2]}/{base[2:]}/{name}"
        assert row.created.endswith("Z") and row.message.startswith("dvc: commit experiment")
    assert by_name["later"].status == "queued" and by_name["later"].baseline == second
    assert by_name["later"].params["params.yaml:train.lr"] == 0.005
    assert by_name["later"].metrics == {}  # not run yet, as `dvc exp show` shows it
    assert by_name["boom"].status == "failed" and by_name["boom"].ref is None
    assert by_name["boom"].params["params.yaml:train.fail"] is True


def test_rows_are_grouped_under_their_baseline(rich, rows):
    kinds = [(row.kind, row.baseline) for row in rows]
    second_at = kinds.index(("baseline", rich.baselines["second"]))
    first_at = kinds.index(("baseline", rich.baselines["first"]))
    assert 0 < second_at < first_at  # HEAD's baseline first
    for kind, base in kinds[second_at + 1 : first_at]:
        assert (kind, base) == ("experiment", rich.baselines["second"])


def test_params_files_metrics_formats_and_subdir(rows):
    row = next(r for r in rows if r.name == "wd-big")
    assert row.params["conf/extra.yaml:model.width"] == 32
    assert "conf/extra.yaml:unused" not in row.params  # only the keys dvc.yaml tracks
    assert row.params["params.yaml:train.layers"] == [8, 4]  # lists stay values
    assert row.params["conf/top.toml:sched.warmup"] == 2  # top-level TOML params, whole file
    assert row.params["sub/params.yaml:k"] == 5
    assert row.metrics["sub/out/metrics.json:score"] == 10
    assert row.metrics["metrics/eval.yaml:test.f1"] == 0.5
    assert row.metrics["metrics/extra.toml:timing.seconds"] == 1.5
    assert row.metrics["metrics/top.json:score"] == pytest.approx(98.9)
    # cache: true metric: not in git, read from .dvc/cache
    assert row.metrics["cached/summary.json:layers"] == 2
    assert row.outs["model.bin"]["hash"].startswith("md5:") and row.outs["model.bin"]["in_cache"]
    assert row.outs["model.bin"]["size"] > 0
    assert row.errors == {}


def test_corrupt_metrics_file_only_marks_its_own_row(rows):
    """One bad experiment never hides the others (its other files still read)."""
    bad = next(r for r in rows if r.name == "bad-metrics")
    assert "metrics/eval.yaml" in bad.errors and "corrupt" in bad.errors["metrics/eval.yaml"]
    assert bad.metrics["metrics/train.json:val.acc"] > 0
    assert not any(
        "metrics/eval.yaml" in r.errors
        for r in rows
        if r.name in ("lr-small", "wd-big", "b1-lr", "main", "v1")
    )


def test_cached_metric_missing_locally_then_fetched(rich, rows, tmp_path):
    """A metric only in the DVC cache is reported "not in local cache" (no remote is contacted)
    and read again once the file is back (the registry cache must not keep the error)."""
    repo = tmp_path / "copy"
    shutil.copytree(rich.path, repo, symlinks=True, ignore=shutil.ignore_patterns("expbook"))
    md5 = next(r for r in rows if r.name == "lr-small").outs["cached/summary.json"]["hash"][4:]
    obj = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    moved = tmp_path / "obj"
    shutil.move(obj, moved)
    row = registry.resolve(repo, "lr-small")
    assert "not in local cache" in row.errors["cached/summary.json"]
    assert "cached/summary.json:best.acc" not in row.metrics
    assert row.outs["cached/summary.json"]["in_cache"] is False
    assert row.metrics["metrics/train.json:val.acc"] == pytest.approx(0.989)
    shutil.move(moved, obj)
    row = registry.resolve(repo, "lr-small")
    assert row.metrics["cached/summary.json:best.acc"] == pytest.approx(0.989)
    assert "cached/summary.json" not in row.errors
    assert row.outs["cached/summary.json"]["in_cache"] is True


def test_in_cache_follows_the_local_cache(rich, rows, tmp_path):
    """`in_cache` is re-checked on warm runs: a cached row must not claim a deleted object."""
    repo = tmp_path / "copy"
    shutil.copytree(rich.path, repo, symlinks=True)
    assert registry.resolve(repo, "wd-big").outs["model.bin"]["in_cache"] is True
    md5 = next(r for r in rows if r.name == "wd-big").outs["model.bin"]["hash"][4:]
    (repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    assert registry.resolve(repo, "wd-big").outs["model.bin"]["in_cache"] is False


def test_cache_dir_from_dvc_config(rich, tmp_path):
    repo = tmp_path / "copy"
    shutil.copytree(rich.path, repo, symlinks=True)
    shutil.move(repo / ".dvc" / "cache", tmp_path / "elsewhere")
    (repo / ".dvc" / "config.local").write_text("[cache]\n    dir = ../../elsewhere\n")
    row = registry.resolve(repo, "wd-big")
    assert row.metrics["cached/summary.json:best.acc"] == pytest.approx(0.989)


def test_baseline_filter_and_all_commits(rich):
    only = registry.collect(rich.path, baseline="v1")
    assert [r.name for r in only] == ["v1", "b1-lr"]
    assert {r.name for r in registry.collect(rich.path, baseline="main")} >= {
        "workspace",
        "main",
        "lr-small",
        "wd-big",
        "bad-metrics",
        "later",
        "boom",
    }
    with pytest.raises(NotFoundError, match="nope"):
        registry.collect(rich.path, baseline="nope")
    every = registry.collect(rich.path, all_commits=True)
    assert {r.rev for r in every if r.kind == "baseline"} == set(rich.baselines.values())


@pytest.mark.parametrize(
    "spec, want",
    [
        ("lr-small", "lr-small"),
        ("main", "main"),
        ("v1", "v1"),
        ("feature", "v1"),
        ("workspace", "workspace"),
        ("later", "later"),
        ("boom", "boom"),
    ],
)
def test_resolve_by_name_branch_tag(rich, rows, spec, want):
    assert registry.resolve(rich.path, spec, rows).name == want


def test_resolve_by_sha_prefix_and_ref(rich, rows):
    sha = rich.exps["wd-big"]
    assert registry.resolve(rich.path, sha[:8], rows).name == "wd-big"
    assert registry.resolve(rich.path, sha, rows).name == "wd-big"
    ref = next(r.ref for r in rows if r.name == "wd-big")
    assert registry.resolve(rich.path, ref, rows).rev == sha
    assert registry.resolve(rich.path, "refs/heads/feature", rows).name == "v1"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no-such-exp", "no experiment named 'no-such-exp'"),
        ("lr", "similar: .*lr-small"),
    ],
)
def test_resolve_unknown(rich, rows, spec, message):
    with pytest.raises(NotFoundError, match=message):
        registry.resolve(rich.path, spec, rows)


def test_resolve_ambiguous_lists_matches(rich, rows):
    clone = [
        *rows,
        registry.Experiment(
            name="lr-small",
            rev="f" * 40,
            kind="experiment",
            baseline=rich.baselines["first"],
            ref="refs/exps/xx/lr-small",
            created=None,
            status="success",
            message="",
        ),
    ]
    with pytest.raises(NotFoundError, match="ambiguous.*lr-small.*lr-small") as err:
        registry.resolve(rich.path, "lr-small", clone)
    assert "fffffff" in str(err.value)


def test_flat_row_and_dataframe(rich, rows):
    flat = next(r for r in rows if r.name == "wd-big").flat()
    assert list(flat)[:15] == [
        "name",
        "rev",
        "kind",
        "baseline",
        "ref",
        "created",
        "author",  # who ran it: the commit's author (issue 23)
        "status",
        "message",
        "branches",
        "tags",
        "models",  # the model versions and stages at its commit (issue 22)
        "notes",
        "sweep",
        "trial",
    ]
    assert flat["params.yaml:train.lr"] == 0.001 and flat["metrics/train.json:val.acc"] > 0
    frame = registry.load(rich.path)
    assert len(frame) == len(rows) and "metrics/train.json:val.acc" in frame.columns
    picked = registry.load(rich.path, where="status = 'queued'")
    assert list(picked["name"]) == ["later"]


def test_registry_never_imports_dvc_or_pipeline(rich):
    import subprocess
    import sys

    code = (
        "import sys; from expbook import registry; registry.collect(sys.argv[1]); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dvc', 'pipeline', 'pandas')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    src = Path(registry.__file__).parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", code, str(rich.path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": ""},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
