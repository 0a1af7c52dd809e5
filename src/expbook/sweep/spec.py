"""Sweep specs: parse a YAML file (keeping line numbers) or `-S key=values` options, validate them.

Used by `expbook sweep` before anything runs; every problem is a SpecError naming file:line and key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expbook.errors import SpecError
from expbook.registry import yamlio
from expbook.registry.dvcfiles import flatten
from expbook.registry.files import MAX_FILE_BYTES, read_regular
from expbook.sweep.plan import (  # noqa: F401  (public names of this module too)
    MAX_TRIALS,
    Metric,
    Param,
    Spec,
    params_hash,
    qualify,
)

METHODS = ("grid", "random", "tpe", "nsga2")
PRUNERS = ("none", "median", "asha")
TOP_KEYS = {
    "name",
    "method",
    "metric",
    "params",
    "trials",
    "seeds",
    "seed_key",
    "seed",
    "parallel",
    "prune",
    "budget",
    "promote",
    "validate",
    "backend",
    "warm_stages",
    "parallel_cap",
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION_RE.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise SpecError(f"{where}: bad duration {value!r} (use e.g. 90s, 30m, 2h)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class _Ctx:
    """Builds messages `file:line: key: problem`."""

    def __init__(self, source: str, marks: dict[tuple[str, ...], int] | None = None) -> None:
        self.source, self.marks = source, marks or {}

    def err(self, path: tuple[str, ...], problem: str) -> SpecError:
        line = None
        for cut in range(len(path), -1, -1):
            line = self.marks.get(tuple(path[:cut]))
            if line is not None:
                break
        loc = f"{self.source}:{line}" if line is not None and self.marks else self.source
        key = ".".join(str(p) for p in path) if path else "spec"
        return SpecError(f"{loc}: {key}: {problem}")


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> Spec:
    """Read and validate a spec file; `overrides` (CLI options) replace top-level keys."""
    path = Path(path)
    try:  # a FIFO hung, /dev/zero grew to 24 GB, a 2 GB file was read whole (issue 19 review)
        raw = read_regular(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read sweep spec ({exc.strerror or exc})") from exc
    if b"\0" in raw:
        raise SpecError(f"{path}: not a sweep spec (a binary file: it holds NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from exc
    try:
        data = yamlio.parse(text, str(path))
        # line numbers for messages; composed only once the document is known to be bounded
        lines = yamlio.key_lines(text, str(path))
    except yamlio.YAMLFileError as exc:
        raise SpecError(str(exc)) from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a sweep spec must be a mapping of keys (name, params, ...)")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "metric" in overrides:
        overrides["metric"] = _keep_modes(overrides["metric"], data.get("metric"))
    data.update(overrides)
    return build_spec(data, _Ctx(str(path), lines))


def _keep_modes(given: Any, in_file: Any) -> Any:
    """`-m KEY` without --mode keeps the `mode:` the spec file states for that KEY."""
    stated = {
        str(m["key"]): m["mode"]
        for m in (in_file if isinstance(in_file, list) else [in_file])
        if isinstance(m, dict) and m.get("key") is not None and m.get("mode") is not None
    }
    items = given if isinstance(given, list) else [given]
    kept = [
        {**m, "mode": stated[m["key"]]}
        if isinstance(m, dict) and m.get("mode") is None and m.get("key") in stated
        else m
        for m in items
    ]
    return kept if isinstance(given, list) else kept[0]


def spec_from_options(sets: list[str], overrides: dict[str, Any]) -> Spec:
    """A spec from `-S key=v1,v2` / `-S key=low..high[:log]` options plus top-level options."""
    params: dict[str, Any] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"-S {item!r}: expected KEY=VALUE[,VALUE...] or KEY=LOW..HIGH[:log]")
        rng = re.fullmatch(r"(.+?)\.\.(.+?)(:log)?", raw.strip())
        try:
            if rng and not raw.strip().startswith("["):
                params[key.strip()] = {
                    "low": yamlio.parse_override(f"x={rng.group(1)}")[1],
                    "high": yamlio.parse_override(f"x={rng.group(2)}")[1],
                    "log": bool(rng.group(3)),
                }
                continue
            name, value = yamlio.parse_override(f"{key.strip()}={raw.strip()}")
        except yamlio.YAMLFileError as exc:
            raise SpecError(str(exc)) from exc
        params[name] = value
    data = {k: v for k, v in overrides.items() if v is not None}
    data["params"] = params
    if not data.get("metric"):  # said in the words of the command line, not a spec file's
        raise SpecError("-S options: no metric to optimise: pass -m/--metric KEY (e.g. -m val.acc)")
    return build_spec(data, _Ctx("-S options"))


def build_spec(data: dict[str, Any], ctx: _Ctx) -> Spec:
    unknown = _unknown(data, TOP_KEYS)
    if unknown:
        raise ctx.err((unknown[0],), f"unknown spec key (known: {', '.join(sorted(TOP_KEYS))})")
    name = str(data.get("name") or "sweep")
    from expbook.sweep.identity import name_problem

    problem = name_problem(name)  # what git refs accept (issue 19), checked up front
    if problem:
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise ctx.err(("name",), f"bad sweep name {shown!r}: {problem}")
    method = data.get("method", "grid")
    if method not in METHODS:
        raise ctx.err(("method",), f"unknown method {method!r} (one of {', '.join(METHODS)})")
    metrics = _metrics(data.get("metric"), ctx)
    if method == "nsga2" and len(metrics) < 2:
        raise ctx.err(("metric",), "nsga2 needs a list of two or more metrics")
    if method != "nsga2" and len(metrics) > 1:
        raise ctx.err(("metric",), f"{method} optimises one metric; use nsga2 for several")
    raw_params = data.get("params")
    if not isinstance(raw_params, dict) or not raw_params:
        raise ctx.err(("params",), "needs a mapping of parameter keys to values or ranges")
    params = [_param(str(k), v, ctx) for k, v in raw_params.items()]
    spec = Spec(
        name=name,
        params=params,
        metrics=metrics,
        method=method,
        source=ctx.source,
        lines={".".join(map(str, k)): v for k, v in ctx.marks.items() if k},
    )
    spec.trials = _int(data, "trials", ctx, low=1)
    spec.seeds = _int(data, "seeds", ctx, low=1) or 1
    spec.seed = _int(data, "seed", ctx, low=0) or 0
    spec.parallel = _int(data, "parallel", ctx, low=1) or 1
    spec.seed_key = str(data.get("seed_key", spec.seed_key))
    spec.validate = data.get("validate")
    if spec.validate is not None and not isinstance(spec.validate, str):
        raise ctx.err(("validate",), "must be a command line string")
    if method != "grid" and not spec.trials:
        raise ctx.err(("trials",), f"method {method} needs `trials: N`")
    if method == "grid":
        for p in spec.swept:
            if p.choices is None and p.step is None:
                raise ctx.err(
                    ("params", p.key), "a grid needs a list of values or a range with step"
                )
    if not spec.swept and spec.seeds == 1:
        raise ctx.err(("params",), "nothing to sweep: give at least one list or range")
    _prune(data.get("prune"), spec, ctx)
    _budget(data.get("budget"), spec, ctx)
    _promote(data.get("promote"), spec, ctx)
    from expbook.sweep.backends import parse_backend

    spec.backend = parse_backend(data.get("backend"), ctx.err)
    spec.warm_stages = _warm(data.get("warm_stages"), ctx)
    cap = data.get("parallel_cap", True)
    if not isinstance(cap, bool):
        raise ctx.err(("parallel_cap",), f"must be true or false, got {cap!r}")
    spec.parallel_cap = cap
    return spec


def _warm(raw: Any, ctx: _Ctx) -> list[str] | None:
    """`warm_stages: true` (preload numpy, torch) or a list of module names; false/absent: off."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return []
    if isinstance(raw, list) and raw and all(isinstance(m, str) and m for m in raw):
        for m in raw:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", m):
                raise ctx.err(("warm_stages",), f"bad module name {m!r}")
        return list(raw)
    raise ctx.err(("warm_stages",), "must be true, false or a list of module names")


