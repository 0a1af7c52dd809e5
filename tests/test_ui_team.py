"""The team dashboard (issue 23) through `create_app` and a real uvicorn on 127.0.0.1, over a
bare git remote on disk: a users file (one secret per user, wrong one refused), the remote's
experiments served and kept live (POST /api/fetch), read-only by default, writes pushed to the
remote as the signed-in user with a compare-and-swap, two users (and two dashboards) tagging at
once both landing, and the CLI's refusals (unknown remote, a bad users file).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from conftest import dvc, sh
from team_ui_helpers import ALICE, BOB, USERS, build_team, clone, remote_note
from test_sweep_support import run_cli
from ui_helpers import serve

pytest.importorskip("starlette")

from expbook.cli import cli
from expbook.errors import ExpbookError
from expbook.ui.server import create_app
from expbook.ui.team import serve_remote
from expbook.ui.users import parse_users

pytestmark = pytest.mark.slow  # the fixture runs real `dvc exp run`s


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    return build_team(tmp_path_factory.mktemp("teamui"))


def call(url, path, secret=None, body=None, csrf=None):
    """(status, JSON body) of a request; POST when `body` is given."""
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    if csrf:
        headers["X-Expbook-Token"] = csrf
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def team_app(repo, read_only=False, every=60.0):
    view, team = serve_remote(str(repo), "origin", every)
    return create_app(view, read_only=read_only, users=parse_users(USERS), team=team), team


def test_users_file_errors():
    """A users file's mistakes are named by line; a secret names one user."""
    assert [u.name for u in parse_users(USERS)] == ["Alice Liddell", "bob"]
    assert parse_users(USERS)[0].email == "alice@example.com"
    assert parse_users(USERS)[1].email == "bob@expbook.invalid"
    for text, message in [
        ("alice secret-0123456789abc\n", "line 1: expected `name = secret`"),
        ("# c\nalice = short\n", "line 2: the dashboard secret must be at least 16"),
        (f"a = {ALICE}\nb = {ALICE}\n", "line 2: this secret is another user's too"),
        (f"a = {ALICE}\na = {BOB}\n", "line 2: user 'a' is named twice"),
        ("# nobody\n", "no users"),
    ]:
        with pytest.raises(ExpbookError, match=message.replace("`", ".").replace("(", ".")):
            parse_users(text)


def test_team_dashboard_api(team):
    """Login per user (wrong secret refused), the remote's experiments served, a tag written
    as the signed-in user reaches the remote and carol's clone after `expbook pull`."""
    app, state = team_app(team["server"])
    with serve(app) as url:
        assert call(url, "api/table")[0] == 401
        assert call(url, "api/table", "wrong-secret-0123456789")[0] == 401
        status, table = call(url, "api/table", ALICE)
        assert status == 200
        assert {r["name"] for r in table["rows"]} == {"main", "a", "b", "bob-1"}
        status, me = call(url, "api/team", BOB)
        assert me["remote"] == "origin" and me["user"]["name"] == "bob"
        csrf = app.state.token
        status, out = call(url, "api/tag", ALICE, {"name": "a", "tag": "alice-tag"}, csrf)
        assert status == 200, out
        assert out["tags"] == ["alice-tag"]
    sha = team["shas"]["a"]
    assert json.loads(remote_note(team["remote"], sha))["tags"] == ["alice-tag"]
    author = sh("git", "log", "-1", "--format=%an <%ae>", "refs/notes/expbook", cwd=team["remote"])
    assert author.stdout.strip() == "Alice Liddell <alice@example.com>"
    # the dashboard's own clone: its notes ref untouched (the remote's are kept aside)
    mine = sh("git", "rev-parse", "-q", "--verify", "refs/notes/expbook", cwd=team["server"],
              check=False)  # fmt: skip
    assert mine.stdout.strip() == ""
    run_cli(team["carol"], "pull", "origin")
    shown = run_cli(team["carol"], "show", "a", "--json")
    assert "alice-tag" in json.loads(shown.stdout)["tags"]


