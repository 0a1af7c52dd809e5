"""Issue 19 "One bad object breaks every command, for every clone": a ref under refs/exps that
points at a blob, a tree, an annotated tag, a missing object or a commit whose tree is missing
is an error row naming the ref and the problem in every command (registry, show, verify, gc,
note, report, export, the dashboard), never an AttributeError; and `expbook pull` refuses such
a ref before it lands in the clone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, dvc_init, git_init, sh
from expbook.cli import cli

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    params: [lr]
    metrics:
      - metrics.json:
          cache: false
"""


def make_repo(path: Path) -> dict[str, str]:
    """A DVC project with a baseline and one experiment `good` (made with git alone: fast)."""
    path.mkdir(parents=True, exist_ok=True)
    git_init(path)
    dvc_init(path)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("lr: 0.1\n")
    (path / "metrics.json").write_text('{"acc": 0.5}\n')
    base = commit_all(path, "baseline")
    sh("git", "checkout", "-q", "--detach", cwd=path)
    (path / "params.yaml").write_text("lr: 0.2\n")
    (path / "metrics.json").write_text('{"acc": 0.7}\n')
    good = commit_all(path, "exp good")
    sh("git", "checkout", "-q", "-f", "main", cwd=path)
    sh("git", "update-ref", exp_ref(base, "good"), good, cwd=path)
    return {"baseline": base, "good": good}


def exp_ref(base: str, name: str) -> str:
    return f"refs/exps/{base[:2]}/{base[2:]}/{name}"


def git_out(path: Path, *args: str, stdin: str | None = None) -> str:
    if stdin is None:
        return sh("git", *args, cwd=path).stdout.strip()
    import subprocess

    return subprocess.run(
        ["git", *args], cwd=path, input=stdin, capture_output=True, text=True, check=True
    ).stdout.strip()


def bad_object(path: Path, kind: str) -> tuple[str, str]:
    """(sha, the words its error row must show) of a bad object of `kind` in the repo."""
    if kind == "blob":
        return git_out(path, "hash-object", "-w", "params.yaml"), "points at a blob, not a commit"
    if kind == "tree":
        tree = git_out(
            path,
            "mktree",
            stdin="100644 blob "
            + git_out(path, "hash-object", "-w", "params.yaml")
            + "\tparams.yaml\n",
        )
        return tree, "points at a tree, not a commit"
    if kind == "tag":
        sh("git", "tag", "-a", "-m", "a tag", "t-bad", "HEAD", cwd=path)
        sha = git_out(path, "rev-parse", "t-bad")
        sh("git", "tag", "-d", "t-bad", cwd=path)
        return sha, "points at an annotated tag"
    if kind == "missing":
        return "0123456789abcdef0123456789abcdef01234567", "not a commit in the repository"
    assert kind == "broken-tree"
    text = (
        "tree 1111111111111111111111111111111111111111\n"
        "author a <a@b> 1700000000 +0000\ncommitter a <a@b> 1700000000 +0000\n\nbroken\n"
    )
    sha = git_out(path, "hash-object", "-t", "commit", "-w", "--stdin", "--literally", stdin=text)
    return sha, "whose tree 1111111111111111111111111111111111111111 is missing or damaged"


KINDS = ["blob", "tree", "tag", "missing", "broken-tree"]


@pytest.fixture(params=KINDS)
def bad_repo(request, tmp_path, monkeypatch) -> tuple[Path, str, str]:
    """(repo, the bad ref, the words of its error) with a good experiment beside it."""
    path = tmp_path / "repo"
    shas = make_repo(path)
    sha, words = bad_object(path, request.param)
    ref = exp_ref(shas["baseline"], "bad")
    (path / ".git" / ref).write_text(sha + "\n")  # update-ref refuses a missing object
    monkeypatch.chdir(path)
    return path, ref, words


def run(path: Path, *args: str):
    result = CliRunner().invoke(cli, [*args], catch_exceptions=True)
    assert not isinstance(result.exception, AttributeError | UnicodeError), result.output
    assert "Traceback" not in result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: {result.exception!r}\n{result.output}")
    return result


