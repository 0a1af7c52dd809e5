"""`expbook init`: add what expbook needs to an existing DVC repository, never its pipeline.

Three files, planned first and written only when every one of them can be:

- ``pyproject.toml``: a ``[tool.expbook.directions]`` table (expbook.registry.directions reads
  it) with the repository's metric keys; created holding just that table when absent, the
  table appended to an existing file that has none (checked by parsing the result), left as
  it is when the table exists. An existing pyproject.toml is never rewritten otherwise.
- ``sweeps/example.yaml``: a sweep spec template (the format of expbook.sweep.spec).
- ``.github/workflows/expbook-check.yml``: a CI workflow running the ``expbook check`` gate.

Existing sweep/workflow files are refused unless ``force``. Pure planning (`plan`) is separate
from writing (`apply`), so ``--dry-run`` lists exactly what a real run does.

May import: expbook.registry.directions, expbook.errors.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expbook.errors import ExpbookError
from expbook.registry.directions import DECLARATION_FILE, DECLARATION_TABLE, from_name

SWEEP_FILE = "sweeps/example.yaml"
WORKFLOW_FILE = ".github/workflows/expbook-check.yml"


class ScaffoldError(ExpbookError):
    """A file that cannot be scaffolded (exists, unreadable, or not a DVC repository)."""


@dataclass(frozen=True)
class Planned:
    """One file of the scaffold: what happens to it and the text it ends up with."""

    path: str  # relative to the repository root
    action: str  # "create", "append", "overwrite" or "keep"
    text: str  # the whole new file ("" for keep)
    why: str = ""

    @property
    def changes(self) -> bool:
        return self.action != "keep"


def _toml_key(key: str) -> str:
    return json.dumps(key)  # a TOML basic string is a JSON string for these keys


def directions_table(metrics: Sequence[str]) -> str:
    """The `[tool.expbook.directions]` table: a line per metric, commented where the name
    does not say its direction."""
    lines = [
        f"[{DECLARATION_TABLE}]",
        "# Which way each metric is better, read by best, compare, gc, sweep, stats, check and",
        '# the dashboard. Globs work ("*.loss" = "min"); an exact key beats a glob.',
    ]
    for key in sorted(set(metrics)):
        mode = from_name(key)
        if mode is None:
            lines.append(f'# {_toml_key(key)} = "max"  # min or max? its name does not say')
        else:
            lines.append(f'{_toml_key(key)} = "{mode}"')
    if not metrics:
        lines.append('# "val.loss" = "min"')
        lines.append('# "val.acc" = "max"')
    return "\n".join(lines) + "\n"


def _plan_pyproject(root: Path, metrics: Sequence[str]) -> Planned:
    path = root / DECLARATION_FILE
    table = directions_table(metrics)
    if path.is_symlink():
        raise ScaffoldError(f"{DECLARATION_FILE} is a symlink: add [{DECLARATION_TABLE}] by hand")
    if not path.exists():
        return Planned(DECLARATION_FILE, "create", table, "metric directions")
    from expbook.registry.files import MAX_FILE_BYTES, read_regular

    try:  # a regular file only (a FIFO hung `expbook init`), as it is: CRLF kept
        old = read_regular(path, MAX_FILE_BYTES).decode("utf-8")
        data = tomllib.loads(old)
    except OSError as e:
        raise ScaffoldError(f"{DECLARATION_FILE}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ScaffoldError(f"{DECLARATION_FILE}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ScaffoldError(f"{DECLARATION_FILE}: not valid TOML ({e}); left unchanged") from None
    tool = data.get("tool", {})
    expbook = tool.get("expbook", {}) if isinstance(tool, dict) else None
    if not isinstance(expbook, dict):  # `tool = 1`, `[tool] expbook = "x"`
        raise ScaffoldError(
            f"{DECLARATION_FILE}: cannot append [{DECLARATION_TABLE}] to it (its tool.expbook "
            "is no table); add the table by hand"
        )
    if "directions" in expbook:
        return Planned(DECLARATION_FILE, "keep", "", f"[{DECLARATION_TABLE}] exists")
    eol = "\r\n" if "\r\n" in old else "\n"  # a Windows-edited file keeps its line ends
    sep = ("" if old.endswith("\n") or not old else eol) + eol
    new = old + sep + table.replace("\n", eol)
    try:
        merged = tomllib.loads(new)
        joined = isinstance(merged["tool"]["expbook"]["directions"], dict)
    except (tomllib.TOMLDecodeError, KeyError, TypeError):
        joined = False
    if not joined:
        raise ScaffoldError(
            f"{DECLARATION_FILE}: cannot append [{DECLARATION_TABLE}] to it (its [tool.expbook] "
            "is written in a way a new table cannot join); add the table by hand"
        )
    return Planned(DECLARATION_FILE, "append", new, f"[{DECLARATION_TABLE}] appended")


def _yaml_number(value: float) -> str:
    """A float as YAML 1.1 and 1.2 both read it: `0.07`, `1.0e-05` (never `1e-05`)."""
    text = f"{value:.3g}"
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


# names of params people tune, most tuned first; a fraction, split or seed is left out
_TUNED = (
    "lr", "learning", "rate", "decay", "wd", "dropout", "momentum", "epochs", "depth",
    "layers", "hidden", "units", "estimators", "batch", "warmup", "alpha", "beta", "lambda",
    "reg", "l1", "l2", "eta", "temperature",
)  # fmt: skip
_RATES = frozenset(("lr", "learning", "rate", "decay", "wd", "alpha", "lambda", "l1", "l2"))
_NOT_TUNED = frozenset(("seed", "seeds", "fraction", "frac", "split", "ratio", "size"))


def _words(key: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", key.lower().rsplit(".", 1)[-1]))


def _param_line(key: str, value: Any) -> str | None:
    """A search space around a numeric param's current value (None for other params): a log
    range of 10x either way for a float (below 1 unless it is a rate), x2 for an int."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or value <= 0:
            return None
        high = value * 10 if value >= 1 or _words(key) & _RATES else min(value * 10, 0.9)
        if high <= value:
            return None
        low, top = _yaml_number(value / 10), _yaml_number(high)
        return f"  {key}: {{low: {low}, high: {top}, log: true}}"
    return f"  {key}: [{value}, {max(1, value * 2)}]"


def _tuned_rank(key: str, value: Any) -> tuple[int, int, str] | None:
    """Sort key of a param for the template (None: leave it out)."""
    words = _words(key)
    if "seed" in key.lower() or words & _NOT_TUNED or _param_line(key, value) is None:
        return None
    order = min((_TUNED.index(w) for w in words if w in _TUNED), default=len(_TUNED))
    return (order, 0 if isinstance(value, float) else 1, key)


def sweep_template(metric: str | None, mode: str | None, params: Mapping[str, Any]) -> str:
    """sweeps/example.yaml: a tpe search over up to two numeric params of the project."""
    # tuned-looking names first (lr, weight_decay, dropout...), floats before ints
    ranked = sorted(r for k, v in params.items() if (r := _tuned_rank(k, v)) is not None)
    spaces = [line for *_, k in ranked[:2] if (line := _param_line(k, params[k]))]
    key = metric or "val.loss"
    lines = [
        "# A sweep spec (docs: sweeps). Run it with:  expbook sweep sweeps/example.yaml",
        "# Each trial is a DVC experiment (example-001, ...): expbook registry --where \"sweep = 'example'\"",
        "name: example",
        "method: tpe                 # grid | random | tpe | nsga2",
        "seed: 0                     # the same spec proposes the same trials",
        f"metric: {{key: {key}, mode: {mode or 'min'}}}",
        "params:                     # ranges {low, high, log}, choice lists or fixed values",
    ]
    if spaces:
        lines += spaces
    else:
        lines += ["  train.lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # a key of params.yaml"]
    lines += [
        "trials: 8",
        "parallel: 1",
        "budget: {max_time: 1h}",
    ]
    return "\n".join(lines) + "\n"


def workflow(metric: str | None, mode: str | None) -> str:
    """The CI workflow: reproduce the committed results and fail on a regression."""
    if metric and mode:
        rule = f"{metric} < ref - 0.01" if mode == "max" else f"{metric} > ref + 0.01"
        gate = f'--fail-if "{rule}" '
    else:
        gate = ""
    return f"""# expbook check on every pull request: re-run the DVC pipeline from scratch, prove the
# committed dvc.lock and metrics reproduce, and fail on a metric regression against the
# target branch. The Markdown report goes to the job summary.
name: expbook check

on:
  pull_request:
  push:
    branches: [main]

jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0     # --against needs the target branch's commits
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install
        run: |
          python -m pip install expbook
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
      - name: Reproduce and gate
        env:
          BASE_REF: ${{{{ github.base_ref }}}}
        run: |
          args=(--report expbook-report.md)
          if [ -n "$BASE_REF" ]; then args+=(--against "origin/$BASE_REF"); fi
          expbook check {gate}"${{args[@]}}"
      - name: Publish the report
        if: always() && hashFiles('expbook-report.md') != ''
        run: cat expbook-report.md >> "$GITHUB_STEP_SUMMARY"
"""


def key_metric(metrics: Sequence[str]) -> tuple[str | None, str | None]:
    """The metric the templates rank by: the first whose name says its direction, preferring
    validation metrics (val/valid/eval) and accuracy-like ones."""
    known = [(k, m) for k in sorted(set(metrics)) if (m := from_name(k)) is not None]
    if not known:
        return None, None

    def rank(item: tuple[str, str]) -> tuple[int, int, int, str]:
        parts = re.split(r"[./:]", item[0].lower())
        val = 0 if parts[0] in ("val", "valid", "validation", "eval") else 1
        val += 0 if any("val" in p for p in parts) else 1
        return (val, 0 if item[1] == "max" else 1, len(parts), item[0])

    return min(known, key=rank)


def _is_dvc_root(path: Path) -> bool:
    # `dvc init` writes .dvc/config; a bare .dvc/tmp (expbook's cache after a read command in a
    # plain git repository) is no DVC repository
    return (path / ".dvc" / "config").is_file()


def dvc_root(path: str | os.PathLike[str]) -> Path:
    """The DVC repository ``path`` is in: ``path`` or the nearest folder above it holding
    ``.dvc/config``, not looking past the git work tree's top (as DVC finds its root)."""
    here = Path(path).resolve()
    for folder in (here, *here.parents):
        if _is_dvc_root(folder):
            return folder
        if (folder / ".git").exists():
            break
    raise ScaffoldError(f"{here}: not in a DVC repository (no .dvc/config): run `dvc init` first")


def require_dvc_repo(root: str | os.PathLike[str]) -> None:
    """ScaffoldError unless ``root`` holds a DVC repository (checked before reading it: the
    registry's cache would create ``.dvc/`` otherwise)."""
    if not _is_dvc_root(Path(root)):
        raise ScaffoldError(f"{root}: not a DVC repository (no .dvc/config): run `dvc init` first")


def plan(
    root: str | os.PathLike[str],
    metrics: Sequence[str],
    params: Mapping[str, Any],
    *,
    force: bool = False,
) -> list[Planned]:
    """What `expbook init` does in ``root``; raises ScaffoldError before anything is written."""
    base = Path(root)
    require_dvc_repo(base)
    metric, mode = key_metric(metrics)
    out = [_plan_pyproject(base, metrics)]
    refused = []
    for rel, text in (
        (SWEEP_FILE, sweep_template(metric, mode, params)),
        (WORKFLOW_FILE, workflow(metric, mode)),
    ):
        path = base / rel
        _check_writable(base, rel)
        if path.is_file() and not path.is_symlink() and _same_text(path, text):
            out.append(Planned(rel, "keep", "", "unchanged"))  # a second `expbook init`
        elif path.exists() or path.is_symlink():
            if not force:
                refused.append(rel)
                continue
            out.append(Planned(rel, "overwrite", text))
        else:
            out.append(Planned(rel, "create", text))
    if refused:
        raise ScaffoldError(
            f"{', '.join(refused)} exist{'s' if len(refused) == 1 else ''}: nothing written "
            "(--force overwrites them; pyproject.toml is never overwritten)"
        )
    return out


def _same_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def _check_writable(base: Path, rel: str) -> None:
    """ScaffoldError when ``rel`` cannot become a file: it is a directory, or a folder on its
    way is a file (checked in `plan`, so that nothing is written)."""
    path = base / rel
    if path.is_dir() and not path.is_symlink():
        raise ScaffoldError(f"{rel} is a directory: nothing written")
    for parent in list(Path(rel).parents)[:-1]:
        if (base / parent).exists() and not (base / parent).is_dir():
            raise ScaffoldError(
                f"{parent} is not a directory, so {rel} cannot be written: nothing written"
            )


def apply(root: str | os.PathLike[str], planned: Sequence[Planned]) -> None:
    """Write the planned files: every one to a temporary file first, then each renamed into
    place, so a failure (a read-only folder, a full disk) leaves none of them written and no
    folder or temporary file behind."""
    base = Path(root)
    made: list[Path] = []  # folders this call created, deepest last
    staged: list[tuple[Path, Path]] = []
    try:
        for item in planned:
            if not item.changes:
                continue
            path = base / item.path
            for parent in reversed(list(path.relative_to(base).parents)[:-1]):
                if not (base / parent).exists():
                    (base / parent).mkdir()
                    made.append(base / parent)
            tmp = path.with_name(f".{path.name}.expbook-tmp")
            staged.append((tmp, path))
            tmp.write_text(item.text, encoding="utf-8")
    except OSError as e:
        for tmp, _ in staged:
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        where = os.path.relpath(e.filename, base) if e.filename else str(root)
        raise ScaffoldError(f"cannot write {where}: {e.strerror or e}; nothing written") from None
    for tmp, path in staged:
        os.replace(tmp, path)
