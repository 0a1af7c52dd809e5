"""The dashboard's web app: `create_app(repo)` builds a Starlette app (JSON API under /api,
one index.html, static assets); `expbook.ui.serve.run_server()` serves it with uvicorn.

Used by `expbook ui` (through serve.py) and `expbook report`; tests call create_app() directly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from expbook.errors import ExpbookError, NotFoundError
from expbook.registry import notes as notes_lib
from expbook.ui import auth, files, live, modelview, views
from expbook.ui import data as tables
from expbook.ui.users import User, UsersGuard
from expbook.ui.writes import validate

if TYPE_CHECKING:
    from expbook.registry import Experiment
    from expbook.ui.team import Team

STATIC = Path(__file__).with_name("static")
ASSETS = ("app.js", "app.css", "charts.js", "run.js", "sweeps.js", "plots.js", "team.js")
MAX_BODY = 64 * 1024  # bytes of a write request
MAX_NOTE = 10_000  # characters of one note
MAX_TAG = 200  # characters of one tag


def plotly_js() -> Path:
    """plotly.min.js as the `plotly` wheel ships it (no CDN, no network at view time)."""
    import plotly

    path = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
    if not path.is_file():
        raise ExpbookError(f"plotly.min.js missing from the plotly package ({path})")
    return path


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity: browsers reject them, so they travel as null
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(value: Any) -> str:
    return json.dumps(_clean(value), default=str, separators=(",", ":"))


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return to_json(content).encode("utf-8")


def api(fn: Callable[..., Any]) -> Callable[..., Response]:
    """One error shape for every endpoint: {"reason": ...} with 400 bad input, 404 unknown,
    403 refused, 409 conflict; the message is the one the CLI prints."""

    @functools.wraps(fn)
    def endpoint(request: Request) -> Response:
        try:
            result = fn(request)
        except NotFoundError as err:
            return JSON({"reason": str(err)}, status_code=404)
        except Refused as err:
            return JSON({"reason": str(err)}, status_code=403)
        except Conflict as err:
            return JSON({"reason": str(err), "current": err.current}, status_code=409)
        except (ExpbookError, ValueError, RecursionError) as err:
            reason = str(err) if not isinstance(err, RecursionError) else "input nested too deeply"
            return JSON({"reason": reason}, status_code=400)
        return result if isinstance(result, Response) else JSON(result)

    return endpoint


class Refused(ExpbookError):
    """A write without the page's token, or any write to a --read-only dashboard."""


class Conflict(ExpbookError):
    def __init__(self, message: str, current: Any) -> None:
        super().__init__(message)
        self.current = current


