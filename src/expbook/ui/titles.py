"""Chart titles from dvc.yaml's `title:` (top-level `plots:` and stage `plots:` entries), as
`dvc plots show` uses them: for the dashboard's curve panels and its sklearn plots.

Used by expbook.ui.views (curves) and expbook.ui.files (media).
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import Any

MAX_DVCYAML = 1_000_000  # bytes of a dvc.yaml read for titles


def declared_titles(root: str, rev: str) -> dict[str, str]:
    """{path (file or folder) a plot entry names: its title} of the top dvc.yaml at `rev`."""
    import yaml

    raw = _read_dvcyaml(root, rev)
    if not raw:
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


def _read_dvcyaml(root: str, rev: str) -> bytes | None:
    """dvc.yaml at a commit (files.read_git: a damaged commit is None) or in the work tree
    (a regular file of at most MAX_DVCYAML bytes: never a FIFO or device, issue 19)."""
    from expbook.errors import ExpbookError
    from expbook.ui.files import read_git

    try:
        if rev != "workspace":
            raw = read_git(root, rev, "dvc.yaml")
            return raw if raw is not None and len(raw) <= MAX_DVCYAML else None
        full = os.path.join(root, "dvc.yaml")
        st = os.stat(full)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_DVCYAML:
            return None
        with open(full, "rb") as fh:
            return fh.read(MAX_DVCYAML + 1)
    except (ExpbookError, OSError, ValueError):
        return None


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
