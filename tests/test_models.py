"""The model registry (issue 22): GTO's tag format, written and read, checked against the real
`gto` package and `dvc artifacts get` on real git + DVC repositories."""

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

GTO = str(Path(sys.executable).with_name("gto"))

TRAIN = textwrap.dedent("""\
    import json, yaml
    p = yaml.safe_load(open("params.yaml"))
    with open("model.bin", "w") as f:
        f.write(f"weights lr={p['lr']}")
    with open("metrics.json", "w") as f:
        json.dump({"val": {"acc": round(1 - p["lr"], 4), "loss": p["lr"]}}, f)
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [lr]
        outs: [model.bin]
        metrics:
          - metrics.json:
              cache: false
    artifacts:
      cnn:
        path: model.bin
        type: model
        desc: a test model
        labels: [digits]
      old:
        path: model.bin
        type: model
""")


def run(repo: Path, *args: str, ok: bool = True) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "-R", str(repo)], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result.exit_code, result.output


def gto(repo: Path, *args: str) -> object:
    out = sh(GTO, *args, "-r", str(repo), "--json", cwd=repo).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo with a local DVC remote and three experiments (lr 0.1, 0.2, 0.3): built once,
    copied per test."""
    path = tmp_path_factory.mktemp("models-base") / "repo"
    path.mkdir()
    git_init(path)
    dvc_init(path)
    (path / "train.py").write_text(TRAIN)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("lr: 0.5\n")
    # the sibling `remote` of wherever the repo (or a clone beside it) is: DVC keeps a relative
    # url relative to .dvc/ (stored as ../../remote)
    dvc("remote", "add", "-d", "store", "../remote", cwd=path)
    dvc("repro", "-q", cwd=path)
    commit_all(path, "baseline")
    for name, lr in (("e1", 0.1), ("e2", 0.2), ("e3", 0.3)):
        dvc("exp", "run", "-q", "-n", name, "-S", f"lr={lr}", cwd=path)
    return path


@pytest.fixture
def repo(base: Path, tmp_path: Path) -> Path:
    shutil.copytree(base.parent, tmp_path / "w", symlinks=True)
    return tmp_path / "w" / "repo"


def tags(repo: Path) -> list[str]:
    return sh("git", "tag", "-l", cwd=repo).stdout.split()


def test_register_assign_written_as_gto_reads_them(repo: Path) -> None:
    """issue 22: tags expbook writes are GTO's (annotated, #N counter), and gto show agrees."""
    run(repo, "model", "register", "cnn", "e1")
    run(repo, "model", "register", "cnn", "e2", "--bump", "minor")
    run(repo, "model", "assign", "cnn", "--version", "v0.1.0", "--stage", "prod")
    assert sorted(tags(repo)) == ["cnn#prod#3", "cnn@v0.0.1#1", "cnn@v0.1.0#2"]
    kind = sh("git", "cat-file", "-t", "cnn@v0.0.1#1", cwd=repo).stdout.strip()
    assert kind == "tag"  # annotated: GTO ignores lightweight tags
    shown = gto(repo, "show")
    assert shown["cnn"]["version"] == "v0.1.0"
    assert shown["cnn"]["stage"]["prod"] == "v0.1.0"
    _, out = run(repo, "model", "list", "--json")
    mine = json.loads(out)[0]
    assert (mine["latest"], mine["stages"]) == ("v0.1.0", {"prod": "v0.1.0"})
    by_version = {v["version"]: v for v in mine["versions"]}
    assert by_version["v0.1.0"]["metrics"]["val.acc"] == 0.8  # the key metrics of e2
    assert by_version["v0.1.0"]["experiment"] == "e2"


def test_tags_gto_writes_are_read(repo: Path) -> None:
    """issue 22: versions and stages written by `gto register/assign` are read by expbook."""
    e1 = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    sh(GTO, "register", "cnn", e1, "--version", "v1.0.0", "-r", str(repo), cwd=repo)
    sh(GTO, "assign", "cnn", "--version", "v1.0.0", "--stage", "staging", "-r", str(repo), cwd=repo)
    _, out = run(repo, "model", "list", "--json")
    mine = json.loads(out)[0]
    assert (mine["latest"], mine["stages"]) == ("v1.0.0", {"staging": "v1.0.0"})
    _, out = run(repo, "model", "history", "cnn", "--json")
    assert [e["event"] for e in json.loads(out)] == ["register", "assign"]


