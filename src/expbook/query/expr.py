"""Tokenizer and recursive-descent parser of the --where / --score language into tuple trees.

Used by expbook.query (which resolves keys and evaluates the trees); nothing here evaluates user text.
Chains (`a or b or ...`, `x + y + ...`, `not not ...`) become flat nodes, so a 10,000-term query
never recurses 10,000 deep; parenthesis/call nesting is capped at MAX_DEPTH (issue 14).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeGuard

from expbook.errors import QueryError

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "log": math.log,
    "exp": math.exp,
    "sqrt": math.sqrt,
}
# a parsed expression: a tuple tagged by its first item, e.g. ("cmp", "<", ("key", "val.acc"),
# ("lit", 0.9)); see _Parser for every shape (its items are user values and sub-trees)
Node = tuple[Any, ...]

KEYWORDS = {"and", "or", "not", "in", "is", "null", "none", "true", "false"}
# deepest parenthesis nesting accepted: each level costs ~10 parser frames of Python's 1,000;
# hand-written queries nest a few levels, generated ones are long, not deep
MAX_DEPTH = 50
# longest numeric literal accepted (float range ends near 1.8e308; longer text is a typo or an attack)
MAX_NUMBER_CHARS = 400

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op>==|!=|<>|<=|>=|!~|[=<>~()+\-*/,])
""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # num | str | key | kw | op | end
    value: Any
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError(
                f"cannot parse {_clip(text)!r}: unexpected {text[pos]!r} at column {pos + 1}"
            )
        kind, raw = match.lastgroup, match.group()
        if kind == "num":
            tokens.append(Token("num", _number(text, raw, pos), pos))
        elif kind == "str":
            tokens.append(Token("str", re.sub(r"\\(.)", r"\1", raw[1:-1]), pos))
        elif kind == "quoted":
            tokens.append(Token("key", raw[1:-1], pos))
        elif kind == "ident":
            low = raw.lower()
            tokens.append(Token("kw", low, pos) if low in KEYWORDS else Token("key", raw, pos))
        elif kind == "op":
            tokens.append(Token("op", {"==": "=", "<>": "!="}.get(raw, raw), pos))
        pos = match.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


def _number(text: str, raw: str, pos: int) -> int | float:
    """A numeric literal; one outside float range (or absurdly long) is a QueryError."""
    value: int | float | None = None
    if len(raw) <= MAX_NUMBER_CHARS:
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        if math.isinf(value) or abs(value) > sys.float_info.max:
            value = None
    if value is None:
        shown = raw if len(raw) <= 30 else f"{raw[:12]}...{raw[-6:]} ({len(raw)} characters)"
        raise QueryError(
            f"cannot parse {_clip(text)!r}: number {shown} at column {pos + 1} is beyond "
            "the float range"
        )
    return value


def _clip(text: str, limit: int = 200) -> str:
    """The expression as error messages show it (a generated 10,000-term query is cut)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_depth(text: str, tokens: list[Token]) -> None:
    """QueryError when parentheses nest deeper than MAX_DEPTH (checked before parsing)."""
    depth = deepest = 0
    at = 0
    for tok in tokens:
        if tok.kind == "op" and tok.value == "(":
            depth += 1
            if depth > deepest:
                deepest, at = depth, tok.pos
        elif tok.kind == "op" and tok.value == ")":
            depth = max(depth - 1, 0)
    if deepest > MAX_DEPTH:
        raise QueryError(
            f"cannot parse {_clip(text)!r}: parentheses nest {deepest} levels deep "
            f"(at column {at + 1}); the limit is {MAX_DEPTH}"
        )


