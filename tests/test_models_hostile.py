"""The model registry (issue 22) used as a hostile user and as a GTO user would: names at the
edges of GTO's regexes and of git's ref rules, SemVer precedence, tags GTO or plain git wrote,
concurrent writers, `model get -o` guards, terminal escapes, experiments that never ran."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import test_models
from conftest import commit_all, sh
from test_models import gto, run, tags

models_base = test_models.base  # the DVC repo with experiments e1..e3: built once per module


@pytest.fixture
def repo(models_base: Path, tmp_path: Path) -> Path:
    shutil.copytree(models_base.parent, tmp_path / "w", symlinks=True)
    return tmp_path / "w" / "repo"


EXPBOOK = str(Path(sys.executable).with_name("expbook"))


def _declare(repo: Path, text: str, folder: str = "") -> str:
    """Append `text` under dvc.yaml `artifacts:` (of `folder`), commit, return the commit."""
    target = repo / folder / "dvc.yaml"
    if folder:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("artifacts:\n" + text)
    else:
        target.write_text(target.read_text() + text)
    commit_all(repo, "declare")
    return sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


@contextlib.contextmanager
def _at(second: int) -> Iterator[None]:
    """Tags written inside are dated 2030-01-01 00:00:SS (GTO orders same-second tags by name)."""
    os.environ["GIT_COMMITTER_DATE"] = f"2030-01-01T00:{second // 60:02d}:{second % 60:02d}+0000"
    try:
        yield
    finally:
        del os.environ["GIT_COMMITTER_DATE"]


def _sha(repo: Path, exp: str) -> str:
    from expbook.registry.lookup import resolve_commit

    return resolve_commit(str(repo), exp)[0]


def _refused(repo: Path, *args: str, message: str) -> str:
    before = tags(repo)
    code, out = run(repo, "model", *args, ok=False)
    assert code != 0, out
    assert message in out, out
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out  # one line: `Error: ...`
    assert tags(repo) == before
    return out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a//b", "empty path component"),
        ("sub/dir/:m", "ends in '/' (write 'sub/dir:m')"),
        ("sub/.x:m", "starting with '.'"),
        ("x.lock/y:m", "ending '.lock'"),
        ("a" * 260, "longer than 200 characters"),
    ],
)
def test_names_git_cannot_write_are_refused_up_front(repo: Path, name: str, message: str) -> None:
    """issue 22: names GTO's regex accepts but git refuses as a tag (`a//b`), or that name a
    dvc.yaml another spelling names too (`sub/dir/:m` = `sub/dir:m`), were refused by `git tag`
    with its command line as the message (or written as a second, different model); now one
    `invalid model name` line before anything is read or written."""
    bare = name.rpartition(":")[2]
    folder = name.rpartition(":")[0]
    sha = _declare(repo, f"  {bare}:\n    path: model.bin\n", folder.rstrip("/"))
    _refused(repo, "register", name, sha, message=f"invalid model name {name!r}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("register", "cnn", "e1", "--version", "v1.0.0\n"), "invalid version 'v1.0.0\\n'"),
        (("register", "cnn\n", "e1"), "invalid model name 'cnn\\n'"),
        (("assign", "cnn", "--version", "v0.0.1", "--stage", "prod\n"), "invalid stage"),
    ],
)
def test_a_trailing_newline_is_no_valid_name(
    repo: Path, args: tuple[str, ...], message: str
) -> None:
    """issue 22: the patterns ended in `$`, which also matches before a final newline, so
    `--version 'v1.0.0\n'` passed the SemVer check and reached `git tag` (a multi-line git
    error); names and stages likewise. Now refused as invalid, one line."""
    run(repo, "model", "register", "cnn", "e2")
    _refused(repo, *args, message=message)


def test_version_and_bump_together_are_refused(repo: Path) -> None:
    """issue 22: `register --version v2.0.0 --bump minor` silently ignored --bump (gto refuses
    both together); now a usage error, no tag."""
    code, out = run(
        repo, "model", "register", "cnn", "e1", "--version", "v2.0.0", "--bump", "minor", ok=False
    )
    assert code == 2 and "give --version or --bump, not both" in out
    assert tags(repo) == []


def test_monorepo_and_slash_names_round_trip_with_gto(repo: Path) -> None:
    """issue 22: `dir:model` declared in dir/dvc.yaml and `a/b` names are written as GTO writes
    them (`dir=model`) and `gto show` reads the same latest version."""
    _declare(repo, "  a/b:\n    path: model.bin\n")
    sha = _declare(repo, "  m:\n    path: ../../model.bin\n", "sub/dir")
    run(repo, "model", "register", "sub/dir:m", sha, "--version", "v1.0.0-rc.1+build.7")
    run(repo, "model", "register", "a/b", sha)
    assert sorted(tags(repo)) == ["a/b@v0.0.1#1", "sub/dir=m@v1.0.0-rc.1+build.7#1"]
    shown = gto(repo, "show")
    _, out = run(repo, "model", "list", "--json")
    mine = {m["model"]: m["latest"] for m in json.loads(out)}
    assert mine == {k: v["version"] for k, v in shown.items()}  # type: ignore[union-attr]


def test_prerelease_precedence_and_build_metadata_like_gto(repo: Path) -> None:
    """issue 22: a release outranks its pre-releases (rc.10 > rc.9, numeric < alphanumeric);
    a version equal to another but for `+build` (same SemVer precedence) is refused: GTO
    would rank the two by registration order."""
    run(repo, "model", "register", "cnn", "e1", "--version", "v1.0.0-rc.10")
    run(repo, "model", "register", "cnn", "e2", "--version", "v1.0.0-rc.9")
    _, out = run(repo, "model", "list", "--json")
    assert json.loads(out)[0]["latest"] == gto(repo, "show")["cnn"]["version"] == "v1.0.0-rc.10"
    run(repo, "model", "register", "cnn", "e3", "--version", "v1.0.0")
    _, out = run(repo, "model", "list", "--json")
    assert json.loads(out)[0]["latest"] == gto(repo, "show")["cnn"]["version"] == "v1.0.0"
    _refused(
        repo, "register", "cnn", "HEAD", "--version", "v1.0.0+b", message="has the precedence of"
    )


def test_reregistering_a_deregistered_commit_keeps_its_version(repo: Path) -> None:
    """issue 22: registering a deregistered version's commit again wrote a second version on that
    commit (v0.0.2 beside the deregistered v0.0.1); a stage tag there then made `gto show` fail
    with ManyVersions. Now the commit gets its version back, as `gto register` does."""
    with _at(1):
        run(repo, "model", "register", "cnn", "e1")
    with _at(2):
        run(repo, "model", "deregister", "cnn", "--version", "v0.0.1")
    _refused(repo, "register", "cnn", "e1", "--version", "v0.0.2", message="was cnn@v0.0.1 (deregi")
    with _at(3):
        _, out = run(repo, "model", "register", "cnn", "e1", "--json")
    assert json.loads(out)["version"] == "v0.0.1"
    with _at(4):
        run(repo, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "prod")
    shown = gto(repo, "show")  # no ManyVersions
    _, out = run(repo, "model", "list", "--json")
    mine = json.loads(out)[0]
    assert (mine["latest"], mine["stages"]) == ("v0.0.1", {"prod": "v0.0.1"})
    assert (shown["cnn"]["version"], shown["cnn"]["stage"]["prod"]) == ("v0.0.1", "v0.0.1")


def test_concurrent_registers_never_share_a_counter(repo: Path) -> None:
    """issue 22: `model register`s at once read the same `#N` and wrote it several times (8 at
    once: `#1` three times) and two versions on one commit; a registry lock serializes writers:
    one version per commit, every counter once, the rest refused with one line."""
    head = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    exps = ("e1", "e2", "e3", head) * 2
    procs = [
        subprocess.Popen(
            [EXPBOOK, "model", "register", "cnn", exp, "--version", f"v{i}.0.0", "-R", str(repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, exp in enumerate(exps, start=1)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert sorted(p.returncode for p in procs) == [0] * 4 + [2] * 4, outs
    assert sum("is registered already as cnn@" in o for o in outs) == 4, outs
    counters = sorted(int(t.rpartition("#")[2]) for t in tags(repo))
    assert counters == [1, 2, 3, 4], tags(repo)
    commits = {sh("git", "rev-parse", f"{t}^{{commit}}", cwd=repo).stdout for t in tags(repo)}
    assert len(commits) == 4


def test_an_unusable_lock_file_is_one_line(repo: Path) -> None:
    """issue 22: the writers' lock `.git/expbook-models.lock` cannot be opened (here a folder;
    a read-only .git alike): one line naming it, no tag, no traceback."""
    (repo / ".git" / "expbook-models.lock").mkdir()
    _refused(repo, "register", "cnn", "e1", message="expbook-models.lock")


def test_concurrent_registers_of_one_experiment_write_one_version(repo: Path) -> None:
    """issue 22: the same experiment registered twice at once: one version, the other refused
    with one line (never a second tag on that commit, never an overwritten tag)."""
    procs = [
        subprocess.Popen(
            [EXPBOOK, "model", "register", "cnn", "e1", "-R", str(repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 2, 2], outs
    assert tags(repo) == ["cnn@v0.0.1#1"]
    assert sum("registered already as cnn@v0.0.1" in o for o in outs) == 2, outs


def test_lightweight_and_odd_gto_tags_are_ignored_but_counted(repo: Path) -> None:
    """issue 22: a lightweight tag in GTO's format is no event (GTO ignores it) but its `#N`
    counts for the next counter (as GTO's name_tag counts it); annotated GTO-format tags of a
    tree or a blob are no events and do not crash list/history."""
    run(repo, "model", "register", "cnn", "e1")
    sh("git", "tag", "cnn@v9.0.0#7", _sha(repo, "e2"), cwd=repo)  # lightweight
    tree = sh("git", "rev-parse", "HEAD^{tree}", cwd=repo).stdout.strip()
    blob = sh("git", "rev-parse", "HEAD:dvc.yaml", cwd=repo).stdout.strip()
    sh("git", "tag", "-a", "cnn@v8.0.0#3", "-m", "tree", tree, cwd=repo)
    sh("git", "tag", "-a", "cnn#prod#4", "-m", "blob", blob, cwd=repo)
    _, out = run(repo, "model", "list", "--json")
    mine = json.loads(out)[0]
    assert (mine["latest"], mine["stages"]) == ("v0.0.1", {})
    _, out = run(repo, "model", "history", "cnn", "--json")
    assert [e["tag"] for e in json.loads(out)] == ["cnn@v0.0.1#1"]
    _, out = run(repo, "model", "register", "cnn", "e3", "--json")
    assert json.loads(out)["tag"] == "cnn@v0.0.2#8"


def test_a_damaged_or_nested_tag_does_not_break_the_registry(repo: Path) -> None:
    """issue 22: the tags are read with one `git for-each-ref`, which fails as a whole on a tag
    whose object is missing; that tag is skipped, the rest still answer. A GTO tag of another
    annotated tag counts at the commit it finally points at (gto records the inner tag's id)."""
    run(repo, "model", "register", "cnn", "e1")
    sh("git", "tag", "-a", "cnn#prod#2", "-m", "nested", "cnn@v0.0.1#1", cwd=repo)
    _, out = run(repo, "model", "list", "--json")
    mine = json.loads(out)[0]
    assert (mine["latest"], mine["stages"]) == ("v0.0.1", {"prod": "v0.0.1"})
    sh("git", "tag", "-a", "cnn@v7.0.0#3", "-m", "gone", "HEAD", cwd=repo)
    sha = sh("git", "rev-parse", "cnn@v7.0.0#3", cwd=repo).stdout.strip()
    (repo / ".git" / "objects" / sha[:2] / sha[2:]).unlink()
    _, out = run(repo, "model", "list", "--json")
    mine = json.loads(out)[0]
    assert (mine["latest"], mine["stages"]) == ("v0.0.1", {"prod": "v0.0.1"})
    _, out = run(repo, "model", "register", "cnn", "e2", "--json")
    assert json.loads(out)["tag"] == "cnn@v0.0.2#4"  # the damaged tag's #3 still counts


def test_both_tag_readers_agree(repo: Path) -> None:
    """issue 22: the fast reader (one git for-each-ref) and the fallback (pygit2, one tag at a
    time) give the same events: time zones, unicode taggers, multi-line messages, simple and
    counted tags, lightweight ones, nested ones."""
    from expbook.models import state
    from expbook.registry.gitrepo import GitRepo

    env = {
        "GIT_COMMITTER_DATE": "2030-01-01T00:00:05-0530",
        "GIT_COMMITTER_NAME": "Zoë Ünï",
        "GIT_COMMITTER_EMAIL": "z@example.invalid",
    }
    sh(
        "git",
        "tag",
        "-a",
        "cnn@v1.0.0#1",
        "-m",
        "multi\nline\n\nmessage",
        "HEAD",
        cwd=repo,
        env=env,
    )
    sh("git", "tag", "-a", "cnn#prod", "-m", "simple", "HEAD", cwd=repo)
    sh("git", "tag", "-a", "sub/dir=m@v0.1.0-rc.1#2", "-m", "nested", "cnn#prod", cwd=repo)
    sh("git", "tag", "cnn@v2.0.0#3", "HEAD", cwd=repo)
    g = GitRepo(repo)
    fast = state.read_events(g)
    assert sorted(e.tag for e in fast) == ["cnn#prod", "cnn@v1.0.0#1", "sub/dir=m@v0.1.0-rc.1#2"]
    assert fast == state._read_events_one_by_one(g)
    assert {e.offset for e in fast if e.tag == "cnn@v1.0.0#1"} == {-330}


def test_two_versions_at_one_commit_do_not_crash(repo: Path) -> None:
    """issue 22: two versions on one commit (git tag by hand; gto raises ManyVersions on a stage
    tag there): list, resolve and history still answer; the stage goes to the active one."""
    sha = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    for tag in ("cnn@v1.0.0#1", "cnn@v2.0.0#2", "cnn@v1.0.0!#3", "cnn#prod#4"):
        sh("git", "tag", "-a", tag, "-m", tag, sha, cwd=repo)
    _, out = run(repo, "model", "list", "--json")
    mine = json.loads(out)[0]
    assert (mine["latest"], mine["stages"]) == ("v2.0.0", {"prod": "v2.0.0"})
    _, out = run(repo, "model", "resolve", "cnn", "--stage", "prod")
    assert out.split()[0] == "cnn@v2.0.0"


def test_assign_to_a_commit_another_model_registered(repo: Path) -> None:
    """issue 22: a commit registered by model `old` can be registered and assigned for `cnn`:
    the models' counters and versions are their own."""
    run(repo, "model", "register", "old", "e1", "--version", "v3.0.0")
    run(repo, "model", "register", "cnn", "e1")
    run(repo, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "prod")
    assert sorted(tags(repo)) == ["cnn#prod#2", "cnn@v0.0.1#1", "old@v3.0.0#1"]
    _, out = run(repo, "model", "list", "--json")
    got = {m["model"]: (m["latest"], m["stages"]) for m in json.loads(out)}
    assert got == {"cnn": ("v0.0.1", {"prod": "v0.0.1"}), "old": ("v3.0.0", {})}


@pytest.mark.parametrize("where", [".git/model.bin", ".dvc/model.bin", ".git"])
def test_get_refuses_git_and_dvc_folders(repo: Path, where: str) -> None:
    """issue 22: `model get -o .git/x` wrote into git's own folder; now refused like every other
    -o (check_output_path), nothing written."""
    run(repo, "model", "register", "cnn", "e1")
    before = sorted(p.name for p in (repo / ".git").iterdir())
    code, out = run(repo, "model", "get", "cnn", "-o", str(repo / where), ok=False)
    assert code != 0 and out.startswith("Error: ") and where.split("/")[0] in out, out
    assert not (repo / ".git" / "model.bin").exists()
    assert not (repo / ".dvc" / "model.bin").exists()
    assert sorted(p.name for p in (repo / ".git").iterdir()) == before


def test_get_refuses_an_existing_path_and_leaves_nothing_on_failure(
    repo: Path, tmp_path: Path
) -> None:
    """issue 22: an existing -o (file, folder, dangling link) is never replaced; a fetch that
    fails (empty cache, DVC remote never pushed) is one line and leaves no partial file or
    temporary folder beside -o."""
    run(repo, "model", "register", "cnn", "e1")
    (tmp_path / "f.bin").write_text("keep")
    (tmp_path / "d").mkdir()
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    for name in ("f.bin", "d", "link"):
        code, out = run(repo, "model", "get", "cnn", "-o", str(tmp_path / name), ok=False)
        assert code != 0 and "exists" in out, out
    assert (tmp_path / "f.bin").read_text() == "keep"
    assert not (tmp_path / "nowhere").exists()
    sh("rm", "-rf", str(repo / ".dvc" / "cache"))
    outdir = tmp_path / "out"
    outdir.mkdir()
    code, out = run(repo, "model", "get", "cnn", "-o", str(outdir / "m.bin"), ok=False)
    assert code != 0 and "could not fetch it from the DVC remote" in out, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert list(outdir.iterdir()) == []


def test_get_without_a_dvc_remote_says_so(repo: Path, tmp_path: Path) -> None:
    """issue 22: with the cache emptied and no DVC remote configured, `model get` said
    `unexpected error - [Errno 2] No storage files available`; now it names the cause."""
    run(repo, "model", "register", "cnn", "e1")
    sh("dvc", "remote", "remove", "store", cwd=repo)
    sh("rm", "-rf", str(repo / ".dvc" / "cache"))
    code, out = run(repo, "model", "get", "cnn", "-o", str(tmp_path / "m.bin"), ok=False)
    assert code != 0 and "no default DVC remote is configured" in out, out
    assert list(tmp_path.iterdir()) == [tmp_path / "w"]


def test_history_without_events_says_so(repo: Path) -> None:
    """issue 22: `model history` in a registry without tags printed nothing at all."""
    _, out = run(repo, "model", "history")
    assert out == "no model events yet (expbook model register NAME EXP)\n"
    _, out = run(repo, "model", "history", "--json")
    assert json.loads(out) == []


def test_gto_shortcuts_name_a_version_or_stage(repo: Path, tmp_path: Path) -> None:
    """issue 22 (as a GTO user would): `cnn#prod`, `cnn@v0.0.1`, `cnn@latest` (gto show's
    shortcuts) were refused as invalid model names by resolve and get."""
    run(repo, "model", "register", "cnn", "e1")
    run(repo, "model", "register", "cnn", "e2")
    run(repo, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "prod")
    for shortcut, version in (
        ("cnn#prod", "v0.0.1"),
        ("cnn@v0.0.2", "v0.0.2"),
        ("cnn@latest", "v0.0.2"),
    ):
        _, out = run(repo, "model", "resolve", shortcut, "--json")
        assert (json.loads(out)["model"], json.loads(out)["version"]) == ("cnn", version)
    _, out = run(repo, "model", "get", "cnn#prod", "-o", str(tmp_path / "p.bin"), "--json")
    assert json.loads(out)["model"] == "cnn"
    assert (tmp_path / "p.bin").read_text() == "weights lr=0.1"
    code, out = run(repo, "model", "resolve", "cnn#prod", "--stage", "prod", ok=False)
    assert code != 0 and "names a version or stage already" in out


def test_get_to_stdout(repo: Path) -> None:
    """issue 22: `model get -o -` wrote a file named `-` (other -o options mean stdout by `-`);
    now the bytes go to stdout and the summary to stderr."""
    run(repo, "model", "register", "cnn", "e1")
    proc = subprocess.run(
        [EXPBOOK, "model", "get", "cnn", "-o", "-", "-R", str(repo)],
        cwd=repo,
        capture_output=True,
        check=True,
    )
    assert proc.stdout == b"weights lr=0.1"
    assert b"-> stdout (from the cache)" in proc.stderr
    assert not (repo / "-").exists()


def test_get_of_a_directory_output(repo: Path, tmp_path: Path) -> None:
    """issue 22: an artifact whose path is a directory output is written as that folder."""
    (repo / "mk.py").write_text(
        "import os\nos.makedirs('ckpt/sub', exist_ok=True)\n"
        "open('ckpt/a.txt', 'w').write('A')\nopen('ckpt/sub/b.txt', 'w').write('B')\n"
    )
    sh(
        "dvc",
        "stage",
        "add",
        "-q",
        "-n",
        "mk",
        "-d",
        "mk.py",
        "-o",
        "ckpt",
        "python mk.py",
        cwd=repo,
    )
    sh("dvc", "repro", "-q", "mk", cwd=repo)
    _declare(repo, "  dirmodel:\n    path: ckpt\n    type: model\n")
    run(repo, "model", "register", "dirmodel", "HEAD")
    run(repo, "model", "get", "dirmodel", "-o", str(tmp_path / "got"))
    assert (tmp_path / "got" / "a.txt").read_text() == "A"
    assert (tmp_path / "got" / "sub" / "b.txt").read_text() == "B"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".expbook")) == []


