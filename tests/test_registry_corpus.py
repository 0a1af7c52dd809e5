"""Differential corpus (issue 8): repos built in tmp_path, one per layout DVC reads, each
compared row by row and key by key with `dvc exp show --json -A`.

Layouts: vars (inline, files with :keys), ${} in paths and params keys, foreach over a list,
a list of dicts and a dict from params, matrix, metrics directories (in git, and cached as a
`.dir` object), metrics inside a cached directory output, params in .yaml/.yml/.json/.toml/.py,
an uncommitted sub-directory dvc.yaml, DVC sub-projects, branches/tags/experiments with -A,
a templated pipeline with real experiments. The repos are built once per module.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import commit_all, dvc, dvc_init, git_init, sh
from expbook import registry
from repo_factory import exp_run, exp_show_json, exp_show_values, rev_parse

pytestmark = pytest.mark.slow

WRITE_PY = textwrap.dedent("""\
    import json, os, sys
    # python write.py OUT.json key=value ... : one flat JSON metrics file
    out = sys.argv[1]
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    vals = {}
    for arg in sys.argv[2:]:
        k, v = arg.split("=")
        vals[k] = float(v)
    json.dump(vals, open(out, "w"))
""")


def _write(path: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(textwrap.dedent(text))


def _new(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    git_init(path)
    dvc_init(path)
    _write(path, {"write.py": WRITE_PY, **files})
    return path


# ---------------------------------------------------------------- the layouts
def vars_and_interpolation(path: Path) -> None:
    """vars inline + a file with :keys, ${} in cmd, metrics paths and params keys."""
    _new(
        path,
        {
            "params.yaml": "models:\n  small: {width: 8}\n  big: {width: 64}\nlr: 0.1\n",
            "conf/run.yaml": "run: {epochs: 3, tag: r1}\nunused: {x: 1}\n",
            "dvc.yaml": """\
                vars:
                  - conf/run.yaml:run
                  - outdir: results
                stages:
                  fit:
                    foreach: ${models}
                    do:
                      cmd: python write.py ${outdir}/fit-${key}.json w=${item.width}
                      params:
                        - models.${key}.width
                      metrics:
                        - ${outdir}/fit-${key}.json:
                            cache: false
                  report:
                    cmd: python write.py ${outdir}/report.json epochs=${run.epochs}
                    params: [lr]
                    metrics:
                      - ${outdir}/report.json:
                          cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "templated")


