"""Sweep spec parsing and validation (fast: no DVC runs): bad specs fail with a SpecError that
names the file, line and key; `-S` options build the same spec as a file.
"""

from __future__ import annotations

import textwrap

import pytest

from expbook.errors import SpecError
from expbook.sweep.search import Search, overrides_for
from expbook.sweep.spec import check_against_params, load_spec, params_hash, spec_from_options

GOOD = """\
name: lr-wd
method: grid
metric: {key: val.acc, mode: max}
params:
  train.lr: [1.0e-4, 3e-4, 1.0e-3]
  train.wd: {low: 0, high: 0.01, step: 0.005}
  train.epochs: 3
seeds: 2
parallel: 2
prune: {method: median, min_epochs: 1}
budget: {max_trials: 50, max_time: 30m}
promote: {top: 2, set: {train.epochs: 25}}
"""

BASE_PARAMS = {"base": {"seed": 0}, "train": {"lr": 0.01, "wd": 0.0, "epochs": 2}}


def write(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_spec_parses_with_numbers_grid_and_budget(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.name == "lr-wd" and spec.method == "grid" and spec.seeds == 2
    assert [p.key for p in spec.swept] == ["train.lr", "train.wd"]
    assert spec.fixed == {"train.epochs": 3}
    assert spec.max_time == 1800 and spec.max_trials == 50
    assert spec.promote_top == 2 and spec.promote_set == {"train.epochs": 25}
    grid = Search(spec).grid()
    assert len(grid) == 9  # 3 lrs x wd 0, 0.005, 0.01
    assert grid[0] == {"train.lr": 1e-4, "train.wd": 0}
    check_against_params(spec, lambda f: BASE_PARAMS if f == "params.yaml" else None)


@pytest.mark.parametrize(
    "text, fragment",
    [
        (
            "name: x\nmetric: val.acc\nparams: {train.lr: [1, 2]}\nmethod: anneal\n",
            "spec.yaml:4: method: unknown method 'anneal'",
        ),
        (
            "name: x\nmetric: val.acc\nparams:\n  train.lr: {low: 1, high: 0.5}\nmethod: random\n"
            "trials: 3\n",
            "spec.yaml:4: params.train.lr: bad range: low (1) must be < high (0.5)",
        ),
        (
            "name: x\nmetric: val.acc\nmethod: tpe\ntrials: 3\nparams:\n"
            "  train.lr: {low: 0, high: 1, log: true}\n",
            "log scale needs low > 0",
        ),
        (
            "name: x\nmetric: val.acc\nparams: {train.lr: [1, 2]}\ncolour: red\n",
            "spec.yaml:4: colour: unknown spec key",
        ),
        (
            "name: x\nmetric: val.acc\nmethod: random\nparams: {train.lr: [1, 2]}\n",
            "trials: method random needs `trials: N`",
        ),
        (
            "name: x\nmetric: val.acc\nparams:\n  train.lr: {low: 0.1, high: 1}\n",
            "params.train.lr: a grid needs a list of values or a range with step",
        ),
        ("name: x\nparams: {train.lr: [1, 2]}\n", "metric: missing"),
        (
            "name: x\nmetric: {key: val.acc, mode: up}\nparams: {train.lr: [1, 2]}\n",
            "mode must be max or min",
        ),
        (
            "name: x\nmetric: val.acc\nmethod: nsga2\ntrials: 4\nparams: {train.lr: [1, 2]}\n",
            "nsga2 needs a list of two or more metrics",
        ),
        (
            "name: x\nmetric: val.acc\nparams: {train.lr: [1, 2]}\nprune: {method: hyperband}\n",
            "spec.yaml:4: prune.method: unknown pruner 'hyperband'",
        ),
        (
            "name: x\nmetric: val.acc\nparams: {train.lr: [1, 2]}\nbudget:\n  max_time: soon\n",
            "spec.yaml:5: budget.max_time: bad duration 'soon'",
        ),
        (
            "name: x\nmetric: val.acc\nparams: {train.lr: [1, 2]}\nparallel: 0\n",
            "spec.yaml:4: parallel: must be an integer >= 1, got 0",
        ),
        ("name: 'bad name!'\nmetric: val.acc\nparams: {train.lr: [1, 2]}\n", "bad sweep name"),
        ("name: x\nmetric: val.acc\nparams: {train.epochs: 3}\n", "nothing to sweep"),
        ("name: x\nmetric: val.acc\nparams: [train.lr]\n", "params: needs a mapping"),
        ("- just\n- a list\n", "must be a mapping"),
        ("name: x\nmetric: val.acc\nparams: {train.lr: [1, 2}\n", "not valid YAML"),
    ],
)
def test_bad_spec_names_line_and_key(tmp_path, text, fragment):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, text))
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "key, fragment",
    [
        (
            "train.lrr",
            "spec.yaml:4: params.train.lrr: unknown key 'train.lrr' (not in params.yaml)",
        ),
        ("nope.yaml:a.b", "params file 'nope.yaml' is not in the baseline commit"),
        ("train.lr.deeper", "unknown key 'train.lr.deeper'"),
    ],
)
def test_unknown_param_key_is_reported_with_its_line(tmp_path, key, fragment):
    spec = load_spec(write(tmp_path, f"name: x\nmetric: val.acc\nparams:\n  {key}: [1, 2]\n"))
    with pytest.raises(SpecError) as err:
        check_against_params(spec, lambda f: BASE_PARAMS if f == "params.yaml" else None)
    assert fragment in str(err.value)


