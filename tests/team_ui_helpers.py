"""Helpers of the team dashboard tests (issue 23): a bare git remote on disk that alice pushed
a baseline and two experiments to, clones of it (the dashboard's, carol's), a users file, and
`expbook ui` run as a real subprocess (always stopped).

Used by tests/test_ui_team.py and tests/test_ui_team_browser.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from conftest import dvc, git_init, sh
from repo_factory import build_small_repo
from test_sweep_support import run_cli

ALICE = "alice-secret-0123456789"
BOB = "bob-secret-0123456789xx"
USERS = f"# the team\nAlice Liddell <alice@example.com> = {ALICE}\nbob = {BOB}\n"


def clone(tmp: Path, name: str) -> Path:
    path = tmp / name
    sh("git", "clone", "-q", tmp / "remote.git", path)
    git_init(path)  # identity and gpgsign (init on an existing repo only sets config)
    return path


def build_team(tmp: Path) -> dict:
    """{"tmp", "remote", "alice", "bob", "server", "carol", "shas", "users"}: alice pushed
    `main` and experiments a, b, bob (a clone) bob-1 (refs and notes, no checkpoints) to the
    bare repo remote.git."""
    remote = tmp / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", remote)
    alice = tmp / "alice"
    alice.mkdir()
    shas = build_small_repo(alice)
    sh("git", "remote", "add", "origin", remote, cwd=alice)
    sh("git", "push", "-q", "origin", "main", cwd=alice)
    run_cli(alice, "push", "origin", "--no-cache")
    bob = clone(tmp, "bob")
    sh("git", "config", "user.name", "bob", cwd=bob)
    dvc("exp", "run", "-q", "-n", "bob-1", "-S", "lr=0.5", cwd=bob)
    run_cli(bob, "push", "origin", "--no-cache")
    users = tmp / "users.txt"
    users.write_text(USERS)
    return {
        "tmp": tmp,
        "remote": remote,
        "alice": alice,
        "bob": bob,
        "server": clone(tmp, "server"),
        "carol": clone(tmp, "carol"),
        "shas": shas,
        "users": users,
    }


def remote_note(remote: Path, sha: str) -> str:
    """The note of `sha` on the bare remote ('' when none)."""
    proc = sh("git", "notes", "--ref", "expbook", "show", sha, cwd=remote, check=False)
    return proc.stdout


@contextmanager
def expbook_ui(repo: Path, host: str, port: int, *args: str, log: Path):
    """`expbook ui --repo REPO --host HOST --port PORT ARGS...` as a subprocess; yields its
    URL once it answers; always stopped (SIGTERM, then SIGKILL)."""
    cmd = [sys.executable, "-c", "from expbook.cli import main; main()", "ui", "--repo",
           str(repo), "--host", host, "--port", str(port), *args]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://{host}:{port}/"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"expbook ui exited {proc.returncode}: {log.read_text()}")
            try:
                urllib.request.urlopen(url + "login", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.time() > deadline:
                    raise AssertionError(f"expbook ui did not answer: {log.read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
