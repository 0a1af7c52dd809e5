"""User-written YAML (params files, sweep specs, `-S` values) read the way DVC reads it.

YAML 1.2 through ruamel.yaml, as DVC parses params: `1e-4` is a float, `no` a string, a quoted
"001" stays a string. `-S key=value` values follow `dvc exp run -S` (hydra's override grammar,
which DVC uses). DVC's own files (dvc.yaml, dvc.lock) go through expbook.registry.fastyaml,
which is faster and tested against this reader. Both bound what they return the same way
(fastyaml.check_limits: alias budget, depth limit; issue 14). Used by expbook.sweep and .repro.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError

if TYPE_CHECKING:
    from ruamel.yaml import YAML


class YAMLFileError(ExpbookError):
    """A user YAML file (or `-S` value) that cannot be read or parsed; names the file and line."""


def _yaml() -> YAML:
    """The one place a YAML reader is built: every user document is parsed by what this returns."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True)


def _error(source: str, exc: Exception) -> YAMLFileError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    problem = getattr(exc, "problem", None) or exc.__class__.__name__
    return YAMLFileError(f"{where}: not valid YAML ({problem})")


def _bounded(source: str, size: int, load: Callable[[], Any]) -> Any:
    """What `load()` returns, within fastyaml's limits; YAMLFileError naming `source` if past."""
    from expbook.registry.fastyaml import MAX_DEPTH, LimitError, check_limits

    try:
        return check_limits(load(), size)
    except LimitError as exc:
        raise YAMLFileError(f"{source}: {exc}") from exc
    except RecursionError as exc:  # a recursive parser on deep nesting, before any check
        raise YAMLFileError(f"{source}: YAML nests deeper than {MAX_DEPTH} levels") from exc


def parse(text: str | bytes, source: str) -> Any:
    """A YAML 1.2 document as Python values; YAMLFileError naming `source` and the line if bad."""
    from ruamel.yaml.error import YAMLError

    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        return _bounded(source, len(text), partial(_yaml().load, text))
    except YAMLError as exc:
        raise _error(source, exc) from exc
    except ValueError as exc:  # e.g. a 5,000-digit integer (Python's int digit limit)
        raise YAMLFileError(f"{source}: a value cannot be read ({_short(exc)})") from exc


def load(path: str | os.PathLike[str]) -> Any:
    """parse() of a file; YAMLFileError when it cannot be read."""
    from expbook.registry.files import read_regular

    try:
        text = read_regular(path).decode("utf-8")  # a FIFO or device: an error, no hang
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise YAMLFileError(f"{os.fspath(path)}: cannot read ({reason})") from exc
    return parse(text, os.fspath(path))


def key_lines(text: str, source: str) -> dict[tuple[str, ...], int]:
    """Each mapping key's path -> its 1-based line (the document root is `()`).

    Call it after parse() accepted `text`: an alias is walked once, however often it is used."""
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import MappingNode

    try:
        root = _yaml().compose(text)
    except (YAMLError, RecursionError) as exc:
        raise _error(source, exc) from exc
    out: dict[tuple[str, ...], int] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode) and id(node) not in seen:
            seen.add(id(node))
            for key_node, value_node in node.value:
                sub = (*path, str(key_node.value))
                out[sub] = key_node.start_mark.line + 1
                stack.append((value_node, sub))
    return out


def parse_params(path: str, data: bytes) -> Any:
    """A params file's content by its extension, as DVC reads it: JSON, TOML, else YAML 1.2."""
    ext = posixpath.splitext(path)[1].lower()
    if ext not in (".json", ".toml"):
        return parse(data, path)
    try:
        if ext == ".json":
            return _bounded(path, len(data), partial(json.loads, data))
        import tomllib

        return _bounded(path, len(data), partial(tomllib.loads, data.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, TOMLDecodeError
        raise YAMLFileError(f"{path}: {ext[1:].upper()} file structure is corrupted") from exc


def _short(exc: Exception) -> str:
    return str(exc).split(";")[0][:120]


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` of a `-S` option -> (key, value) typed as `dvc exp run -S` types it.

    DVC parses `-S` with hydra's override grammar (`001` and quoted "001" stay strings, `nan`
    is a float, `no` a string); so does this. A comma list (`a=1,2`) gives the list of values.
    A `file:` prefix (`conf/extra.yaml:model.width=8`) stays on the key, as DVC splits it off.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, Override
    from hydra.errors import HydraException

    prefix, item = "", text
    if ":" in text.partition("=")[0]:  # as dvc/utils/cli_parse.py to_path_overrides
        file, _, item = text.partition(":")
        prefix = f"{file}:"
    try:
        override = OverridesParser.create().parse_override(item)
        value = override.value()
    except RecursionError as exc:
        raise YAMLFileError(f"-S {_clip(text)!r}: nests too deep") from exc
    except ValueError as exc:  # e.g. a 5,000-digit integer (Python's int digit limit)
        raise YAMLFileError(f"-S {_clip(text)!r}: a value cannot be read ({_short(exc)})") from exc
    except HydraException as exc:
        first = (str(exc).strip() or "bad syntax").splitlines()[0]
        raise YAMLFileError(f"-S {text!r}: cannot parse ({first})") from exc
    if override.is_delete():
        raise YAMLFileError(f"-S {text!r}: deleting a key (~key) is not supported here")
    if isinstance(value, ChoiceSweep):
        value = [Override._convert_value(v) for v in value.list]  # QuotedString -> str
    elif override.is_sweep_override():
        raise YAMLFileError(f"-S {text!r}: only comma lists of values are supported sweeps")
    return prefix + override.key_or_group, value
