"""MkDocs hook: docs/cli.md's marker becomes the reference generated from the click commands
(expbook.cli.reference), so the published reference is always the commands' own --help."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- expbook-cli-reference -->"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != "cli.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/cli.md lost its marker {MARKER}")
    from expbook.cli.reference import markdown as reference

    return markdown.replace(MARKER, reference())
