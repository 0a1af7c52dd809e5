"""Issue 19 acceptance: a property test of the dashboard's HTTP API. Random methods, paths,
query strings, headers and bodies, through the app object (starlette's TestClient) and against
a real uvicorn on 127.0.0.1: never a 5xx or a traceback, never a file the registry does not
show (the hostile repo's ignored key, untracked files, .dvc/ state, a symlink out), never a
page or file without the secret when one is set, and bounded memory for big bodies.
"""

from __future__ import annotations

import re
import tracemalloc
import urllib.parse

import pytest

from test_ui_security import SECRET, hostile, ui_repo  # noqa: F401 (fixtures)
from ui_helpers import serve

pytest.importorskip("hypothesis")
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from expbook.ui import create_app

pytestmark = pytest.mark.slow
# what the hostile repo holds but the registry never shows
SECRETS = [b"KEY", b'"outside"', b"creds", b'"tmp"']
ENDPOINTS = ["/", "/login", "/api/meta", "/api/table", "/api/points", "/api/experiment",
             "/api/curves", "/api/compare", "/api/stats", "/api/file", "/api/sweeps",
             "/api/sweep", "/api/note", "/api/tag", "/static/app.js", "/static/plotly.min.js",
             "/static/../server.py", "/api/../../etc/passwd", "/api/%2e%2e/x"]  # fmt: skip
FILES = ["key.json", "secret.png", "stray.csv", "leak.json", "live/link.json",
         ".dvc/tmp/state.json", ".dvc/config.local.json", ".dvc/plots/t.json",
         "live/metrics.json", "plots/samples.png", "../outside.json", "/etc/passwd",
         "live/../key.json", "live//metrics.json", ".git/config", "%2e%2e/key.json"]  # fmt: skip
NAMES = ["workspace", "main", "lr1-s0", "lr3-s1", "HEAD", "", "..", "refs/heads/main", "nope"]
text = st.text(st.characters(codec="utf-8"), max_size=60)
# a path segment as a client sends it: percent-encoded (any code point, `..`, `%2f`)
segment = st.one_of(
    st.sampled_from(["..", ".", "%2e%2e", "%2f", "static", "api", ".git", ".dvc"]),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=30).map(
        lambda t: urllib.parse.quote(t, safe="")
    ),
)
latin = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=60)

request_st = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
        "path": st.one_of(
            st.sampled_from(ENDPOINTS),
            st.builds(lambda a, b: f"/{a}/{b}", segment, segment),
            st.builds(lambda a: f"/api/{a}", segment),
        ),
        "params": st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        "name",
                        "path",
                        "where",
                        "q",
                        "metric",
                        "group",
                        "sort",
                        "limit",
                        "offset",
                        "desc",
                        "baseline",
                        "x",
                    ]
                ),  # fmt: skip
                st.one_of(st.sampled_from(FILES + NAMES), text, st.integers().map(str)),
            ),
            max_size=5,
        ),
        "headers": st.dictionaries(
            st.sampled_from(
                [
                    "X-Expbook-Token",
                    "Authorization",
                    "Content-Type",
                    "Cookie",
                    "Origin",
                    "Content-Length",
                    "X-Forwarded-Host",
                    "Host",
                ]
            ),
            st.one_of(
                latin,
                st.sampled_from(["localhost", "127.0.0.1:1", "[::1]", "evil.example", "x" * 300]),
                st.just("Bearer " + SECRET),
            ),
            max_size=3,
        ),
        "body": st.one_of(
            st.none(),
            st.binary(max_size=300),
            st.recursive(
                st.one_of(st.none(), st.booleans(), st.integers(), text),
                lambda inner: (
                    st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4)
                ),
                max_leaves=12,
            ).map(lambda v: __import__("json").dumps(v).encode()),
            st.integers(1, 40_000).map(lambda n: b"[" * n),
        ),
    }
)


def check(status: int, content: bytes, req: dict, authed: bool) -> None:
    assert status < 500, (req, status, content[:300])
    assert b"Traceback" not in content
    if status == 200 and req["path"] == "/api/file":
        for secret in SECRETS:
            assert secret not in content, (req, content[:200])
    if not authed and status == 200:
        assert req["path"] == "/login" or req["method"] == "OPTIONS", (req, content[:100])


def _send(client, req: dict, headers: dict):
    headers = {k: v for k, v in headers.items() if k != "Content-Length"} | {
        k: v for k, v in req["headers"].items() if k not in headers
    }
    return client.request(
        req["method"],
        req["path"],
        params=req["params"],
        headers={k: v.encode("latin-1") for k, v in headers.items()},
        content=req["body"],
        follow_redirects=False,
    )


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=request_st, with_token=st.booleans())
def test_app_never_5xx_nor_leaks(hostile, req, with_token):  # noqa: F811
    client = _clients(hostile)["open"]
    token = _clients(hostile)["token"]
    response = _send(client, req, {"X-Expbook-Token": token} if with_token else {})
    check(response.status_code, response.content, req, authed=True)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=request_st)
def test_app_with_a_secret_serves_nothing_without_it(hostile, req):  # noqa: F811
    response = _send(_clients(hostile)["locked"], req, {})
    given = req["headers"].get("Authorization", "")
    check(response.status_code, response.content, req, authed=given == "Bearer " + SECRET)


_CACHE: dict[str, object] = {}


def _clients(path) -> dict:
    if "open" not in _CACHE:
        open_client = TestClient(create_app(str(path)), base_url="http://127.0.0.1")
        _CACHE["open"] = open_client
        _CACHE["token"] = re.search(r'name="expbook-token" content="([^"]+)"',
                                    open_client.get("/").text)[1]  # fmt: skip
        locked = create_app(str(path), secret=SECRET)
        _CACHE["locked"] = TestClient(locked, base_url="http://127.0.0.1")
    return _CACHE


def test_real_server_never_5xx_and_bounded_memory(hostile):  # noqa: F811
    """The same properties over real sockets (uvicorn's HTTP parser in front), then big
    bodies to every write-ish endpoint: the server's allocation peak stays far below them."""
    app = create_app(str(hostile))
    with serve(app) as url, httpx.Client(base_url=url.rstrip("/"), timeout=60) as client:
        token = re.search(r'name="expbook-token" content="([^"]+)"', client.get("/").text)[1]

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(req=request_st)
        def over_sockets(req):
            try:
                response = _send(client, req, {"X-Expbook-Token": token})
            except httpx.TransportError:
                return  # uvicorn refusing a malformed request by closing is fine
            check(response.status_code, response.content, req, authed=True)

        over_sockets()
        chunk = b"[" * (1 << 20)

        def body():
            for _ in range(48):
                yield chunk

        tracemalloc.start()
        try:
            for path in ("/api/note", "/api/tag", "/login", "/api/table", "/api/nope"):
                try:
                    r = client.post(path, content=body(), headers={"X-Expbook-Token": token})
                    assert r.status_code in (303, 404, 405, 413), (path, r.status_code)
                except httpx.TransportError:
                    pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 * (1 << 20), peak
        assert client.get("/api/meta").status_code == 200
