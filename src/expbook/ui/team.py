"""The team dashboard (issue 23): `expbook ui --remote NAME` serves the experiments, sweeps and
models of a git remote, as `--remote` reads them (expbook.share.team), and keeps them live.

`Team` is the state of one such app (on `app.state.team`): a background thread fetches the
remote every `every` seconds and whenever `POST /api/fetch` asks, then re-reads the registry,
so a page never waits on git: pages read the last completed view while the next one is
fetched. Writes (notes, tags) go straight to the remote's notes ref as the signed-in user
(expbook.share.teamnotes: compare-and-swap push, retried on a rejection).

Used by expbook.ui.server (`create_app(team=...)`) and expbook.ui.serve (`run_server(remote=...)`).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from expbook.errors import ExpbookError
from expbook.registry.gitrepo import GitRepo, signature
from expbook.registry.view import RemoteView
from expbook.share import team as team_lib
from expbook.share import teamnotes
from expbook.ui.data import RepoData, Snapshot

if TYPE_CHECKING:
    from expbook.ui.users import User

DEFAULT_EVERY_S = 60.0
MIN_EVERY_S = 1.0


class TeamData(RepoData):
    """The rows of a remote's view, re-read only by `refresh()` (the refresh thread, a write):
    a page takes the last completed snapshot as it is and never waits for a re-read."""

    def snapshot(self) -> Snapshot:
        snap = self._snap
        return snap if snap is not None else self.refresh()

    def refresh(self) -> Snapshot:
        from expbook import registry

        with self._lock:  # refreshes in turn (the thread's, a write's): the newest one is last
            snap = Snapshot.of(registry.collect(self.root))
            self._snap = snap  # one assignment: a page sees the old rows or the new, never half
        return snap


@dataclass
class Team:
    """A remote served live (see the module). `start()` runs the refresh thread, `stop()` ends
    it; `status()` is what `GET /api/team` answers."""

    root: str
    remote: str
    every: float = DEFAULT_EVERY_S
    data: RepoData | None = None
    fetches: int = 0
    last_ok: float | None = None  # time.time() of the last completed fetch
    last_summary: str = ""
    last_error: str | None = None
    fetching: bool = False
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _write_lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Condition = field(default_factory=threading.Condition)

    def fetch_now(self) -> None:
        """One fetch and re-read, in the calling thread (the refresh thread, or before the
        server listens); a failure is kept for `status()` and the last view stays."""
        self.fetching = True
        try:
            result = team_lib.fetch(GitRepo(self.root), self.remote)
            if isinstance(self.data, TeamData):
                self.data.refresh()  # the re-read happens here, not in a page's request
            self.last_summary = "; ".join([result.summary(), *result.warnings()])
            self.last_error = None
            self.last_ok = time.time()
        except (ExpbookError, OSError) as exc:
            self.last_error = str(exc)
        finally:
            self.fetching = False
            with self._done:
                self.fetches += 1
                self._done.notify_all()

    def request(self) -> int:
        """Ask the refresh thread for a fetch now; returns the count the answer will pass."""
        with self._done:
            target = self.fetches + 1
        self._wake.set()
        return target

    def wait(self, count: int, timeout: float) -> bool:
        """Wait until `count` fetches completed (tests, scripts); False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self.fetches >= count, timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.fetch_now()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"expbook-fetch-{self.remote}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def status(self, user: User | None = None) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "every_s": self.every,
            "fetching": self.fetching,
            "fetches": self.fetches,
            "last_fetch": self.last_ok,
            "summary": self.last_summary,
            "error": self.last_error,
            "user": user.public() if user is not None else None,
        }

    def annotate(
        self, what: str, sha: str, doc: dict[str, Any], user: User | None
    ) -> dict[str, Any]:
        """Write a note or tag (a write body checked by expbook.ui.writes) to the remote's
        notes as `user` (or this clone's git identity), then re-read the view."""
        if user is not None:
            name, email = user.name, user.email
        else:
            sig = signature(GitRepo(self.root).repo)
            name, email = sig.name, sig.email
        with self._write_lock:  # writers of this server in turn; other servers race on the push
            if what == "note":
                new = teamnotes.add_note(
                    self.root, self.remote, sha, doc["text"], name=name, email=email
                )
            else:
                new = teamnotes.set_tag(
                    self.root,
                    self.remote,
                    sha,
                    doc["tag"].strip(),
                    remove=doc.get("remove", False),
                    name=name,
                    email=email,
                )
            if isinstance(self.data, TeamData):
                self.data.refresh()  # the writer's next page shows the write
        return new


def check_every(every: float) -> float:
    if not every >= MIN_EVERY_S:
        raise ExpbookError(f"--fetch-every must be at least {MIN_EVERY_S:g} seconds, not {every}")
    return every


def routes(team: Team, user_of: Any, token: str) -> list[Route]:
    """`GET /api/team`: the remote, the last fetch and who is signed in; `POST /api/fetch`:
    a fetch now (answered at once; `?wait=1` answers when it is done, 60 s at most). A POST
    needs the page's token (`X-Expbook-Token`), as the writes do: another site's page cannot
    make a loopback dashboard fetch (or hold its threads waiting)."""

    def status(request: Request) -> Response:
        return JSONResponse(team.status(user_of(request)))

    def fetch(request: Request) -> Response:
        given = request.headers.get("x-expbook-token", "").encode("latin-1", "replace")
        if not secrets.compare_digest(given, token.encode()):
            reason = "missing or wrong CSRF token (reload the page)"
            return JSONResponse({"reason": reason}, status_code=403)
        target = team.request()
        if request.query_params.get("wait") == "1":
            team.wait(target, 60)
        return JSONResponse({**team.status(user_of(request)), "requested": target}, 202)

    async def fetch_async(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fetch, request)

    return [
        Route("/api/team", status),
        Route("/api/fetch", fetch_async, methods=["POST"]),
    ]


def serve_remote(repo: str, remote: str, every: float) -> tuple[str, Team]:
    """(the view of `remote` that `expbook ui --remote` reads, its Team): fetched once now, so
    that an unknown or unreachable remote is an ExpbookError before the server listens."""
    check_every(every)
    if not os.path.exists(os.path.join(repo, ".git")) and all(
        os.path.exists(os.path.join(repo, part)) for part in ("HEAD", "objects", "refs")
    ):
        raise ExpbookError(
            f"{repo} is a bare repository: the team dashboard reads a clone of the remote "
            "(`git clone --no-checkout URL DIR` checks out no files)"
        )
    g = GitRepo(repo)
    team_lib.fetch(g, remote)
    team = Team(g.root, remote, every)
    team.last_ok = time.time()
    return RemoteView(g.root, remote), team


def lifespan(team: Team) -> Any:
    """The app's lifespan: the refresh thread runs while the server does (any ASGI server)."""
    import contextlib

    from starlette.concurrency import run_in_threadpool

    @contextlib.asynccontextmanager
    async def span(_app: Any) -> Any:
        team.start()
        try:
            yield
        finally:
            await run_in_threadpool(team.stop)

    return span
