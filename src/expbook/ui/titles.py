"""Chart titles from dvc.yaml's `title:` (top-level `plots:` and stage `plots:` entries), as
`dvc plots show` uses them: for the dashboard's curve panels and its sklearn plots.

Used by expbook.ui.views (curves) and expbook.ui.files (media).
"""

from __future__ import annotations

import posixpath
from typing import Any

MAX_DVCYAML = 1_000_000  # bytes of a dvc.yaml read for titles


def declared_titles(root: str, rev: str) -> dict[str, str]:
    """{path (file or folder) a plot entry names: its title} of the top dvc.yaml at `rev`."""
    import yaml

    from expbook.analysis.curves import read_file_at
    from expbook.errors import ExpbookError

    try:
        raw = read_file_at(root, rev, "dvc.yaml")
    except (ExpbookError, OSError, ValueError):
        return {}
    if not raw or len(raw) > MAX_DVCYAML:
        return {}
    try:
        doc = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    out: dict[str, str] = {}

    def add(entries: Any) -> None:
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            for path, opts in entry.items():
                if isinstance(path, str) and isinstance(opts, dict):
                    title = opts.get("title")
                    if isinstance(title, str) and title.strip():
                        out[posixpath.normpath(path).rstrip("/")] = title.strip()[:200]

    add(doc.get("plots"))
    stages = doc.get("stages")
    for stage in stages.values() if isinstance(stages, dict) else []:
        if isinstance(stage, dict):
            add(stage.get("plots"))
    return out


def title_of(path: str, titles: dict[str, str]) -> str | None:
    """The title of a file: its own entry's, else its nearest declared folder's."""
    path = posixpath.normpath(path)
    while path and path != ".":
        if path in titles:
            return titles[path]
        path = posixpath.dirname(path)
    return None


def curve_titles(root: str, rev: str, metrics: list[str]) -> dict[str, str]:
    """{curve metric: panel title}: a curve file's own title, or its folder's title followed by
    the metric (one folder entry titles several curves)."""
    titles = declared_titles(root, rev)
    out: dict[str, str] = {}
    for path, title in titles.items():
        if "/plots/metrics" not in f"/{path}":
            continue
        rest = path.split("plots/metrics", 1)[1].strip("/")
        rest = rest[: -len(".tsv")] if rest.endswith(".tsv") else rest
        for metric in metrics:
            name = metric.split(":", 1)[-1]  # several dvclive folders: "<folder>:<metric>"
            if name == rest:
                out[metric] = title
            elif not rest or name.startswith(rest + "/"):
                out.setdefault(metric, f"{title}: {name}")
    return out
