"""The team's experiments without pulling them (issue 23) and model tags carried by push/pull
(issue 22): a bare git remote on disk, a DVC remote folder and three clones. Alice and Bob
push experiments; Carol reads both with `--remote origin` (authors, `--where author`) without
any change to her refs/exps, workspace or DVC cache, fetches only what is new on a second
look, and brings one experiment (and its checkpoint) home.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all, dvc, dvc_init, git_init, sh
from expbook.cli import cli
from test_sweep_support import run_cli

pytestmark = pytest.mark.slow

TRAIN = (
    "import json, yaml\n"
    "p = yaml.safe_load(open('params.yaml'))\n"
    "json.dump({'acc': round(1 - p['lr'], 6)}, open('metrics.json', 'w'))\n"
    "open('model.bin', 'w').write(f\"model {p['lr']}\")\n"
    "import os; os.makedirs('live/plots/metrics', exist_ok=True)\n"
    "rows = [f'{1700000000 + s}\\t{s}\\t{round((1 - p[\"lr\"]) * (s + 1) / 3, 6)}' for s in range(3)]\n"
    "open('live/plots/metrics/acc.tsv', 'w').write('timestamp\\tstep\\tacc\\n' + '\\n'.join(rows) + '\\n')\n"
)
DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [lr]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""


def _clone(tmp: Path, name: str) -> Path:
    path = tmp / name
    sh("git", "clone", "-q", tmp / "remote.git", path)
    git_init(path)  # identity and gpgsign (init on an existing repo only sets config)
    sh("git", "config", "user.name", name, cwd=path)
    return path


def _exp(path: Path, name: str, lr: float) -> None:
    dvc("exp", "run", "-q", "-n", name, "-S", f"lr={lr}", cwd=path)
    run_cli(path, "push", "origin")


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> dict[str, Path]:
    """alice and bob pushed one experiment each (checkpoints on the DVC remote `store`);
    carol is a fresh clone that has pulled nothing."""
    tmp = tmp_path_factory.mktemp("team")
    sh("git", "init", "-q", "--bare", "-b", "main", tmp / "remote.git")
    alice = tmp / "alice"
    alice.mkdir()
    git_init(alice)
    dvc_init(alice)
    (alice / "train.py").write_text(TRAIN)
    (alice / "dvc.yaml").write_text(DVC_YAML)
    (alice / "params.yaml").write_text("lr: 0.1\n")
    dvc("remote", "add", "-d", "store", str(tmp / "store"), cwd=alice)
    dvc("repro", "-q", cwd=alice)
    commit_all(alice, "baseline")
    sh("git", "config", "user.name", "alice", cwd=alice)
    sh("git", "remote", "add", "origin", tmp / "remote.git", cwd=alice)
    sh("git", "push", "-q", "origin", "main", cwd=alice)
    run_cli(alice, "push", "origin")  # the baseline's checkpoint too
    _exp(alice, "alice-1", 0.2)
    bob = _clone(tmp, "bob")
    _exp(bob, "bob-1", 0.3)
    carol = _clone(tmp, "carol")
    return {"tmp": tmp, "alice": alice, "bob": bob, "carol": carol}


def _cli(path: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, [*args[:1], "--repo", str(path), *args[1:]])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def _state(path: Path) -> tuple:
    """What `--remote` must leave alone: the user's refs, the work tree, the DVC cache."""
    refs = sh("git", "for-each-ref", "--format=%(refname) %(objectname)", cwd=path).stdout
    mine = [r for r in refs.splitlines() if not r.startswith("refs/expbook/remotes/")]
    status = sh("git", "status", "--porcelain", "--ignored", cwd=path).stdout.splitlines()
    status = [line for line in status if line != "!! .dvc/tmp/"]  # expbook's registry cache
    cache = sorted(
        str(p.relative_to(path)) for p in (path / ".dvc" / "cache").rglob("*") if p.is_file()
    )
    head = sh("git", "rev-parse", "HEAD", cwd=path).stdout
    return mine, status, cache, head


def _objects(path: Path) -> int:
    out = sh("git", "count-objects", "-v", cwd=path).stdout
    counts = dict(line.split(": ") for line in out.splitlines())
    return int(counts["count"]) + int(counts["in-pack"])