def foreach_lists(path: Path) -> None:
    """foreach over a list of scalars and a list of dicts (stage names fit@0, each@a)."""
    _new(
        path,
        {
            "params.yaml": "seeds: [1, 2]\n",
            "dvc.yaml": """\
                stages:
                  each:
                    foreach: [a, b]
                    do:
                      cmd: python write.py m/${item}.json v=1
                      metrics:
                        - m/${item}.json:
                            cache: false
                  fit:
                    foreach:
                      - {name: x, w: 2}
                      - {name: y, w: 3}
                    do:
                      cmd: python write.py m/fit-${item.name}.json w=${item.w}
                      params: [seeds]
                      metrics:
                        - m/fit-${item.name}.json:
                            cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "foreach")


def matrix_stage(path: Path) -> None:
    """matrix with ${item.a}-${item.b} metrics paths (stage names grid@x-p)."""
    _new(
        path,
        {
            "params.yaml": "grid_a: [x, y]\nscale: 2\n",
            "dvc.yaml": """\
                stages:
                  grid:
                    matrix:
                      a: ${grid_a}
                      b: [p, q]
                    cmd: python write.py grid/${item.a}-${item.b}.json s=${scale}
                    params: [scale]
                    metrics:
                      - grid/${item.a}-${item.b}.json:
                          cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "matrix")


def metrics_dir_in_git(path: Path) -> None:
    """A metrics entry that is a directory committed to git (every file in it counts)."""
    _new(
        path,
        {
            "params.yaml": "k: 1\n",
            "dvc.yaml": """\
                stages:
                  ev:
                    cmd: python write.py ev/a.json acc=0.5 && python write.py ev/sub/b.json f1=0.25
                    params: [k]
                    metrics:
                      - ev:
                          cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "metrics dir")


def metrics_dir_cached(path: Path) -> None:
    """A cached metrics directory (a .dir object in the DVC cache) and a metrics file inside
    a cached directory output; a second commit whose cached objects are gone locally."""
    _new(
        path,
        {
            "params.yaml": "k: 1\n",
            "dvc.yaml": """\
                stages:
                  ev:
                    cmd: python write.py ev/a.json acc=${k} && python write.py res/m.json loss=${k}
                    params: [k]
                    outs: [res]
                    metrics: [ev]
                metrics:
                  - res/m.json
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "cached metrics dir")
    (path / "params.yaml").write_text("k: 2\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "second")
    # drop the second commit's objects from the cache: "not in local cache" for both
    lock = (path / "dvc.lock").read_text()
    for line in lock.splitlines():
        if "md5:" in line and ".dir" in line:
            md5 = line.split("md5:")[1].strip()
            obj = path / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
            for entry in json.loads(obj.read_text()):
                inner = entry["md5"]
                (path / ".dvc" / "cache" / "files" / "md5" / inner[:2] / inner[2:]).unlink()
    shutil.rmtree(path / "ev")
    shutil.rmtree(path / "res")


def params_formats(path: Path) -> None:
    """Params in .yaml, .yml, .json, .toml and .py (read via ast, never run)."""
    _new(
        path,
        {
            "params.yaml": "lr: 0.1\nnested: {a: 1}\n",
            "p/extra.yml": "depth: 3\nskip: 9\n",
            "p/opt.json": '{"opt": {"name": "adam", "beta": 0.9}}',
            "p/sched.toml": "warmup = 2\n[decay]\nrate = 0.5\n",
            "p/conf.py": textwrap.dedent("""\
                import os
                EPOCHS = 5
                NAME: str = "run"
                LAYERS = [64, 32]
                DYNAMIC = os.getenv("X")
                class Train:
                    lr = 0.01
                    def __init__(self):
                        self.momentum = 0.9
                """),
            "dvc.yaml": """\
                stages:
                  s:
                    cmd: python write.py m.json v=1
                    params:
                      - lr
                      - p/extra.yml:
                          - depth
                      - p/opt.json:
                      - p/sched.toml:
                          - decay
                      - p/conf.py:
                          - EPOCHS
                          - Train
                    metrics:
                      - m.json:
                          cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "params formats")


def new_subdir_dvcyaml(path: Path) -> None:
    """A committed project plus an uncommitted sub-directory dvc.yaml with its own params."""
    _new(
        path,
        {
            "params.yaml": "lr: 0.1\n",
            "dvc.yaml": """\
                stages:
                  s:
                    cmd: python write.py m.json v=1
                    params: [lr]
                    metrics:
                      - m.json:
                          cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "root")
    _write(
        path,
        {
            "new/params.yaml": "k: 7\n",
            "new/dvc.yaml": """\
                stages:
                  t:
                    cmd: python ../write.py out.json score=14
                    params: [k]
                    metrics:
                      - out.json:
                          cache: false
                """,
            "new/out.json": '{"score": 14}',
        },
    )


def subprojects(path: Path) -> None:
    """A git repo holding two DVC sub-projects (`dvc init --subdir`), compared inside `a`."""
    path.mkdir(parents=True)
    git_init(path)
    for name, lr in (("a", 0.1), ("b", 0.2)):
        sub = path / name
        sub.mkdir()
        dvc("init", "-q", "--subdir", cwd=sub)
        _write(
            sub,
            {
                "write.py": WRITE_PY,
                "params.yaml": f"lr: {lr}\nepochs: 3\n",
                "dvc.yaml": """\
                    stages:
                      s:
                        cmd: python write.py m.json v=1
                        params: [lr]
                        metrics:
                          - m.json:
                              cache: false
                    """,
            },
        )
        dvc("repro", "-q", cwd=sub)
    commit_all(path, "two sub-projects")


def refs_and_experiments(path: Path) -> None:
    """main with 2 commits, a branch, an annotated tag, experiments (one on an old commit
    that no branch or tag holds any more), so -A rows can be compared."""
    _new(
        path,
        {
            "params.yaml": "lr: 0.1\n",
            "dvc.yaml": """\
                stages:
                  s:
                    cmd: python write.py m.json lr=${lr}
                    params: [lr]
                    metrics:
                      - m.json:
                          cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    first = commit_all(path, "first")
    sh("git", "tag", "-a", "v1", "-m", "v1", cwd=path)
    sh("git", "branch", "side", cwd=path)
    (path / "params.yaml").write_text("lr: 0.2\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "second")
    exp_run(path, "e-main", "lr=0.3")
    # an experiment on a commit that will be reachable only from its exp ref
    sh("git", "reset", "-q", "--hard", cwd=path)
    sh("git", "checkout", "-q", "-b", "gone", first, cwd=path)
    (path / "params.yaml").write_text("lr: 0.05\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "soon unreachable")
    exp_run(path, "e-gone", "lr=0.06")
    sh("git", "reset", "-q", "--hard", cwd=path)
    sh("git", "checkout", "-q", "main", cwd=path)
    sh("git", "branch", "-D", "gone", cwd=path)
    dvc("exp", "branch", "e-main", "best-exp", cwd=path)


def templated_experiments(path: Path) -> None:
    """A templated pipeline (vars file + foreach over params) with real experiments."""
    _new(
        path,
        {
            "params.yaml": "models:\n  a: {w: 1}\n  b: {w: 2}\n",
            "conf.yaml": "scale: 10\n",
            "dvc.yaml": """\
                vars:
                  - conf.yaml
                stages:
                  fit:
                    foreach: ${models}
                    do:
                      cmd: python write.py out/${key}.json w=${item.w} s=${scale}
                      params:
                        - models.${key}.w
                      metrics:
                        - out/${key}.json:
                            cache: false
                """,
        },
    )
    dvc("repro", "-q", cwd=path)
    commit_all(path, "baseline")
    exp_run(path, "wide", "models.a.w=5")
    exp_run(path, "scaled", "conf.yaml:scale=20")


LAYOUTS = {
    f.__name__: f
    for f in (
        vars_and_interpolation,
        foreach_lists,
        matrix_stage,
        metrics_dir_in_git,
        metrics_dir_cached,
        params_formats,
        new_subdir_dvcyaml,
        subprojects,
        refs_and_experiments,
        templated_experiments,
    )
}
# where expbook and dvc run inside each repo
INSIDE = {"subprojects": "a"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("corpus")
    built = {}
    for name, build in LAYOUTS.items():
        build(base / name)
        built[name] = base / name / INSIDE.get(name, "")
    return built


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_rows_and_values_equal_dvc_exp_show_all_commits(corpus, layout):
    path = corpus[layout]
    theirs = {
        rev: {**v, "errors": v["param_errors"] | v["metric_errors"]}
        for rev, v in exp_show_values(exp_show_json(path, "-A")).items()
    }
    ours = {r.rev: r for r in registry.collect(path, all_commits=True)}
    assert set(ours) == set(theirs), layout
    for rev, want in theirs.items():
        row = ours[rev]
        assert row.params == want["params"], (layout, row.name)
        assert row.metrics == want["metrics"], (layout, row.name)
        assert set(row.errors) == want["errors"], (layout, row.name, row.errors)
        assert row.status in ("success", "error"), (layout, row.name)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_batched_parallel_read_equals_commit_by_commit(corpus, layout, monkeypatch):
    """The cold read's forked, batched path (chunks of 2 commits: the first of each shows what
    the other's files are, which are then read and parsed ahead) gives the same rows as
    reading commit by commit, on every layout (templated, metrics dirs, sub-projects...)."""
    from expbook.registry import reader

    path = corpus[layout]
    monkeypatch.setenv("EXPBOOK_NO_CACHE", "1")
    serial = registry.collect(path, all_commits=True)
    monkeypatch.setattr(reader, "PARALLEL_MIN", 1)
    monkeypatch.setattr(reader, "CHUNK", 2)
    assert registry.collect(path, all_commits=True) == serial


def test_templated_names_and_keys(corpus):
    """What the issue saw missing: stage metrics of foreach/matrix stages, vars-file params."""
    rows = {r.name: r for r in registry.collect(corpus["matrix_stage"])}
    assert set(rows["main"].metrics) == {f"grid/{a}-{b}.json:s" for a in "xy" for b in "pq"}
    rows = {r.name: r for r in registry.collect(corpus["templated_experiments"])}
    assert rows["wide"].params["params.yaml:models.a.w"] == 5
    assert rows["scaled"].params["conf.yaml:scale"] == 20
    assert rows["scaled"].metrics["out/a.json:s"] == 20


def test_cached_metrics_dir_reads_from_cache_or_says_not_in_cache(corpus):
    rows = registry.collect(corpus["metrics_dir_cached"], all_commits=True)
    first = next(r for r in rows if r.message == "cached metrics dir")
    assert first.metrics == {"ev/a.json:acc": 1.0, "res/m.json:loss": 1.0}
    second = next(r for r in rows if r.name == "main")
    assert "not in local cache" in second.errors["res/m.json"]
    assert "not in local cache" in second.errors["ev/a.json"]
    assert second.status == "success"  # missing locally is not broken


def test_subproject_keys_are_relative_and_siblings_left_out(corpus):
    rows = registry.collect(corpus["subprojects"])
    main = next(r for r in rows if r.name == "main")
    assert main.params == {"params.yaml:lr": 0.1, "params.yaml:epochs": 3}
    assert main.metrics == {"m.json:v": 1.0}


def test_new_subdir_dvcyaml_is_in_the_workspace_row_and_noticed_when_added(corpus, tmp_path):
    path = tmp_path / "copy"
    shutil.copytree(corpus["new_subdir_dvcyaml"], path, symlinks=True)
    ws = registry.collect(path)[0]
    assert ws.params["new/params.yaml:k"] == 7 and ws.metrics["new/out.json:score"] == 14
    _write(path, {"other/dvc.yaml": "stages:\n  u:\n    cmd: x\n    params: [q]\n"})
    (path / "other" / "params.yaml").write_text("q: 1\n")
    assert registry.collect(path)[0].params["other/params.yaml:q"] == 1


def test_all_commits_extra_rows_only_when_asked(corpus):
    path = corpus["refs_and_experiments"]
    plain = {r.rev for r in registry.collect(path, all_commits=True)}
    extra = registry.collect(path, all_commits=True, exp_commits=True)
    added = [r for r in extra if r.rev not in plain]
    assert [r.kind for r in added if r.kind != "experiment"] == ["exp-only"]
    assert {r.name for r in added} >= {"e-gone"}


def test_branch_made_from_an_experiment_is_not_ambiguous(corpus):
    path = corpus["refs_and_experiments"]
    row = registry.resolve(path, "best-exp")
    assert row.rev == rev_parse(path, "best-exp")
    assert registry.resolve(path, "e-main").rev == row.rev