def test_terminal_escapes_in_tagger_and_message_are_escaped(repo: Path) -> None:
    """issue 22: a tagger name or message with terminal escapes (written by anyone with push
    rights) reaches `model history`/`list` escaped; --json keeps the text."""
    env = {"GIT_COMMITTER_NAME": "Mal\x1b[31mlory\x1b]0;pwned\x07"}
    sha = _sha(repo, "e1")
    sh("git", "tag", "-a", "cnn@v1.0.0#1", "-m", "hi\x1b[2J", sha, cwd=repo, env=env)
    _, out = run(repo, "model", "history", "cnn")
    assert "\x1b" not in out and "\x07" not in out and "Mal" in out
    _, out = run(repo, "model", "list")
    assert "\x1b" not in out
    _, out = run(repo, "model", "history", "cnn", "--json")
    event = json.loads(out)[0]
    assert "\x1b[31m" in event["author"] and event["message"] == "hi\x1b[2J"


@pytest.mark.parametrize(
    ("setup", "exp", "message"),
    [
        (["dvc", "exp", "run", "--queue", "-q", "-n", "q1", "-S", "lr=0.7"], "q1", "is queued"),
        ([], "workspace", "uncommitted workspace"),
    ],
)
def test_register_refuses_experiments_that_did_not_run(
    repo: Path, setup: list[str], exp: str, message: str
) -> None:
    """issue 22: a queued experiment was registered (its commit holds the baseline's outputs,
    so the version's bytes were not its own); the workspace row said `commit workspace is not in
    the repository`. Both are refused with one line naming the experiment."""
    if setup:
        sh(*setup, cwd=repo)
    _refused(repo, "register", "cnn", exp, message=message)


