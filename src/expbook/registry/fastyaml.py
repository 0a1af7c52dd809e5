"""YAML for the registry: a fast reader for the plain block-YAML that DVC and people write in
params.yaml / dvc.lock, falling back to PyYAML (C loader, YAML 1.2 scalars like DVC's ruamel).

Used by expbook.registry.dvcfiles; parsing YAML is most of a cold registry read, hence the fast path.
`check_limits` bounds what any YAML loader returned (alias bombs, deep nesting; issue 14); the
sweep spec reader uses it too.
"""

from __future__ import annotations

import math
import re
from typing import Any, cast

_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
# YAML timestamps (dates) become datetime objects in ruamel and PyYAML alike
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULL = {"", "~", "null", "Null", "NULL"}
# anything that needs the real parser: anchors, tags, block scalars, flow maps, directives
_SPECIAL_START = set("&*!|>{%@`\"'?,")


# nodes a document may expand to through aliases (`&a [*b, *b, ...]` bombs: ~700 bytes -> 10^9);
# a document without aliases never reaches max(MAX_NODES, its length in characters)
MAX_NODES = 100_000
# deepest nesting of mappings/lists accepted (params are a few levels; flatten() recurses)
MAX_DEPTH = 100


class LimitError(ValueError):
    """A YAML document past the node budget or the depth limit; the message says which."""


class _Fallback(Exception):
    """The text uses YAML the fast reader does not handle."""


