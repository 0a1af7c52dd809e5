"""The cold read's batches (registry/commits.py): commits put together from the layout of the
batch's first commit give exactly what reading each commit on its own gives, on a history
whose layout changes from commit to commit (a file deleted, a metrics directory, a broken
lock, a params file that does not parse, a new sub-directory dvc.yaml, a templated dvc.yaml,
an edited dvc.yaml...), in batches of every size; and a cold read of that history prints
its JSON to a pipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import commit_all, dvc_init, git_init
from expbook.registry import commits
from expbook.registry.gitrepo import GitRepo

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    params: [train]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""


def lock(lr: float, metrics: str) -> str:
    return (
        "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    params:\n"
        f"      params.yaml:\n        train:\n          lr: {lr}\n"
        "    outs:\n    - path: metrics.json\n      hash: md5\n"
        f"      md5: {hashlib.md5(metrics.encode()).hexdigest()}\n      size: {len(metrics)}\n"
        f"    - path: model.bin\n      hash: md5\n      md5: {'ab' * 16}\n      size: 100\n"
    )


def plain(path: Path, i: int) -> None:
    lr = round(0.001 * (i + 1), 6)
    metrics = json.dumps({"val": {"acc": round(1 - lr, 6)}, "epoch": i})
    (path / "params.yaml").write_text(f"train:\n  lr: {lr}\n  epochs: {i % 3}\nseed: {i}\n")
    (path / "metrics.json").write_text(metrics)
    (path / "dvc.lock").write_text(lock(lr, metrics))


def rm(path: Path, rel: str) -> None:
    target = path / rel
    if target.is_dir():
        for child in target.iterdir():
            child.unlink()
        target.rmdir()
    elif target.exists():
        target.unlink()


# each step changes the work tree of the last one, then it is committed
STEPS = [
    *[lambda p, i: plain(p, i)] * 4,
    lambda p, i: rm(p, "params.yaml"),  # a tracked params file gone: an error of the row
    *[lambda p, i: plain(p, i)] * 3,
    lambda p, i: (p / "dvc.lock").write_text("stages: [not, a, lock"),  # not YAML
    *[lambda p, i: plain(p, i)] * 2,
    lambda p, i: (p / "params.yaml").write_text("train: {lr: [unclosed\n"),
    lambda p, i: plain(p, i),
    lambda p, i: (rm(p, "metrics.json"), (p / "metrics.json").mkdir(), plain_dir(p, i)),
    lambda p, i: plain_dir(p, i),
    lambda p, i: (rm(p, "metrics.json"), plain(p, i)),
    lambda p, i: rm(p, "dvc.lock"),
    lambda p, i: plain(p, i),
    lambda p, i: (
        (p / "sub").mkdir(exist_ok=True),
        (p / "sub" / "dvc.yaml").write_text(DVC_YAML.replace("train", "fit")),
        (p / "sub" / "metrics.json").write_text('{"x": 1}'),
    ),
    *[lambda p, i: plain(p, i)] * 3,
    lambda p, i: (p / "dvc.yaml").write_text(DVC_YAML.replace("params: [train]", "params: [seed]")),
    *[lambda p, i: plain(p, i)] * 2,
    lambda p, i: (
        (p / "dvc.yaml").write_text(
            "vars: [{m: metrics.json}]\n" + DVC_YAML.replace("- metrics.json:", "- ${m}:")
        ),
        plain(p, i),
    ),
    *[lambda p, i: plain(p, i)] * 3,
]


def plain_dir(path: Path, i: int) -> None:
    (path / "metrics.json" / "a.json").write_text(json.dumps({"a": i}))
    (path / "metrics.json" / "b.json").write_text(json.dumps({"b": -i}))


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("batches")
    git_init(path)
    dvc_init(path)
    (path / "dvc.yaml").write_text(DVC_YAML)
    shas = []
    for i, step in enumerate(STEPS):
        step(path, i)
        shas.append(commit_all(path, f"step {i}"))
    return path, shas


@pytest.mark.parametrize("size", [2, 3, 5, 250])
def test_batched_snapshots_equal_commit_by_commit(history, size):
    path, shas = history
    g = GitRepo(path)
    cache_dir = str(path / ".dvc" / "cache")
    alone = {sha: commits.read_commit(g, sha, cache_dir, {}) for sha in shas}
    memo: dict = {}  # one memo for all batches, as the registry's read keeps it
    batched: dict = {}
    for i in range(0, len(shas), size):
        batched.update(commits.read_commits(g, shas[i : i + size], cache_dir, memo))
    assert list(batched) == shas
    for sha in shas:
        assert batched[sha] == alone[sha], f"step {shas.index(sha)}"
    # the history covers what it claims: errors, a metrics directory, a second dvc.yaml
    assert any(s["errors"] for s in alone.values())
    assert any("metrics.json/a.json:a" in s["metrics"] for s in alone.values())
    assert any(s["dvcyamls"] == ["dvc.yaml", "sub/dvc.yaml"] for s in alone.values())


def _commits(path: Path, states: list[dict[str, str]]) -> list[str]:
    """Commit each state of the work tree (files written over the last state) in `path`."""
    shas = []
    for i, files in enumerate(states):
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        shas.append(commit_all(path, f"state {i}"))
    return shas


def _same_batched(path: Path, shas: list[str]) -> None:
    g = GitRepo(path)
    cache_dir = str(path / ".dvc" / "cache")
    alone = {sha: commits.read_commit(g, sha, cache_dir, {}) for sha in shas}
    assert commits.read_commits(g, shas, cache_dir, {}) == alone


def test_a_template_reading_a_cached_metrics_directory_is_not_a_layout(tmp_path):
    """An empty metrics directory in the DVC cache (its .dir object "[]"): the first commit
    reads the cache; the next, with a file in that directory or with the directory not in the
    local cache, must be read from the cache too (value, error, `missing`)."""
    git_init(tmp_path)
    dvc_init(tmp_path)
    cache = tmp_path / ".dvc" / "cache" / "files" / "md5"

    def put(data: bytes, suffix: str = "") -> str:
        md5 = hashlib.md5(data).hexdigest()
        (cache / md5[:2]).mkdir(parents=True, exist_ok=True)
        (cache / md5[:2] / (md5[2:] + suffix)).write_bytes(data)
        return md5 + suffix

    def lock(md5: str) -> str:
        return (
            "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    outs:\n"
            f"    - path: metrics\n      hash: md5\n      md5: {md5}\n"
        )

    one = put(json.dumps([{"md5": put(b'{"acc": 0.5}'), "relpath": "a.json"}]).encode(), ".dir")
    dvc_yaml = "stages:\n  train:\n    cmd: python train.py\n    params: [lr]\n"
    shas = _commits(
        tmp_path,
        [
            {
                ".gitignore": "/metrics\n",
                "dvc.yaml": dvc_yaml + "    metrics: [metrics]\n",
                "params.yaml": "lr: 0.1\n",
                "dvc.lock": lock(put(b"[]", ".dir")),
            },
            {"params.yaml": "lr: 0.2\n", "dvc.lock": lock(one)},
            {"params.yaml": "lr: 0.3\n", "dvc.lock": lock("0" * 32 + ".dir")},
        ],
    )
    _same_batched(tmp_path, shas)
    g = GitRepo(tmp_path)
    read = commits.read_commits(g, shas, str(tmp_path / ".dvc" / "cache"), {})
    assert read[shas[1]]["metrics"] == {"metrics/a.json:acc": 0.5}
    assert "not in local cache" in read[shas[2]]["errors"]["metrics"] and read[shas[2]]["missing"]


def test_a_dvc_yaml_that_is_also_a_params_file_stays_part_of_the_layout(tmp_path):
    git_init(tmp_path)
    dvc_init(tmp_path)
    base = "stages:\n  train:\n    cmd: python train.py\n    params:\n"
    base += "    - dvc.yaml: [stages.train.cmd]\n"
    shas = _commits(
        tmp_path,
        [
            {"dvc.yaml": base, "m.json": '{"acc": 0}'},
            {"dvc.yaml": base + "    metrics: [m.json]\n", "m.json": '{"acc": 1}'},
        ],
    )
    _same_batched(tmp_path, shas)


def test_a_dvc_yaml_dvc_cannot_resolve_in_one_commit_still_resolves_in_the_others(tmp_path):
    """The newest commit drops a key `${}` uses: its row has DVC's error; reading it first (as
    the registry does, newest first, one memo) must not give that error to older commits."""
    git_init(tmp_path)
    dvc_init(tmp_path)
    dvc_yaml = "stages:\n  train:\n    cmd: python train.py ${train.lr}\n    metrics: [m.json]\n"
    shas = _commits(
        tmp_path,
        [
            {"dvc.yaml": dvc_yaml, "m.json": '{"acc": 1}', "params.yaml": "train: {lr: 0.1}\n"},
            {"params.yaml": "train: {epochs: 1}\n"},
        ],
    )
    g = GitRepo(tmp_path)
    cache_dir = str(tmp_path / ".dvc" / "cache")
    memo: dict = {}
    newest, oldest = (commits.read_commit(g, sha, cache_dir, memo) for sha in reversed(shas))
    assert "Could not find 'train.lr'" in newest["errors"]["dvc.yaml"]
    assert oldest["errors"] == {} and oldest["metrics"] == {"m.json:acc": 1}
    _same_batched(tmp_path, shas[::-1])
    proc = subprocess.run(
        [sys.executable, "-c", "from expbook.cli import main; main()", "registry", "-A", "--json"],
        cwd=tmp_path,
        env={**os.environ, "EXPBOOK_NO_CACHE": "1"},
        capture_output=True,
        text=True,
    )
    rows = {row["rev"]: row for row in json.loads(proc.stdout)}
    assert rows[shas[0]]["errors"] == {} and "dvc.yaml" in rows[shas[1]]["errors"]


def test_a_template_with_errors_or_templating_puts_no_commit_together(history):
    path, shas = history
    g = GitRepo(path)
    cache_dir = str(path / ".dvc" / "cache")

    def layout(i: int) -> commits._Layout:
        recipe: list = []
        snap, files = commits._read(g, g.commit(shas[i]), cache_dir, {}, "", recipe)
        return commits._Layout(snap, files, recipe)

    assert layout(1).usable  # an ordinary commit
    assert not layout(4).usable  # params.yaml gone
    assert not layout(8).usable  # a lock that is not YAML
    assert not layout(13).usable  # a metrics directory
    assert not layout(len(STEPS) - 1).usable  # a templated dvc.yaml


def test_a_cold_read_that_imported_dvc_prints_its_json_to_a_pipe(history, tmp_path):
    """The templated dvc.yaml makes the cold read import DVC, whose logger wraps sys.stdout
    (colorama) in a stream whose write() returns None: printing must not count on it."""
    path, _ = history
    env = {**os.environ, "EXPBOOK_CACHE_DIR": str(tmp_path / "cache")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", "from expbook.cli import main; main()", "registry", "--json"],
            cwd=path,
            env=env,
            capture_output=True,
            text=True,
        )
        for _ in ("cold", "warm")
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert json.loads(runs[0].stdout)[1]["metrics"]["metrics.json:val.acc"] > 0


def test_a_cold_read_prints_escape_sequences_in_values_as_they_are(tmp_path):
    """CSV keeps a value's ESC character; the cold read (which imported DVC for a templated
    dvc.yaml, so colorama wraps stdout) prints the same bytes as the warm one."""
    git_init(tmp_path)
    dvc_init(tmp_path)
    dvc_yaml = "vars: [{m: m.json}]\nstages:\n  train:\n    cmd: python t.py\n"
    _commits(
        tmp_path,
        [
            {
                "dvc.yaml": dvc_yaml + "    params: [note]\n    metrics:\n      - ${m}\n",
                "params.yaml": 'note: "a\\e[31mred"\n',
                "m.json": '{"acc": 1}',
            }
        ],
    )
    env = {**os.environ, "EXPBOOK_CACHE_DIR": str(tmp_path / "cache")}
    cli = [sys.executable, "-c", "from expbook.cli import main; main()"]
    outs = [
        subprocess.run(
            [*cli, "registry", "--format", "csv"], cwd=tmp_path, env=env, capture_output=True
        ).stdout
        for _ in ("cold", "warm")
    ]
    assert outs[0] == outs[1] and b"a\x1b[31mred" in outs[0]
    assert b",success," in outs[0] and b"m.json:acc" in outs[0]  # resolved: by DVC's resolver
