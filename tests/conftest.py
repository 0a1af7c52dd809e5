"""Shared fixtures: real git and DVC repositories in tmp_path (no mocks), like dvclive's tests.

`dvc_repo` is an empty committed DVC repo; `template_repo` is a copy of this project's
pipeline (dvc.yaml, params.yaml, src/pipeline) committed in a fresh repo.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# stage commands call `python` and `dvc`: make them the ones of this interpreter's venv
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")


def sh(
    *args: str | os.PathLike,
    cwd: os.PathLike | None = None,
    check: bool = True,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run a command (never through a shell) and return it with text stdout/stderr."""
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def git_init(path: Path) -> Path:
    sh("git", "init", "-q", "-b", "main", cwd=path)
    sh("git", "config", "user.name", "expbook tests", cwd=path)
    sh("git", "config", "user.email", "tests@expbook.invalid", cwd=path)
    sh("git", "config", "commit.gpgsign", "false", cwd=path)
    return path


@functools.cache
def _dvc_template() -> Path:
    """A git repo that `dvc init` was run in, once per test process (in-process: no dvc start-up).

    Repo.init writes what the `dvc init` command writes (.dvc/config, .dvc/.gitignore,
    .dvc/tmp/btime, .dvcignore); the repos of the tests are copies of it.
    """
    from dvc.repo import Repo

    path = git_init(Path(tempfile.mkdtemp(prefix="expbook-dvc-template-")))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    with Repo.init(path) as repo, repo.config.edit() as conf:
        conf.setdefault("core", {})["analytics"] = "false"  # as `dvc config core.analytics false`
    return path


def dvc_init(path: Path) -> Path:
    """`dvc init` + `dvc config core.analytics false` in the git repo `path`, from a template
    (0.7 s of subprocess start-up each otherwise); the new files are staged, as dvc stages them."""
    template = _dvc_template()
    shutil.copytree(template / ".dvc", path / ".dvc", dirs_exist_ok=True)
    shutil.copy2(template / ".dvcignore", path / ".dvcignore")
    sh("git", "add", ".dvc/.gitignore", ".dvc/config", ".dvcignore", cwd=path)
    return path


def commit_all(path: Path, message: str = "commit") -> str:
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-q", "-m", message, cwd=path)
    return sh("git", "rev-parse", "HEAD", cwd=path).stdout.strip()


def dvc(*args: str, cwd: os.PathLike, check: bool = True, env: dict | None = None):
    return sh(sys.executable, "-m", "dvc", *args, cwd=cwd, check=check, env=env)


@pytest.fixture
def tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def git_repo(tmp_dir: Path) -> Path:
    return git_init(tmp_dir)


@pytest.fixture
def dvc_repo(git_repo: Path) -> Path:
    dvc_init(git_repo)
    commit_all(git_repo, "init dvc")
    return git_repo


TEMPLATE_FILES = ("dvc.yaml", "params.yaml", "src/pipeline")


def copy_template(dest: Path, params: dict | None = None) -> Path:
    """Copy the example pipeline into `dest`, optionally overriding params (dotted keys)."""
    for rel in TEMPLATE_FILES:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    if params:
        import yaml

        doc = yaml.safe_load((dest / "params.yaml").read_text())
        for key, value in params.items():
            node = doc
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
        (dest / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest
