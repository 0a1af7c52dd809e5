"""What "the same result" means when a reproduction is compared: file digests that leave out
wall-clock keys and columns (JSON/YAML keys, TSV/CSV columns, dvclive curves of ignored
metrics). Used by expbook.repro.reproduce.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from expbook.registry import yamlio


def matches(text: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(text, g) for g in globs)


def _drop_keys(node: Any, ignore: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _drop_keys(v, ignore) for k, v in node.items() if not matches(str(k), ignore)}
    if isinstance(node, list):
        return [_drop_keys(v, ignore) for v in node]
    return node


def normalised_digest(path: Path, ignore: list[str]) -> str:
    """md5 of a file's content without ignored JSON/YAML keys or TSV/CSV columns (timestamps)."""
    data = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix in (".tsv", ".csv"):
            delimiter = "\t" if suffix == ".tsv" else ","
            rows = list(csv.reader(io.StringIO(data.decode()), delimiter=delimiter))
            header = rows[0] if rows else []
            keep = [i for i, name in enumerate(header) if not matches(name, ignore)]
            data = json.dumps([[r[i] for i in keep if i < len(r)] for r in rows]).encode()
        elif suffix in (".json", ".yaml", ".yml"):
            doc = json.loads(data) if suffix == ".json" else yamlio.parse(data, str(path))
            data = json.dumps(_drop_keys(doc, ignore), sort_keys=True, default=str).encode()
    except (ValueError, yamlio.YAMLFileError):
        pass  # not parseable: compare raw bytes
    return hashlib.md5(data).hexdigest()


def curve_name(path: str) -> str | None:
    """A dvclive step TSV's metric name as a metrics key would spell it ("time.epoch_s")."""
    head, sep, tail = path.rpartition("/plots/metrics/")
    if not sep and path.startswith("plots/metrics/"):
        tail, sep = path[len("plots/metrics/") :], "/"
    return tail.rsplit(".", 1)[0].replace("/", ".") if sep and tail.endswith(".tsv") else None


def _files_of(root: Path, rel: str, ignore: list[str]) -> dict[str, str]:
    target = root / rel
    files = (
        [target]
        if target.is_file()
        else sorted(Path(d) / n for d, _, names in os.walk(target) for n in names)
        if target.is_dir()
        else []
    )
    out = {}
    for file in files:
        name = file.relative_to(root).as_posix()
        curve = curve_name(name)
        # a curve of an ignored metric (e.g. time/epoch_s.tsv): its values are wall-clock too
        ignored = curve is not None and matches(curve, ignore)
        out[name] = "ignored" if ignored else normalised_digest(file, ignore)
    return out
