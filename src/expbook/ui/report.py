"""`expbook report`: the dashboard's views as ONE self-contained HTML file: index.html with the
CSS, app.js, plots.js, charts.js, Plotly.js and the data inlined (rows, curves and pages of the
first runs, stats, sweeps); nothing is fetched when it is opened. Also the HTML of `check --html`.

The data, the scripts and Plotly.js (4.8 MB) are stored compressed (raw DEFLATE, 7 bits a
character, see `pack7`): report-boot.js inflates the data and runs the scripts, and inflates
Plotly only for the first chart. Floats are rounded to 6 significant digits. A report of the demo's runs is ~1.8 MB instead of ~5.5 MB. The repository is named by
its folder name, never by its local absolute path.

Used by `expbook report` and `expbook check --report X --html`.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import os
import re
import time
import zlib
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError
from expbook.output import write_output
from expbook.registry.ranking import rank_columns
from expbook.ui import files, views
from expbook.ui.data import META_COLUMNS, RepoData, default_metric, varying_columns
from expbook.ui.titles import curve_titles

if TYPE_CHECKING:
    from expbook.repro.check import CheckResult

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_EMBED = 2_000_000  # bytes of one embedded image
MAX_REPORT_POINTS = 1000  # points per embedded curve


def _read(name: str) -> str:
    with open(os.path.join(STATIC, name), encoding="utf-8") as fh:
        return fh.read()


def _script(js: str) -> str:
    # a "</script" inside the JS would end the element early; in JS strings "<\/" is the same
    return "<script>" + js.replace("</script", "<\\/script") + "</script>"


def json_for_html(value: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no `<`, `>` or `&` left."""
    from expbook.ui.server import to_json

    return to_json(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(
        9, zlib.DEFLATED, -15, 9
    )  # raw DEFLATE: DecompressionStream's "deflate-raw"
    return packer.compress(data) + packer.flush()


# the characters HTML changes or reads inside a <script> element: NUL, CR and "<"
_ESCAPES = {0: "\u0100", 13: "\u010d", 60: "\u013c"}


def pack7(data: bytes) -> str:
    """Bytes as text of 7 bits a character (8 characters per 7 bytes, big-endian), the values
    NUL, CR and `<` as U+0100 + value: safe inside <script>, 14 % larger than the bytes
    (base64: 33 %). report-boot.js's unpack7 reverses it."""
    padded = data + b"\0" * (-len(data) % 7)
    out = bytearray()
    shifts = (49, 42, 35, 28, 21, 14, 7, 0)
    for i in range(0, len(padded), 7):
        v = int.from_bytes(padded[i : i + 7], "big")
        out.extend([(v >> s) & 127 for s in shifts])
    return out.decode("ascii").translate(_ESCAPES)


def _packed_script(element_id: str, data: bytes) -> str:
    squeezed = _deflate(data)
    return (
        f'<script type="application/x-expbook-deflate" id="{element_id}" '
        f'data-packed="{len(squeezed)}" data-size="{len(data)}">{pack7(squeezed)}</script>'
    )


@functools.lru_cache(maxsize=2)
def _plotly_script(path: str, mtime: float) -> str:
    with open(path, "rb") as fh:
        return _packed_script("expbook-z-plotly", fh.read())


def _thin(series: dict[str, Any], n: int = MAX_REPORT_POINTS) -> dict[str, Any]:
    total = len(series["steps"])
    if total <= n:
        return series
    keep = sorted({int(i * total / n) for i in range(n)} | {total - 1})
    return {k: [v[i] for i in keep] for k, v in series.items()}


def _round(value: Any) -> Any:
    """Floats to 6 significant digits (what the charts show): random-looking 17-digit floats
    are most of a report's data and compress badly."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def _slim_curve(series: dict[str, Any]) -> dict[str, Any]:
    return {**series, "values": _round(series["values"])}


def _slim_json(path: str, body: bytes) -> bytes:
    """A dvclive sklearn plot (JSON, often indented) compact and rounded; anything else as is."""
    if not path.endswith(".json"):
        return body
    try:
        doc = json.loads(body)  # Python's json: a ROC threshold may be a bare Infinity
    except ValueError:
        return body
    return json.dumps(_round(doc), separators=(",", ":")).encode("utf-8")


def _data_uri(path: str, data: bytes) -> str:
    kind = files.content_type(path) or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def build(
    repo: str,
    *,
    where: str | None = None,
    metric: str | None = None,
    sweeps: list[str] | None = None,
    runs: int = 50,
) -> dict[str, Any]:
    """Everything the report shows, as one JSON-able dict (what app.js reads as EB.report)."""
    from expbook.sweep import state

    data = RepoData(repo)
    snap = data.snapshot()
    idx = snap.matching(where or "")  # a bad --where is the CLI's QueryError
    rows = [snap.rows[i] for i in idx]
    params = [k for k in snap.params if any(k in r.params for r in rows)]
    metrics = [k for k in snap.metrics if any(k in r.metrics for r in rows)]
    varying = varying_columns(rows, params, metrics)
    doc: dict[str, Any] = {
        "repo": os.path.basename(data.root.rstrip("/\\")) or "repository",  # not its local path
        "where": where or "",
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "columns": {
            "meta": list(META_COLUMNS),
            "params": params,
            "metrics": metrics,
            "varying": varying,
            "ranked": rank_columns(params, metrics, varying),  # the terminal table's ranking
        },
        "rows": [snap.row_dict(i) for i in idx],
        "curves": {},
        "experiments": {},
        "files": {},
    }
    for exp in [r for r in rows if r.kind != "workspace"][:runs]:
        found = views.curves_of(data, exp.rev)
        if found:
            doc["curves"][exp.name] = {k: _slim_curve(_thin(v)) for k, v in found.items()}
        page = views.experiment(data, exp.name)
        embedded = {}
        for item in page["media"]:
            try:
                body, _src = files.read_file(data.root, exp, item["path"])
            except ExpbookError:
                continue
            if len(body) <= MAX_EMBED:
                embedded[item["path"]] = _data_uri(item["path"], _slim_json(item["path"], body))
        page["media"] = [m for m in page["media"] if m["path"] in embedded]
        doc["files"][exp.name] = embedded
        doc["experiments"][exp.name] = page
    names = sorted({m for c in doc["curves"].values() for m in c})
    base = rows[0].rev if rows and rows[0].rev != "workspace" else "workspace"
    doc["curve_titles"] = curve_titles(data.root, base, names)  # dvc.yaml's title: (issue 21)
    if metric or doc["columns"]["metrics"]:
        try:
            doc["stats"] = views.stats(
                rows, metric or default_metric(metrics, doc["columns"]["varying"]), [], None
            )
        except ExpbookError as err:
            if metric:
                raise
            doc["stats"] = None
            doc["stats_error"] = str(err)
    doc["sweeps"] = []
    for name in sweeps if sweeps is not None else state.names(data.root):
        try:
            doc["sweeps"].append(views.sweep(data, name))
        except ExpbookError:
            if sweeps is not None:  # asked for by name: its error; else left out (issue 19)
                raise
    return doc


def render(doc: dict[str, Any]) -> str:
    """index.html with every asset inlined; the data and Plotly.js compressed (see pack7)."""
    from expbook.ui.server import plotly_js

    page = _read("index.html")
    page = page.replace("__TOKEN__", "").replace("__MODE__", "report")
    page = re.sub(r"<link rel=\"icon\"[^>]*>", "", page)  # one file: nothing to fetch
    plotly = plotly_js()
    # the scripts index.html loads, in its order (Plotly.js is loaded by plots.js on demand);
    # report-boot.js runs them once it has filled #expbook-data
    listed = page[page.index("<!--SCRIPTS-->") : page.index("<!--/SCRIPTS-->")]
    sources = [_read(name) for name in re.findall(r'src="static/([\w.-]+)"', listed)]
    blocks = {
        "STYLE": "<style>" + _read("app.css") + "</style>",
        "DATA": _packed_script("expbook-z-data", json_for_html(doc).encode("utf-8"))
        + _packed_script("expbook-z-js", json.dumps(sources).encode("utf-8"))
        + '<script type="application/json" id="expbook-data"></script>'
        + _script(_read("report-boot.js")),
        "SCRIPTS": _plotly_script(str(plotly), plotly.stat().st_mtime),
    }
    for name, text in blocks.items():
        start, end = page.index(f"<!--{name}-->"), page.index(f"<!--/{name}-->")
        page = page[:start] + text + page[end + len(f"<!--/{name}-->") :]
    return page


def write_report(
    repo: str, output: str | os.PathLike[str], *, force: bool = False, **kw: Any
) -> int:
    """Build and write the report (atomically, via write_output's checks); returns its size."""
    from expbook.output import check_output_path

    if os.fspath(output) != "-":
        check_output_path(output, force=force)  # refuse before the work, not after
    text = render(build(repo, **kw))
    write_output(output, text, force=force)
    return len(text.encode("utf-8"))


# ---------------------------------------------------------------- expbook check --html
def check_html(res: CheckResult) -> str:
    """`expbook check`'s report as a self-contained HTML page (same facts as the Markdown)."""
    from expbook.repro.check import markdown_report

    rep = res.reproduction
    verdict = "passed" if res.passed else ("error" if rep.error else "failed")
    esc = html.escape

    def table(head: list[str], body: list[list[Any]]) -> str:
        cells = "".join(
            "<tr>" + "".join(f"<td>{esc(_text(v))}</td>" for v in row) + "</tr>" for row in body
        )
        return (
            '<table class="grid"><thead><tr>'
            + "".join(f"<th>{esc(h)}</th>" for h in head)
            + f"</tr></thead><tbody>{cells}</tbody></table>"
        )

    parts = [
        f'<h2 class="verdict-{verdict}">expbook check: {esc(verdict)}</h2>',
        f"<p>reproduced <code>{esc(rep.rev[:7])}</code> from scratch: "
        f"{esc(rep.summary().split(': ', 1)[-1])}</p>",
        f"<p>reference: committed metrics of <code>{esc(str(res.against))}</code> "
        f"(<code>{esc(res.against_sha[:7])}</code>)</p>",
    ]
    if rep.error:
        parts.append(f'<pre class="error">{esc(rep.error)}</pre>')
    else:
        if res.rules:
            parts += [
                "<h3>Rules</h3>",
                table(
                    ["rule", "metric", "value", "reference", "result"],
                    [
                        [r.rule, r.metric, r.value, r.reference, "FAILED" if r.failed else r.status]
                        for r in res.rules
                    ],
                ),
            ]
        status = {d.key: d for d in rep.diffs if d.kind == "metric"}
        keys = sorted(set(rep.reproduced_metrics) | set(res.reference))
        parts += [
            "<h3>Metrics</h3>",
            table(
                ["metric", "reference", "reproduced", "reproduction"],
                [
                    [
                        k,
                        res.reference.get(k),
                        rep.reproduced_metrics.get(k),
                        status[k].status if k in status else "—",
                    ]
                    for k in keys
                ],
            ),
        ]
        outs = [d for d in rep.diffs if d.kind == "out"]
        if outs:
            parts += [
                "<h3>Outputs</h3>",
                table(
                    ["output", "recorded", "reproduced", "status"],
                    [[d.key, d.recorded, d.reproduced, d.status] for d in outs],
                ),
            ]
    parts.append(
        "<details><summary>Markdown</summary><pre>" + esc(markdown_report(res)) + "</pre></details>"
    )
    style = (
        _read("app.css")
        + ".verdict-passed{color:#1e8e3e}.verdict-failed,.verdict-error{color:#c0392b}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>expbook check</title>'
        f"<style>{style}</style></head><body><main>{''.join(parts)}</main></body></html>\n"
    )


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)
