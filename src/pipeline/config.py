"""Typed, validated view of params.yaml: one frozen dataclass per section.

Every stage calls `load_params()` first, so a bad value anywhere in the file stops the run
before any work (error names the file and key, e.g. `params.yaml: train.lr must be > 0, got -1`).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline import paths


class ParamsError(ValueError):
    """params.yaml is missing, unparsable, or has an unknown key / wrong type / bad value."""


class StageError(RuntimeError):
    """A stage cannot run here (missing input of an earlier stage, no CUDA, no git commit)."""


def _f(default: Any, **checks: Any) -> Any:
    """A dataclass field with validation rules (gt, ge, le, lt, choices, min_len) as metadata."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=checks)
    return field(default=default, metadata=checks)


@dataclass(frozen=True)
class BaseConfig:
    seed: int = _f(42, ge=0)  # seeds the split, weight init, dropout and batch order
    device: str = _f("auto", choices=("auto", "cpu", "cuda"))  # auto = cuda if available


@dataclass(frozen=True)
class PrepareConfig:
    source: str = _f("digits")  # 'digits' (scikit-learn's bundled copy) or a path to a CSV
    target: str = _f("target")  # label column of a CSV source (ignored for digits)
    train_fraction: float = _f(0.7, gt=0, lt=1)
    val_fraction: float = _f(0.15, gt=0, lt=1)
    test_fraction: float = _f(0.15, gt=0, lt=1)  # the three must sum to 1


@dataclass(frozen=True)
class TrainConfig:
    model: str = _f("mlp", choices=("mlp", "cnn"))
    hidden_dims: list = _f([512, 256], min_len=1, item_gt=0)  # mlp only
    channels: list = _f([32, 64], min_len=1, item_gt=0)  # cnn only
    dropout: float = _f(0.2, ge=0, lt=1)
    optimizer: str = _f("adam", choices=("adam", "adamw", "sgd"))
    lr: float = _f(1e-3, gt=0)
    momentum: float = _f(0.9, ge=0, lt=1)  # sgd only
    weight_decay: float = _f(0.0, ge=0)
    batch_size: int = _f(64, gt=0)
    accumulation_steps: int = _f(1, gt=0)  # micro-batches per optimizer step
    epochs: int = _f(20, gt=0)
    scheduler: str = _f("cosine", choices=("none", "step", "plateau", "cosine"))
    step_size: int = _f(10, gt=0)  # step scheduler: epochs between decays
    gamma: float = _f(0.5, gt=0, le=1)  # step/plateau decay factor
    plateau_patience: int = _f(2, ge=0)
    warmup_epochs: int = _f(0, ge=0)  # linear warm-up, per optimizer step
    clip_grad_norm: float = _f(0.0, ge=0)  # 0 = no clipping (norm is still logged)
    early_stopping_patience: int = _f(0, ge=0)  # epochs without val-loss gain; 0 = off
    deterministic: bool = _f(True)  # CUDA: deterministic kernels (CPU ones already are)
    num_threads: int = _f(1, ge=0)  # 0 = auto ($EXPBOOK_NUM_THREADS if set, else all cores)
    log_steps: bool = _f(True)  # per-optimizer-step curves (buffered, flushed per epoch)
    resume: bool = _f(False)  # continue from models/last.pt


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = _f(512, gt=0)
    n_misclassified: int = _f(16, ge=0)  # examples drawn in plots/misclassified.png


@dataclass(frozen=True)
class Params:
    base: BaseConfig
    prepare: PrepareConfig
    train: TrainConfig
    evaluate: EvaluateConfig


SECTIONS = {f.name: f.type for f in dataclasses.fields(Params)}
_CLASSES = {
    "base": BaseConfig,
    "prepare": PrepareConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
}


def _type_ok(expected: type, value: Any) -> bool:
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    if expected is list:
        return isinstance(value, list)
    return isinstance(value, expected)


def _check(where: str, f: dataclasses.Field, value: Any) -> Any:
    expected = {"int": int, "float": float, "str": str, "bool": bool, "list": list}[f.type]
    if not _type_ok(expected, value):
        raise ParamsError(f"{where} must be of type {expected.__name__}, got {value!r}")
    rules = f.metadata
    if "choices" in rules and value not in rules["choices"]:
        raise ParamsError(f"{where} must be one of {', '.join(rules['choices'])}; got {value!r}")
    for rule, ok, text in (
        ("gt", lambda v, r: v > r, ">"),
        ("ge", lambda v, r: v >= r, ">="),
        ("lt", lambda v, r: v < r, "<"),
        ("le", lambda v, r: v <= r, "<="),
    ):
        if rule in rules and not ok(value, rules[rule]):
            raise ParamsError(f"{where} must be {text} {rules[rule]}, got {value!r}")
    if expected is list:
        if len(value) < rules.get("min_len", 0):
            raise ParamsError(
                f"{where} must have at least {rules['min_len']} item(s), got {value!r}"
            )
        for item in value:
            if (
                isinstance(item, bool)
                or not isinstance(item, int)
                or item <= rules.get("item_gt", 0)
            ):
                raise ParamsError(f"{where} must be a list of positive integers, got {value!r}")
        value = list(value)
    return float(value) if expected is float else value


def _build(cls: type, section: str, raw: Any, fname: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{fname}: {section} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ParamsError(f"{fname}: unknown key {section}.{key} (known: {', '.join(fields)})")
    values = {k: _check(f"{fname}: {section}.{k}", fields[k], v) for k, v in raw.items()}
    return cls(**values)


def parse_params(doc: Any, fname: str = str(paths.PARAMS)) -> Params:
    """Validate a parsed params document (missing keys take the defaults above)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ParamsError(f"{fname}: top level must be a mapping of sections")
    for key in doc:
        if key not in _CLASSES:
            raise ParamsError(f"{fname}: unknown key {key} (known sections: {', '.join(_CLASSES)})")
    params = Params(
        **{name: _build(cls, name, doc.get(name), fname) for name, cls in _CLASSES.items()}
    )
    prep = params.prepare
    total = prep.train_fraction + prep.val_fraction + prep.test_fraction
    if abs(total - 1.0) > 1e-6:
        raise ParamsError(
            f"{fname}: prepare.train_fraction + prepare.val_fraction + "
            f"prepare.test_fraction must sum to 1, got {total:g}"
        )
    return params


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats without a dot (`1e-05`) as floats.

    `dvc exp run -S train.lr=1e-5` writes `1e-05`: DVC (ruamel, YAML 1.2) reads it as a float,
    plain PyYAML (YAML 1.1) as a string, which would reject DVC's own workflow.
    """


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_params(path: str | Path = paths.PARAMS) -> Params:
    """Read and validate the whole params file."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fobj:
            doc = yaml.load(fobj, Loader=_Yaml12Loader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err})") from None
    return parse_params(doc, str(path))


def as_dict(cfg: Any) -> dict:
    """Plain-dict copy of a config dataclass (for checkpoints and metadata)."""
    return dataclasses.asdict(cfg)


def stage_main(body: Callable[[Params], str | None]) -> int:
    """The shared main() of every stage: validate the whole params.yaml, run `body`, print its
    summary line; bad params or a stage error print `error: ...` and give exit code 2."""
    try:
        summary = body(load_params())
    except (ParamsError, StageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if summary:
        print(summary)
    return 0


def main() -> int:
    """`python -m pipeline.config`: validate params.yaml and exit 2 naming the bad key.

    The sweep spec's `validate:` command (see sweeps/lr-wd.yaml) runs this on every trial's
    params before any trial starts.
    """
    return stage_main(lambda params: f"{paths.PARAMS}: ok")


if __name__ == "__main__":
    raise SystemExit(main())
