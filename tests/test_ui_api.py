"""The dashboard's JSON API and security rules over a real DVC repo with experiments (no
browser): table/filter/sort/group, CSRF and read-only, traversal, bad requests, notes written
as `expbook note` writes them, the report file, `expbook ui` binding and warnings.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from conftest import ROOT, sh
from ui_helpers import serve, shared_ui_repo

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from expbook.cli import cli
from expbook.ui import create_app
from expbook.ui.data import default_metric

pytestmark = pytest.mark.slow
EXPBOOK = [sys.executable, "-c", "from expbook.cli import main; main()"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


@pytest.fixture(scope="module")
def ui_repo(tmp_path_factory):
    return shared_ui_repo(tmp_path_factory)


@pytest.fixture
def client(ui_repo):
    return TestClient(create_app(str(ui_repo[0])), base_url="http://127.0.0.1")


def token_of(client) -> str:
    return re.search(r'name="expbook-token" content="([^"]+)"', client.get("/").text).group(1)


def test_table_filter_sort_group(client):
    everything = client.get("/api/table").json()
    names = {r["name"] for r in everything["rows"]}
    assert {"lr1-s0", "lr1-s1", "lr3-s0", "lr3-s1", "workspace", "main"} <= names
    row = next(r for r in everything["rows"] if r["name"] == "lr3-s0")
    assert (
        row["params"]["params.yaml:train.lr"] == 0.3
        and "live/metrics.json:val.acc" in row["metrics"]
    )
    got = client.get(
        "/api/table",
        params={
            "where": "train.lr > 0.2 and kind = 'experiment'",
            "sort": "live/metrics.json:val.acc",
            "desc": "1",
        },
    ).json()
    assert [r["name"] for r in got["rows"]] == ["lr3-s0", "lr3-s1"]
    grouped = client.get(
        "/api/table", params={"where": "kind = 'experiment'", "group": "params.yaml:train.lr"}
    ).json()
    by_lr = {g["value"]: g for g in grouped["groups"]}
    assert by_lr[0.3]["n"] == 2 and by_lr[0.3]["metrics"]["live/metrics.json:val.acc"]["std"] > 0
    found = client.get("/api/table", params={"q": "LR3", "where": "kind = 'experiment'"}).json()
    assert sorted(r["name"] for r in found["rows"]) == ["lr3-s0", "lr3-s1"]
    page = client.get("/api/table", params={"limit": 2, "offset": 2}).json()
    assert len(page["rows"]) == 2 and page["total"] == everything["total"]


def test_default_columns_and_metric_are_the_ones_that_differ(client):
    # the table's default columns (like `expbook registry`): params/metrics that differ
    cols = client.get("/api/table").json()["columns"]
    assert "params.yaml:train.lr" in cols["varying"]
    assert "live/metrics.json:val.acc" in cols["varying"]
    assert set(cols["varying"]) <= set(cols["params"]) | set(cols["metrics"])
    # the stats page's default metric differs between runs (never a constant)
    assert client.get("/api/stats").json()["metric"] in cols["varying"]


def test_default_metric_prefers_a_varying_validation_accuracy():
    metrics = ["prep.json:n_classes", "m.json:train.loss", "m.json:val.loss", "m.json:val.acc"]
    assert default_metric(metrics, metrics[1:]) == "m.json:val.acc"
    assert default_metric(metrics, ["m.json:train.loss"]) == "m.json:train.loss"
    assert default_metric(metrics[:1], []) == "prep.json:n_classes"
    assert default_metric([], []) == ""


def test_bad_where_shows_the_cli_message(client, ui_repo):
    bad = "val.acc >"
    answer = client.get("/api/table", params={"where": bad})
    assert answer.status_code == 400
    proc = subprocess.run(
        [*EXPBOOK, "registry", "--where", bad, "-R", str(ui_repo[0])],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert proc.returncode != 0
    assert answer.json()["reason"] in proc.stderr
    unknown = client.get("/api/table", params={"where": "nope > 1"})
    assert unknown.status_code == 400 and "unknown key 'nope'" in unknown.json()["reason"]


def test_writes_need_the_token_and_change_nothing_without_it(client, ui_repo):
    path, shas = ui_repo
    before = sh("git", "for-each-ref", "refs/notes", cwd=path).stdout
    for headers in ({}, {"X-Expbook-Token": "wrong"}):
        r = client.post("/api/note", json={"name": "lr1-s0", "text": "sneaky"}, headers=headers)
        assert r.status_code == 403 and "CSRF" in r.json()["reason"]
    assert sh("git", "for-each-ref", "refs/notes", cwd=path).stdout == before
    token = token_of(client)
    r = client.post(
        "/api/note",
        json={"name": "lr1-s0", "text": "from the UI"},
        headers={"X-Expbook-Token": token},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/tag", json={"name": "lr1-s0", "tag": "ui-tag"}, headers={"X-Expbook-Token": token}
    )
    assert r.json()["tags"] == ["ui-tag"]
    note = json.loads(
        sh("git", "notes", "--ref", "expbook", "show", shas["lr1-s0"], cwd=path).stdout
    )
    assert "from the UI" in note["notes"] and note["tags"] == ["ui-tag"]
    shown = subprocess.run(
        [*EXPBOOK, "show", "lr1-s0", "-R", str(path)], capture_output=True, text=True, env=ENV
    )
    assert "from the UI" in shown.stdout
    stale = client.post(
        "/api/note",
        json={"name": "lr1-s0", "text": "late", "version": "0" * 16},
        headers={"X-Expbook-Token": token},
    )
    assert stale.status_code == 409 and "from the UI" in stale.json()["current"]["notes"]


def test_read_only_refuses_writes(ui_repo):
    client = TestClient(create_app(str(ui_repo[0]), read_only=True), base_url="http://127.0.0.1")
    r = client.post(
        "/api/note",
        json={"name": "lr1-s0", "text": "x"},
        headers={"X-Expbook-Token": token_of(client)},
    )
    assert r.status_code == 403 and "read-only" in r.json()["reason"]


@pytest.mark.parametrize(
    "path",
    [
        "../../../../etc/passwd.png",
        "/etc/passwd.png",
        "plots/../../secret.png",
        "..%2f..%2fetc.png",
        ".git/config.png",
        "plots\\..\\x.png",
        "plots/./confusion_matrix.png",
        "link.png",
        "nothere.png",
    ],
)
def test_file_traversal_is_404(client, ui_repo, path):
    r = client.get("/api/file", params={"name": "lr1-s0", "path": path})
    assert r.status_code == 404


def test_files_from_git_and_from_the_dvc_cache(client):
    png = client.get("/api/file", params={"name": "lr1-s0", "path": "plots/confusion_matrix.png"})
    assert (
        png.status_code == 200
        and png.content.startswith(b"\x89PNG")
        and png.headers["content-type"] == "image/png"
    )
    cached = client.get("/api/file", params={"name": "lr1-s0", "path": "plots/samples.png"})
    assert cached.status_code == 200 and cached.content.startswith(b"\x89PNG")
    page = client.get("/api/experiment", params={"name": "lr1-s0"}).json()
    sources = {m["path"]: m["source"] for m in page["media"]}
    assert (
        sources["plots/confusion_matrix.png"] == "git"
        and sources["plots/samples.png"] == "dvc cache"
    )
    assert "live/plots/sklearn/confusion_matrix.json" in sources
    assert "dvc exp apply " + page["rev"] in page["commands"]


def test_symlink_out_of_the_repo_is_404(ui_repo, tmp_path):
    path = ui_repo[0]
    (tmp_path / "secret.png").write_bytes(b"\x89PNGsecret")
    link = path / "leak.png"
    link.symlink_to(tmp_path / "secret.png")
    try:
        client = TestClient(create_app(str(path)), base_url="http://127.0.0.1")
        r = client.get("/api/file", params={"name": "workspace", "path": "leak.png"})
        assert r.status_code == 404
    finally:
        link.unlink()


def test_bad_requests_get_4xx_and_the_server_keeps_serving(ui_repo):
    import httpx

    app = create_app(str(ui_repo[0]))
    with serve(app) as url:
        token = re.search(r'name="expbook-token" content="([^"]+)"', httpx.get(url).text).group(1)
        cases = [
            httpx.post(
                url + "api/note",
                content=b"{not json",
                headers={"X-Expbook-Token": token, "Content-Type": "application/json"},
            ),
            httpx.post(url + "api/note", json=["a list"], headers={"X-Expbook-Token": token}),
            httpx.get(url + "api/experiment", params={"name": "no-such-exp"}),
            httpx.get(url + "api/curves", params={"name": "no-such-exp"}),
            httpx.get(url + "api/table", params={"where": "(" * 10000 + "a = 1" + ")" * 10000}),
            httpx.get(url + "api/table", params={"where": "not " * 10000 + "kind = 'x'"}),
            httpx.get(url + "api/table", params={"limit": "-5"}),
            httpx.get(url + "api/table", params={"sort": "nope"}),
        ]
        for r in cases:
            assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text[:200])
            assert "reason" in r.json()
        long_where = httpx.get(url + "api/table", params={"where": "x" * 12_000})
        assert long_where.status_code == 400 and "too long" in long_where.json()["reason"]
        host, port = url[7:-1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"GET /api/table?where=" + b"x" * 200_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            )
            status = sock.recv(64).split(b" ")
        # uvicorn refuses a request line over its limit (or drops the connection)
        assert not status[0] or 400 <= int(status[1]) < 500
        bad_host = httpx.get(url + "api/meta", headers={"Host": "evil.example"})
        assert bad_host.status_code == 400
        assert httpx.get(url + "api/table").status_code == 200  # still serving


def test_repo_changes_are_picked_up(ui_repo, client):
    path = ui_repo[0]
    first = client.get("/api/table").json()["total"]
    sh("git", "tag", "ui-new-tag", "HEAD", cwd=path)
    sh("git", "gc", "-q", cwd=path)
    try:
        rows = client.get("/api/table").json()
        assert rows["total"] == first
        assert any("ui-new-tag" in r["git_tags"] for r in rows["rows"])
    finally:
        sh("git", "tag", "-d", "ui-new-tag", cwd=path)


def test_report_is_self_contained(ui_repo, tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "report.html"
    res = CliRunner().invoke(
        cli, ["report", "-R", str(ui_repo[0]), "-o", str(out), "--where", "kind = 'experiment'"]
    )
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "Plotly" in text and 'id="expbook-data"' in text
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"?https?:", text)
    bad = CliRunner().invoke(
        cli,
        ["report", "-R", str(ui_repo[0]), "-o", str(tmp_path / "x.html"), "--where", "val.acc >"],
    )
    assert bad.exit_code != 0 and "Error:" in bad.output and not (tmp_path / "x.html").exists()


def test_ui_binds_localhost_and_warns_for_other_hosts(ui_repo):
    import inspect

    from expbook.ui import serve

    assert inspect.signature(serve.run_server).parameters["host"].default == "127.0.0.1"
    from click.testing import CliRunner

    from expbook.cli import ui_cmds

    assert next(p for p in ui_cmds.ui.params if p.name == "host").default == "127.0.0.1"
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = CliRunner().invoke(
            cli, ["ui", "-R", str(ui_repo[0]), "--host", "0.0.0.0", "--port", str(port)]
        )
    assert "Warning: binding 0.0.0.0" in res.output
    assert res.exit_code != 0 and f"cannot listen on 0.0.0.0:{port}" in res.output


def test_check_html_needs_report():
    from click.testing import CliRunner

    res = CliRunner().invoke(cli, ["check", "--html"])
    assert res.exit_code != 0 and "--html needs --report" in res.output


def test_concurrent_note_writers_lose_nothing(ui_repo):
    """Notes written from the UI while a sweep records trial notes and `expbook note` runs in a
    loop, all on the same commits: every note of every writer is there afterwards."""
    import threading

    import httpx

    path, shas = ui_repo
    names = ["lr1-s1", "lr3-s0"]
    sweep_code = (
        "import sys\nfrom expbook.sweep import state\n"
        "for i in range(8):\n"
        "    for sha in sys.argv[2:]:\n"
        "        state.write_note(sys.argv[1], sha, {'name': 'conc', 'trial': i})\n"
    )
    cli_code = (
        "import sys\nfrom expbook.cli import cli\n"
        "for i in range(6):\n"
        "    for name in sys.argv[2:]:\n"
        "        cli(['note', name, f'cli-{i}', '-R', sys.argv[1]], standalone_mode=False)\n"
    )
    with serve(create_app(str(path))) as url:
        token = re.search(r'name="expbook-token" content="([^"]+)"', httpx.get(url).text).group(1)

        def ui_writer():
            for i in range(6):
                for name in names:
                    r = httpx.post(
                        url + "api/note",
                        json={"name": name, "text": f"ui-{i}"},
                        headers={"X-Expbook-Token": token},
                        timeout=60,
                    )
                    assert r.status_code == 200, r.text

        procs = [
            subprocess.Popen(
                [sys.executable, "-c", sweep_code, str(path), *(shas[n] for n in names)], env=ENV
            ),
            subprocess.Popen([sys.executable, "-c", cli_code, str(path), *names], env=ENV),
        ]
        thread = threading.Thread(target=ui_writer)
        thread.start()
        thread.join(timeout=300)
        assert [p.wait(timeout=300) for p in procs] == [0, 0]
    for name in names:
        doc = json.loads(
            sh("git", "notes", "--ref", "expbook", "show", shas[name], cwd=path).stdout
        )
        for i in range(6):
            assert f"ui-{i}" in doc["notes"] and f"cli-{i}" in doc["notes"], (name, i, doc)
        assert doc["sweep"] == {"name": "conc", "trial": 7}


def test_check_html_writes_a_self_contained_page(ui_repo, tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "check.html"
    rule = "val.acc < ref - 0.5"
    res = CliRunner().invoke(
        cli, ["check", "-R", str(ui_repo[0]), "--fail-if", rule, "--report", str(out), "--html"]
    )
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert text.startswith("<!doctype html>") and "expbook check: passed" in text
    assert "val.acc &lt; ref - 0.5" in text  # the rule, escaped
    assert "live/metrics.json:val.acc" in text and "<script" not in text


def test_missing_extra_is_a_clear_error():
    from expbook.errors import ExpbookError
    from expbook.ui import require

    with pytest.raises(ExpbookError, match=r"pip install 'expbook\[ui\]'.*no_such_module_xyz"):
        require("no_such_module_xyz")


def test_expbook_ui_prints_the_url_serves_and_stops_on_ctrl_c(ui_repo):
    import signal

    import httpx

    from ui_helpers import free_port

    port = free_port()
    proc = subprocess.Popen(
        [*EXPBOOK, "ui", "-R", str(ui_repo[0]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        for _ in range(100):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/meta", timeout=5)
                break
            except httpx.TransportError:
                import time

                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["count"] >= 6
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_group_by_counts_a_workspace_equal_to_its_commit_once_and_n1_has_no_spread():
    """issue 21: the workspace row equal to HEAD's row is one run, not two in mean ± std, and
    a group of one shows no "± 0" (std None, drawn as "–")."""
    from expbook.ui.data import group_by

    head = {"name": "main", "rev": "a" * 40, "kind": "baseline", "lr": 0.1, "acc": 0.9}
    flat = [
        {
            **head,
            "name": "workspace",
            "rev": "workspace",
            "kind": "workspace",
            "baseline": "a" * 40,
        },
        head,
        {"name": "e1", "rev": "b" * 40, "kind": "experiment", "lr": 0.1, "acc": 0.8},
        {"name": "e2", "rev": "c" * 40, "kind": "experiment", "lr": 0.2, "acc": 0.7},
    ]
    groups = {g["label"]: g for g in group_by(flat, [0, 1, 2, 3], "lr", ["acc"])}
    assert groups["0.1"]["n"] == 2 and groups["0.1"]["names"] == ["main", "e1"]
    assert groups["0.1"]["metrics"]["acc"]["mean"] == pytest.approx(0.85)
    assert groups["0.2"]["metrics"]["acc"] == {"n": 1, "mean": 0.7, "std": None}
    changed = [{**flat[0], "acc": 0.95}, *flat[1:]]  # an edited workspace is a run of its own
    assert {g["label"]: g["n"] for g in group_by(changed, [0, 1, 2, 3], "lr", ["acc"])} == {
        "0.1": 3,
        "0.2": 1,
    }
