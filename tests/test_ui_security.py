"""Issue 19, the dashboard under hostile input: /api/file serves only what the registry shows
for a row (no ignored/untracked files, nothing under .git/ or .dvc/, no symlink out), network
mode needs a secret (Bearer header or login cookie) and checks Host, writes validate every
field's type and never buffer a huge body, deep JSON is a 400, /api/stats is linear in the
number of metric keys, and the server stops on SIGTERM while a request runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, commit_all, dvc_init, git_init, sh
from ui_helpers import free_port, serve, shared_ui_repo

pytest.importorskip("starlette")
import httpx
from starlette.testclient import TestClient

from expbook.ui import create_app

pytestmark = pytest.mark.slow
EXPBOOK = [sys.executable, "-c", "from expbook.cli import main; main()"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
SECRET = "s3cret-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def ui_repo(tmp_path_factory):
    return shared_ui_repo(tmp_path_factory)


@pytest.fixture(scope="module")
def hostile(ui_repo, tmp_path_factory):
    """A copy of the ui repo with secrets lying around its work tree."""
    path = tmp_path_factory.mktemp("hostile") / "repo"
    shutil.copytree(ui_repo[0], path, symlinks=True)
    outside = path.parent / "outside.json"
    outside.write_text('{"secret": "outside"}')
    with open(path / ".gitignore", "a") as fh:
        fh.write("/key.json\n/secret.png\n")
    (path / "key.json").write_text('{"private_key": "KEY"}')
    os.chmod(path / "key.json", 0o600)
    (path / "secret.png").write_bytes(b"\x89PNG ignored")
    (path / "stray.csv").write_text("a,b\n1,2\n")
    (path / "leak.json").symlink_to(outside)
    (path / ".dvc" / "tmp").mkdir(exist_ok=True)
    (path / ".dvc" / "tmp" / "state.json").write_text('{"tmp": 1}')
    (path / ".dvc" / "config.local.json").write_text('{"remote": "creds"}')
    (path / ".dvc" / "plots").mkdir(exist_ok=True)
    (path / ".dvc" / "plots" / "t.json").write_text("{}")
    (path / "live" / "link.json").symlink_to("../key.json")  # tracked symlink to an ignored file
    sh("git", "add", "live/link.json", ".gitignore", cwd=path)
    sh("git", "add", "-f", ".dvc/plots/t.json", cwd=path)  # tracked, but DVC's own folder
    sh("git", "commit", "-qm", "link", cwd=path)
    (path / "tracked.json").write_text('{"a": 1}')
    sh("git", "add", "tracked.json", cwd=path)  # staged: tracked in the index
    return path


def client_of(path, **kw) -> TestClient:
    return TestClient(create_app(str(path), **kw), base_url="http://127.0.0.1")


@pytest.mark.parametrize(
    "name,path",
    [
        ("workspace", "key.json"),  # the example: ignored, mode 0600
        ("workspace", "secret.png"),  # an ignored image
        ("workspace", "stray.csv"),  # untracked
        ("workspace", "leak.json"),  # an untracked symlink out of the repo
        ("workspace", "live/link.json"),  # a tracked symlink to an ignored file
        ("workspace", ".dvc/tmp/state.json"),
        ("workspace", ".dvc/config.local.json"),
        ("workspace", ".dvc/plots/t.json"),
        ("workspace", "live/../key.json"),
        ("main", ".dvc/plots/t.json"),  # tracked at the commit, still DVC's own folder
        ("main", "key.json"),
        ("main", "live/link.json"),  # a symlink at the commit
        ("lr1-s0", "key.json"),
        ("lr1-s0", ".git/HEAD.json"),
    ],
)
def test_file_serves_nothing_the_registry_does_not_show(hostile, name, path):
    """issue 19: /api/file served any .json/.csv/image of the work tree (ignored key files,
    .dvc/tmp) to anyone."""
    r = client_of(hostile).get("/api/file", params={"name": name, "path": path})
    assert r.status_code == 404, (name, path, r.text[:100])
    assert b"KEY" not in r.content and b"outside" not in r.content


@pytest.mark.parametrize(
    "name,path,start",
    [
        ("workspace", "live/metrics.json", b"{"),  # tracked in git
        ("workspace", "tracked.json", b"{"),  # staged in the index
        ("workspace", "plots/samples.png", b"\x89PNG"),  # a DVC out (git-ignored)
        ("workspace", "live/plots/sklearn/confusion_matrix.json", b"{"),  # in a declared plot dir
        ("main", "plots/confusion_matrix.png", b"\x89PNG"),  # git at the commit
        ("lr1-s0", "plots/samples.png", b"\x89PNG"),  # the DVC cache
    ],
)
def test_file_still_serves_what_the_registry_shows(hostile, name, path, start):
    r = client_of(hostile).get("/api/file", params={"name": name, "path": path})
    assert r.status_code == 200 and r.content.startswith(start), (name, path, r.text[:100])


def test_workspace_media_lists_no_ignored_image(hostile):
    page = client_of(hostile).get("/api/experiment", params={"name": "workspace"}).json()
    paths = {m["path"] for m in page["media"]}
    assert "secret.png" not in paths and "plots/samples.png" in paths


# ---------------------------------------------------------------- network mode
def test_secret_is_required_and_checked(ui_repo):
    """issue 19: off loopback `GET /` handed the write token to anyone; now every request but
    the login page needs the secret (Bearer header or the login cookie)."""
    c = client_of(ui_repo[0], secret=SECRET, hosts=["127.0.0.2"])
    home = c.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "login"
    assert "expbook-token" not in home.text
    for url in ("/api/table", "/api/meta", "/api/file?name=lr1-s0&path=live/metrics.json",
                "/static/app.js", "/api/stats"):  # fmt: skip
        r = c.get(url)
        assert r.status_code == 401 and "log in" in r.json()["reason"], url
    assert c.post("/api/note", json={"name": "lr1-s0", "text": "x"}).status_code == 401
    for bad in (
        "Bearer wrong",
        "Bearer " + SECRET[:-1],
        "Basic " + SECRET,
        "Bearer é\xff".encode("latin-1"),
    ):
        assert c.get("/api/table", headers={"Authorization": bad}).status_code == 401
    ok = c.get("/", headers={"Authorization": "Bearer " + SECRET})
    assert ok.status_code == 200 and "expbook-token" in ok.text
    assert c.get("/api/table", headers={"Authorization": f"bearer {SECRET}"}).status_code == 200
    login = c.get("/login")
    assert login.status_code == 200 and 'name="secret"' in login.text
    wrong = c.post("/login", data={"secret": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Wrong secret" in wrong.text
    assert "set-cookie" not in wrong.headers
    right = c.post("/login", data={"secret": SECRET}, follow_redirects=False)
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert SECRET not in cookie
    assert c.get("/api/table").status_code == 200  # the client keeps the cookie
    c.cookies.set("expbook_session", "forged")
    assert c.get("/api/table").status_code == 401
    huge = c.post("/login", content=b"secret=" + b"x" * 100_000,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert huge.status_code == 413


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "", "[::2]:80"]
)
def test_host_header_checked_on_loopback_too(ui_repo, host):
    """issue 19: DNS rebinding: a page on another name must not read the token page."""
    c = client_of(ui_repo[0])
    r = c.get("/", headers={"Host": host})
    assert r.status_code == 400 and "expbook-token" not in r.text
    assert c.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    assert c.get("/", headers={"Host": "[::1]:8765"}).status_code == 200


def _start(args: list[str], env: dict | None = None) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [*EXPBOOK, "ui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or ENV,
    )
    lines: list[str] = []
    while proc.poll() is None:
        line = proc.stdout.readline()
        lines.append(line)
        if "dashboard on" in line:
            break
    return proc, lines


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.stderr.read()


def test_network_mode_prints_a_secret_once_and_is_read_only(ui_repo):
    """issue 19: `expbook ui --host 127.0.0.2` (not loopback's 127.0.0.1): generated secret
    printed once, every request needs it, Host allow-list on, writes refused."""
    port = free_port()
    proc, lines = _start(["-R", str(ui_repo[0]), "--host", "127.0.0.2", "--port", str(port)])
    try:
        assert proc.poll() is None, proc.stderr.read()
        secret = next(ln.split(": ", 1)[1].strip() for ln in lines if "secret" in ln)
        url = f"http://127.0.0.2:{port}/"
        assert httpx.get(url + "api/table").status_code == 401
        page = httpx.get(url, follow_redirects=False)
        assert page.status_code == 303 and "expbook-token" not in page.text
        auth = {"Authorization": f"Bearer {secret}"}
        page = httpx.get(url, headers=auth)
        assert page.status_code == 200 and 'content="read-only"' in page.text
        token = re.search(r'name="expbook-token" content="([^"]+)"', page.text).group(1)
        w = httpx.post(url + "api/note", json={"name": "lr1-s0", "text": "x"},
                       headers={**auth, "X-Expbook-Token": token})  # fmt: skip
        assert w.status_code == 403 and "read-only" in w.json()["reason"]
        evil = httpx.get(url + "api/table", headers={**auth, "Host": "evil.example"})
        assert evil.status_code == 400
    finally:
        err = _stop(proc)
    assert "Traceback" not in err and "network mode" in err
    assert sum(secret in ln for ln in lines) == 1 and secret not in err


def test_network_mode_with_a_given_secret_and_writes(ui_repo):
    port = free_port()
    env = {**ENV, "EXPBOOK_UI_SECRET": SECRET}
    args = ["-R", str(ui_repo[0]), "--host", "127.0.0.2", "--port", str(port)]
    proc, lines = _start([*args, "--allow-writes", "--allow-host", "box.lan"], env)
    try:
        assert not any("secret" in ln for ln in lines)  # the user's secret is never echoed
        url = f"http://127.0.0.2:{port}/"
        auth = {"Authorization": f"Bearer {SECRET}", "Host": "box.lan"}
        page = httpx.get(url, headers=auth)
        assert page.status_code == 200 and 'content="live"' in page.text
        token = re.search(r'name="expbook-token" content="([^"]+)"', page.text).group(1)
        tag = httpx.post(url + "api/tag", json={"name": "lr1-s1", "tag": "net"},
                         headers={**auth, "X-Expbook-Token": token})  # fmt: skip
        assert tag.status_code == 200 and "net" in tag.json()["tags"]
        httpx.post(url + "api/tag", json={"name": "lr1-s1", "tag": "net", "remove": True},
                   headers={**auth, "X-Expbook-Token": token})  # fmt: skip
    finally:
        _stop(proc)
    for extra, message in (
        (["--secret", "short"], "at least 16 characters"),
        (["--read-only", "--allow-writes"], "contradict"),
    ):
        res = subprocess.run([*EXPBOOK, "ui", *args, *extra], capture_output=True, text=True,
                             env=ENV, timeout=60)  # fmt: skip
        assert res.returncode != 0 and message in res.stderr and "Traceback" not in res.stderr


# ---------------------------------------------------------------- write bodies
def token_of(c) -> str:
    return re.search(r'name="expbook-token" content="([^"]+)"', c.get("/").text).group(1)


@pytest.mark.parametrize(
    "what,body",
    [
        ("tag", {"name": "lr1-s0", "tag": "keep", "remove": "false"}),  # the example
        ("tag", {"name": "lr1-s0", "tag": "keep", "remove": 0}),
        ("tag", {"name": "lr1-s0", "tag": "keep", "remove": 1}),
        ("tag", {"name": "lr1-s0", "tag": "keep", "remove": None}),
        ("tag", {"name": "lr1-s0", "tag": ["keep"]}),
        ("tag", {"name": "lr1-s0", "tag": "keep", "extra": 1}),
        ("tag", {"name": ["lr1-s0"], "tag": "keep"}),
        ("tag", {"name": "lr1-s0"}),
        ("note", {"name": "lr1-s0", "text": 5}),
        ("note", {"name": "lr1-s0", "text": "x", "version": 7}),
        ("note", {"name": "lr1-s0", "text": "\ud800 lone surrogate"}),
        ("note", {"name": "lr1-s0", "text": "nul \x00 byte"}),
        ("note", {"name": "lr1-s0", "text": {"nested": "x"}}),
        ("note", {"name": "lr1-s0", "text": "x" * 10_001}),
        ("note", {"name": "lr1-s0"}),
    ],
)
def test_write_fields_have_exact_types(hostile, what, body):
    """issue 19: {"remove": "false"} removed a tag (bool("false") is True); every field of
    every write endpoint is now checked, never coerced."""
    c = client_of(hostile)
    token = token_of(c)
    h = {"X-Expbook-Token": token}
    assert c.post("/api/tag", json={"name": "lr1-s0", "tag": "keep"}, headers=h).status_code == 200
    before = c.get("/api/experiment", params={"name": "lr1-s0"}).json()
    r = c.post(f"/api/{what}", content=json.dumps(body).encode(), headers=h)
    assert r.status_code == 400, r.text
    assert "reason" in r.json()
    after = c.get("/api/experiment", params={"name": "lr1-s0"}).json()
    assert (after["tags"], after["notes"]) == (before["tags"], before["notes"])


def test_deeply_nested_body_is_a_400(hostile):
    """issue 19: a body nested 30,000 deep was a 500 with a traceback."""
    c = client_of(hostile)
    h = {"X-Expbook-Token": token_of(c)}
    for body in (b"[" * 30_000 + b"]" * 30_000, b'{"name": "lr1-s0", "text": ' + b"[" * 30_000,
                 b'{"name": "x", "text": "' + b"[" * 30_000 + b'"}'):  # fmt: skip
        r = c.post("/api/note", content=body, headers=h)
        assert r.status_code in (400, 404), (r.status_code, r.text[:200])
        assert "Traceback" not in r.text


def test_huge_body_is_refused_without_being_read(ui_repo):
    """issue 19: the write endpoint read a whole 1 GB body before its 64 KiB check (125 ->
    1,145 MB). Now it reads in chunks and stops after 64 KiB: a streamed 128 MB body leaves
    the server's (this process's) allocation peak far below the body's size."""
    import tracemalloc

    app = create_app(str(ui_repo[0]))
    chunk = b"x" * (1 << 20)

    def body():
        for _ in range(128):
            yield chunk  # the same bytes object: the client allocates nothing per chunk

    with serve(app) as url:
        token = re.search(r'name="expbook-token" content="([^"]+)"', httpx.get(url).text)[1]
        tracemalloc.start()
        try:
            r = httpx.post(url + "api/note", content=body(),
                           headers={"X-Expbook-Token": token}, timeout=60)  # fmt: skip
            assert r.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection before the client stops sending
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < 16 * (1 << 20), peak
        # a Content-Length over the limit is refused before a byte of the body is read
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/note HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Expbook-Token: "
                + token.encode()
                + b"\r\nContent-Length: 1000000000\r\n\r\n"
            )
            assert b" 413 " in sock.recv(200)
        assert httpx.get(url + "api/meta").status_code == 200