def test_carol_reads_the_teams_experiments_without_pulling_them(team):
    carol = team["carol"]
    before = _state(carol)
    result = _cli(carol, "registry", "--remote", "origin", "-f", "json")
    assert "origin: 2 new experiments" in result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"main", "alice-1", "bob-1"}  # no workspace row: a remote has none
    assert rows["alice-1"]["author"] == "alice" and rows["bob-1"]["author"] == "bob"
    assert rows["alice-1"]["metrics"]["metrics.json:acc"] == 0.8
    assert rows["bob-1"]["params"]["params.yaml:lr"] == 0.3
    assert not rows["alice-1"]["outs"]["model.bin"]["in_cache"]  # never the checkpoints
    only = _cli(carol, "registry", "--remote", "origin", "--no-fetch", "-f", "csv",
                "--where", "author = 'alice'", "-c", "name,author")  # fmt: skip
    assert only.stdout.splitlines() == ["name,author", "alice-1,alice"]
    assert _state(carol) == before  # no ref of hers, no file, nothing of the DVC cache
    # her own registry is untouched: her workspace and baseline, no experiment of theirs
    local = {r["name"]: r for r in json.loads(_cli(carol, "registry", "-f", "json").stdout)}
    assert set(local) == {"workspace", "main"}
    assert local["main"]["author"] == "expbook tests" and local["workspace"]["author"] is None


def test_show_compare_best_of_remote_experiments(team):
    carol = team["carol"]
    _cli(carol, "fetch", "origin")
    shown = _cli(carol, "show", "alice-1", "--remote", "origin", "--no-fetch", "--json")
    assert json.loads(shown.stdout)["metrics"]["metrics.json:acc"] == 0.8
    compared = _cli(carol, "compare", "alice-1", "bob-1", "--remote", "origin", "--no-fetch")
    assert "0.8" in compared.stdout and "0.7" in compared.stdout
    best = _cli(carol, "best", "-m", "acc", "--remote", "origin", "--no-fetch", "--json",
                "--where", "kind = 'experiment'")  # fmt: skip
    assert json.loads(best.stdout)["best"]["name"] == "alice-1"  # acc 0.8 beats bob's 0.7
    apply = _cli(carol, "best", "-m", "acc", "--remote", "origin", "--apply", code=2)
    assert "--apply needs the experiment here: bring it home with `expbook pull origin EXP`" in (
        apply.output
    )
    bad = _cli(carol, "registry", "--remote", "nowhere", code=2)
    assert "no git remote named 'nowhere'" in bad.output and "Traceback" not in bad.output


def test_a_second_look_fetches_only_whats_new(team):
    carol, bob = team["carol"], team["bob"]
    _cli(carol, "fetch", "origin")
    start = _objects(carol)
    _exp(bob, "bob-2", 0.4)
    again = _cli(carol, "fetch", "origin")
    assert again.stdout.startswith("origin: 1 new experiment (3 experiments in all")
    # one experiment commit, the trees on the way to what changed and its changed blobs
    # (params, lock, metrics, the curve: 9), not the 30-odd objects of a first look
    assert 0 < _objects(carol) - start <= 10
    quiet = _cli(carol, "fetch", "origin")
    assert quiet.stdout.startswith("origin: nothing new (3 experiments in all")
    assert _objects(carol) - start <= 10
    # a branch that moved on the remote moves in the namespace only: not refs/remotes/origin
    tracking = sh("git", "rev-parse", "refs/remotes/origin/main", cwd=carol).stdout
    (bob / "NOTES.txt").write_text("bob was here\n")
    sh("git", "add", "NOTES.txt", cwd=bob)
    sh("git", "commit", "-q", "-m", "notes", cwd=bob)
    sh("git", "push", "-q", "origin", "main", cwd=bob)
    moved = _cli(carol, "fetch", "origin")
    assert moved.stdout.startswith("origin: 1 updated branch (3 experiments in all")
    assert sh("git", "rev-parse", "refs/remotes/origin/main", cwd=carol).stdout == tracking
    # an experiment removed from the remote leaves the namespace on the next look
    ref = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps/", cwd=bob).stdout.split()
    sh("git", "push", "-q", "origin", f":{next(r for r in ref if r.endswith('/bob-2'))}", cwd=bob)
    gone = _cli(carol, "fetch", "origin")
    assert gone.stdout.startswith("origin: 1 gone experiment (2 experiments in all")
    kept = sh("git", "for-each-ref", "refs/expbook/remotes/origin/exps/", cwd=carol).stdout
    assert "bob-2" not in kept and "bob-1" in kept


def test_bringing_one_home_with_its_checkpoint(team):
    carol = team["carol"]
    pulled = run_cli(carol, "pull", "origin", "alice-1")
    assert "pulled alice-1 from origin (refs/exps/" in pulled.stdout
    exps = sh("git", "for-each-ref", "refs/exps/", cwd=carol).stdout
    assert "alice-1" in exps and "bob-1" not in exps
    dvc("exp", "apply", "alice-1", cwd=carol)
    assert (carol / "model.bin").read_text() == "model 0.2"  # from the DVC remote
    missing = run_cli(carol, "pull", "origin", "nobody", check=False)
    assert missing.returncode != 0 and "no experiment named 'nobody'" in missing.stderr


def test_pull_one_despite_an_odd_ref_and_never_over_a_diverged_one(team):
    """issue 23 review: `expbook pull origin bob-1` ran `dvc exp pull`, which parses every exp
    ref of the remote: one ref it cannot parse (refs/exps/<baseline>/x/y, pushed by anyone)
    failed every pull with "... is not a valid experiment refname". And a local experiment of
    that name on another commit was a DVC warning ("diverged") while expbook said "pulled"."""
    bob, carol = team["bob"], team["carol"]
    base = sh("git", "rev-parse", "HEAD", cwd=carol).stdout.strip()
    odd = f"refs/exps/{base[:2]}/{base[2:]}/x/y"
    sh("git", "update-ref", odd, base, cwd=bob)
    sh("git", "push", "-q", "origin", odd, cwd=bob)
    try:
        _cli(carol, "fetch", "origin")
        ref = sh("git", "for-each-ref", "--format=%(refname)",
                 "refs/expbook/remotes/origin/exps/", cwd=carol).stdout.split()  # fmt: skip
        mine = next(r for r in ref if r.endswith("/bob-1")).replace(
            "refs/expbook/remotes/origin/exps/", "refs/exps/"
        )
        sh("git", "update-ref", mine, base, cwd=carol)  # her own bob-1, on another commit
        refused = run_cli(carol, "pull", "origin", "bob-1", check=False)
        assert refused.returncode == 2, refused.stderr
        assert f"experiment 'bob-1': your {mine} is on {base[:7]}" in refused.stderr
        assert sh("git", "rev-parse", mine, cwd=carol).stdout.strip() == base  # kept
        sh("git", "update-ref", "-d", mine, cwd=carol)
        pulled = run_cli(carol, "pull", "origin", "bob-1")
        assert f"pulled bob-1 from origin ({mine})" in pulled.stdout
        dvc("exp", "apply", "bob-1", cwd=carol)
        assert (carol / "model.bin").read_text() == "model 0.3"  # from the DVC remote
    finally:
        sh("git", "push", "-q", "origin", f":{odd}", cwd=bob)


def test_push_and_pull_carry_model_tags_only(team):
    """issue 22: push/pull carry the GTO-format tags (and say so), never other tags."""
    alice, carol = team["alice"], team["carol"]
    exp = sh("git", "rev-parse", "alice-1", cwd=alice, check=False)
    sha = exp.stdout.strip() if exp.returncode == 0 else None
    if sha is None:
        refs = sh("git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps/",
                  cwd=alice).stdout  # fmt: skip
        sha = next(line.split()[0] for line in refs.splitlines() if line.endswith("/alice-1"))
    sh("git", "tag", "-a", "clf@v1.0.0#1", "-m", "Registering artifact clf version v1.0.0", sha,
       cwd=alice)  # fmt: skip
    sh("git", "tag", "release-1", sha, cwd=alice)  # not a model tag: stays home
    pushed = run_cli(alice, "push", "origin", "--no-cache")
    assert "pushed 1 model tag(s) to origin" in pushed.stdout
    remote_tags = sh("git", "ls-remote", "--tags", "origin", cwd=alice).stdout
    assert "clf@v1.0.0#1" in remote_tags and "release-1" not in remote_tags
    assert "pushed 0 model tag(s)" in run_cli(alice, "push", "origin", "--no-cache").stdout

    seen = _cli(carol, "registry", "--remote", "origin", "-f", "json")
    assert "1 new model tag" in seen.stderr
    pulled = run_cli(carol, "pull", "origin")
    assert "pulled 1 model tag(s) from origin" in pulled.stdout
    tags = sh("git", "tag", "-l", cwd=carol).stdout.split()
    assert tags == ["clf@v1.0.0#1"]
    kind = sh("git", "cat-file", "-t", "clf@v1.0.0#1", cwd=carol).stdout.strip()
    assert kind == "tag"  # the annotated tag itself, as GTO reads it
    assert "pulled 0 model tag(s)" in run_cli(carol, "pull", "origin").stdout
    assert os.path.isdir(carol)