def _unknown(mapping: dict[str, Any], known: set[str]) -> list[str]:
    """Keys of `mapping` not in `known`, as sorted text (YAML keys may be numbers or null)."""
    return sorted(str(k) for k in mapping if k not in known)


def _int(data: dict[str, Any], key: str, ctx: _Ctx, low: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ctx.err((key,), f"must be an integer >= {low}, got {value!r}")
    return value


def _metrics(raw: Any, ctx: _Ctx) -> list[Metric]:
    if raw is None:
        raise ctx.err(
            ("metric",),
            "missing: give {key: val.acc} (and mode: min|max if the name does not say it)",
        )
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, str):
            item = {"key": item}
        if not isinstance(item, dict) or not item.get("key"):
            raise ctx.err(("metric",), f"each metric needs a key, got {item!r}")
        bad = _unknown(item, {"key", "mode"})
        if bad:
            raise ctx.err(("metric", bad[0]), "unknown metric option (key, mode)")
        mode = item.get("mode")  # None: the project's declaration or the name decides
        if mode is not None and mode not in ("max", "min"):
            raise ctx.err(("metric", "mode"), f"mode must be max or min, got {mode!r}")
        out.append(Metric(str(item["key"]), mode, "spec" if mode else None))
    return out


def _param(key: str, raw: Any, ctx: _Ctx) -> Param:
    path = ("params", key)
    if isinstance(raw, list):
        if not raw:
            raise ctx.err(path, "an empty list of values")
        values = list(raw)
        for v in values:
            if isinstance(v, (list, dict)):
                raise ctx.err(path, f"choices must be scalars, got {v!r}")
        return Param(key, choices=values)
    if isinstance(raw, dict):
        bad = _unknown(raw, {"low", "high", "log", "step", "values"})
        if bad:
            raise ctx.err(path + (bad[0],), "unknown range option (low, high, log, step, values)")
        if "values" in raw:
            return _param(key, list(raw["values"] or []), ctx)
        low = _number(raw.get("low"), path + ("low",), ctx)
        high = _number(raw.get("high"), path + ("high",), ctx)
        step = raw.get("step")
        if not low < high:
            raise ctx.err(path, f"bad range: low ({low}) must be < high ({high})")
        log = bool(raw.get("log", False))
        if log and low <= 0:
            raise ctx.err(path, f"bad range: log scale needs low > 0, got {low}")
        if step is not None and (not isinstance(step, (int, float)) or step <= 0):
            raise ctx.err(path + ("step",), f"must be a positive number, got {step!r}")
        if log and step is not None:
            raise ctx.err(path, "bad range: log and step cannot be combined")
        return Param(key, low=low, high=high, log=log, step=step)
    return Param(key, fixed=raw, is_fixed=True)