def test_registry_lists_the_bad_ref_as_an_error_row(bad_repo):
    """issue 19: `registry` died with AttributeError ('Blob' object has no attribute 'tree')."""
    path, ref, words = bad_repo
    result = run(path, "registry", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["good"]["status"] == "success" and rows["good"]["params"]
    assert rows["bad"]["status"] == "error"
    assert ref in rows["bad"]["errors"] and words in rows["bad"]["errors"][ref]
    table = run(path, "registry")
    assert table.exit_code == 0 and "1 of 4 rows have errors (bad)" in table.output


@pytest.mark.parametrize(
    "args",
    [
        ["show", "bad"],
        ["show", "good"],
        ["compare", "good", "bad"],
        ["verify"],
        ["gc", "--keep-best", "1", "-m", "acc", "--mode", "max"],
        ["best", "-m", "acc", "--mode", "max"],
        ["export", "--to", "tensorboard", "-o", "tb"],
    ],
)
def test_every_command_answers_beside_a_bad_ref(bad_repo, args):
    """issue 19: show, verify, gc, export... died with AttributeError beside such a ref."""
    path, ref, words = bad_repo
    result = run(path, *args)
    assert result.exit_code == 0, result.output
    if args[:2] == ["show", "bad"]:
        shown = " ".join(result.output.split())
        assert ref in shown and words in shown
        assert "unknown revision" not in shown  # the ref's error, not a follow-on one


def test_note_on_the_bad_ref_is_an_error_naming_it(bad_repo):
    """issue 19: `expbook note bad ...` died with AttributeError; now one error line."""
    path, ref, words = bad_repo
    result = run(path, "note", "bad", "hello")
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") or "error:" in result.output.lower()
    assert "not a commit" in result.output or "missing or damaged" in result.output
    ok = run(path, "note", "good", "fine")
    assert ok.exit_code == 0, ok.output
    named = run(path, "export", "bad", "--to", "tensorboard", "-o", "tb")
    assert named.exit_code == 2 and ref in named.output


def test_report_and_dashboard_start_beside_a_bad_ref(bad_repo):
    """issue 19: `report` and the dashboard's start-up died with AttributeError."""
    from starlette.testclient import TestClient

    from expbook.ui import create_app

    path, ref, words = bad_repo
    result = run(path, "report", "-o", "report.html")
    assert result.exit_code == 0, result.output
    assert (path / "report.html").stat().st_size > 0
    client = TestClient(create_app(str(path)), base_url="http://127.0.0.1")
    table = client.get("/api/table")
    assert table.status_code == 200
    page = client.get("/api/experiment", params={"name": "bad"})
    assert page.status_code in (200, 400, 404) and words in page.text or ref in page.text


def test_an_exp_ref_to_a_tag_of_a_commit_is_an_error_row(tmp_path, monkeypatch):
    """issue 19 (neighbour): an annotated tag of a good commit under refs/exps is not an
    experiment (DVC never writes one; its rev would be the tag, not the commit)."""
    path = tmp_path / "repo"
    shas = make_repo(path)
    sh("git", "tag", "-a", "-m", "x", "t", shas["good"], cwd=path)
    tag = git_out(path, "rev-parse", "t")
    sh("git", "update-ref", exp_ref(shas["baseline"], "tagged"), tag, cwd=path)
    monkeypatch.chdir(path)
    rows = {r["name"]: r for r in json.loads(run(path, "registry", "-f", "json").stdout)}
    assert rows["tagged"]["status"] == "error"
    assert "annotated tag" in next(iter(rows["tagged"]["errors"].values()))
    assert rows["t"]["status"] == "success"  # as a git tag it is still the good commit


@pytest.mark.parametrize("ref", ["refs/heads/blobby", "refs/tags/blobby"])
def test_a_branch_or_tag_to_a_blob_is_an_error_row(tmp_path, monkeypatch, ref):
    """issue 19 (neighbour): a branch or a git tag (not an exp ref) pointing at a blob (git
    itself allows a tag of a blob)."""
    path = tmp_path / "repo"
    make_repo(path)
    blob = git_out(path, "hash-object", "-w", "params.yaml")
    (path / ".git" / ref).write_text(blob + "\n")
    monkeypatch.chdir(path)
    rows = {r["name"]: r for r in json.loads(run(path, "registry", "-f", "json").stdout)}
    bad = [r for r in rows.values() if ref in r["errors"]]
    assert bad and "points at a blob, not a commit" in bad[0]["errors"][ref]
    assert rows["good"]["status"] == "success"
    assert run(path, "show", "blobby").exit_code == 0


def test_notes_ref_to_a_blob_is_named_not_a_crash(tmp_path, monkeypatch):
    """issue 19 (neighbour): refs/notes/expbook pointing at a blob."""
    path = tmp_path / "repo"
    make_repo(path)
    blob = git_out(path, "hash-object", "-w", "params.yaml")
    sh("git", "update-ref", "refs/notes/expbook", blob, cwd=path)
    monkeypatch.chdir(path)
    result = run(path, "registry", "-f", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert any("refs/notes/expbook" in r["errors"] for r in rows)


# ---------------------------------------------------------------- pull refuses bad refs
def remote_with_bad_refs(tmp_path: Path, kinds: list[str]) -> tuple[Path, dict[str, str]]:
    """A bare remote holding main, the good experiment and one bad exp ref per kind."""
    src = tmp_path / "src"
    shas = make_repo(src)
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", remote)
    for kind in kinds:
        sha, _ = bad_object(src, kind)
        (src / ".git" / exp_ref(shas["baseline"], f"bad-{kind}")).write_text(sha + "\n")
    sh("git", "remote", "add", "origin", remote, cwd=src)
    sh("git", "push", "-q", "origin", "main", "refs/exps/*:refs/exps/*", cwd=src)
    return remote, shas


def exp_refs_of(path: Path) -> list[str]:
    return sh("git", "for-each-ref", "--format=%(refname)", "refs/", cwd=path).stdout.split()


@pytest.mark.parametrize("kinds", [["blob"], ["tree", "tag"]])
def test_pull_refuses_bad_refs_before_they_land(tmp_path, monkeypatch, kinds):
    """issue 19: `expbook pull` exited 2 but kept a remote's ref to a blob, so one remote
    broke every clone. Now the bad refs never land, the good one is pulled, and the error
    names each refused ref."""
    remote, shas = remote_with_bad_refs(tmp_path, kinds)
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", "-b", "main", remote, clone)
    monkeypatch.chdir(clone)
    result = run(clone, "pull", "origin")
    assert result.exit_code == 2
    for kind in kinds:
        assert exp_ref(shas["baseline"], f"bad-{kind}") in result.output
    assert "not a commit" in result.output
    refs = exp_refs_of(clone)
    assert exp_ref(shas["baseline"], "good") in refs
    assert not [r for r in refs if "/bad-" in r or "expbook-incoming" in r], refs
    rows = {r["name"]: r for r in json.loads(run(clone, "registry", "-f", "json").stdout)}
    assert rows["good"]["status"] == "success" and not any("bad" in n for n in rows)


def test_pull_of_only_bad_refs_lands_nothing(tmp_path, monkeypatch):
    """issue 19 (neighbour): a remote whose only experiment ref is bad: nothing pulled."""
    src = tmp_path / "src"
    shas = make_repo(src)
    sh("git", "update-ref", "-d", exp_ref(shas["baseline"], "good"), cwd=src)
    blob, _ = bad_object(src, "blob")
    sh("git", "update-ref", exp_ref(shas["baseline"], "bad"), blob, cwd=src)
    remote = tmp_path / "remote.git"
    sh("git", "init", "-q", "--bare", remote)
    sh("git", "push", "-q", str(remote), "main", "refs/exps/*:refs/exps/*", cwd=src)
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", "-b", "main", remote, clone)
    monkeypatch.chdir(clone)
    result = run(clone, "pull", "origin")
    assert result.exit_code == 2 and "points at a blob, not a commit" in result.output
    assert not [r for r in exp_refs_of(clone) if r.startswith(("refs/exps/", "refs/expbook-"))]


@pytest.mark.parametrize("ref", ["refs/expbook/sweeps/evil", "refs/notes/expbook"])
def test_pull_refuses_a_sweep_state_or_notes_ref_to_a_blob(tmp_path, monkeypatch, ref):
    """issue 19 (neighbours): the sweep state refs and the notes ref travel by pull too; a
    remote's one that points at a blob is refused, and the good experiment still lands."""
    remote, shas = remote_with_bad_refs(tmp_path, [])
    blob = git_out(tmp_path / "src", "hash-object", "-w", "params.yaml")
    sh("git", "push", "-q", str(remote), f"{blob}:{ref}", cwd=tmp_path / "src")
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", "-b", "main", remote, clone)
    monkeypatch.chdir(clone)
    result = run(clone, "pull", "origin")
    assert result.exit_code == 2 and ref in result.output
    assert "points at a blob, not a commit" in result.output
    refs = exp_refs_of(clone)
    assert ref not in refs and not [r for r in refs if "expbook-incoming" in r]
    assert exp_ref(shas["baseline"], "good") in refs
    assert run(clone, "registry", "-f", "json").exit_code == 0


def test_a_local_sweep_state_ref_to_a_blob_is_one_error(tmp_path, monkeypatch):
    """issue 19 (neighbour): `sweep status/best` died with AttributeError on such a ref."""
    path = tmp_path / "repo"
    make_repo(path)
    blob = git_out(path, "hash-object", "-w", "params.yaml")
    sh("git", "update-ref", "refs/expbook/sweeps/evil", blob, cwd=path)
    monkeypatch.chdir(path)
    for args in (["sweep", "status", "evil"], ["sweep", "best", "evil"]):
        result = run(path, *args)
        assert result.exit_code == 2
        assert "refs/expbook/sweeps/evil: not a readable sweep state commit" in result.output
    # the report and the dashboard's sweep list name it and go on
    assert run(path, "report", "-o", "report.html").exit_code == 0
    from starlette.testclient import TestClient

    from expbook.ui import create_app

    client = TestClient(create_app(str(path)), base_url="http://127.0.0.1")
    listed = client.get("/api/sweeps")
    assert listed.status_code == 200
    assert "not a readable sweep state commit" in listed.json()["sweeps"][0]["error"]
