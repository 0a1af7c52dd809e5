"""Issue 19: hostile text in notes and values.

- A note with a lone surrogate (the dashboard took it with HTTP 200) or a CLI note with a
  non-UTF-8 byte made `registry` and `show` die with UnicodeEncodeError, and the note spread by
  push/pull. Writes are validated (one check for CLI, dashboard and sweeps); reads replace what
  cannot be encoded and say so.
- Escape sequences in a param value, a note or a tag reached the terminal raw through
  `registry`, `show`, `compare`: terminal output shows them escaped (`\\x1b`); JSON and CSV
  keep the exact values.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import sh
from test_hostile_objects import make_repo

TITLE = "\x1b]0;pwned\x07"  # sets the terminal's window title
CLEAR = "\x1b[2J"  # clears the screen
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def expbook(path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`expbook ARGS` in a fresh interpreter writing UTF-8 to a pipe (bytes kept as they are)."""
    return subprocess.run(
        [sys.executable, "-m", "expbook", *args],
        cwd=path,
        capture_output=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"},
    )


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "repo"
    return path, make_repo(path)


def notes_ref(path: Path) -> str:
    return sh("git", "for-each-ref", "refs/notes", cwd=path).stdout


# ---------------------------------------------------------------- notes: validated on write
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["note", "good", "bad \udcff byte"], "the byte 0xff, which is not UTF-8"),
        (["note", "good", "x\ud800y"], "a lone surrogate \\ud800"),
        (["tag", "good", "t\udcfe"], "the byte 0xfe, which is not UTF-8"),
    ],
)
def test_a_note_or_tag_that_is_not_unicode_is_refused(repo, monkeypatch, args, words):
    """issue 19: the CLI stored a note with a non-UTF-8 byte; every later `registry` died."""
    from click.testing import CliRunner

    from expbook.cli import cli

    path, _ = repo
    monkeypatch.chdir(path)
    before = notes_ref(path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "is not valid Unicode" in result.output and words in result.output
    assert "nothing was written" in result.output
    assert notes_ref(path) == before  # nothing written
    assert expbook(path, "registry").returncode == 0


def test_dashboard_refuses_a_lone_surrogate_note(repo):
    """issue 19: POST /api/note with "\\ud800" answered 200 and stored it."""
    from starlette.testclient import TestClient

    from expbook.ui import create_app

    path, _ = repo
    client = TestClient(create_app(str(path)), base_url="http://127.0.0.1")
    token = re.search(r'name="expbook-token" content="([^"]+)"', client.get("/").text).group(1)
    before = notes_ref(path)
    body = '{"name": "good", "text": "x\\ud800y"}'  # JSON text: valid, decodes to a surrogate
    r = client.post(
        "/api/note",
        content=body,
        headers={"X-Expbook-Token": token, "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert "not valid Unicode" in r.json()["reason"]
    assert notes_ref(path) == before
    ok = client.post(
        "/api/note", json={"name": "good", "text": "fine"}, headers={"X-Expbook-Token": token}
    )
    assert ok.status_code == 200


# ---------------------------------------------------------------- notes: read defensively
@pytest.mark.parametrize(
    "blob",
    [
        b'{"notes": ["x\\ud800y"], "tags": ["t\\udcff"]}\n',  # JSON escapes of surrogates
        b'{"notes": ["x\xffy"], "tags": []}\n',  # a raw byte that is not UTF-8
    ],
)
def test_a_stored_bad_note_is_replaced_and_named(repo, tmp_path, blob):
    """issue 19: such a note (written by another tool, or pulled) made `registry` and `show`
    die with UnicodeEncodeError; now it is shown with U+FFFD and the row names it."""
    path, shas = repo
    note = tmp_path / "note.bin"
    note.write_bytes(blob)
    sh("git", "notes", "--ref", "expbook", "add", "-F", note, shas["good"], cwd=path)
    for args in (["registry", "--columns", "name,notes,tags"], ["show", "good"]):
        result = expbook(path, *args)
        assert result.returncode == 0, result.stderr.decode()
        out = result.stdout.decode("utf-8")
        assert "x\ufffdy" in out
    rows = json.loads(expbook(path, "registry", "-f", "json").stdout)
    good = next(r for r in rows if r["name"] == "good")
    assert "not valid Unicode" in good["errors"]["refs/notes/expbook"]
    assert good["notes"] == ["x\ufffdy"]
    # the next write stores the repaired text
    assert expbook(path, "note", "good", "more").returncode == 0
    shown = sh("git", "notes", "--ref", "expbook", "show", shas["good"], cwd=path).stdout
    assert "\\ud800" not in shown and "more" in shown


# ---------------------------------------------------------------- escape sequences
@pytest.fixture
def escape_repo(repo) -> tuple[Path, dict[str, str]]:
    path, shas = repo
    (path / "params.yaml").write_text(f"lr: {json.dumps(TITLE + CLEAR)}\n")
    sh(
        "git",
        "notes",
        "--ref",
        "expbook",
        "add",
        "-m",
        json.dumps({"notes": [TITLE + "note"], "tags": [CLEAR + "tag"]}),
        shas["good"],
        cwd=path,
    )
    return path, shas


@pytest.mark.parametrize(
    "args",
    [
        ["registry", "--columns", "name,lr,notes,tags"],
        ["registry", "-f", "md", "--columns", "name,lr,notes,tags"],
        ["show", "workspace"],
        ["show", "good"],
        ["compare", "workspace", "good"],
    ],
)
def test_escape_sequences_are_shown_escaped_in_terminal_output(escape_repo, args):
    """issue 19: a param value / note / tag with ESC, BEL reached the terminal raw."""
    path, _ = escape_repo
    result = expbook(path, *args)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("utf-8")
    assert not RAW_CONTROL.search(out), repr(out)
    assert "x1b" in out  # shown, escaped


def test_json_and_csv_keep_exact_values(escape_repo):
    """issue 19: machine formats are not escaped: they carry the exact value."""
    path, _ = escape_repo
    rows = json.loads(expbook(path, "registry", "-f", "json").stdout)
    ws = rows[0]
    assert ws["params"]["params.yaml:lr"] == TITLE + CLEAR
    good = next(r for r in rows if r["name"] == "good")
    assert good["notes"] == [TITLE + "note"] and good["tags"] == [CLEAR + "tag"]
    csv = expbook(path, "registry", "-f", "csv", "--columns", "name,lr").stdout.decode()
    assert TITLE + CLEAR in csv