def _number(value: Any, path: tuple[str, ...], ctx: _Ctx) -> int | float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ctx.err(path, f"must be a number, got {value!r}")
    return value


def _prune(raw: Any, spec: Spec, ctx: _Ctx) -> None:
    if raw is None:
        return
    raw = {"method": raw} if isinstance(raw, str) else raw
    if not isinstance(raw, dict):
        raise ctx.err(("prune",), "expected {method: median|asha|none, min_epochs: N}")
    bad = _unknown(raw, {"method", "min_epochs"})
    if bad:
        raise ctx.err(("prune", bad[0]), "unknown prune option (method, min_epochs)")
    method = raw.get("method", "median")
    if method not in PRUNERS:
        raise ctx.err(
            ("prune", "method"), f"unknown pruner {method!r} (one of {', '.join(PRUNERS)})"
        )
    spec.prune = method
    spec.min_epochs = _int(raw, "min_epochs", _Sub(ctx, "prune"), low=0) or spec.min_epochs
    if method != "none" and spec.method == "nsga2":
        raise ctx.err(("prune",), "pruning needs a single metric (not nsga2)")


def _budget(raw: Any, spec: Spec, ctx: _Ctx) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise ctx.err(("budget",), "expected {max_trials: N, max_time: 30m}")
    bad = _unknown(raw, {"max_trials", "max_time"})
    if bad:
        raise ctx.err(("budget", bad[0]), "unknown budget option (max_trials, max_time)")
    spec.max_trials = _int(raw, "max_trials", _Sub(ctx, "budget"), low=1)
    if raw.get("max_time") is not None:
        try:
            spec.max_time = parse_duration(raw["max_time"], "budget.max_time")
        except SpecError as exc:
            raise ctx.err(("budget", "max_time"), str(exc).split(": ", 1)[-1]) from None


def _promote(raw: Any, spec: Spec, ctx: _Ctx) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise ctx.err(("promote",), "expected {top: K, set: {key: value}}")
    bad = _unknown(raw, {"top", "set"})
    if bad:
        raise ctx.err(("promote", bad[0]), "unknown promote option (top, set)")
    spec.promote_top = _int(raw, "top", _Sub(ctx, "promote"), low=1) or 1
    sets = raw.get("set") or {}
    if not isinstance(sets, dict):
        raise ctx.err(("promote", "set"), "expected a mapping of key: value")
    spec.promote_set = {str(k): v for k, v in sets.items()}


class _Sub(_Ctx):
    """A context whose paths are nested under one top-level key (e.g. budget.max_trials)."""

    def __init__(self, parent: _Ctx, prefix: str) -> None:
        super().__init__(parent.source, parent.marks)
        self.prefix = prefix

    def err(self, path: tuple[str, ...], problem: str) -> SpecError:
        return super().err((self.prefix,) + tuple(path), problem)


def check_against_params(spec: Spec, read_params: Callable[[str], Any]) -> None:
    """Every swept/fixed/promote key must exist in the baseline's params file.

    `read_params(file) -> dict | None` reads a params file of the baseline commit.
    """
    cache: dict[str, Any] = {}
    keys: list[tuple[tuple[str, ...], str]] = [(("params", p.key), p.key) for p in spec.params]
    keys += [(("promote", "set", k), k) for k in spec.promote_set]
    if spec.seeds > 1 or spec.seed_key != "base.seed":
        keys.append((("seed_key",), spec.seed_key))
    for where, key in keys:
        file, _, dotted = qualify(key).partition(":")
        if file not in cache:
            cache[file] = read_params(file)
        doc = cache[file]
        line = spec.lines.get(".".join(where))
        loc = f"{spec.source}:{line}" if line else spec.source
        if doc is None:
            raise SpecError(
                f"{loc}: {'.'.join(where)}: params file {file!r} is not in the baseline commit"
            )
        node: Any = doc
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                hint = did_you_mean(dotted, doc)
                raise SpecError(
                    f"{loc}: {'.'.join(where)}: unknown key {dotted!r} (not in {file}){hint}"
                )
            node = node[part]


def did_you_mean(dotted: str, doc: Any) -> str:
    """The hint `; did you mean 'train.lr'?` for a key the params file `doc` lacks: its closest
    keys (difflib), or "" when none is close (issue 18: `-S train.lrr=...`)."""
    close = difflib.get_close_matches(dotted, list(flatten(doc)), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(k) for k in close)}?" if close else ""