def test_stats_plot_export_report_read_the_remote(team, tmp_path):
    carol = team["carol"]
    _cli(carol, "fetch", "origin")
    stats = _cli(carol, "stats", "-m", "acc", "--remote", "origin", "--no-fetch", "--json")
    assert {n for g in json.loads(stats.stdout)["groups"] for n in g["names"]} >= {
        "alice-1",
        "bob-1",
    }
    svg = tmp_path / "acc.svg"
    _cli(carol, "plot", "acc", "alice-1", "bob-1", "-o", str(svg), "--remote", "origin",
         "--no-fetch")  # fmt: skip
    assert "alice-1" in svg.read_text() and "bob-1" in svg.read_text()
    _cli(carol, "export", "alice-1", "-o", str(tmp_path / "curves"), "--remote", "origin",
         "--no-fetch")  # fmt: skip
    assert "0.8" in "".join(p.read_text() for p in (tmp_path / "curves").rglob("*.csv"))
    html = tmp_path / "r.html"
    _cli(carol, "report", "-o", str(html), "--remote", "origin", "--no-fetch")
    assert html.stat().st_size > 0
    from expbook.registry.view import RemoteView
    from expbook.ui.report import build

    names = {r["name"] for r in build(RemoteView(carol, "origin"))["rows"]}  # what it holds
    assert {"alice-1", "bob-1"} <= names and "workspace" not in names


def test_a_remote_ref_that_names_no_commit_is_dropped_with_a_warning(team):
    bob, carol = team["bob"], team["carol"]
    base = sh("git", "rev-parse", "HEAD", cwd=bob).stdout.strip()
    blob = sh("git", "hash-object", "-w", "--stdin", cwd=bob).stdout.strip()
    ref = f"refs/exps/{base[:2]}/{base[2:]}/broken"
    sh("git", "update-ref", ref, blob, cwd=bob)
    sh("git", "push", "-q", "origin", ref, cwd=bob)
    try:
        seen = _cli(carol, "registry", "--remote", "origin", "-f", "json")
        print(seen.stderr)
        assert f"warning: dropped refs/expbook/remotes/origin/exps/{base[:2]}" in seen.stderr
        assert "points at a blob, not a commit" in seen.stderr
        assert "broken" not in {r["name"] for r in json.loads(seen.stdout)}
        kept = sh("git", "for-each-ref", "refs/expbook/remotes/origin/exps/", cwd=carol).stdout
        assert "broken" not in kept
    finally:
        sh("git", "push", "-q", "origin", f":{ref}", cwd=bob)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("fetch", "origin"), 2, "cannot reach git remote 'origin'"),
        (("fetch", "nowhere"), 2, "no git remote named 'nowhere' (remotes: origin)"),
        (("registry", "--remote", "origin", "--no-fetch"), 2, "nothing of 'origin' fetched yet"),
        (("registry", "--no-fetch"), 2, "--no-fetch goes with --remote NAME"),
    ],
)
def test_bad_remotes_are_one_line(dvc_repo, tmp_path, args, code, message):
    sh("git", "remote", "add", "origin", str(tmp_path / "gone.git"), cwd=dvc_repo)
    result = _cli(dvc_repo, *args, code=code)
    assert message in result.output and "Traceback" not in result.output
    refs = sh("git", "for-each-ref", cwd=dvc_repo).stdout
    assert "refs/expbook/remotes/" not in refs  # nothing half-fetched
