"""The terminal text of `expbook show` and `expbook compare`, fitted to a width (issue 18):
long values fold under their key, tables share the width out between columns.

Presentation only: `show_text(describe(...), width)`, `compare_text(compare(...), width)`.
"""

from __future__ import annotations

from typing import Any

from expbook.output import cell, short_names
from expbook.output.fit import NARROW, cells, fit_blocks, fit_table, fold, fold_pairs
from expbook.output.render import escape_control


def _section(title: str, pairs: list[tuple[str, str]], width: int) -> list[str]:
    if not pairs:
        return []
    return ["", *fold(f"{title}:", width)] + fold_pairs(pairs, width)


def _named(mapping: dict[str, Any], fmt: Any = cell) -> list[tuple[str, str]]:
    names = short_names(list(mapping))
    return [(names[key], fmt(value)) for key, value in mapping.items()]


def show_text(info: dict[str, Any], width: int) -> str:
    """`expbook show` as text no wider than `width`."""
    lines = fold(f"{info['name']}  {info['rev']}", width)
    head: list[tuple[str, str]] = []
    for key in ("kind", "status", "created", "baseline", "ref", "message"):
        if info.get(key):
            head.append((key, str(info[key])))
    for key in ("branches", "git_tags", "tags", "models"):
        if info.get(key):
            head.append((key, ", ".join(map(str, info[key]))))
    if info.get("sweep"):
        sweep = info["sweep"]
        head.append(
            (
                "sweep",
                f"{sweep.get('name')} trial {sweep.get('trial')} ({sweep.get('status', '')})",
            )
        )
    lines += fold_pairs(head, width, max_key=9)
    lines += _section("params", _named(info["params"]), width)
    lines += _section("metrics", _named(info["metrics"]), width)
    if info["curves"]:
        lines += ["", "curves:"]
        rows = [
            {
                "metric": name,
                "steps": str(s["steps"]),
                **{k: cell(s[k]) for k in ("first", "last", "min", "max", "mean", "std")},
                "best (step)": f"{cell(s['best'])} ({s['mode']} @ step {s['best_step']})",
            }
            for name, s in info["curves"].items()
        ]
        columns = ["metric", "steps", "first", "last", "min", "max", "mean", "std", "best (step)"]
        if width < 110:  # first/mean/std make room for the rest (all three are in --json)
            columns = [c for c in columns if c not in ("first", "mean", "std")]
        if width < NARROW:  # the table would fold `val/acc` and its header: one block a curve
            blocks = [(r["metric"], [(c, r[c]) for c in columns[1:]]) for r in rows]
            lines += fit_blocks(None, blocks, width).strip("\n").splitlines()
        else:
            text = fit_table(rows, columns, width, right=columns[1:-1], box=False, indent=2)
            lines += text.rstrip("\n").splitlines()
    if info["environment"]:
        env = info["environment"]
        lines += ["", *fold(f"environment ({env['path']}):", width)]
        content = env["content"]
        if isinstance(content, dict):
            for key, value in content.items():  # `key: value`, folded under the value
                lines += fold(f"{key}: {cell(value)}", width, "    ", first="  ")
        else:
            for part in str(content).strip().splitlines():
                lines += fold(part, width, "  ")

    def where(o: dict[str, Any]) -> str:
        if o.get("in_cache"):
            return "in cache"
        return "in git" if o.get("in_git") else "NOT in local cache"

    lines += _section(
        "outs",
        _named(info["outs"], fmt=lambda o: f"{o.get('hash')}  size={o.get('size')}  {where(o)}"),
        width,
    )
    if info["notes"]:
        lines += ["", "notes:"]
        for note in info["notes"]:
            for i, part in enumerate(str(note).split("\n")):
                lines += fold(part, width, "    ", first="  - " if i == 0 else "    ")
    lines += _section("errors", _named(info["errors"], fmt=str), width)
    if "verify" in info:
        problems = info["verify"]["problems"]
        lines += ["", f"verify ({info['verify']['checked']} cache objects hashed):"]
        lines += fold_pairs([(p["path"], f"{p['kind']}: {p['detail']}") for p in problems], width)
        if not problems:
            lines.append("  every cached output matches dvc.lock")
    return "\n".join(lines) + "\n"


def _names(result: dict[str, Any]) -> list[str]:
    names = [str(e["name"]) for e in result["experiments"]]
    if len(set(names)) < len(names):  # same exp name under two baselines: tell them apart
        names = [f"{e['name']}@{e['rev'][:7]}" for e in result["experiments"]]
    return names


