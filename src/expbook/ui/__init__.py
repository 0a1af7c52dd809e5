"""The dashboard wing: `expbook ui` (a local web server over the registry) and `expbook report`
(the same views as one self-contained HTML file).

`data` (rows in memory, where/search/sort/group/paging), `views` (experiment, compare, curves,
stats, sweeps as JSON-able dicts), `files` (images and plots read from git or the DVC cache,
only what the registry shows), `auth` (Host allow-list, the network-mode secret, login page),
`writes` (the write endpoints' bodies, type-checked), `server` (Starlette app:
`create_app(repo)`, `serve.run_server()`),
`report` (the single-file HTML), `static/` (index.html, app.css, app.js, plots.js, charts.js,
run.js, sweeps.js, team.js; Plotly.js comes from the `plotly` wheel). Needs the optional extra: pip install 'expbook[ui]'.

May import: registry, query, analysis, sweep, errors, output.

Python:  from expbook.ui import create_app; app = create_app(".")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError

if TYPE_CHECKING:
    from starlette.applications import Starlette

EXTRA_HINT = "the dashboard needs the optional extra: pip install 'expbook[ui]'"


def require(*modules: str) -> None:
    """ExpbookError naming the `ui` extra when one of its packages is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ExpbookError(f"{EXTRA_HINT} (missing: {', '.join(missing)})")


def create_app(repo: str = ".", **kw: Any) -> Starlette:
    require("starlette", "uvicorn", "plotly")
    from expbook.ui.server import create_app as _create

    return _create(repo, **kw)
