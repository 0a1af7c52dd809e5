"""expbook notes/tags in refs/notes/expbook: round trips, concurrent writers, push/pull via git
remotes, and the registry seeing note changes through its cache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import commit_all, git_init, sh
from expbook import registry
from expbook.errors import ExpbookError, NotFoundError
from expbook.registry import notes
from expbook.share import sync

SRC = Path(notes.__file__).parents[2]


@pytest.fixture
def repo(dvc_repo: Path) -> tuple[Path, str]:
    (dvc_repo / "params.yaml").write_text("lr: 0.1\n")
    return dvc_repo, commit_all(dvc_repo, "params")


def test_note_tag_round_trip(repo):
    path, sha = repo
    assert notes.get(path, sha) == {} and notes.read_all(path) == {}
    notes.add_note(path, sha, "first try")
    notes.add_note(path, sha, "second, with 'quotes' and ünïcode")
    notes.set_tag(path, sha, "best")
    notes.set_tag(path, sha, "keep")
    notes.set_tag(path, sha, "best")  # adding twice keeps one
    doc = notes.get(path, sha)
    assert doc["notes"] == ["first try", "second, with 'quotes' and ünïcode"]
    assert doc["tags"] == ["keep", "best"]
    notes.set_tag(path, sha, "keep", remove=True)
    assert notes.read_all(path) == {sha: {"notes": doc["notes"], "tags": ["best"]}}
    # stored git-natively: plain git sees the note
    shown = sh("git", "notes", "--ref", "expbook", "show", sha, cwd=path).stdout
    assert '"best"' in shown


def test_update_keeps_other_keys_and_accepts_short_sha(repo):
    path, sha = repo
    notes.update(path, sha, lambda d: {**d, "sweep": {"name": "s", "trial": 1}})
    notes.add_note(path, sha[:8], "hi")
    assert notes.get(path, sha) == {"sweep": {"name": "s", "trial": 1}, "notes": ["hi"]}


@pytest.mark.parametrize("bad", ["0" * 40, "nothex", "deadbeef"])
def test_unknown_commit_is_not_found(repo, bad):
    path, _ = repo
    with pytest.raises(NotFoundError, match=bad[:8]):
        notes.add_note(path, bad, "x")
    assert notes.read_all(path) == {}


def test_update_must_return_a_dict(repo):
    path, sha = repo
    with pytest.raises(ExpbookError, match="must return a dict"):
        notes.update(path, sha, lambda d: None)
    assert notes.get(path, sha) == {}


def test_plain_git_note_is_read_as_text(repo):
    path, sha = repo
    sh("git", "notes", "--ref", "expbook", "add", "-m", "written by hand", sha, cwd=path)
    assert notes.get(path, sha) == {"notes": ["written by hand"], "tags": []}


def test_concurrent_writers_lose_no_update(repo):
    """Bug guarded: read-modify-write of the notes ref without a lock drops updates."""
    path, sha = repo
    code = (
        "import sys; from expbook.registry import notes\n"
        "for i in range(5): notes.add_note(sys.argv[1], sys.argv[2], f'{sys.argv[3]}-{i}')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path), sha, f"w{w}"],
            env={"PYTHONPATH": str(SRC), "PATH": ""},
        )
        for w in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    got = notes.get(path, sha)["notes"]
    assert sorted(got) == sorted(f"w{w}-{i}" for w in range(4) for i in range(5))


def test_registry_sees_note_and_tag_changes_through_its_cache(repo):
    """Bug guarded: a warm registry cache serving old notes after `expbook note/tag`."""
    path, sha = repo
    assert registry.resolve(path, "main").notes == []
    registry.collect(path)  # warm the cache
    notes.add_note(path, sha, "look here")
    notes.set_tag(path, sha, "best")
    row = registry.resolve(path, "main")
    assert (row.notes, row.tags) == (["look here"], ["best"])
    notes.set_tag(path, sha, "best", remove=True)
    assert registry.resolve(path, "main").tags == []


def test_pruned_sweep_note_sets_status(repo):
    path, sha = repo
    notes.update(path, sha, lambda d: {**d, "sweep": {"name": "s", "trial": 2, "status": "pruned"}})
    row = registry.resolve(path, "main")
    assert (row.status, row.sweep["name"], row.flat()["trial"]) == ("pruned", "s", 2)


def _clone(remote: Path, dest: Path) -> Path:
    sh("git", "clone", "-q", str(remote), str(dest))
    git_init(dest)  # identity for the clone (init on an existing repo only sets config)
    return dest


def test_push_then_pull_merges_notes(repo, tmp_path):
    path, sha = repo
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", str(remote))
    sh("git", "remote", "add", "origin", str(remote), cwd=path)
    sh("git", "push", "-q", "origin", "main", cwd=path)
    notes.add_note(path, sha, "from a")
    notes.set_tag(path, sha, "best")
    sync.push(path, "origin")
    other = _clone(remote, tmp_path / "b")
    notes.add_note(other, sha, "from b, before pulling")
    assert sync.pull(other, "origin") == 1
    doc = notes.get(other, sha)
    assert doc["notes"] == ["from a", "from b, before pulling"] and doc["tags"] == ["best"]
    assert sync.pull(other, "origin") == 0  # nothing new the second time
    # bug (review): the pull's merge used to make this push a rejected non-fast-forward
    notes.set_tag(other, sha, "checked")
    sync.push(other, "origin")
    assert sync.pull(path, "origin") == 1
    doc = notes.get(path, sha)
    assert doc["notes"] == ["from a", "from b, before pulling"]
    assert doc["tags"] == ["best", "checked"]


def test_push_to_unknown_remote_fails_cleanly(repo):
    path, sha = repo
    notes.add_note(path, sha, "x")
    with pytest.raises(ExpbookError, match="nowhere"):
        sync.push(path, "nowhere")


def test_notes_in_a_repo_without_dvc(git_repo):
    (git_repo / "a.txt").write_text("a")
    sha = commit_all(git_repo, "a")
    assert notes.add_note(git_repo, sha, "ok") == {"notes": ["ok"]}


@pytest.mark.parametrize(
    "bad, fragment",
    [("two words", "two words"), ("a,b", "a,b"), ("  ", "non-empty"), ("tab\tx", "tab")],
)
def test_set_tag_refuses_what_queries_cannot_match(repo, bad, fragment):
    """Issue 13: the one tag validation lives in notes.set_tag (the CLI calls it)."""
    path, sha = repo
    with pytest.raises(ExpbookError, match=fragment):
        notes.set_tag(path, sha, bad)
    assert notes.read_all(path) == {}  # nothing half-written


def test_add_note_refuses_empty_text_and_remove_needs_the_tag(repo):
    path, sha = repo
    with pytest.raises(ExpbookError, match="empty"):
        notes.add_note(path, sha, "  \n")
    with pytest.raises(ExpbookError, match="no tag 'x'"):
        notes.set_tag(path, sha, "x", remove=True)
    assert notes.read_all(path) == {}


def test_resolve_commit_and_annotatable(repo):
    """Issue 13: one resolver for EXP arguments (registry.lookup), also for plain revisions."""
    path, sha = repo
    (path / "b.txt").write_text("b")
    head = commit_all(path, "b")
    assert registry.resolve_commit(path, "HEAD~1") == (sha, "HEAD~1")
    assert registry.resolve_commit(path, "main") == (head, "main")
    with pytest.raises(NotFoundError, match="nope"):
        registry.resolve_commit(path, "nope")
    assert registry.resolve_annotatable(path, "main").rev == head
    with pytest.raises(ExpbookError, match="workspace"):
        registry.resolve_annotatable(path, "workspace")
    assert [e.rev for e in registry.resolve_many(path, ["main", head[:8]])] == [head, head]