def _delta_text(delta: Any) -> str:
    if isinstance(delta, int):
        return f"{delta:+d}"
    return f"{delta:+.4g}"


def metric_cell(value: Any, delta: Any, mark: str | None) -> str:
    """`0.91 (+0.02 better)`: the value, its delta vs the first experiment and the mark."""
    text = cell(value)
    if delta is None:
        return text
    return f"{text} ({_delta_text(delta)}{f' {mark}' if mark else ''})"


def compare_rows(result: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per shown param and metric (with a `section` column) for csv/md/html."""
    names = _names(result)
    short = short_names(list(result["params"]) + list(result["metrics"]))
    rows = [
        {"section": "params", "key": short[key], **{n: cell(v) for n, v in zip(names, values)}}
        for key, values in result["params"].items()
    ]
    for key, data in result["metrics"].items():
        row = {"section": "metrics", "key": short[key]}
        for name, v, d, m in zip(names, data["values"], data["deltas"], data["marks"]):
            row[name] = metric_cell(v, d, m)
        rows.append(row)
    return rows, ["section", "key", *names]


# below this many columns a value folds into unreadable slivers (issue 18: 19 runs at 80
# columns printed one character per column): compare then prints the runs in several tables
_MIN_COLUMN = 12
_MIN_KEY = 16


def _column_chunks(
    rows: list[dict[str, Any]], headers: dict[str, str], width: int
) -> list[list[str]]:
    """The experiment columns split into groups whose tables fit `width` with every column at
    least _MIN_COLUMN wide (or as wide as its widest cell, when less); one group when all fit."""
    key_w = min(max(cells(str(r["key"])) for r in rows), _MIN_KEY)
    room = width - (key_w + 4) - 1  # the key column with its border and padding, the last border
    chunks: list[list[str]] = [[]]
    used = 0
    for col, header in headers.items():
        widest = max([cells(header), *(cells(str(r.get(col, ""))) for r in rows)])
        need = min(widest, _MIN_COLUMN) + 3
        if chunks[-1] and used + need > room:
            chunks.append([])
            used = 0
        chunks[-1].append(col)
        used += need
    return chunks


def _fit_chunks(
    rows: list[dict[str, Any]], headers: dict[str, str], width: int, title: str
) -> list[str]:
    chunks = _column_chunks(rows, headers, width)
    n, out, start = len(headers), [], 0
    for chunk in chunks:
        part = title
        if len(chunks) > 1:
            span = f"{start + 1}" if len(chunk) == 1 else f"{start + 1}-{start + len(chunk)}"
            names = f"runs {span} of {n}"
            part = f"{title[:-1]}; {names})" if title.endswith(")") else f"{title} ({names})"
        out.append(fit_table(rows, ["key", *chunk], width, headers=headers, title=part))
        start += len(chunk)
    return out


def compare_text(result: dict[str, Any], width: int) -> str:
    """`expbook compare` as text no wider than `width`: params, then metrics (key metrics
    first) with deltas vs the first experiment marked better/worse by each one's direction.
    Runs that do not fit side by side go on in further tables (`runs 6-10 of 19`)."""
    names = _names(result)
    short = short_names(list(result["params"]) + list(result["metrics"]))
    headers = {f"c{i}": escape_control(n) for i, n in enumerate(names)}
    out: list[str] = []
    if result["params"]:
        rows = [
            {"key": short[key], **{f"c{i}": cell(v) for i, v in enumerate(values)}}
            for key, values in result["params"].items()
        ]
        out += _fit_chunks(rows, headers, width, "params")
    if result["metrics"]:
        rows = []
        for key, data in result["metrics"].items():
            row = {"key": short[key]}
            for i, (v, d, m) in enumerate(zip(data["values"], data["deltas"], data["marks"])):
                row[f"c{i}"] = metric_cell(v, d, m)
            rows.append(row)
        out += _fit_chunks(rows, headers, width, f"metrics (delta vs {names[0]})")
    notes = []
    hidden = result.get("hidden") or {}
    if hidden.get("params") or hidden.get("metrics"):
        notes.append(
            f"{hidden.get('params', 0)} params and {hidden.get('metrics', 0)} metrics are equal "
            "in every experiment: hidden (--all shows them)."
        )
    if any(data["direction"] for data in result["metrics"].values()):
        notes.append(
            "better/worse: by each metric's direction (declared in pyproject.toml "
            "[tool.expbook.directions], else from its name); unmarked: direction unknown."
        )
    if not result["params"] and not result["metrics"]:
        notes.insert(0, "no param or metric differs.")
    for note in notes:
        out.append("\n".join(fold(note, width)) + "\n")
    return "".join(out)