def test_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="missing.yaml: cannot read sweep spec"):
        load_spec(tmp_path / "missing.yaml")


def test_cli_options_build_choices_ranges_and_fixed_values():
    spec = spec_from_options(
        ["train.lr=1e-4,3e-4,1e-3", "train.wd=1e-6..1e-3:log", "train.epochs=3"],
        {
            "metric": {"key": "val.acc", "mode": "max"},
            "method": "random",
            "trials": 4,
            "name": "cli",
        },
    )
    lr, wd, epochs = spec.params
    assert lr.choices == [1e-4, 3e-4, 1e-3]
    assert (wd.low, wd.high, wd.log) == (1e-6, 1e-3, True)
    assert epochs.is_fixed and epochs.fixed == 3


@pytest.mark.parametrize("item", ["train.lr", "=3", "train.lr=1..0"])
def test_bad_cli_options(item):
    with pytest.raises(SpecError):
        spec_from_options([item], {"metric": "val.acc", "method": "random", "trials": 2})


def test_overrides_and_hash_include_fixed_values_and_seed(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    a = overrides_for(spec, {"train.lr": 1e-4, "train.wd": 0}, 1)
    assert a == {
        "params.yaml:train.epochs": 3,
        "params.yaml:train.lr": 1e-4,
        "params.yaml:train.wd": 0,
        "params.yaml:base.seed": 1,
    }
    b = overrides_for(spec, {"train.lr": 1e-4, "train.wd": 0}, 0)
    assert params_hash(a) != params_hash(b)
    assert params_hash(a) == params_hash(dict(reversed(list(a.items()))))


def test_random_search_is_reproducible_with_a_search_seed(tmp_path):
    text = (
        "name: r\nmethod: random\ntrials: 5\nseed: 7\nmetric: val.acc\nparams:\n"
        "  train.lr: {low: 1.0e-5, high: 1.0e-1, log: true}\n  train.wd: [0, 1, 2]\n"
    )
    configs = []
    for _ in range(2):
        spec = load_spec(write(tmp_path, text))
        spec.resolve_directions(tmp_path)  # issue 18: no max by default; val.acc says max
        search = Search(spec)
        configs.append([search.ask(i) for i in range(5)])
    assert configs[0] == configs[1]
    assert len({c["train.lr"] for c in configs[0]}) == 5


@pytest.mark.parametrize(
    "value, text", [(1e-05, "1.0e-05"), (3e-4, "0.0003"), (2.5, "2.5"), (1e20, "1.0e+20"), (7, "7")]
)
def test_written_params_read_back_as_numbers_by_pyyaml(tmp_path, value, text):
    """Bug: ruamel wrote 1e-05, which PyYAML (YAML 1.1) reads as a string, so the pipeline's
    validation rejected every trial with a small weight_decay."""
    import yaml

    from expbook.sweep.workspace import set_params

    (tmp_path / "params.yaml").write_text("train:\n  wd: 0.0  # keep me\n")
    set_params(tmp_path, {"params.yaml:train.wd": value})
    written = (tmp_path / "params.yaml").read_text()
    assert f"wd: {text} " in written and "# keep me" in written
    assert yaml.safe_load(written)["train"]["wd"] == value


@pytest.mark.parametrize(
    "method, prune, metric",
    [
        ("random", "asha", "val.acc"),
        ("tpe", "median", "val.acc"),
        ("tpe", "none", "val.loss"),
        ("grid", "asha", "val.acc"),
        ("nsga2", "none", "[{key: val.acc, mode: max}, {key: val.loss, mode: min}]"),
    ],
)
def test_every_method_and_pruner_runs_an_ask_report_tell_loop(tmp_path, method, prune, metric):
    spec = load_spec(
        write(
            tmp_path,
            f"name: x\nmethod: {method}\ntrials: 6\nseed: 1\n"
            f"metric: {metric}\nprune: {prune}\nparams:\n"
            "  train.lr: {low: 1.0e-4, high: 1.0e-1, log: true, "
            "values: [0.001, 0.01, 0.1]}\n"
            if method == "grid"
            else f"name: x\nmethod: {method}\ntrials: 6\nseed: 1\n"
            f"metric: {metric}\nprune: {prune}\nparams:\n"
            "  train.lr: {low: 1.0e-4, high: 1.0e-1, log: true}\n"
            "  train.wd: [0, 1]\n",
        )
    )
    spec.resolve_directions(tmp_path)  # issue 18: the names say it (val.acc max, val.loss min)
    search = Search(spec)
    pruned = 0
    for i in range(6):
        config = search.ask(i)
        if config is None:
            break
        value = 1 - abs(config["train.lr"] - 0.01)
        stopped = any(search.report(i, step, value * (step + 1) / 4) for step in range(4))
        pruned += stopped
        values = [value, 1 - value] if method == "nsga2" else [value]
        search.tell(i, values, "pruned" if stopped else "success")
    assert len(search.study.trials) == (3 if method == "grid" else 6)
    if method == "nsga2":
        assert search.pareto_optuna_trials()


def test_plain_grid_asks_the_same_configs_without_importing_optuna(tmp_path):
    """Issue 12 (start-up): a grid without pruning needs no sampler, so no optuna import (~0.7 s
    of the sweep's start-up); it asks the configs the optuna-backed grid (with a pruner) asks,
    in the same order, and skips finished ones the same way."""
    import json
    import subprocess
    import sys

    text = GOOD.replace("prune: {method: median, min_epochs: 1}\n", "")
    plain_path = write(tmp_path, text)
    code = (
        "import json, sys\n"
        "from expbook.sweep.search import Search\n"
        "from expbook.sweep.spec import load_spec, params_hash\n"
        f"search = Search(load_spec({str(plain_path)!r}))\n"
        "skip = {params_hash({'train.lr': 3e-4, 'train.wd': 0.005})}\n"
        "asked = []\n"
        "while (config := search.ask(len(asked), skip=skip)) is not None:\n"
        "    asked.append(config)\n"
        "    search.tell(len(asked) - 1, [0.5], 'success')\n"
        "print(json.dumps({'optuna': 'optuna' in sys.modules, 'asked': asked}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    plain = json.loads(out.stdout)
    assert plain["optuna"] is False
    pruned = Search(load_spec(write(tmp_path, GOOD)))  # median pruning: optuna's study
    skip = {params_hash({"train.lr": 3e-4, "train.wd": 0.005})}
    asked = []
    while (config := pruned.ask(len(asked), skip=skip)) is not None:
        asked.append(config)
        pruned.tell(len(asked) - 1, [0.5], "success")
    assert plain["asked"] == asked and len(asked) == 8