def _scripted_history(repo: Path) -> None:
    """Registers, assigns, unassigns, deregisters, re-assigns, deprecations; one second apart
    (GTO orders by tag time only), after the commits (GTO counts HEAD's dvc.yaml declaration as
    an event at the commit's time, which would revive a model deprecated before it)."""
    steps = [
        ("register", "cnn", "e1"),
        ("register", "cnn", "e2"),
        ("register", "cnn", "e3", "--bump", "major"),
        ("assign", "cnn", "--version", "v0.0.1", "--stage", "prod"),
        ("assign", "cnn", "--version", "v0.0.2", "--stage", "staging"),
        ("assign", "cnn", "--version", "v0.0.2", "--stage", "prod"),
        ("unassign", "cnn", "--stage", "prod"),  # prod goes back to v0.0.1
        ("deregister", "cnn", "--version", "v1.0.0"),  # latest goes back to v0.0.2
        ("register", "old", "e3"),
        ("deprecate", "old"),
    ]
    for i, step in enumerate(steps):
        env_date = f"2030-01-01T00:00:{i:02d}+0000"
        os.environ["GIT_COMMITTER_DATE"] = env_date
        try:
            run(repo, "model", *step)
        finally:
            del os.environ["GIT_COMMITTER_DATE"]


def test_state_equals_gto_show_and_history(repo: Path) -> None:
    """issue 22: a scripted history resolves as `gto show` / `gto history` say; after an
    unassign the stage and after a deregister the latest go back, as GTO's rules say."""
    _scripted_history(repo)
    shown = gto(repo, "show")
    _, out = run(repo, "model", "list", "--json")
    mine = {m["model"]: m for m in json.loads(out)}
    assert set(mine) == set(shown) == {"cnn"}  # `old` is deprecated: hidden by both
    assert mine["cnn"]["latest"] == shown["cnn"]["version"] == "v0.0.2"
    assert mine["cnn"]["stages"] == {k: v for k, v in shown["cnn"]["stage"].items() if v}
    assert mine["cnn"]["stages"] == {"prod": "v0.0.1", "staging": "v0.0.2"}
    # GTO also lists HEAD's commit as a "discovered" version (dvc.yaml declares the model)
    listed = gto(repo, "show", "cnn")
    gto_versions = {v["version"] for v in listed if not v["discovered"]}  # type: ignore[union-attr]
    assert {v["version"] for v in mine["cnn"]["versions"]} == gto_versions
    _, out = run(repo, "model", "list", "--json", "--deprecated")
    assert {m["model"]: m["deprecated"] for m in json.loads(out)} == {"cnn": False, "old": True}
    theirs = gto(repo, "history")
    _, out = run(repo, "model", "history", "--json")
    ours = json.loads(out)
    key = ("model", "event", "version", "stage", "commit")
    names = {
        "registration": "register",
        "deregistration": "deregister",
        "assignment": "assign",
        "unassignment": "unassign",
        "deprecation": "deprecate",
    }
    want = sorted(
        (e["artifact"], names[e["event"]], e["version"], e["stage"], e["commit"])
        for e in theirs  # type: ignore[union-attr]
    )
    assert sorted(tuple(e[k] for k in key) for e in ours) == want
    # ours is in order, oldest first, with who and when
    assert [e["counter"] for e in ours if e["model"] == "cnn"] == list(range(1, 9))
    assert all(e["author"] == "expbook tests" for e in ours)


def test_stage_after_unassign_resolves_as_gto_not_as_dvc(repo: Path, tmp_path: Path) -> None:
    """issue 22: `dvc artifacts get --stage prod` after an unassign matches the `!` tag and
    returns the unassigned version; gto show and expbook resolve prod to the assigned one."""
    _scripted_history(repo)
    shown = gto(repo, "show")
    assert shown["cnn"]["stage"]["prod"] == "v0.0.1"
    run(repo, "model", "get", "cnn", "--stage", "prod", "-o", str(tmp_path / "ours.bin"))
    assert (tmp_path / "ours.bin").read_text() == "weights lr=0.1"  # e1 = v0.0.1
    theirs = tmp_path / "dvc.bin"
    dvc("artifacts", "get", str(repo), "cnn", "--stage", "prod", "-o", str(theirs), cwd=repo)
    # DVC's answer (documented, not ours): the newest tag matching #prod is the unassign of
    # v0.0.2, so it downloads e2's bytes
    assert theirs.read_text() == "weights lr=0.2"


def test_tags_expbook_writes_download_with_dvc_artifacts_get(repo: Path, tmp_path: Path) -> None:
    """issue 22: `dvc artifacts get . NAME --rev vX.Y.Z` reads expbook's version tags."""
    run(repo, "model", "register", "cnn", "e3", "--version", "v2.0.0")
    out = tmp_path / "v2.bin"
    dvc("artifacts", "get", str(repo), "cnn", "--rev", "v2.0.0", "-o", str(out), cwd=repo)
    assert out.read_text() == "weights lr=0.3"


