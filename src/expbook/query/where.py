"""The --where / --score expression language: a tiny interpreter of parsed trees (keys are
resolved by expbook.query.keys).

Used by `expbook registry/best` and `registry.load`; user text is parsed, never eval'd.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from expbook.errors import QueryError
from expbook.query.expr import FUNCTIONS, Node, is_number, keys_of, parse
from expbook.query.keys import (  # noqa: F401  (public names of this module too)
    BOUNDARIES,
    PLAIN_COLUMNS,
    closest_keys,
    resolve_key,
    suffix_matches,
    unquoted_hint,
)

RowT = TypeVar("RowT", bound=Mapping[str, Any])
# a compiled expression: row -> value (None when undefined for that row)
RowFn = Callable[[Mapping[str, Any]], Any]


class HasRow(Protocol):
    """What filter_experiments needs of a registry Experiment (query never imports registry)."""

    @property
    def params(self) -> Mapping[str, Any]: ...

    @property
    def metrics(self) -> Mapping[str, Any]: ...

    def flat(self) -> dict[str, Any]: ...


ExpT = TypeVar("ExpT", bound=HasRow)


# ---------------------------------------------------------------- evaluation
def _coerce(a: Any, b: Any) -> tuple[Any, Any] | None:
    """A comparable pair, or None when the types cannot be compared (the comparison is false)."""
    if is_number(a) and is_number(b):
        return a, b
    if isinstance(a, bool) or isinstance(b, bool):
        return (a, b) if isinstance(a, bool) and isinstance(b, bool) else None
    if is_number(a) and isinstance(b, str):
        try:
            return a, float(b)
        except ValueError:
            return None
    if isinstance(a, str) and is_number(b):
        try:
            return float(a), b
        except ValueError:
            return None
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a), list(b)
    return None


_CMP = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False  # SQL-like: any comparison with null is false
    pair = _coerce(a, b)
    if pair is None:
        return op == "!="
    try:
        return bool(_CMP[op](*pair))
    except TypeError:
        return False


def _arith(op: str, a: Any, b: Any) -> Any:
    if not (is_number(a) and is_number(b)):
        return None
    value: float | None
    try:
        if op == "+":
            value = a + b
        elif op == "-":
            value = a - b
        elif op == "*":
            value = a * b
        else:
            value = None if b == 0 else a / b
    except OverflowError:  # int / int beyond float range
        return None
    if isinstance(value, int) and value.bit_length() > 1024:  # keep a long chain from growing ints
        return math.inf if value > 0 else -math.inf
    return value


def _compile(node: Node, getter: Callable[[str], RowFn]) -> RowFn:
    """Turn a tree into a function row -> value; list columns answer 'any element matches'."""
    kind = node[0]
    if kind == "lit":
        value = node[1]
        return lambda row: value
    if kind == "key":
        return getter(node[1])
    if kind == "and":
        terms = [_compile(term, getter) for term in node[1]]
        return lambda row: all(_truth(term(row)) for term in terms)
    if kind == "or":
        terms = [_compile(term, getter) for term in node[1]]
        return lambda row: any(_truth(term(row)) for term in terms)
    if kind == "not":
        a = _compile(node[1], getter)
        return lambda row: not _truth(a(row))
    if kind == "null":
        a, negate = _compile(node[1], getter), node[2]
        return lambda row: (a(row) in (None, [])) != negate
    if kind == "cmp":
        op, a, b = node[1], _compile(node[2], getter), _compile(node[3], getter)

        def cmp(row: Mapping[str, Any]) -> bool:
            left, right = a(row), b(row)
            if isinstance(left, list) and not isinstance(right, list):
                hit = any(_compare("=" if op == "!=" else op, x, right) for x in left)
                return not hit if op == "!=" else hit
            return _compare(op, left, right)

        return cmp
    if kind == "in":
        a, items, negate = _compile(node[1], getter), node[2], node[3]

        def contains(row: Mapping[str, Any]) -> bool:
            value = a(row)
            if value is None:
                return False
            values = value if isinstance(value, list) else [value]
            return any(_compare("=", v, item) for v in values for item in items) != negate

        return contains
    if kind == "glob":
        a, b, negate = _compile(node[1], getter), _compile(node[2], getter), node[3]

        def glob(row: Mapping[str, Any]) -> bool:
            value, pattern = a(row), b(row)
            if value is None or pattern is None:
                return False
            values = value if isinstance(value, list) else [value]
            hit = any(fnmatch.fnmatchcase(str(v), str(pattern)) for v in values)
            return hit != negate

        return glob
    if kind == "arith":
        first = _compile(node[1], getter)
        rest = [(op, _compile(term, getter)) for op, term in node[2]]

        def arith(row: Mapping[str, Any]) -> Any:
            value = first(row)
            for op, term in rest:
                value = _arith(op, value, term(row))
            return value

        return arith
    if kind == "neg":
        a = _compile(node[1], getter)
        return lambda row: -v if is_number(v := a(row)) else None
    if kind == "call":
        func, args = FUNCTIONS[node[1]], [_compile(arg, getter) for arg in node[2]]

        def call(row: Mapping[str, Any]) -> Any:
            values = [arg(row) for arg in args]
            if not all(is_number(v) for v in values):
                return None
            try:
                return func(*values)
            except (ValueError, OverflowError, TypeError):
                return None  # log(-1), exp(1e6), min() of nothing: no score for that row

        return call
    raise QueryError(f"unsupported expression node {kind!r}")


def _truth(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != 0 and value != ""


def compile_expr(
    text: str, columns: Iterable[str], namespaces: Mapping[str, Iterable[str]] | None = None
) -> RowFn:
    """Compile `text` against the known columns; returns row -> value (None when undefined)."""
    tree = parse(text)
    columns = list(columns)
    resolved = {}
    for key in dict.fromkeys(keys_of(tree)):
        try:
            resolved[key] = resolve_key(key, columns, namespaces)
        except QueryError as exc:
            raise QueryError(unquoted_hint(tree, key, str(exc))) from None

    def getter(name: str) -> RowFn:
        column = resolved[name]
        return lambda row: row.get(column)

    return _compile(tree, getter)


def compile_where(
    text: str, columns: Iterable[str], namespaces: Mapping[str, Iterable[str]] | None = None
) -> Callable[[Mapping[str, Any]], bool]:
    """A row predicate for a --where expression."""
    func = compile_expr(text, columns, namespaces)
    return lambda row: _truth(func(row))


def compile_score(
    text: str, columns: Iterable[str], namespaces: Mapping[str, Iterable[str]] | None = None
) -> Callable[[Mapping[str, Any]], float | None]:
    """A row -> number function for a --score expression (None when a term is missing)."""
    func = compile_expr(text, columns, namespaces)

    def score(row: Mapping[str, Any]) -> float | None:
        value = func(row)
        if not is_number(value) or (isinstance(value, float) and math.isnan(value)):
            return None
        return value

    return score


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The union of the rows' keys, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def filter_rows(
    rows: Sequence[RowT], where: str | None, namespaces: Mapping[str, Iterable[str]] | None = None
) -> list[RowT]:
    """The rows for which `where` is true (all rows when where is empty)."""
    if not where:
        return list(rows)
    parse(where)  # a syntax error is an error even when there is nothing to filter
    if not rows:
        return []
    pred = compile_where(where, columns_of(rows), namespaces)
    return [row for row in rows if pred(row)]


def namespaces_of(experiments: Iterable[HasRow]) -> dict[str, set[str]]:
    """{"params": keys, "metrics": keys} of registry Experiments, for `params.`/`metrics.` keys."""
    params: set[str] = set()
    metrics: set[str] = set()
    for exp in experiments:
        params.update(exp.params)
        metrics.update(exp.metrics)
    return {"params": params, "metrics": metrics}


def filter_experiments(experiments: Sequence[ExpT], where: str | None) -> list[ExpT]:
    """The registry Experiments for which `where` is true, evaluated on their flat rows."""
    if not where:
        return list(experiments)
    parse(where)
    if not experiments:
        return []
    rows = [exp.flat() for exp in experiments]
    pred = compile_where(where, columns_of(rows), namespaces_of(experiments))
    return [exp for exp, row in zip(experiments, rows) if pred(row)]
