"""Serving the dashboard: `run_server()` binds the socket, applies the network-mode rules
(a secret off loopback, read-only unless asked, the Host allow-list) and runs uvicorn until
Ctrl-C or SIGTERM.

Used by `expbook ui`; tests call run_server() directly.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from expbook.errors import ExpbookError
from expbook.ui import auth
from expbook.ui.server import create_app

if TYPE_CHECKING:
    from expbook.ui.users import User


def run_server(
    repo: str = ".",
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    read_only: bool = False,
    allow_writes: bool = False,
    secret: str | None = None,
    allow_hosts: tuple[str, ...] | list[str] = (),
    on_ready: Callable[[str], None] | None = None,
    on_secret: Callable[[str], None] | None = None,
    remote: str | None = None,
    fetch_every: float = 60.0,
    users: tuple[User, ...] | None = None,
) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM (uvicorn shuts down cleanly).

    On loopback (127.0.0.1, ::1, localhost) no login is needed unless `secret` is given. Any
    other bind is network mode: a secret is required (generated and handed to `on_secret`
    once when not given) and the dashboard is read-only unless `allow_writes`. The Host
    header must be the bound host, a localhost form or one of `allow_hosts`, in both modes.
    `remote`: serve that git remote's experiments, fetched every `fetch_every` seconds, and
    read-only unless `allow_writes` on any bind; `users`: one secret per user (issue 23)."""
    import uvicorn

    if read_only and allow_writes:
        raise ExpbookError("--read-only and --allow-writes contradict each other")
    if users is not None and secret is not None:
        raise ExpbookError("--users and --secret: give one or the other")
    network = not auth.is_loopback(host)
    generated = None
    if secret is not None:
        secret = auth.check_secret(secret)
    elif network and users is None:
        secret = generated = auth.new_secret()
    if (network or remote is not None) and not allow_writes:
        read_only = True
    hosts = [host, *allow_hosts]
    team = None
    if remote is not None:
        from expbook.ui.team import serve_remote

        repo, team = serve_remote(repo, remote, fetch_every)
    app = create_app(repo, read_only=read_only, hosts=hosts, secret=secret, users=users, team=team)
    sock = _listen(host, port)  # listening before "dashboard on" is printed: no refused connect
    with sock:
        app.state.data.snapshot()  # read the registry before the first request (and fail early)
        if generated and on_secret:  # printed once, only when the server is about to listen
            on_secret(generated)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,  # a long request never keeps Ctrl-C/SIGTERM waiting
        )
        server = uvicorn.Server(config)
        if on_ready:
            on_ready(f"http://{host if ':' not in host else f'[{host}]'}:{port}/")
        # uvicorn shuts down cleanly on Ctrl-C, then re-raises it: that is the normal end
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening (uvicorn serves on it), or ExpbookError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ExpbookError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock
