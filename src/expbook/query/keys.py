"""Query keys: which row column a key names (a full key, a `params.`/`metrics.` key, a
unique suffix, a backticked full key), the closest keys to a misspelled one, and the hints an
unknown or ambiguous key's error gives (issue 18). Used by expbook.query.where.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from expbook.errors import QueryError
from expbook.output import BASE_COLUMNS
from expbook.query.expr import Node

# query name -> row column; `tag = 'x'` tests membership in the row's list of tags
PLAIN_COLUMNS = {
    "name": "name",
    "status": "status",
    "created": "created",
    "author": "author",
    "baseline": "baseline",
    "tag": "tags",
    "tags": "tags",
    # `models = 'cnn#prod'`: among the row's model versions and stages (issue 22); no `model`
    # alias, which would shadow a `model` param
    "models": "models",
    "sweep": "sweep",
    "trial": "trial",
    "kind": "kind",
    "rev": "rev",
    "ref": "ref",
    "message": "message",
    "note": "notes",
    "notes": "notes",
    "branch": "branches",
    "branches": "branches",
    "error": "errors",
    "errors": "errors",
}
BOUNDARIES = ":./"


# ---------------------------------------------------------------- key resolution
def suffix_matches(name: str, keys: Iterable[str]) -> list[str]:
    """Keys equal to `name` or ending with it right after a `:` `.` or `/` boundary."""
    return [
        k
        for k in keys
        if k == name
        or (k.endswith(name) and len(k) > len(name) and k[-len(name) - 1] in BOUNDARIES)
    ]


def resolve_key(
    name: str, columns: Iterable[str], namespaces: Mapping[str, Iterable[str]] | None = None
) -> str:
    """The row column a query key names; QueryError listing candidates if unknown/ambiguous.

    `namespaces` maps "params"/"metrics" to their keys so that `params.lr` looks only at params.
    """
    columns = list(columns)
    if len(name) > 2 and name[0] == name[-1] == "`":  # a backticked full key, as in --where
        name = name[1:-1]
    if name in columns:
        return name
    if name in PLAIN_COLUMNS:
        return PLAIN_COLUMNS[name]
    data_cols = [c for c in columns if c not in _ROW_COLUMNS]
    matches: list[str] = []
    space, _, rest = name.partition(".")
    if rest and space in ("params", "metrics"):
        pool = (namespaces or {}).get(space)
        if pool is not None:  # one set, not one per column: 20k keys were 117 s (issue 19)
            in_space = set(pool)
            pool = [c for c in data_cols if c in in_space]
        else:
            pool = data_cols
        matches = suffix_matches(rest, pool)
    if not matches:
        matches = suffix_matches(name, data_cols)
    if len(matches) == 1:
        group = _group_members(name, data_cols, matches[0])
        if not group:
            return matches[0]
        # `val` ends size.val but also starts val.acc, val.loss: never picked silently
        raise QueryError(
            f"ambiguous key {name!r}: it ends {matches[0]} and starts "
            f"{', '.join(sorted(group)[:6])}{', ...' if len(group) > 6 else ''}; "
            "use a longer key or the full key in backticks"
        )
    if not matches:
        close = closest_keys(name, data_cols, namespaces)
        hint = f"; closest keys: {', '.join(close)}" if close else ""
        raise QueryError(f"unknown key {name!r}{hint}")
    raise QueryError(
        f"ambiguous key {name!r} matches {', '.join(sorted(matches))}; "
        "use a longer suffix or the full key in backticks"
    )


def _group_members(name: str, keys: list[str], match: str) -> list[str]:
    """Keys other than `match` in which `name` is a leading part (`val` in `val.acc`, after
    the file's `:` or a `.`/`/` boundary): `name` then names a group as well as `match`."""
    out = []
    for k in keys:
        if k == match:
            continue
        data = k.split(":", 1)[-1]
        if data.startswith(name) and len(data) > len(name) and data[len(name)] in "./":
            out.append(k)
    return out


def closest_keys(
    name: str, keys: list[str], namespaces: Mapping[str, Iterable[str]] | None = None, n: int = 4
) -> list[str]:
    """The keys a mistyped `name` most likely meant (difflib): up to `n` metrics and `n`
    params when the namespaces are known, else the `2n` closest keys."""
    import difflib

    want = name.split(":", 1)[-1].lower()

    def score(key: str) -> float:
        short = key.split(":", 1)[-1].lower()
        ratio = difflib.SequenceMatcher(None, want, short).ratio()
        last = want.rsplit(".", 1)[-1]
        # the same last segment (`acc` in val.acc) counts more than spelling
        return ratio + (0.3 if last and short.rsplit(".", 1)[-1] == last else 0.0)

    def best(pool: list[str], k: int) -> list[str]:
        ranked = sorted(pool, key=lambda key: (-score(key), key))
        return [key for key in ranked[:k] if score(key) >= 0.45]

    if namespaces:
        metrics = set(namespaces.get("metrics") or ())
        params = set(namespaces.get("params") or ())
        picked = best([k for k in keys if k in metrics], n) + best(
            [k for k in keys if k in params], n
        )
        if picked:
            return picked
    return best(keys, 2 * n)


_ROW_COLUMNS = set(BASE_COLUMNS)
_LIST_COLUMNS = {"tags", "models", "notes", "branches"}


def unquoted_hint(tree: Node, key: str, message: str) -> str:
    """`message` (an unknown key) with a hint when `key` stands where a value is compared to a
    key (`model = cnn`): a bare word is a key, so a string value needs quotes (issue 18)."""
    if not message.startswith("unknown key"):
        return message
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, tuple) or not node or node[0] in ("lit", "key"):
            continue
        if node[0] in ("cmp", "glob"):
            op, left, right = (
                (node[1], node[2], node[3])
                if node[0] == "cmp"
                else ("!~" if node[3] else "~", node[1], node[2])
            )
            if right == ("key", key) and left[0] == "key" and left[1] != key:
                quoted = key.replace("'", "\\'")
                return (
                    f"{message.split(';')[0]}; a string value needs quotes: "
                    f"{left[1]} {op} '{quoted}'"
                )
        stack.extend(node[1:])
    return message
