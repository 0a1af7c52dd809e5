"""Which way a metric is better: declared by the project, read from its name, or refused.

One place decides a metric's direction for every command that ranks (best, compare, gc,
sweep, stats, check, the dashboard). In order:

1. an explicit ``--mode min|max`` (source ``"--mode"``);
2. the project's declaration, ``[tool.expbook.directions]`` in ``pyproject.toml`` at the
   repository root: ``"val.loss" = "min"``, globs allowed (``"*.loss" = "min"``); an exact key
   beats a glob, a longer glob beats a shorter one (source ``"declared"``);
3. a name that plainly says its direction (``loss``, ``error``, ``mse``... -> min; ``acc``,
   ``f1``, ``auc``... -> max; source ``"name"``);
4. otherwise unknown: ``best``/``compare`` say "pass --mode", ``gc`` and ``sweep`` refuse.

May import: expbook.errors only.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from expbook.errors import ExpbookError

DECLARATION_FILE = "pyproject.toml"
DECLARATION_TABLE = "tool.expbook.directions"
MODES = ("min", "max")

# Tokens of a metric's last path segment that say its direction. A token is a run of letters
# and digits ("val_loss" -> val, loss); "_s"/"_ms" suffixes are durations.
# fmt: off
_MIN_TOKENS = frozenset({
    "loss", "losses", "error", "errors", "err", "mse", "mae", "rmse", "rmsle", "mape", "smape",
    "nll", "perplexity", "ppl", "wer", "cer", "time", "seconds", "secs", "sec", "s", "ms",
    "duration", "latency", "runtime", "cost", "regret", "distance",
})
_MAX_TOKENS = frozenset({
    "acc", "accuracy", "f1", "f1score", "fbeta", "auc", "roc", "rocauc", "auroc", "aupr",
    "prauc", "precision", "recall", "r2", "iou", "miou", "map", "map50", "bleu", "rouge",
    "rouge1", "rouge2", "rougel", "meteor", "dice", "ndcg", "mrr", "top1", "top5", "throughput",
    "psnr", "ssim", "jaccard", "kappa", "mcc",
})
# fmt: on
_TOKEN = re.compile(r"[a-z0-9]+")


class DirectionError(ExpbookError):
    """A direction that cannot be known, or a declaration that cannot be read."""


@dataclass(frozen=True)
class Direction:
    """A metric's direction and where it came from."""

    key: str
    mode: str | None  # "min", "max" or None (unknown)
    source: str  # "--mode", "declared", "name", "spec" (a sweep spec's `mode:`) or "unknown"

    @property
    def known(self) -> bool:
        return self.mode is not None

    @property
    def label(self) -> str:
        """``[min, from the name]``, ``[max, declared]``, ``[min, --mode]``, ``[direction unknown]``."""
        if self.mode is None:
            return "[direction unknown]"
        how = {
            "name": "from the name",
            "declared": f"declared in {DECLARATION_FILE}",
            "spec": "from the sweep spec",
        }
        return f"[{self.mode}, {how.get(self.source, self.source)}]"

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b`` (the direction must be known)."""
        if self.mode is None:
            raise DirectionError(unknown_message(self.key))
        return a < b if self.mode == "min" else a > b


def from_name(key: str) -> str | None:
    """ "min"/"max" when the metric's last segment plainly says so; None when it does not or
    when it says both ("acc_loss")."""
    last = re.split(r"[./]", key)[-1].lower()
    tokens = set(_TOKEN.findall(last))
    says_min, says_max = bool(tokens & _MIN_TOKENS), bool(tokens & _MAX_TOKENS)
    if says_min == says_max:
        return None
    return "min" if says_min else "max"


def load_declared(root: str | os.PathLike[str]) -> dict[str, str]:
    """The ``[tool.expbook.directions]`` table of ``root/pyproject.toml`` ({} when absent).

    Raises DirectionError naming the file and key for unreadable TOML or a value that is
    not "min"/"max".
    """
    path = Path(root) / DECLARATION_FILE
    try:
        if not path.is_file():
            return {}
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise DirectionError(f"{path}: not valid TOML ({e})") from None
    except OSError as e:
        raise DirectionError(f"{path}: cannot read ({e.strerror})") from None
    table = data.get("tool", {}).get("expbook", {}).get("directions", {})
    if not isinstance(table, dict):
        raise DirectionError(f"{path}: [{DECLARATION_TABLE}] must be a table of KEY = min|max")
    out: dict[str, str] = {}
    for key, mode in table.items():
        if not isinstance(mode, str) or mode.lower() not in MODES:
            raise DirectionError(
                f'{path}: [{DECLARATION_TABLE}] {key!r} = {mode!r}: must be "min" or "max"'
            )
        out[str(key)] = mode.lower()
    return out


def _forms(key: str) -> list[str]:
    """The names a declaration may use for ``key``: as given, without the ``metrics.``
    namespace, and without the metrics file (``metrics/eval.json:val.loss`` -> ``val.loss``)."""
    key = key.strip("`")
    bare = key.removeprefix("metrics.")
    tail = bare.partition(":")[2] if ":" in bare else bare
    return list(dict.fromkeys([key, bare, tail]))


def _declared(key: str, declared: Mapping[str, str]) -> str | None:
    forms = _forms(key)
    for form in forms:
        if form in declared:
            return declared[form]
    hits = [p for p in declared if any(fnmatch.fnmatchcase(f, p) for f in forms)]
    if not hits:
        return None
    return declared[max(hits, key=len)]


def resolve(
    key: str, mode: str | None = None, declared: Mapping[str, str] | None = None
) -> Direction:
    """The direction of ``key``: the explicit ``mode``, else the declaration, else the name."""
    if mode is not None:
        if mode not in MODES:
            raise DirectionError(f"--mode {mode!r}: must be min or max")
        return Direction(key, mode, "--mode")
    hit = _declared(key, declared or {})
    if hit is not None:
        return Direction(key, hit, "declared")
    named = from_name(key)
    if named is not None:
        return Direction(key, named, "name")
    return Direction(key, None, "unknown")


def unknown_message(key: str) -> str:
    return (
        f"cannot tell whether a higher or lower {key!r} is better: say --mode min|max, "
        f'or declare it once in {DECLARATION_FILE}: [{DECLARATION_TABLE}] "{key}" = "min"'
    )


def require(
    key: str, mode: str | None = None, declared: Mapping[str, str] | None = None
) -> Direction:
    """Like ``resolve`` but raises DirectionError when the direction is unknown (for the
    commands that must not guess: gc, sweep)."""
    direction = resolve(key, mode, declared)
    if not direction.known:
        raise DirectionError(unknown_message(key))
    return direction


def for_repo(root: str | os.PathLike[str], key: str, mode: str | None = None) -> Direction:
    """``resolve`` with the declaration of the repository at ``root``."""
    return resolve(key, mode, load_declared(root) if mode is None else {})
