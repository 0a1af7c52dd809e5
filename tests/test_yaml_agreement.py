"""Property tests (issue 13): the registry's fast YAML reader (fastyaml) and DVC's ruamel agree on
generated params files, dvc.yaml and dvc.lock documents, scalar by scalar (hypothesis, bounded).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from expbook.registry import fastyaml

BOUNDED = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# plain scalars people and DVC write; each must resolve as ruamel resolves it
SPECIAL = [
    "1e-4", "1.0e-05", "3E+2", "-.inf", ".inf", ".nan", ".5", "5.", "-0", "+1", "0x1f", "0o17",
    "012", "yes", "no", "on", "off", "true", "False", "TRUE", "null", "~", "Null", "1.2.3",
    "http://x.y/z", "a b", "v1.0", "-", "1e", "e5", "0.1.", "2024-01-01",
]  # fmt: skip
PLAIN = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"[a-z][a-z0-9_./-]{0,8}", fullmatch=True),
)
QUOTED = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8).map(
    lambda s: "'" + s.replace("'", "''") + "'"
)
SCALAR = st.one_of(PLAIN, QUOTED)
KEY = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


def same(a, b) -> bool:
    """Equal values of the same type; NaN equals NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def agree(text: str) -> bool:
    """Both readers give the same value, or both refuse the text."""
    try:
        want = YAML(typ="safe", pure=True).load(text)
    except Exception:
        try:
            fastyaml.loads(text)
        except Exception:
            return True
        return False
    return same(fastyaml.loads(text), want)


def render(node, indent: int = 0) -> str:
    """Block YAML of a tree whose leaves are scalar *texts* (emitted verbatim)."""
    pad = " " * indent
    out = []
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out.append(f"{pad}{key}:\n{render(value, indent + 2)}")
        elif isinstance(value, list):
            if value and len(value) % 2:  # odd lengths in block style, even ones as flow lists
                out.append(f"{pad}{key}:\n" + "".join(f"{pad}- {v}\n" for v in value))
            else:
                out.append(f"{pad}{key}: [{', '.join(value)}]\n")
        else:
            out.append(f"{pad}{key}: {value if not isinstance(value, dict) else '{}'}\n")
    return "".join(out)


@pytest.mark.parametrize("text", ["a: .nan\n", "a: -\n", "a:\n- -\n", "a: [1, -]\n", "a: -.NaN\n"])
def test_cases_hypothesis_found(text):
    """Bugs found by the tests below: fastyaml raised on `.nan` (DVC reads a float) and read a
    bare `-` as a string where YAML sees a block entry."""
    assert agree(text), text


TREE = st.recursive(
    st.dictionaries(KEY, SCALAR | st.lists(PLAIN, max_size=3), min_size=1, max_size=4),
    lambda inner: st.dictionaries(KEY, inner | SCALAR, min_size=1, max_size=3),
    max_leaves=12,
)


@BOUNDED
@given(TREE, st.booleans())
def test_params_documents_agree(tree, comments):
    text = render(tree)
    if comments:  # a trailing comment on every line that holds a value
        text = "".join(
            line + ("  # note" if not line.endswith(":") else "") + "\n"
            for line in text.splitlines()
        )
    assert agree(text), text


STAGE = st.fixed_dictionaries(
    {
        "cmd": st.from_regex(r"python [a-z]{1,6}\.py( --[a-z]{1,4} [0-9]{1,3})?", fullmatch=True),
        "deps": st.lists(st.from_regex(r"[a-z]{1,6}/[a-z]{1,6}\.py", fullmatch=True), max_size=3),
        "params": st.lists(KEY, max_size=3),
        "outs": st.lists(st.from_regex(r"[a-z]{1,6}\.(bin|json|pt)", fullmatch=True), max_size=2),
    }
)


@BOUNDED
@given(st.dictionaries(KEY, STAGE, min_size=1, max_size=3), st.booleans())
def test_dvc_yaml_documents_agree(stages, metrics_uncached):
    lines = ["stages:"]
    for name, stage in stages.items():
        lines += [f"  {name}:", f"    cmd: {stage['cmd']}"]
        for field in ("deps", "params"):
            if stage[field]:
                lines += [f"    {field}:"] + [f"    - {v}" for v in stage[field]]
        if stage["outs"]:
            lines.append("    outs:")
            for out in stage["outs"]:
                lines.append(
                    f"    - {out}:\n        cache: false" if metrics_uncached else f"    - {out}"
                )
    text = "\n".join(lines) + "\n"
    assert agree(text), text


OUT = st.fixed_dictionaries(
    {
        "path": st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6})?\.(bin|json)", fullmatch=True),
        "md5": st.from_regex(r"[0-9a-f]{32}(\.dir)?", fullmatch=True),
        "size": st.integers(0, 10**12),
        "nfiles": st.none() | st.integers(1, 10**4),
    }
)


@BOUNDED
@given(
    st.dictionaries(
        KEY,
        st.tuples(st.dictionaries(KEY, SCALAR, max_size=3), st.lists(OUT, min_size=1, max_size=3)),
        min_size=1,
        max_size=3,
    )
)
def test_dvc_lock_documents_agree(stages):
    """dvc.lock as DVC writes it (schema 2.0, params values, outs with md5/size/nfiles)."""
    lines = ["schema: '2.0'", "stages:"]
    for name, (params, outs) in stages.items():
        lines += [f"  {name}:", f"    cmd: python {name}.py"]
        if params:
            lines += ["    params:", "      params.yaml:"]
            lines += [f"        {k}: {v}" for k, v in params.items()]
        lines.append("    outs:")
        for out in outs:
            lines += [f"    - path: {out['path']}", "      hash: md5", f"      md5: {out['md5']}"]
            lines.append(f"      size: {out['size']}")
            if out["nfiles"] is not None:
                lines.append(f"      nfiles: {out['nfiles']}")
    text = "\n".join(lines) + "\n"
    assert agree(text), text