def test_read_only_by_default_and_live(team):
    """`run_server(remote=...)` is read-only unless allow_writes (here: create_app's
    read_only); a new experiment pushed to the remote shows up after POST /api/fetch."""
    app, state = team_app(team["server"], read_only=True)
    with serve(app) as url:
        status, out = call(url, "api/tag", ALICE, {"name": "a", "tag": "x"}, app.state.token)
        assert status == 403 and "read-only" in out["reason"]
        dvc("exp", "run", "-q", "-n", "c", "-S", "lr=0.4", cwd=team["alice"])
        run_cli(team["alice"], "push", "origin", "--no-cache")
        # and a model version (a GTO tag) of the baseline, pushed as GTO does
        tag = "clf@v1.0.0"
        sh("git", "tag", "-a", tag, "-m", "Registering artifact clf version v1.0.0",
           team["shas"]["baseline"], cwd=team["alice"])  # fmt: skip
        sh("git", "push", "-q", "origin", tag, cwd=team["alice"])
        # and a sweep's state ref, as `expbook push` shares it
        from expbook.sweep import state as sweep_state

        trial = {"number": 1, "name": "a", "status": "success", "kind": "trial",
                 "config": {"params.yaml:lr": 0.2}, "values": [0.8], "rev": team["shas"]["a"],
                 "baseline": "main", "seed": None}  # fmt: skip
        spec = {"metrics": [{"key": "acc", "mode": "max"}]}
        doc = {"name": "lr-sweep", "baseline": "main", "spec": spec, "trials": [trial]}
        sweep_state.save(str(team["alice"]), doc)
        sh("git", "push", "-q", "origin", "refs/expbook/sweeps/*:refs/expbook/sweeps/*",
           cwd=team["alice"])  # fmt: skip
        status, _ = call(url, "api/table", ALICE)
        assert call(url, "api/fetch", ALICE, {})[0] == 403  # without the page's token
        status, out = call(url, "api/fetch?wait=1", ALICE, {}, app.state.token)
        assert status == 202 and out["error"] is None, out
        assert "1 new experiment" in out["summary"]
        status, table = call(url, "api/table", ALICE)
        assert "c" in {r["name"] for r in table["rows"]}
        status, models = call(url, "api/models", ALICE)
        assert status == 200 and "clf" in json.dumps(models["models"]), models
        status, sweeps = call(url, "api/sweeps", ALICE)
        assert status == 200 and [s["name"] for s in sweeps["sweeps"]] == ["lr-sweep"], sweeps
        status, page = call(url, "api/sweep?name=lr-sweep", ALICE)
        assert status == 200 and [t["name"] for t in page["trials"]] == ["a"], page