def test_register_of_a_commit_without_dvc_lock(repo: Path) -> None:
    """issue 22: a commit whose dvc.yaml declares the model but has no dvc.lock entry for its
    path is refused by name (its bytes are not DVC-tracked there)."""
    sh("git", "rm", "-q", "-f", "dvc.lock", cwd=repo)
    commit_all(repo, "no lock")
    _refused(repo, "register", "cnn", "HEAD", message="model.bin is not tracked by DVC at")


STAGES = ("prod", "staging", "dev")
EXPLICIT = ("v1.0.0-rc.1", "v1.0.0-alpha", "v1.0.0", "v2.0.0-rc.2", "v0.5.0+build.1")


def _random_history(repo: Path, seed: int, steps: int = 15) -> list[tuple[str, ...]]:
    """A seeded random sequence of actions, one second apart (2030, after every commit), that
    stays where GTO is right: a version is never assigned a stage it had before (GTO ranks a
    stage's versions by each version's first assignment). Refused actions are fine (no tag)."""
    import random

    rnd = random.Random(seed)
    commits = [_sha(repo, e) for e in ("e1", "e2", "e3")]
    commits.append(sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip())
    active: dict[str, set[str]] = {"cnn": set(), "old": set()}
    assigned: set[tuple[str, str, str]] = set()
    done = []
    for i in range(steps):
        name = rnd.choice(("cnn", "cnn", "cnn", "old"))
        kinds = ["register", "unassign", "deprecate"] if rnd.random() < 0.1 else ["register"]
        if active[name]:
            kinds += ["register", "assign", "assign", "assign", "unassign", "deregister"]
        kind = rnd.choice(kinds)
        args: tuple[str, ...]
        if kind == "register":
            args = ("register", name, rnd.choice(commits))
            if rnd.random() < 0.3:
                args += ("--version", rnd.choice(EXPLICIT))
            elif rnd.random() < 0.5:
                args += ("--bump", rnd.choice(("minor", "major")))
        elif kind == "assign":
            choices = [
                (v, s) for v in sorted(active[name]) for s in STAGES if (name, s, v) not in assigned
            ]
            if not choices:
                continue
            version, stage = rnd.choice(choices)
            args = ("assign", name, "--version", version, "--stage", stage)
        elif kind == "unassign":
            args = ("unassign", name, "--stage", rnd.choice(STAGES))
        elif kind == "deregister":
            if not active[name]:
                continue
            args = ("deregister", name, "--version", rnd.choice(sorted(active[name])))
        else:
            args = ("deprecate", name)
        with _at(i + 1):
            code, out = run(repo, "model", *args, "--json", ok=False)
        assert "Traceback" not in out, out
        if code != 0:
            assert out.startswith("Error: ") and len(out.strip().splitlines()) == 1, out
            continue
        result = json.loads(out)
        if kind == "register":
            active[name].add(result["version"])
        elif kind == "deregister":
            active[name].discard(result["version"])
        elif kind == "assign":
            assigned.add((name, result["stage"], args[3]))
        done.append(args)
    return done


@pytest.mark.parametrize("seed", range(10))
def test_random_histories_resolve_as_gto_show(repo: Path, seed: int) -> None:
    """issue 22 (differential): for seeded random sequences of registers (bumps, explicit and
    pre-release versions, deregistered commits again), assigns, unassigns, deregisters and
    deprecations, `model list --json` names the same models, latest versions and stage ->
    version as `gto show --json`."""
    done = _random_history(repo, seed)
    shown = gto(repo, "show")
    assert isinstance(shown, dict)
    _, out = run(repo, "model", "list", "--json")
    mine = {
        m["model"]: (m["latest"], {s: v for s, v in m["stages"].items() if v})
        for m in json.loads(out)
    }
    theirs = {
        name: (m["version"], {s: v for s, v in m["stage"].items() if v})
        for name, m in shown.items()
        if m["registered"]  # GTO also lists a model dvc.yaml declares but no tag names
    }
    assert mine == theirs, done
