"""Tests of the --where / --score language (expbook.query / expbook.query.expr) on hand-made registry rows."""

from __future__ import annotations

import math

import pytest

from expbook.errors import ExpbookError, QueryError
from expbook.query import columns_of, compile_score, filter_rows, parse, resolve_key

ROWS = [
    {
        "name": "base",
        "kind": "baseline",
        "status": "success",
        "tags": [],
        "sweep": None,
        "trial": None,
        "created": "2026-01-01T10:00:00+00:00",
        "params.yaml:train.lr": 0.001,
        "params.yaml:train.opt": "adam",
        "params.yaml:model.layers": [64, 32],
        "metrics/train.json:val.acc": 0.80,
        "metrics/train.json:train.acc": 0.85,
        "metrics/eval.json:test.loss": 0.5,
    },
    {
        "name": "lr-wd-001",
        "kind": "experiment",
        "status": "success",
        "tags": ["best", "v2"],
        "sweep": "lr-wd",
        "trial": 1,
        "created": "2026-01-02T10:00:00+00:00",
        "params.yaml:train.lr": 1e-4,
        "params.yaml:train.opt": "sgd",
        "params.yaml:model.layers": [128],
        "metrics/train.json:val.acc": 0.90,
        "metrics/train.json:train.acc": 0.99,
        "metrics/eval.json:test.loss": 0.3,
    },
    {
        "name": "lr-wd-002",
        "kind": "experiment",
        "status": "pruned",
        "tags": ["v2"],
        "sweep": "lr-wd",
        "trial": 2,
        "created": "2026-01-03T10:00:00+00:00",
        "params.yaml:train.lr": 0.1,
        "params.yaml:train.opt": "sgd",
        "params.yaml:model.layers": [128],
        "metrics/train.json:val.acc": None,
        "metrics/train.json:train.acc": 0.2,
        "metrics/eval.json:test.loss": None,
    },
]
SPACES = {
    "params": {k for k in ROWS[0] if k.startswith("params.yaml:")},
    "metrics": {k for k in ROWS[0] if k.startswith("metrics/")},
}


def names(where: str) -> list[str]:
    return [row["name"] for row in filter_rows(ROWS, where, SPACES)]


@pytest.mark.parametrize(
    "where, expected",
    [
        ("val.acc > 0.85", ["lr-wd-001"]),
        ("val.acc >= 0.8", ["base", "lr-wd-001"]),
        ("val.acc = 0.8", ["base"]),
        ("val.acc == 0.8", ["base"]),
        ("val.acc != 0.8", ["lr-wd-001"]),  # null compares false, even with !=
        ("train.lr < 1e-3", ["lr-wd-001"]),
        ("train.lr <= 1E-3", ["base", "lr-wd-001"]),
        ("`params.yaml:train.lr` = 0.1", ["lr-wd-002"]),
        ("params.lr = 0.1", ["lr-wd-002"]),
        ("params.train.opt = 'sgd'", ["lr-wd-001", "lr-wd-002"]),
        ("metrics.val.acc > 0.5", ["base", "lr-wd-001"]),
        ('opt = "adam"', ["base"]),
        ("opt in ('adam', 'rmsprop')", ["base"]),
        ("opt not in ('adam')", ["lr-wd-001", "lr-wd-002"]),
        ("trial in (1, 2)", ["lr-wd-001", "lr-wd-002"]),
        ("name ~ 'lr-wd-*'", ["lr-wd-001", "lr-wd-002"]),
        ("name !~ 'lr-*'", ["base"]),
        ("name ~ '*00[2-9]'", ["lr-wd-002"]),
        ("val.acc is null", ["lr-wd-002"]),
        ("val.acc is not null", ["base", "lr-wd-001"]),
        ("sweep is null", ["base"]),
        ("tag = 'best'", ["lr-wd-001"]),
        ("tag = 'v2'", ["lr-wd-001", "lr-wd-002"]),
        ("tag != 'best'", ["base", "lr-wd-002"]),
        ("tag in ('best', 'nope')", ["lr-wd-001"]),
        ("tag ~ 'v*'", ["lr-wd-001", "lr-wd-002"]),
        ("tag is null", ["base"]),
        ("status = 'success' and kind = 'experiment'", ["lr-wd-001"]),
        ("status = 'pruned' or val.acc < 0.85", ["base", "lr-wd-002"]),
        ("not status = 'pruned'", ["base", "lr-wd-001"]),
        ("not (val.acc > 0.85 or status = 'pruned')", ["base"]),
        ("status = 'pruned' AND NOT val.acc IS NOT NULL", ["lr-wd-002"]),
        ("name = 'base' or name = 'x'", ["base"]),
        ("created > '2026-01-02'", ["lr-wd-001", "lr-wd-002"]),
        ("train.acc - val.acc > 0.05", ["lr-wd-001"]),
        ("-test.loss < -0.4", ["base"]),
        ("abs(train.acc - val.acc) < 0.06", ["base"]),
        ("layers = 1", []),  # a list never equals a number
        ("trial = '1'", ["lr-wd-001"]),  # numeric strings compare as numbers
        ("name = 'it\\'s'", []),
    ],
)
def test_where_selects_rows(where, expected):
    assert names(where) == expected


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("acc > 0.5", "ambiguous key 'acc'"),  # val.acc and train.acc
        ("foo = 1", "unknown key 'foo'"),
        ("params.acc > 1", "unknown key 'params.acc'"),
        ("val.acc >", "column 10"),
        ("(val.acc > 1", "expected ')'"),
        ("val.acc > 1 extra", "unexpected text"),
        ("val.acc = = 1", "expected a key"),
        ("name = 'unterminated", "unexpected"),
        ("name in 'a'", "expected '('"),
        ("name in (val.acc)", "literal"),
        ("val.acc is 3", "null"),
        ("nosuch(val.acc) > 1", "unknown function 'nosuch'"),
        ("name ; drop", "unexpected ';'"),
        ("__import__('os')", "unknown function '__import__'"),
        ("   ", "empty expression"),
    ],
)
def test_bad_where_raises_query_error_naming_the_problem(bad, fragment):
    with pytest.raises(QueryError, match=None) as info:
        filter_rows(ROWS, bad, SPACES)
    assert fragment in str(info.value)
    assert isinstance(info.value, ExpbookError)