def test_same_second_actions_are_ordered_by_the_counter(repo: Path) -> None:
    """issue 22: tag time has 1-second resolution; an assign (#2) and unassign (#3) in one
    second leave the stage empty (ordered by counter, not by tag-name order)."""
    run(repo, "model", "register", "cnn", "e1")
    os.environ["GIT_COMMITTER_DATE"] = "2026-01-01T00:00:00+0000"
    try:
        run(repo, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "prod")
        run(repo, "model", "unassign", "cnn", "--stage", "prod")
        for _ in range(4, 12):  # counters past 9: "#10" sorts before "#9" as text
            run(repo, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "prod")
            run(repo, "model", "unassign", "cnn", "--stage", "prod")
    finally:
        del os.environ["GIT_COMMITTER_DATE"]
    _, out = run(repo, "model", "list", "--json")
    assert json.loads(out)[0]["stages"] == {"prod": None}
    code, out = run(repo, "model", "get", "cnn", "--stage", "prod", "-o", "x", ok=False)
    assert code != 0 and "no version of cnn is in stage 'prod'" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("register", "cnn", "e1", "--version", "1.0.0"), "invalid version '1.0.0'"),
        (("register", "cnn_", "e1"), "invalid model name 'cnn_'"),
        (("register", "nomodel", "e1"), "not declared in dvc.yaml"),
        (("register", "cnn", "nosuchexp"), "nosuchexp"),
        (("assign", "cnn", "--version", "v9.9.9", "--stage", "prod"), "no model 'cnn'"),
        (("get", "cnn", "-o", "x"), "no model 'cnn'"),
    ],
)
def test_refusals_write_no_tag(repo: Path, args: tuple[str, ...], message: str) -> None:
    """issue 22: bad names, versions, experiments and models are one-line errors; no tag."""
    before = tags(repo)
    code, out = run(repo, "model", *args, ok=False)
    assert code != 0 and message in out and "Traceback" not in out
    assert tags(repo) == before


def test_register_refuses_existing_version_and_registered_commit(repo: Path) -> None:
    run(repo, "model", "register", "cnn", "e1", "--version", "v1.0.0")
    before = tags(repo)
    code, out = run(repo, "model", "register", "cnn", "e2", "--version", "v1.0.0", ok=False)
    assert code != 0 and "exists already" in out
    code, out = run(repo, "model", "register", "cnn", "e1", ok=False)
    assert code != 0 and "registered already as cnn@v1.0.0" in out
    code, out = run(
        repo, "model", "assign", "cnn", "--version", "v1.0.0", "--stage", "p!", ok=False
    )
    assert code != 0 and "invalid stage" in out
    assert tags(repo) == before


def test_register_refuses_an_artifact_neither_cached_nor_pushed(repo: Path) -> None:
    """issue 22: a version whose checkpoint could never be fetched is refused."""
    shutil.rmtree(repo / ".dvc" / "cache")
    code, out = run(repo, "model", "register", "cnn", "e1", ok=False)
    assert code != 0 and "neither in the local DVC cache nor on the DVC remote" in out
    assert tags(repo) == []


def test_handoff_fresh_clone_gets_the_prod_bytes_from_the_remote(
    repo: Path, tmp_path: Path
) -> None:
    """issue 22 (README's hand-off): register -> assign prod -> push -> a fresh clone gets the
    prod model's bytes from the DVC remote."""
    run(repo, "model", "register", "cnn", "e2")
    run(repo, "model", "assign", "cnn", "--version", "v0.0.1", "--stage", "prod")
    origin = tmp_path / "origin.git"
    sh("git", "init", "-q", "--bare", str(origin), cwd=tmp_path)
    sh("git", "remote", "add", "origin", str(origin), cwd=repo)
    sh("git", "push", "-q", "origin", "main", "--tags", cwd=repo)
    dvc("exp", "push", "origin", "e2", cwd=repo)  # the experiment's checkpoint to the DVC remote
    clone = repo.parent / "clone"  # beside the repo: the committed remote ../../remote is shared
    sh("git", "clone", "-q", str(origin), str(clone), cwd=tmp_path)
    _, out = run(
        clone, "model", "get", "cnn", "--stage", "prod", "-o", str(tmp_path / "m.bin"), "--json"
    )
    assert json.loads(out)["source"] == "remote"
    assert (tmp_path / "m.bin").read_text() == "weights lr=0.2"


def test_gc_keeps_an_experiment_a_model_version_points_at(repo: Path) -> None:
    """issue 22: gc never removes an experiment a version or stage tag points at."""
    run(repo, "model", "register", "cnn", "e3")
    _, out = run(repo, "gc", "-w", "val.acc < 0.85", "--yes")
    refs = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo).stdout
    names = {r.rsplit("/", 1)[-1] for r in refs.split()}
    assert "e3" in names and "e2" not in names, out
    assert "cnn@v0.0.1#1" in out  # says why it was kept
