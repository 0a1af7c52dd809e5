"""One reader for user-written YAML (issue 13): sweep specs and params read as YAML 1.2 (as DVC
reads params.yaml), `-S` values typed as `dvc exp run -S` types them, checked against real DVC.
"""

from __future__ import annotations

import math
import textwrap

import pytest

from conftest import commit_all, dvc
from expbook.errors import ExpbookError, SpecError
from expbook.registry import yamlio
from expbook.sweep.spec import load_spec, spec_from_options
from expbook.sweep.workspace import set_params

# value text -> what DVC's params reading gives; the bug: PyYAML (YAML 1.1) read `1e-4` as a
# string and `no` as False, and spec.coerce turned a quoted "001" into the number 1
SPEC_VALUES = [("1e-4", 1e-4), ("no", "no"), ('"001"', "001")]
# `-S` uses hydra's grammar in DVC: a bare 001 stays a string and nan is a float there
OVERRIDE_VALUES = [*SPEC_VALUES, ("001", "001"), ("nan", math.nan), ("yes", "yes"), ("3", 3)]
METRIC = {"metric": "val.acc", "method": "random", "trials": 2}


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("text, expected", SPEC_VALUES)
def test_spec_file_values_are_yaml_1_2(tmp_path, text, expected):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        f"metric: val.acc\nmethod: random\ntrials: 2\n"
        f"params:\n  a: [{text}, other]\n  b: {text}\n  c: {{values: [{text}]}}\n"
    )
    spec = load_spec(spec_path)
    a, b, c = spec.params
    assert same(a.choices[0], expected) and a.choices[1] == "other"
    assert b.is_fixed and same(b.fixed, expected)
    assert same(c.fixed if c.is_fixed else c.choices[0], expected)


@pytest.mark.parametrize("text, expected", OVERRIDE_VALUES)
def test_override_values_follow_dvc_exp_run_set(text, expected):
    spec = spec_from_options([f"a={text},other", f"b={text}"], METRIC)
    a, b = spec.params
    assert same(a.choices[0], expected) and a.choices[1] == "other"
    assert b.is_fixed and same(b.fixed, expected)


def test_override_file_prefix_and_ranges():
    spec = spec_from_options(["conf/x.yaml:m.w=1,2", "lr=1e-5..1e-2:log"], METRIC)
    w, lr = spec.params
    assert w.key == "conf/x.yaml:m.w" and w.choices == [1, 2]
    assert (lr.low, lr.high, lr.log) == (1e-5, 1e-2, True)


@pytest.mark.parametrize(
    "item, fragment",
    [("a=[1,", "cannot parse"), ("~a=1", "deleting"), ("a=range(1,3)", "comma lists")],
)
def test_bad_override_values_are_spec_errors(item, fragment):
    with pytest.raises(SpecError, match=fragment):
        spec_from_options([item], METRIC)


def test_bad_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\nb: [1,\nc: 2\n")
    with pytest.raises(yamlio.YAMLFileError, match=r"p\.yaml:\d+: not valid YAML") as info:
        yamlio.load(path)
    assert isinstance(info.value, ExpbookError)
    with pytest.raises(yamlio.YAMLFileError, match="cannot read"):
        yamlio.load(tmp_path / "missing.yaml")


def test_params_files_by_extension():
    assert yamlio.parse_params("p.json", b'{"a": 1e-4}') == {"a": 1e-4}
    assert yamlio.parse_params("p.toml", b"a = 1e-4\nb = 'no'\n") == {"a": 1e-4, "b": "no"}
    assert yamlio.parse_params("p.yaml", b"a: 1e-4\nb: no\n") == {"a": 1e-4, "b": "no"}
    with pytest.raises(yamlio.YAMLFileError, match="p.json: JSON file structure"):
        yamlio.parse_params("p.json", b"{")


def test_key_lines():
    text = "a:\n  b: 1\n  c:\n    d: 2\ne: 3\n"
    assert yamlio.key_lines(text, "x") == {
        (): 1,
        ("a",): 1,
        ("a", "b"): 2,
        ("a", "c"): 3,
        ("a", "c", "d"): 4,
        ("e",): 5,
    }


@pytest.mark.slow
def test_values_match_what_dvc_exp_run_set_writes(dvc_repo, tmp_path):
    """A real `dvc exp run -S` per value: expbook's value for the same text (spec file and -S),
    and what expbook writes for a trial, read back equal to what DVC wrote to params.yaml."""
    keys = [f"k{i}" for i in range(len(OVERRIDE_VALUES))]
    (dvc_repo / "params.yaml").write_text("".join(f"{k}: 0\n" for k in keys))
    (dvc_repo / "dvc.yaml").write_text(
        textwrap.dedent(f"""\
        stages:
          noop:
            cmd: python -c "pass"
            params: [{", ".join(keys)}]
        """)
    )
    commit_all(dvc_repo, "noop stage")
    sets = [arg for k, (text, _) in zip(keys, OVERRIDE_VALUES) for arg in ("-S", f"{k}={text}")]
    dvc("exp", "run", "-q", *sets, cwd=dvc_repo)
    by_dvc = yamlio.load(dvc_repo / "params.yaml")

    # only fixed values: seeds: 2 is what makes these specs sweeps
    items = [f"{k}={text}" for k, (text, _) in zip(keys, OVERRIDE_VALUES)]
    ours = spec_from_options(items, {**METRIC, "seeds": 2})
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "metric: val.acc\nmethod: random\ntrials: 2\nseeds: 2\nparams:\n"
        + "".join(f"  {k}: {text}\n" for k, (text, _) in zip(keys, SPEC_VALUES))
    )
    from_file = load_spec(spec_file)
    trial = tmp_path / "trial"
    trial.mkdir()
    (trial / "params.yaml").write_text("".join(f"{k}: 0\n" for k in keys))
    set_params(trial, {f"params.yaml:{p.key}": p.fixed for p in ours.params})
    written = yamlio.load(trial / "params.yaml")
    for k, param, (text, expected) in zip(keys, ours.params, OVERRIDE_VALUES):
        assert same(by_dvc[k], expected), (text, by_dvc[k])
        assert same(param.fixed, by_dvc[k]), text
        assert same(written[k], by_dvc[k]), text
    for k, param in zip(keys, from_file.params):
        assert same(param.fixed, by_dvc[k]), k
