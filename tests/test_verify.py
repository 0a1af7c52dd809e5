"""Integrity of cached outputs (issue 14): `expbook verify` and `show --verify` re-hash each
experiment's outputs in the DVC cache against dvc.lock (files and `.dir` objects) and list what
is corrupt or missing; reproduce/check refuse a corrupt recorded checkpoint.

Run: python -m pytest -q tests/test_verify.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, dvc, dvc_init, git_init, sh
from expbook.cli import cli
from expbook.repro.verify import md5_of

TRAIN_PY = textwrap.dedent("""\
    import json, os, yaml
    lr = yaml.safe_load(open("params.yaml"))["lr"]
    os.makedirs("models", exist_ok=True)
    os.makedirs("data", exist_ok=True)
    with open("models/best.pt", "wb") as f:
        f.write(bytes(range(256)) * 40 + str(lr).encode())
    for name in ("a.txt", "b.txt"):
        with open(f"data/{name}", "w") as f:
            f.write(f"{name} {lr}\\n")
    with open("metrics.json", "w") as f:
        json.dump({"acc": 1 - lr}, f)
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [lr]
        outs: [models/best.pt, data]
        metrics:
          - metrics.json:
              cache: false
""")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("verify") / "repo"
    repo.mkdir()
    git_init(repo)
    dvc_init(repo)
    (repo / "train.py").write_text(TRAIN_PY)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("lr: 0.1\n")
    dvc("repro", "-q", cwd=repo)
    commit_all(repo, "baseline")
    dvc("exp", "run", "-q", "-n", "e1", "-S", "lr=0.2", cwd=repo)
    return repo


@pytest.fixture
def repo(template, tmp_path, monkeypatch) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(template, dest, symlinks=True)
    monkeypatch.chdir(dest)
    return dest


def lock_md5(repo: Path, rev: str, path: str) -> str:
    import yaml

    lock = yaml.safe_load(sh("git", "show", f"{rev}:dvc.lock", cwd=repo).stdout)
    outs = lock["stages"]["train"]["outs"]
    return next(o["md5"] for o in outs if o["path"] == path)


def exp_rev(repo: Path, name: str) -> str:
    refs = sh("git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=repo)
    pairs = [line.split() for line in refs.stdout.splitlines()]
    return next(sha for ref, sha in pairs if ref.endswith(f"/{name}"))


def cache_object(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def tamper(path: Path) -> None:
    os.chmod(path, 0o644)  # DVC makes cache objects read-only
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_clean_cache_verifies(repo):
    result = invoke("verify")
    assert result.exit_code == 0, result.output
    assert "all match dvc.lock" in result.output
    data = json.loads(invoke("verify", "--json").output)
    assert data["ok"] is True and data["problems"] == []
    assert data["checked"] >= 4  # two checkpoints, a .dir listing and its files
    assert "metrics.json" not in invoke("verify", "e1").output  # cache: false, in git


def test_md5_is_what_dvc_records(repo):
    md5 = lock_md5(repo, exp_rev(repo, "e1"), "models/best.pt")
    assert md5_of(str(cache_object(repo, md5))) == md5
    dir_md5 = lock_md5(repo, exp_rev(repo, "e1"), "data")
    assert dir_md5.endswith(".dir")
    assert md5_of(str(cache_object(repo, dir_md5))) == dir_md5.removesuffix(".dir")


def test_tampered_checkpoint_is_listed(repo):
    """Issue 14: a tampered checkpoint in the cache was not detected (show said "in cache")."""
    md5 = lock_md5(repo, exp_rev(repo, "e1"), "models/best.pt")
    tamper(cache_object(repo, md5))
    result = invoke("verify")
    assert result.exit_code == 1
    assert "e1: models/best.pt: corrupt (cache object hashes to" in result.output
    assert f"dvc.lock says {md5})" in result.output
    assert "main: models/best.pt" not in result.output  # the baseline's own object is fine
    shown = invoke("show", "e1", "--verify")
    assert shown.exit_code == 1 and "models/best.pt  corrupt" in shown.output
    data = json.loads(invoke("show", "e1", "--verify", "--json").output)
    assert [p["path"] for p in data["verify"]["problems"]] == ["models/best.pt"]
    assert invoke("show", "main", "--verify").exit_code == 0


def test_file_inside_a_directory_output(repo):
    listing = cache_object(repo, lock_md5(repo, exp_rev(repo, "e1"), "data"))
    entries = json.loads(listing.read_text())
    b_md5 = next(e["md5"] for e in entries if e["relpath"] == "b.txt")
    tamper(cache_object(repo, b_md5))
    a_md5 = next(e["md5"] for e in entries if e["relpath"] == "a.txt")
    cache_object(repo, a_md5).unlink()
    result = invoke("verify", "e1")
    assert result.exit_code == 1
    assert "e1: data/b.txt: corrupt" in result.output
    assert f"e1: data/a.txt: missing ({a_md5} not in the local cache)" in result.output


def test_missing_checkpoint_is_listed(repo):
    md5 = lock_md5(repo, "HEAD", "models/best.pt")
    cache_object(repo, md5).unlink()
    result = invoke("verify", "main", "-f", "csv")
    assert result.exit_code == 1
    assert f"main,models/best.pt,missing,{md5} not in the local cache" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("command", [["reproduce", "HEAD"], ["check"]])
def test_reproduce_and_check_refuse_a_corrupt_recorded_checkpoint(repo, command):
    """Issue 14: `reproduce` said "reproduced bit-exactly" over a tampered cached checkpoint."""
    md5 = lock_md5(repo, "HEAD", "models/best.pt")
    tamper(cache_object(repo, md5))
    proc = sh(sys.executable, "-m", "expbook", *command, cwd=repo, check=False)
    assert proc.returncode != 0
    assert "cache object for models/best.pt is corrupt" in proc.stdout + proc.stderr
    assert len(sh("git", "worktree", "list", cwd=repo).stdout.splitlines()) == 1
