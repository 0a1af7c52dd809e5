"""Who may use the dashboard: the Host allow-list (against DNS rebinding, on loopback too), the
shared secret required off loopback (an `Authorization: Bearer` header or the login page's
HttpOnly SameSite=Strict cookie, compared in constant time) and the login page itself.

Used by expbook.ui.server (`Guard` and `AuthMiddleware` wrap the app, `login_routes()`) and
expbook.cli.ui_cmds (`is_loopback`, `new_secret`, `check_secret`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from expbook.errors import ExpbookError

LOOPBACK = ("127.0.0.1", "::1", "localhost")
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
COOKIE = "expbook_session"
MIN_SECRET = 16  # characters of a secret the user chooses
MAX_LOGIN_BODY = 4096  # bytes of the login form
FAILED_LOGIN_DELAY_S = 0.5  # slows guessing a weak user-chosen secret
LOGIN_PAGE = Path(__file__).with_name("static") / "login.html"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def is_loopback(host: str) -> bool:
    """Only these binds are local-only; 127.0.0.2, 0.0.0.0, a LAN address are network mode."""
    return host.strip().lower().strip("[]") in LOOPBACK


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def check_secret(secret: str) -> str:
    """The user's secret, or ExpbookError when it is too short or not printable ASCII (it
    travels in a header and a form field)."""
    if len(secret) < MIN_SECRET:
        raise ExpbookError(f"the dashboard secret must be at least {MIN_SECRET} characters")
    if not all(33 <= ord(c) < 127 for c in secret):
        raise ExpbookError("the dashboard secret must be printable ASCII without spaces")
    return secret


def host_of(header: str) -> str:
    """The name part of a Host header, lower-case, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else ""
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def allowed_hosts(bound: str, extra: list[str] | tuple[str, ...] = ()) -> frozenset[str]:
    """The bound host, the localhost forms and the user's `--allow-host` names ('*': any)."""
    return frozenset(host_of(h) if h != "*" else "*" for h in (bound, *LOCAL_NAMES, *extra))


def _same(given: str, expected: str) -> bool:
    # headers arrive as latin-1 text: compare bytes (compare_digest refuses non-ASCII str)
    return hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode("latin-1"))


@dataclass(frozen=True)
class Guard:
    """The app's access rules: `hosts` (None: any Host), `secret` (None: no login needed)."""

    hosts: frozenset[str] | None
    secret: str | None = None

    @property
    def session(self) -> str:
        """The cookie's value: derived from the secret, so the cookie never holds it."""
        key = (self.secret or "").encode()
        return hmac.new(key, b"expbook-session", hashlib.sha256).hexdigest()

    @property
    def required(self) -> bool:
        """Whether requests need a login (a secret is set)."""
        return self.secret is not None

    def login(self, given: str) -> str | None:
        """The session cookie's value for the login form's secret `given`, None if wrong."""
        return self.session if self.secret is not None and _same(given, self.secret) else None

    def host_ok(self, header: str | None) -> bool:
        if self.hosts is None or "*" in self.hosts:
            return True
        return bool(header) and host_of(header or "") in self.hosts

    def authenticated(self, request: Request) -> bool:
        if self.secret is None:
            return True
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and _same(given.strip(), self.secret):
            return True
        return _same(request.cookies.get(COOKIE, ""), self.session)


class AuthMiddleware:
    """Checks Host, then the secret (except for the login page), before any route runs."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response | None = None
        host = request.headers.get("host")
        if not self.guard.host_ok(host):
            shown = (host or "")[:100].encode("ascii", "backslashreplace").decode()
            reason = f"Host {shown!r} is not allowed (start `expbook ui` with --allow-host NAME)"
            response = JSONResponse({"reason": reason}, status_code=400)
        elif scope["path"] != "/login" and not self.guard.authenticated(request):
            if scope["path"] == "/" and scope["method"] in ("GET", "HEAD"):
                response = RedirectResponse("login", status_code=303)
            else:
                reason = "log in first (the page /login, or an Authorization: Bearer header)"
                response = JSONResponse(
                    {"reason": reason},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="expbook"'},
                )
        if response is not None:
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def login_routes(guard: Guard) -> list[Route]:
    """GET /login: the form; POST /login: sets the session cookie and goes to the dashboard."""

    def page(error: str = "", status: int = 200) -> HTMLResponse:
        text = LOGIN_PAGE.read_text(encoding="utf-8").replace("__ERROR__", error)
        return HTMLResponse(text, status_code=status, headers=PAGE_HEADERS)

    async def login(request: Request) -> Response:
        if not guard.required:
            return RedirectResponse("./", status_code=303)
        if request.method != "POST":
            return page()
        body = await read_limited(request, MAX_LOGIN_BODY)
        if body is None:
            return page("The form was too large.", 413)
        form = urllib.parse.parse_qs(body.decode("latin-1"), max_num_fields=10)
        given = (form.get("secret") or [""])[0]
        session = guard.login(given)
        if session is None:
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)
            return page("Wrong secret.", 401)
        response = RedirectResponse("./", status_code=303)
        response.set_cookie(
            COOKIE,
            session,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    return [Route("/login", login, methods=["GET", "POST"])]


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, read in chunks; None as soon as it passes `limit` bytes (a 1 GB body
    is never held in memory) or when Content-Length already says so."""
    declared: Any = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