def check_limits(doc: Any, size: int = 0) -> Any:
    """`doc` itself, or LimitError when it expands past the node budget or nests too deep.

    Walks iteratively and stops at the budget, so an alias bomb costs ~MAX_NODES steps."""
    budget = max(MAX_NODES, size)
    count = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > budget:
            raise LimitError(f"YAML aliases expand past {budget} nodes")
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= MAX_DEPTH and children:
            raise LimitError(f"YAML nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return doc


def scalar(text: str) -> Any:
    """A plain scalar resolved with YAML 1.2 core-schema rules."""
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 16) if text.startswith("0x") else int(text)
    if _FLOAT.fullmatch(text):
        low = text.lower().lstrip("+")
        if low.endswith("inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        if low == ".nan":  # float() takes "nan", not YAML's ".nan"
            return math.nan
        return float(text)
    return text


def _strip_comment(text: str) -> str:
    """The value part of `text` (already stripped) without a trailing `# comment`."""
    if text.startswith("#"):
        return ""
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        tail = text[end + 1 :].strip() if end > 0 else "x"
        if tail and not tail.startswith("#"):
            raise _Fallback  # escaped quotes, or text after the string
        return text[: end + 1]
    # in a plain scalar or flow list, " #" always starts a comment
    cut = text.find(" #")
    return text if cut < 0 else text[:cut].rstrip()


def _value(text: str) -> Any:
    if text[:1] in ("'", '"'):
        quote = text[0]
        if len(text) < 2 or text[-1] != quote or quote in text[1:-1] or "\\" in text:
            raise _Fallback
        return text[1:-1]
    if text[:1] == "[":
        if not text.endswith("]") or any(c in text[1:-1] for c in "[]{}'\"#"):
            raise _Fallback
        inner = text[1:-1].strip()
        items = [item.strip() for item in inner.split(",")] if inner else []
        if any(_DATE.match(item) or item[:2] in ("-", "- ") for item in items):
            raise _Fallback
        return [scalar(item) for item in items]
    if (
        text[:1] in _SPECIAL_START
        or ": " in text
        or text.endswith(":")
        or _DATE.match(text)
        or text[:2] in ("-", "- ")  # a block entry indicator, not a string (found by hypothesis)
    ):
        raise _Fallback
    return scalar(text)


def _key(text: str) -> str:
    if not text or text[:1] in _SPECIAL_START or text[:1] in "-[" or "#" in text:
        raise _Fallback
    return text


_PENDING = object()  # a key whose value is on the following lines
_SKIP = ()  # a blank or comment line
# tokenized lines by their text: params.yaml/dvc.lock files of many experiments share most
# lines, so a cold read of thousands of commits tokenizes each distinct line once
_LINES: dict[str, tuple[Any, ...]] = {}
_LINES_MAX = 200_000


def _tokenize(raw: str) -> tuple[Any, ...]:
    """(kind, indent, key, value, child indent) of one line; kind: "key", "ikey", "item"."""
    stripped = raw.strip()
    if not stripped or stripped.startswith("#"):
        return _SKIP
    if "\t" in raw or stripped.startswith(("---", "...")):
        raise _Fallback
    indent = len(raw) - len(raw.lstrip(" "))
    if stripped == "-" or stripped.startswith("- "):
        body = stripped[1:].strip()
        key, sep, rest = body.partition(":")
        if body and sep and (rest == "" or rest.startswith(" ")) and body[:1] not in "'\"[":
            rest = _strip_comment(rest.strip())
            return (
                "ikey",
                indent,
                _key(key.strip()),
                _value(rest) if rest else _PENDING,
                indent + (len(stripped) - len(body)),
            )
        if _strip_comment(body):
            return ("item", indent, None, _value(_strip_comment(body)), 0)
        raise _Fallback
    key, sep, rest = stripped.partition(":")
    if not sep or (rest and not rest.startswith(" ")):
        raise _Fallback
    key = _key(key.strip())
    rest = _strip_comment(rest.strip())
    return ("key", indent, key, _value(rest) if rest else _PENDING, 0)


def _parse(text: str) -> Any:
    root: dict[str, Any] = {}
    # (indent of the container's lines, container); a key without a value waits in `pending`
    # until the next line shows whether it holds a mapping, a list, or nothing (null)
    stack: list[tuple[int, Any]] = [(0, root)]
    pending: tuple[Any, str, int] | None = None  # (container, key, indent)
    lines = _LINES
    for raw in text.split("\n"):
        tok = lines.get(raw)
        if tok is None:
            tok = _tokenize(raw)
            if len(lines) >= _LINES_MAX:
                lines.clear()
            lines[raw] = tok
        if tok is _SKIP:
            continue
        kind, indent, key, value, child_indent = tok
        if type(value) is list:
            value = list(value)  # the memoised list is shared: hand out a copy
        is_item = kind != "key"
        if pending is not None:
            parent, pkey, pindent = pending
            pending = None
            if len(stack) >= MAX_DEPTH:
                raise LimitError(f"YAML nests deeper than {MAX_DEPTH} levels")
            if is_item and indent >= pindent:
                parent[pkey] = []
                stack.append((indent, parent[pkey]))
            elif indent > pindent:
                parent[pkey] = {}
                stack.append((indent, parent[pkey]))
            else:
                parent[pkey] = None
        want = list if is_item else dict
        while len(stack) > 1 and (
            stack[-1][0] > indent or (stack[-1][0] == indent and type(stack[-1][1]) is not want)
        ):
            stack.pop()
        container: Any
        top_indent, container = stack[-1]
        if top_indent != indent or type(container) is not want:
            raise _Fallback
        if kind == "item":
            cast("list[Any]", container).append(value)
        elif kind == "ikey":
            item: dict[str, Any] = {}
            cast("list[Any]", container).append(item)
            stack.append((child_indent, item))
            if len(stack) > MAX_DEPTH:
                raise LimitError(f"YAML nests deeper than {MAX_DEPTH} levels")
            if value is _PENDING:
                pending = (item, key, child_indent)
            else:
                item[key] = value
        else:
            if key in container:
                raise _Fallback  # duplicate keys: let the real parser decide
            if value is _PENDING:
                pending = (container, key, indent)
            else:
                container[key] = value
    if pending is not None:
        parent, pkey, _ = pending
        parent[pkey] = None
    return root if root else None  # an empty document is null, as in YAML


_LOADER = None


def _loader() -> type:
    """A C-accelerated safe loader resolving scalars the YAML 1.2 way (as DVC's ruamel does).

    PyYAML is YAML 1.1: it reads `1e-3` as a string and `yes`/`on` as booleans, where DVC
    reads a float and strings; the registry must report the same values as DVC.
    """
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class Loader(base):  # type: ignore[misc, valid-type]
            pass

        drop = ("tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
        Loader.yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in items if tag not in drop]
            for first, items in base.yaml_implicit_resolvers.items()
        }
        Loader.add_implicit_resolver(
            "tag:yaml.org,2002:bool",
            re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
            list("tTfF"),
        )
        Loader.add_implicit_resolver(
            "tag:yaml.org,2002:int", re.compile(rf"^(?:{_INT.pattern})$"), list("-+0123456789")
        )
        Loader.add_implicit_resolver(
            "tag:yaml.org,2002:float", re.compile(rf"^(?:{_FLOAT.pattern})$"), list("-+0123456789.")
        )
        Loader.add_constructor(
            "tag:yaml.org,2002:int", lambda loader, node: scalar(loader.construct_scalar(node))
        )
        Loader.add_constructor(
            "tag:yaml.org,2002:float", lambda loader, node: scalar(loader.construct_scalar(node))
        )
        _LOADER = Loader
    return _LOADER


def loads(data: bytes | str) -> Any:
    """Parse YAML text; the fast reader when it can, PyYAML otherwise (its errors propagate)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return _parse(text)
    except _Fallback:
        pass
    import yaml

    try:
        doc = yaml.load(text, Loader=_loader())
    except RecursionError as exc:  # the pure-Python loader on deep flow/block nesting
        raise LimitError(f"YAML nests deeper than {MAX_DEPTH} levels") from exc
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own flow-level limit
            raise LimitError(f"YAML nests deeper than {MAX_DEPTH} levels") from exc
        raise
    return check_limits(doc, len(text))
