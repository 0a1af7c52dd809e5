"""Tokenizer and recursive-descent parser of the --where / --score language into tuple trees.

Used by expbook.query (which resolves keys and evaluates the trees); nothing here evaluates user text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from expbook.errors import QueryError

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "log": math.log,
    "exp": math.exp,
    "sqrt": math.sqrt,
}
KEYWORDS = {"and", "or", "not", "in", "is", "null", "none", "true", "false"}

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
            raise QueryError(f"cannot parse {text!r}: unexpected {text[pos]!r} at column {pos + 1}")
        kind, raw = match.lastgroup, match.group()
        if kind == "num":
            tokens.append(
                Token("num", float(raw) if any(c in raw for c in ".eE") else int(raw), pos)
            )
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


# Expression trees are plain tuples: ("lit", v) ("key", name) ("cmp", op, a, b) ("in", a, [..], neg)
# ("glob", a, b, neg) ("null", a, neg) ("and", a, b) ("or", a, b) ("not", a) ("arith", op, a, b)
# ("neg", a) ("call", fname, [args])
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
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

    def fail(self, what: str):
        tok = self.peek()
        found = (
            "end of expression" if tok.kind == "end" else repr(self.text[tok.pos : tok.pos + 20])
        )
        raise QueryError(
            f"cannot parse {self.text!r}: {what} at column {tok.pos + 1}, found {found}"
        )

    def parse(self):
        if self.peek().kind == "end":
            raise QueryError("empty expression")
        node = self.or_()
        if self.peek().kind != "end":
            self.fail("unexpected text")
        return node

    def or_(self):
        node = self.and_()
        while self.accept("kw", "or"):
            node = ("or", node, self.and_())
        return node

    def and_(self):
        node = self.not_()
        while self.accept("kw", "and"):
            node = ("and", node, self.not_())
        return node

    def not_(self):
        if self.accept("kw", "not"):
            return ("not", self.not_())
        return self.comparison()

    def comparison(self):
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

    def literal(self):
        node = self.unary()
        if node[0] != "lit":
            self.fail("expected a literal in the 'in (...)' list")
        return node[1]

    def sum_(self):
        node = self.product()
        while (tok := self.peek()).kind == "op" and tok.value in "+-":
            self.take()
            node = ("arith", tok.value, node, self.product())
        return node

    def product(self):
        node = self.unary()
        while (tok := self.peek()).kind == "op" and tok.value in "*/":
            self.take()
            node = ("arith", tok.value, node, self.unary())
        return node

    def unary(self):
        if self.accept("op", "-"):
            node = self.unary()
            return ("lit", -node[1]) if node[0] == "lit" and is_number(node[1]) else ("neg", node)
        return self.atom()

    def atom(self):
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
                        f"unknown function {tok.value!r} in {self.text!r}; "
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


def parse(text: str):
    """Parse an expression into a tuple tree; QueryError on a syntax error."""
    return _Parser(text).parse()


def keys_of(tree) -> list[str]:
    """Every key name an expression mentions, in order."""
    out: list[str] = []

    def walk(node):
        if node[0] == "key":
            out.append(node[1])
        for child in node[1:]:
            if isinstance(child, tuple):
                walk(child)
            elif isinstance(child, list):
                for item in child:
                    if isinstance(item, tuple):
                        walk(item)

    walk(tree)
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