# Expression trees are plain tuples: ("lit", v) ("key", name) ("cmp", op, a, b) ("in", a, [..], neg)
# ("glob", a, b, neg) ("null", a, neg) ("and", [a, b, ...]) ("or", [a, b, ...]) ("not", a)
# ("arith", a, [(op, b), (op, c), ...]) evaluated left to right, ("neg", a) ("call", fname, [args])
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        _check_depth(text, self.tokens)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: Any = None) -> Token | None:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            return self.take()
        return None

    def expect(self, kind: str, value: Any = None) -> Token:
        tok = self.accept(kind, value)
        if tok is None:
            self.fail(f"expected {value or kind!r}")
        return tok

    def fail(self, what: str) -> NoReturn:
        tok = self.peek()
        found = (
            "end of expression" if tok.kind == "end" else repr(self.text[tok.pos : tok.pos + 20])
        )
        raise QueryError(
            f"cannot parse {_clip(self.text)!r}: {what} at column {tok.pos + 1}, found {found}"
        )

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise QueryError("empty expression")
        node = self.or_()
        if self.peek().kind != "end":
            self.fail("unexpected text")
        return node

    def or_(self) -> Node:
        terms = [self.and_()]
        while self.accept("kw", "or"):
            terms.append(self.and_())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def and_(self) -> Node:
        terms = [self.not_()]
        while self.accept("kw", "and"):
            terms.append(self.not_())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def not_(self) -> Node:
        count = 0
        while self.accept("kw", "not"):
            count += 1
        node = self.comparison()
        if count == 0:
            return node
        # `not not x` is x's truth value: keep two levels at most, never 10,000
        return ("not", node) if count % 2 else ("not", ("not", node))

    def comparison(self) -> Node:
        left = self.sum_()
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("=", "!=", "<", "<=", ">", ">="):
            self.take()
            return ("cmp", tok.value, left, self.sum_())
        if tok.kind == "op" and tok.value in ("~", "!~"):
            self.take()
            return ("glob", left, self.sum_(), tok.value == "!~")
        if self.accept("kw", "is"):
            negate = bool(self.accept("kw", "not"))
            if not (self.accept("kw", "null") or self.accept("kw", "none")):
                self.fail("expected 'null' after 'is'")
            return ("null", left, negate)
        negate = False
        if tok.kind == "kw" and tok.value == "not" and self.tokens[self.i + 1].value == "in":
            self.take()
            negate = True
        if self.accept("kw", "in"):
            self.expect("op", "(")
            items = [self.literal()]
            while self.accept("op", ","):
                items.append(self.literal())
            self.expect("op", ")")
            return ("in", left, items, negate)
        return left

    def literal(self) -> Any:
        node = self.unary()
        if node[0] != "lit":
            self.fail("expected a literal in the 'in (...)' list")
        return node[1]

    def sum_(self) -> Node:
        return self.arith("+-", self.product)

    def product(self) -> Node:
        return self.arith("*/", self.unary)

    def arith(self, ops: str, operand: Callable[[], Node]) -> Node:
        """`operand (op operand)*` for the operators `ops`, one flat ("arith", first, rest) node."""
        node, rest = operand(), []
        while (tok := self.peek()).kind == "op" and tok.value in ops:
            self.take()
            rest.append((tok.value, operand()))
        return ("arith", node, rest) if rest else node

    def unary(self) -> Node:
        count = 0
        while self.accept("op", "-"):
            count += 1
        node = self.atom()
        if count % 2 == 0:
            return node
        return ("lit", -node[1]) if node[0] == "lit" and is_number(node[1]) else ("neg", node)

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind in ("num", "str"):
            return ("lit", tok.value)
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return ("lit", tok.value == "true")
        if tok.kind == "kw" and tok.value in ("null", "none"):
            return ("lit", None)
        if tok.kind == "op" and tok.value == "(":
            node = self.or_()
            self.expect("op", ")")
            return node
        if tok.kind == "key":
            if self.peek().kind == "op" and self.peek().value == "(":
                if tok.value not in FUNCTIONS:
                    raise QueryError(
                        f"unknown function {tok.value!r} in {_clip(self.text)!r}; "
                        f"known: {', '.join(sorted(FUNCTIONS))}"
                    )
                self.take()
                args = [self.sum_()]
                while self.accept("op", ","):
                    args.append(self.sum_())
                self.expect("op", ")")
                return ("call", tok.value, args)
            return ("key", tok.value)
        self.i -= 1
        self.fail("expected a key, a value or '('")


def parse(text: str) -> Node:
    """Parse an expression into a tuple tree; QueryError on a syntax error."""
    return _Parser(text).parse()


def keys_of(tree: Node) -> list[str]:
    """Every key name an expression mentions, in order (iterative: trees may be wide)."""
    out: list[str] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, tuple) or not node:
            continue
        if node[0] == "key":
            out.append(node[1])
        elif node[0] != "lit":
            stack.extend(reversed(node[1:]))
    return out


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
