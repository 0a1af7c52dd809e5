"""The bodies of the dashboard's write endpoints (`POST /api/note`, `POST /api/tag`), checked
field by field before anything is written: a JSON object of known keys with exact types (no
coercion: `{"remove": "false"}` is refused, never a removal), strings without lone surrogates
or NUL, bounded nesting and length.

Used by expbook.ui.server.
"""

from __future__ import annotations

import json
from typing import Any

from expbook.errors import ExpbookError

MAX_DEPTH = 32  # a write body is one flat object; deeper nesting is refused before parsing
MAX_NAME = 1000

# endpoint -> field -> (types, required)
FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "note": {"name": ((str,), True), "text": ((str,), True), "version": ((str,), False)},
    "tag": {
        "name": ((str,), True),
        "tag": ((str,), True),
        "remove": ((bool,), False),
        "version": ((str,), False),
    },
}


def nesting(body: bytes) -> int:
    """The deepest [ / { nesting of a JSON text (brackets inside strings not counted)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _text(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise ExpbookError(f"{field!r} is longer than {limit} characters")
    if "\x00" in value:
        raise ExpbookError(f"{field!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ExpbookError(f"{field!r} is not valid Unicode (a lone surrogate)") from None
    return value


def validate(what: str, body: bytes, *, max_note: int, max_tag: int) -> dict[str, Any]:
    """The checked body of a write to `what`; ExpbookError (-> 400) naming the bad field."""
    if nesting(body) > MAX_DEPTH:
        raise ExpbookError("the body is nested too deeply")
    try:
        doc = json.loads(body or b"null")
    except (ValueError, RecursionError):
        raise ExpbookError("the body is not valid JSON") from None
    fields = FIELDS[what]
    if not isinstance(doc, dict):
        raise ExpbookError("expected a JSON object with a string 'name'")
    for key, value in doc.items():
        if key not in fields:
            raise ExpbookError(f"unknown field {key[:100]!r} (expected: {', '.join(fields)})")
        types, _required = fields[key]
        # bool is an int in Python and "false" is a str: compare exact types, never coerce
        if type(value) not in types and not (value is None and key == "version"):
            want = " or ".join("boolean" if t is bool else "string" for t in types)
            raise ExpbookError(f"{key!r} must be a {want}, not {type(value).__name__}")
    for key, (_types, required) in fields.items():
        if required and key not in doc:
            raise ExpbookError(f"{key!r} is required")
    _text("name", doc["name"], MAX_NAME)
    if doc.get("version") is not None:
        _text("version", doc["version"], 100)
    if what == "note":
        if not _text("text", doc["text"], max_note).strip():
            raise ExpbookError(
                f"'text' must be a non-empty string of at most {max_note} characters"
            )
    else:
        if not _text("tag", doc["tag"], max_tag).strip():
            raise ExpbookError(f"'tag' must be a non-empty string of at most {max_tag} characters")
    return doc
