"""Parsing DVC files the way DVC does: YAML 1.2 scalars (as ruamel reads them), dvc.yaml
params/metrics declarations, dvc.lock outs, params key selection and metrics extraction.
"""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML  # DVC's own YAML parser: the reference the values must equal

from expbook.registry import dvcfiles, fastyaml

YAML_CASES = [
    "lr: 1e-3\nwd: 1.0e-4\nn: 10\nneg: -3\nf: .5\n",
    "a: yes\nb: on\nc: true\nd: False\ne: null\nf: ~\ng:\n",
    "hex: 0x1f\noct: 0o17\nlead: 012\nver: 1.2.3\ninf: .inf\nninf: -.inf\n",
    "train:\n  lr: 0.1   # a comment\n  layers: [64, 32]  # and another\n"
    "  name: 'mlp # not a comment'\n",
    "outs:\n- path: a\n  md5: abc\n  size: 3\n- path: b\n  hash: md5\nnext: 1\n",
    "deep:\n  items:\n    - 1\n    - two\n    - 3.5\n  after: x\n",
    "quoted: \"double\"\nsingle: 's'\nempty: []\nurl: http://x.y/z\n",
    "# only a comment\n",
    "anchors: &a\n  x: 1\nref: *a\n",
    "multi: |\n  line one\n  line two\n",
    "flow: {a: 1, b: [1, 2]}\n",
    "key with spaces: 1\n'quoted key': 2\n",
    "date: 2024-01-01\ntime_like: 12:30\n",
]


@pytest.mark.parametrize("text", YAML_CASES)
def test_yaml_values_equal_dvcs_ruamel(text):
    assert fastyaml.loads(text.encode()) == YAML(typ="safe").load(text)


def test_fast_path_is_taken_for_dvc_written_files():
    lock = (
        "schema: '2.0'\nstages:\n  train:\n    cmd: python t.py\n    params:\n"
        "      params.yaml:\n        lr: 0.001\n    outs:\n    - path: m.json\n"
        "      hash: md5\n      md5: 0a\n      size: 12\n"
    )
    assert fastyaml._parse(lock)["stages"]["train"]["outs"][0]["size"] == 12


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a:\n\tb: 1\n", "a: 1\n a: 2\n  b: x\n"])
def test_corrupt_yaml_raises_parse_error_naming_the_file(text):
    with pytest.raises(dvcfiles.ParseError, match="conf/p.yaml"):
        dvcfiles.load_bytes("conf/p.yaml", text.encode())


@pytest.mark.parametrize(
    "path, data, want",
    [
        ("m.json", b'{"a": {"b": 1}, "c": [1, 2]}', {"a": {"b": 1}, "c": [1, 2]}),
        ("m.toml", b"x = 1\n[t]\ny = 2.5\n", {"x": 1, "t": {"y": 2.5}}),
        ("m.yml", b"x: 1\n", {"x": 1}),
        ("m.txt", b"x: 1\n", {"x": 1}),  # DVC's default loader is YAML
    ],
)
def test_load_by_extension(path, data, want):
    assert dvcfiles.load_bytes(path, data) == want


@pytest.mark.parametrize("path, data", [("m.json", b"{oops"), ("m.toml", b"x = = 1")])
def test_corrupt_json_toml(path, data):
    with pytest.raises(dvcfiles.ParseError, match=path):
        dvcfiles.load_bytes(path, data)


def test_parse_dvcyaml_paths_params_metrics():
    text = b"""\
stages:
  train:
    wdir: ..
    cmd: x
    params:
      - lr
      - train.epochs
      - conf/model.yaml:
          - width
      - conf/all.yaml:
    metrics:
      - out/m.json:
          cache: false
      - out/cached.json
  other:
    cmd: y
    params: [seed]
params:
  - extra.toml
metrics:
  - dvclive/metrics.json
"""
    doc = dvcfiles.parse_dvcyaml("sub/dir/dvc.yaml", text)
    assert doc["params"] == {
        "sub/params.yaml": ["lr", "train.epochs"],
        "sub/conf/model.yaml": ["width"],
        "sub/conf/all.yaml": None,
        "sub/dir/params.yaml": ["seed"],
        "sub/dir/extra.toml": None,
    }
    assert doc["metrics"] == {
        "sub/out/m.json": False,
        "sub/out/cached.json": True,
        "sub/dir/dvclive/metrics.json": False,
    }


@pytest.mark.parametrize(
    "text, match",
    [
        (b"- just\n- a list\n", "mapping"),
        (b"stages:\n  s: 3\n", "stage 's'"),
        (b"stages: [unclosed\n", "corrupted"),
    ],
)
def test_parse_dvcyaml_rejects_bad_files(text, match):
    with pytest.raises(dvcfiles.ParseError, match=match):
        dvcfiles.parse_dvcyaml("dvc.yaml", text)


