"""Issue 19: a FIFO (or socket, device, directory) where the work tree should hold a regular
params.yaml, metrics file or dvc.yaml hung registry, show, verify, gc, best, stats, export,
report and the dashboard's start-up forever. Only regular files are opened: anything else is
an error of the workspace row naming the file, and every command answers.

Each command runs in a fresh interpreter with a timeout, so the code before the fix fails the
test (a timeout) instead of hanging it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from test_hostile_objects import make_repo

TIMEOUT = 60


def expbook(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`expbook ARGS` in `path` in a fresh interpreter; a hang fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "expbook", *args],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"expbook {' '.join(args)} hung on a non-regular file (issue 19)")


def make_special(target: Path, kind: str) -> str:
    """Replace `target` by a `kind` of non-regular file; the words its error shows."""
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
        return "not a regular file (a FIFO)"
    if kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
        sock.close()
        return "not a regular file (a socket)"
    assert kind == "dev-zero"  # a symlink to an endless device
    target.symlink_to("/dev/zero")
    return "not a regular file (a character device)"


@pytest.fixture(params=["params.yaml", "metrics.json", "dvc.yaml"])
def special_repo(request, tmp_path) -> tuple[Path, str, str]:
    path = tmp_path / "repo"
    make_repo(path)
    words = make_special(path / request.param, "fifo")
    return path, request.param, words


def test_registry_names_a_fifo_in_the_workspace_row(special_repo):
    """issue 19: a FIFO at params.yaml / metrics.json / dvc.yaml hung `registry` forever."""
    path, name, words = special_repo
    result = expbook(path, "registry", "-f", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["workspace"]["errors"][name] == f"{name}: cannot be read: {words}"
    assert rows["good"]["status"] == "success"  # committed rows are read from git


@pytest.mark.parametrize(
    "args",
    [
        ["show", "workspace"],
        ["verify"],
        ["gc", "--keep-best", "1", "-m", "acc", "--mode", "max"],
        ["best", "-m", "acc", "--mode", "max"],
        ["stats", "-m", "acc"],
        ["report", "-o", "report.html"],
        ["compare", "workspace", "good"],
    ],
)
def test_every_command_answers_beside_a_fifo(special_repo, args):
    """issue 19: show, verify, gc, best, stats, report... hung on the FIFO."""
    path, name, words = special_repo
    result = expbook(path, *args)
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2), result.stderr
    if args[0] == "show":
        assert words in " ".join(result.stdout.split())


@pytest.mark.parametrize("kind", ["socket", "dev-zero"])
def test_a_socket_or_a_link_to_dev_zero_is_named_too(tmp_path, kind):
    """issue 19 (neighbours): a socket at metrics.json, params.yaml linked to /dev/zero
    (an endless read before the fix)."""
    path = tmp_path / "repo"
    make_repo(path)
    words = make_special(path / ("params.yaml" if kind == "dev-zero" else "metrics.json"), kind)
    result = expbook(path, "registry", "-f", "json")
    assert result.returncode == 0, result.stderr
    ws = json.loads(result.stdout)[0]
    assert any(words in message for message in ws["errors"].values()), ws["errors"]


def test_dashboard_starts_beside_a_fifo(tmp_path):
    """issue 19: the dashboard's start-up (its first table) hung on a FIFO params.yaml."""
    path = tmp_path / "repo"
    make_repo(path)
    make_special(path / "params.yaml", "fifo")
    code = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from expbook.ui import create_app\n"
        "client = TestClient(create_app(sys.argv[1]), base_url='http://127.0.0.1')\n"
        "r = client.get('/api/table')\n"
        "print(r.status_code)\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the dashboard hung on a FIFO params.yaml (issue 19)")
    assert proc.stdout.strip().splitlines()[-1] == "200", proc.stderr


def test_read_regular_refuses_what_is_not_a_regular_file(tmp_path):
    """issue 19: the one reader of work-tree files opens only regular files."""
    from expbook.registry.files import read_regular

    (tmp_path / "ok.yaml").write_text("a: 1\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "ok.yaml")
    assert read_regular(tmp_path / "link.yaml") == b"a: 1\n"
    os.mkfifo(tmp_path / "fifo")
    for bad, words in ((tmp_path / "fifo", "FIFO"), (tmp_path, "directory")):
        with pytest.raises(OSError, match=words):
            read_regular(bad)