def test_ambiguous_key_lists_candidates():
    with pytest.raises(QueryError) as info:
        resolve_key("acc", columns_of(ROWS))
    assert "metrics/train.json:train.acc" in str(info.value)
    assert "metrics/train.json:val.acc" in str(info.value)


@pytest.mark.parametrize(
    "key, column",
    [
        ("val.acc", "metrics/train.json:val.acc"),
        ("json:val.acc", "metrics/train.json:val.acc"),
        ("train.json:val.acc", "metrics/train.json:val.acc"),
        ("loss", "metrics/eval.json:test.loss"),
        ("lr", "params.yaml:train.lr"),
        ("params.yaml:train.lr", "params.yaml:train.lr"),
        ("tag", "tags"),
        ("status", "status"),
    ],
)
def test_key_suffixes_resolve_at_boundaries(key, column):
    assert resolve_key(key, columns_of(ROWS), SPACES) == column


def test_suffix_must_end_at_a_boundary():
    """`cc` is a suffix of `val.acc` as text but not at a `.`/`:`/`/` boundary."""
    with pytest.raises(QueryError, match="unknown key 'cc'"):
        resolve_key("cc", columns_of(ROWS))


def test_empty_rows_still_reject_syntax_errors():
    assert filter_rows([], "val.acc > 1") == []
    with pytest.raises(QueryError):
        filter_rows([], "val.acc >")


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("val.acc - 0.5 * (train.acc - val.acc)", [0.775, 0.855, None]),
        ("val.acc / 0", [None, None, None]),
        ("-(val.acc)", [-0.8, -0.9, None]),
        ("max(val.acc, train.acc)", [0.85, 0.99, None]),
        ("min(train.acc, 0.5)", [0.5, 0.5, 0.2]),
        ("log(train.lr)", [math.log(0.001), math.log(1e-4), math.log(0.1)]),
        ("sqrt(train.acc - 1)", [None, None, None]),  # domain error -> no score, not a crash
        ("exp(0) + 2 * 3 - 4 / 2", [5.0, 5.0, 5.0]),
        ("opt", [None, None, None]),  # a string is not a score
    ],
)
def test_score_arithmetic(expr, expected):
    func = compile_score(expr, columns_of(ROWS), SPACES)
    got = [func(row) for row in ROWS]
    assert got == [None if e is None else pytest.approx(e) for e in expected]


def test_parse_is_a_tree_not_code():
    assert parse("a.b > 1 and not c = 'x'") == (
        "and",
        [
            ("cmp", ">", ("key", "a.b"), ("lit", 1)),
            ("not", ("cmp", "=", ("key", "c"), ("lit", "x"))),
        ],
    )