# ---------------------------------------------------------------- /api/stats
@pytest.fixture(scope="module")
def wide_repo(tmp_path_factory):
    """Three commits of one metrics file with 20,000 keys."""
    path = tmp_path_factory.mktemp("wide") / "repo"
    path.mkdir()
    git_init(path)
    dvc_init(path)
    (path / "dvc.yaml").write_text("metrics:\n  - m.json\n")
    for i in range(3):
        (path / "m.json").write_text(json.dumps({f"k{j}": j * 0.5 + i for j in range(20_000)}))
        (path / "params.yaml").write_text(f"lr: {i}\n")
        commit_all(path, f"c{i}")
    return path


def test_stats_is_fast_with_20k_metric_keys(wide_repo):
    """issue 19: /api/stats was quadratic in the metric keys (20k keys: 20 s; with
    `metrics.k7` a set of all keys was rebuilt per key: minutes)."""
    c = client_of(wide_repo)
    assert c.get("/api/stats", params={"metric": "k1"}).status_code == 200  # warm imports
    for metric in ("metrics.k7", "k19999", ""):
        start = time.monotonic()
        r = c.get("/api/stats", params={"metric": metric})
        assert r.status_code == 200, r.text[:200]
        assert time.monotonic() - start < 3.0, metric
    start = time.monotonic()
    assert c.get("/api/stats", params={"metric": "metrics.nope"}).status_code == 400
    assert c.get("/api/table", params={"where": "metrics.k5 > 1"}).status_code == 200
    assert time.monotonic() - start < 10.0


def test_sigterm_stops_the_server_while_requests_run(wide_repo):
    """issue 19: while /api/stats ran the server ignored SIGTERM and Ctrl-C."""
    port = free_port()
    proc, _lines = _start(["-R", str(wide_repo), "--port", str(port)])
    url = f"http://127.0.0.1:{port}/api/stats"
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:  # an unknown key: the close-match search over 20k keys (the slowest path)
                httpx.get(url, params={"metric": "metrics.nope"}, timeout=30)
            except httpx.TransportError:
                return

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    try:
        for _ in range(200):  # the URL is printed just before uvicorn listens
            try:
                if httpx.get(url.replace("stats", "meta"), timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        for t in threads:
            t.start()
        time.sleep(1.5)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        assert time.monotonic() - start < 15
        assert rc in (0, -signal.SIGTERM)
        assert "Traceback" not in proc.stderr.read()
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for t in threads:
            t.join(timeout=30)