def test_merge_tracks_whole_file_when_any_stage_does():
    a = {"params": {"p.yaml": ["x"]}, "metrics": {}}
    b = {"params": {"p.yaml": None, "q.yaml": ["y"]}, "metrics": {"m.json": True}}
    merged = dvcfiles.merge_dvcyamls([a, b], has_default_params=True)
    assert merged["params"] == {"p.yaml": None, "q.yaml": ["y"], "params.yaml": None}


@pytest.mark.parametrize(
    "keys, want",
    [
        (None, {"a.b": 1, "a.c": 2, "ab": 3}),
        (["a"], {"a.b": 1, "a.c": 2}),
        (["a.c", "ab"], {"a.c": 2, "ab": 3}),
        (["missing"], {}),
    ],
)
def test_select_params(keys, want):
    assert dvcfiles.select_params({"a.b": 1, "a.c": 2, "ab": 3}, keys) == want


def test_extract_metrics_keeps_numbers_strings_drops_lists():
    data = {
        "acc": 0.9,
        "ok": True,
        "name": "x",
        "hist": [1, 2],
        "nested": {"l": [], "v": 1},
        "empty": {},
    }
    assert dvcfiles.extract_metrics(data) == {
        "acc": 0.9,
        "ok": True,
        "name": "x",
        "nested": {"v": 1},
    }
    assert dvcfiles.flatten({"a": {"b": {"c": 1}}, "d": [1]}) == {"a.b.c": 1, "d": [1]}


LOCK = b"""\
schema: '2.0'
stages:
  train:
    cmd: python train.py
    deps:
    - path: train.py
      hash: md5
      md5: 11111111111111111111111111111111
      size: 10
    outs:
    - path: data/features
      hash: md5
      md5: 22222222222222222222222222222222.dir
      size: 300
      nfiles: 3
    - path: 'model file.bin'
      hash: md5
      md5: 33333333333333333333333333333333
      size: 7
  old:
    cmd: x
    outs:
    - path: legacy.json
      md5: 44444444444444444444444444444444
      size: 5
"""


def test_parse_lock_outs_fast_equals_full():
    fast = dvcfiles.parse_lock("sub/dvc.lock", LOCK)
    assert fast == {
        "sub/data/features": {"md5": "2" * 32 + ".dir", "size": 300, "legacy": False, "dir": True},
        "sub/model file.bin": {"md5": "3" * 32, "size": 7, "legacy": False, "dir": False},
        "sub/legacy.json": {"md5": "4" * 32, "size": 5, "legacy": True, "dir": False},
    }
    slow = dvcfiles.parse_lock("sub/dvc.lock", LOCK.replace(b"schema: '2.0'", b'schema: "2.0"'))
    assert slow == fast


@pytest.mark.parametrize("legacy, want", [(False, "/c/files/md5/ab/cdef"), (True, "/c/ab/cdef")])
def test_cache_path_layouts(legacy, want):
    assert dvcfiles.cache_path("/c", "abcdef", legacy) == want


@pytest.mark.parametrize(
    "text, expected",
    [
        (b'{"acc": 0.1, "n": 3}', {"acc": 0.1, "n": 3}),
        (b'{"loss": NaN}', "nan"),  # only the stdlib reads NaN
        (b'{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}),
    ],
)
def test_json_metrics_parse_like_the_stdlib(text, expected):
    """The fast JSON path (orjson) must read every file the stdlib json reads, the same way."""
    from expbook.registry.dvcfiles import load_bytes

    value = load_bytes("m.json", text)
    if expected == "nan":
        assert value["loss"] != value["loss"]
    else:
        assert value == expected


def test_corrupt_json_metrics_is_a_parse_error():
    from expbook.registry.dvcfiles import ParseError, load_bytes

    with pytest.raises(ParseError, match="m.json: JSON file structure is corrupted"):
        load_bytes("m.json", b'{"acc": ')


PY_PARAMS = [
    "LR = 0.1\nEPOCHS: int = 5\nNAME = 'x'\nLAYERS = [1, 2]\nD = {'a': 1, 'b': {'c': 2}}\n",
    "import os\nX = os.getenv('X')\nA = B = 3\nT = (1, 2)\nS = {3}\nx[0] = 1\na.b = 2\n",
    "class Train:\n    lr = 0.01\n    def __init__(self):\n        self.epochs = 3\n"
    "        self.bad = foo()\n        other.x = 1\n    class Inner:\n        k = 1\n",
    "def __init__(self):\n    self.top = 1\nD = {**base}\nE = {'k': f(1)}\n",
]


@pytest.mark.parametrize("text", PY_PARAMS)
def test_python_params_read_as_dvc_reads_them(text):
    """A .py params file is parsed with ast (never run), to DVC's own values."""
    from dvc.utils.serialize._py import parse_py as dvc_parse_py

    assert dvcfiles.load_bytes("p.py", text.encode()) == dvc_parse_py(text, "p.py")


def test_python_params_syntax_error_names_the_file():
    with pytest.raises(dvcfiles.ParseError, match="p.py: Python file structure is corrupted"):
        dvcfiles.load_bytes("p.py", b"def (:\n")