def test_two_users_tagging_at_once_both_land(team):
    """issue 23: two users on one dashboard and a third on another dashboard (another clone)
    tag the same experiment at the same moment: every tag lands on the remote (a push
    rejected as non-fast-forward is fetched, redone and pushed again)."""
    other = clone(team["tmp"], "server2")
    app1, _ = team_app(team["server"])
    app2, _ = team_app(other)
    sha = team["shas"]["b"]
    results = {}
    with serve(app1) as url1, serve(app2) as url2:
        jobs = [
            (url1, ALICE, app1.state.token, "t-alice"),
            (url1, BOB, app1.state.token, "t-bob"),
            (url2, BOB, app2.state.token, "t-bob-2"),
            (url2, ALICE, app2.state.token, "t-alice-2"),
        ]
        barrier = threading.Barrier(len(jobs))

        def tag(url, secret, csrf, name):
            barrier.wait()
            results[name] = call(url, "api/tag", secret, {"name": "b", "tag": name}, csrf)

        threads = [threading.Thread(target=tag, args=job) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
    assert all(status == 200 for status, _ in results.values()), results
    tags = json.loads(remote_note(team["remote"], sha))["tags"]
    assert sorted(tags) == ["t-alice", "t-alice-2", "t-bob", "t-bob-2"]
    authors = sh("git", "log", "--format=%an", "refs/notes/expbook", cwd=team["remote"]).stdout
    assert {"Alice Liddell", "bob"} <= set(authors.split("\n"))


def test_cli_refusals(team, tmp_path):
    """An unknown remote, a bad users file, --users with --secret: one error line, non-zero exit."""
    runner = CliRunner()
    repo = str(team["server"])
    res = runner.invoke(cli, ["ui", "--repo", repo, "--remote", "nosuch", "--port", "0"])
    assert res.exit_code != 0 and "no git remote named 'nosuch'" in res.output
    bad = tmp_path / "users.txt"
    bad.write_text("alice = short\n")
    res = runner.invoke(cli, ["ui", "--repo", repo, "--remote", "origin", "--users", str(bad)])
    assert res.exit_code != 0 and "line 1: the dashboard secret must be at least" in res.output
    res = runner.invoke(cli, ["ui", "--repo", repo, "--users", str(team["users"]),
                              "--secret", ALICE, "--port", "0"])  # fmt: skip
    assert res.exit_code != 0 and "--users and --secret" in res.output
    res = runner.invoke(cli, ["ui", "--repo", str(team["remote"]), "--remote", "origin"])
    assert (
        res.exit_code != 0
        and "is a bare repository: the team dashboard reads a clone" in res.output
    )
    res = runner.invoke(cli, ["ui", "--repo", repo, "--remote", "origin", "--fetch-every", "0"])
    assert res.exit_code != 0 and "--fetch-every must be at least 1" in res.output


def test_a_stale_page_still_lands_its_tag(team):
    """issue 23: bob's page loaded before alice tagged; his tag is added on the remote's newest
    notes (alice's kept), not refused as a conflict (409) as a one-user dashboard does."""
    app, _ = team_app(team["server"])
    with serve(app) as url:
        status, exp = call(url, "api/experiment?name=main", BOB)
        body = {"name": "main", "version": exp["version"]}
        csrf = app.state.token
        assert call(url, "api/tag", ALICE, {**body, "tag": "first"}, csrf)[0] == 200
        status, out = call(url, "api/tag", BOB, {**body, "tag": "second"}, csrf)
        assert status == 200, out
        assert out["tags"] == ["first", "second"]


def test_a_slow_fetch_never_blocks_a_page(team):
    """issue 23: the refresh never blocks a page. The dashboard's clone reaches the remote
    through an upload-pack that takes 2 s (real git, `remote.origin.uploadpack`); while a
    fetch asked for by POST /api/fetch is under way, pages answer at once from the last view."""
    import time

    slow = clone(team["tmp"], "slow-server")
    sh("git", "config", "remote.origin.uploadpack", "sleep 2; git-upload-pack", cwd=slow)
    app, state = team_app(slow)
    with serve(app) as url:
        assert call(url, "api/table", ALICE)[0] == 200
        status, out = call(url, "api/fetch", ALICE, {}, app.state.token)
        assert status == 202
        busy = 0
        for _ in range(5):
            start = time.monotonic()
            status, table = call(url, "api/table", ALICE)
            took = time.monotonic() - start
            assert status == 200 and took < 1.0, took
            assert {"main", "a", "b"} <= {r["name"] for r in table["rows"]}
            busy += call(url, "api/team", ALICE)[1]["fetching"]
            time.sleep(0.2)
        assert busy, "the fetch was over before the pages were asked for"
        assert state.wait(out["requested"], 60) and state.last_error is None


def test_a_rejected_push_is_fetched_redone_and_pushed_again(team):
    """issue 23: the compare-and-swap. While alice's change is being made (after her fetch of
    the remote's notes, before her push) bob's dashboard pushes a tag of the same commit; her
    push, leased on the notes commit she built on, is rejected; she fetches, redoes the change
    on bob's notes and pushes again: both tags land, hers made twice."""
    from expbook.share import teamnotes

    sha = team["shas"]["baseline"]
    other = clone(team["tmp"], "server3")
    calls = []

    def alice(doc):
        calls.append(list(doc.get("tags", [])))
        if len(calls) == 1:  # bob lands first, from another clone
            teamnotes.set_tag(other, "origin", sha, "bob-first", name="bob", email="b@x.org")
        return {**doc, "tags": [*doc.get("tags", []), "alice-second"]}

    new = teamnotes.update(team["server"], "origin", sha, alice, name="Alice", email="a@x.org")
    before = calls[0]  # (other tests of this module may have tagged it)
    assert len(calls) == 2 and calls[1] == [*before, "bob-first"]
    assert new["tags"] == [*before, "bob-first", "alice-second"]
    assert json.loads(remote_note(team["remote"], sha))["tags"] == new["tags"]
    log = sh("git", "log", "-2", "--format=%an", "refs/notes/expbook", cwd=team["remote"])
    assert log.stdout.split("\n")[:2] == ["Alice", "bob"]