def note_version(exp: Experiment) -> str:
    """What the client edited: a stale version gets 409 and the current notes."""
    blob = json.dumps({"notes": exp.notes, "tags": exp.tags}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def create_app(
    repo: str = ".",
    *,
    read_only: bool = False,
    hosts: list[str] | None = None,
    secret: str | None = None,
    users: tuple[User, ...] | None = None,
    team: Team | None = None,
) -> Starlette:
    """The dashboard app for `repo`; its state (rows, caches, token) lives on `app.state`.

    `hosts`: the Host names accepted (default: the localhost forms; "*" any); `secret`: when
    given, every request but the login page needs it (see expbook.ui.auth); `users`: one
    secret per user instead (expbook.ui.users); `team`: a remote served live, `repo` being
    its view (expbook.ui.team: writes go to the remote as the signed-in user)."""
    data = tables.RepoData(repo)
    if team is not None:  # its rows re-read by its refresh thread, never by a page
        from expbook.ui.team import TeamData

        data = team.data = TeamData(repo)
    token = secrets.token_urlsafe(32)
    index = (STATIC / "index.html").read_text(encoding="utf-8")

    def args(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    def names(request: Request) -> list[str]:
        out = request.query_params.getlist("name")
        if not out:
            raise ExpbookError("name is required (repeat it for several runs: ?name=a&name=b)")
        return out

    def home(request: Request) -> Response:
        page = index.replace("__TOKEN__", token).replace(
            "__MODE__", "live" if not read_only else "read-only"
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript")
        if name not in ASSETS:
            return JSON({"reason": f"no static file {name[:100]!r}"}, status_code=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(STATIC / name, media_type=media)

    def favicon(request: Request) -> Response:
        # the tab icon: browsers ask for /favicon.ico whatever the page says
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @api
    def live_runs(request: Request) -> dict[str, Any]:
        """Running, crashed and failed runs (polled once a second by the pages); with `name`,
        that run's step curves so far (a running row has no commit to read them from)."""
        runs = live.scan(data.root)
        out: dict[str, Any] = {"runs": [r.to_json() for r in runs]}
        name = request.query_params.get("name")
        if name:
            run = live.find(runs, name)
            if run is None:
                raise NotFoundError(f"no running, crashed or failed run named {name[:200]!r}")
            out["run"] = run.to_json()
            out["curves"] = views.live_curves(run.root)
        elif request.query_params.get("curves") == "1":
            out["curves"] = {
                r.key: views.live_curves(r.root) for r in runs if r.status == "running"
            }
        return out

    @api
    def models(request: Request) -> dict[str, Any]:
        return modelview.models(data.root)

    @api
    def meta(request: Request) -> dict[str, Any]:
        snap = data.snapshot()
        return {"repo": data.root, "read_only": read_only, "count": len(snap.rows)}

    @api
    def table(request: Request) -> dict[str, Any]:
        return tables.table(data, args(request))

    @api
    def points(request: Request) -> dict[str, Any]:
        """Every filtered row's params and one metric, column-major (parallel coords, scatter)."""
        snap = data.snapshot()
        a = args(request)
        idx = tables.search(snap.flat, snap.matching(a.get("where", "")), a.get("q", ""))
        keys = [k for k in snap.params if len({repr(snap.flat[i].get(k)) for i in idx}) > 1]
        return {
            "names": [snap.flat[i]["name"] for i in idx],
            "params": {k: [snap.flat[i].get(k) for i in idx] for k in keys},
            "metrics": {k: [snap.flat[i].get(k) for i in idx] for k in snap.metrics},
        }

    @api
    def experiment(request: Request) -> dict[str, Any]:
        info = views.experiment(data, names(request)[0])
        info["version"] = note_version(data.find(info["name"]))
        return info

    @api
    def curves(request: Request) -> dict[str, Any]:
        return views.curves(data, names(request), request.query_params.get("metric"))

    @api
    def compare(request: Request) -> dict[str, Any]:
        return views.compare(data, names(request))

    @api
    def stats(request: Request) -> dict[str, Any]:
        a = args(request)
        snap = data.snapshot()
        idx = tables.search(snap.flat, snap.matching(a.get("where", "")), a.get("q", ""))
        metric = a.get("metric") or tables.default_metric(snap.metrics, snap.varying)
        group = [g for g in a.get("group", "").split(",") if g]
        return views.stats(
            [snap.rows[i] for i in idx],
            metric,
            group,
            a.get("baseline"),
        )

    @api
    def file(request: Request) -> Response:
        exp = data.find(names(request)[0])
        path = request.query_params.get("path", "")
        kind = files.content_type(path)
        if kind is None:
            raise NotFoundError(f"no file {path[:200]!r} (only images and plot data are served)")
        body, _source = files.read_file(data.root, exp, path)
        # an SVG opened directly must not run scripts: sandbox every file response
        return Response(
            body,
            media_type=kind,
            headers={
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @api
    def sweeps(request: Request) -> dict[str, Any]:
        return {"sweeps": views.sweep_names(data)}

    @api
    def sweep(request: Request) -> dict[str, Any]:
        return views.sweep(data, names(request)[0])

    async def write(request: Request) -> Response:
        what = request.path_params["what"]
        if what not in ("note", "tag"):
            return JSON({"reason": f"no write endpoint {what[:100]!r}"}, status_code=404)
        if read_only:
            return JSON(
                {
                    "reason": "the dashboard is read-only (--read-only, or network mode without "
                    "--allow-writes)"
                },
                status_code=403,
            )
        given = request.headers.get("x-expbook-token", "").encode("latin-1", "replace")
        if not secrets.compare_digest(given, token.encode()):
            return JSON(
                {"reason": "missing or wrong CSRF token (reload the page)"}, status_code=403
            )
        body = await auth.read_limited(request, MAX_BODY)
        if body is None:
            return JSON({"reason": f"request body over {MAX_BODY} bytes"}, status_code=413)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_write, what, body, user_of(request))

    def _write(what: str, body: bytes, user: User | None = None) -> Response:
        try:
            doc = validate(what, body, max_note=MAX_NOTE, max_tag=MAX_TAG)
        except ExpbookError as err:
            return JSON({"reason": str(err)}, status_code=400)
        return _apply(what, doc, user)

    def _apply(what: str, doc: dict[str, Any], user: User | None = None) -> Response:
        @api
        def run(_request: Request | None) -> dict[str, Any]:
            exp = data.find(doc["name"])
            if exp.rev == "workspace":
                raise ExpbookError("the workspace has no commit to annotate; commit it first")
            version = doc.get("version")
            # a team's write is redone on the remote's newest notes: nothing is overwritten
            if version is not None and version != note_version(exp) and team is None:
                raise Conflict(
                    "the notes changed since you loaded them",
                    {"notes": exp.notes, "tags": exp.tags, "version": note_version(exp)},
                )
            if team is not None:  # to the remote, as the signed-in user (issue 23)
                new = team.annotate(what, exp.rev, doc, user)
            elif what == "note":
                new = notes_lib.add_note(data.root, exp.rev, doc["text"])
            else:
                new = notes_lib.set_tag(
                    data.root, exp.rev, doc["tag"].strip(), remove=doc.get("remove", False)
                )
            return {"name": exp.name, "notes": new.get("notes", []), "tags": new.get("tags", [])}

        return run(None)

    allowed = auth.allowed_hosts("localhost", hosts or ())
    guard = auth.Guard(allowed, secret)
    if users is not None:
        guard = UsersGuard(allowed, None, users)

    def user_of(request: Request) -> User | None:
        return guard.user(request) if isinstance(guard, UsersGuard) else None

    team_routes, span = [], None
    if team is not None:  # its refresh thread runs while the app is served
        from expbook.ui.team import lifespan
        from expbook.ui.team import routes as team_api

        team_routes, span = team_api(team, user_of, token), lifespan(team)
    routes = [
        *auth.login_routes(guard),
        Route("/", home),
        Route("/static/{name}", static),
        Route("/favicon.ico", favicon),
        Route("/api/live", live_runs),
        Route("/api/models", models),
        Route("/api/meta", meta),
        Route("/api/table", table),
        Route("/api/points", points),
        Route("/api/experiment", experiment),
        Route("/api/curves", curves),
        Route("/api/compare", compare),
        Route("/api/stats", stats),
        Route("/api/file", file),
        Route("/api/sweeps", sweeps),
        Route("/api/sweep", sweep),
        *team_routes,
        Route("/api/{what}", write, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(auth.AuthMiddleware, guard=guard)],
        lifespan=span,
    )
    app.state.data = data
    app.state.token = token
    app.state.read_only = read_only
    app.state.guard = guard
    app.state.team = team
    return app
