"""The lean stage code writes what the heavy libraries wrote (issue 12): pipeline.live vs
dvclive's Live, pipeline.curves vs scikit-learn, envinfo's package list vs importlib.metadata,
a reproducible misclassified PNG, pipeline.optim vs plain torch.optim, and stage processes that
never import the heavy libraries."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from pipeline import curves, envinfo, evaluate
from pipeline.live import Live


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _log_run(live, epochs: int, start: int = 0) -> None:
    """What train/evaluate do with a Live: metrics per step, summary, sklearn plots."""
    rng = np.random.default_rng(start)
    for epoch in range(start, epochs):
        live.step = epoch
        for name in ("train/loss", "val/acc", "time/epoch_s"):
            live.log_metric(name, float(rng.random()))
        live.log_metric("val/nan", float("nan"))
        live.make_summary()
    live.summary.update({"best": {"epoch": 1}, "params": {"total": 3}})
    live.make_summary()


def test_live_writes_dvclive_bytes(tmp_path: Path):
    """train's curves and metrics.json, a fresh run and a resumed one, equal dvclive's files."""
    from dvclive import Live as DvcLive

    for name, cls in (("ours", Live), ("dvclive", DvcLive)):
        kw = {} if cls is Live else {"save_dvc_exp": False, "dvcyaml": None, "report": None}
        d = tmp_path / name / "metrics" / "train"
        (d / "plots" / "metrics" / "stale").mkdir(parents=True)  # a fresh run clears old curves
        (d / "metrics.json").write_text("{}")
        _log_run(cls(str(d), **kw), 3)
        _log_run(cls(str(d), resume=True, **kw), 5, start=3)
    assert _files(tmp_path / "ours") == _files(tmp_path / "dvclive")


def test_live_sklearn_plots_equal_dvclive(tmp_path: Path):
    from dvclive import Live as DvcLive

    rng = np.random.default_rng(1)
    labels = [str(c) for c in rng.integers(0, 10, 200)]
    preds = [str(c) for c in rng.integers(0, 10, 200)]
    onehot = rng.integers(0, 2, 2000)
    probs = np.round(rng.random(2000), 3)  # ties, like softmax outputs of a confident model
    for name, cls in (("ours", Live), ("dvclive", DvcLive)):
        kw = {} if cls is Live else {"save_dvc_exp": False, "dvcyaml": None, "report": None}
        live = cls(str(tmp_path / name), **kw)
        live.summary["test"] = {"acc": 0.5}
        live.log_sklearn_plot("confusion_matrix", labels, preds, name="confusion_matrix.json")
        live.log_sklearn_plot("roc", onehot, probs, name="roc.json")
        live.log_sklearn_plot(
            "precision_recall", onehot, probs, name="precision_recall.json", drop_intermediate=True
        )
        live.make_summary()
    assert _files(tmp_path / "ours") == _files(tmp_path / "dvclive")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("drop", [True, False])
def test_curves_equal_sklearn(seed: int, drop: bool):
    from sklearn import metrics

    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 300))
    y = rng.integers(0, 2, n)
    if seed == 4:
        y[:] = 1  # no negatives: fpr is nan, as sklearn's
    score = rng.random(n) if seed % 2 else np.round(rng.random(n), 1)  # many ties
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = metrics.roc_curve(y, score, drop_intermediate=drop) + metrics.precision_recall_curve(
            y, score, drop_intermediate=drop
        )
        got = curves.roc(y, score, drop) + curves.precision_recall(y, score, drop)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype


def test_envinfo_packages_equal_importlib_metadata():
    want = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in want:
            want[name.lower()] = f"{name}=={dist.version}"
    assert envinfo.packages() == sorted(want.values(), key=str.lower)


@pytest.mark.parametrize(
    "shape, n_wrong", [([1, 8, 8], 11), ([1, 8, 8], 0), ([5], 3)], ids=["image", "none", "flat"]
)
def test_misclassified_png_is_reproducible(tmp_path: Path, shape: list, n_wrong: int):
    from PIL import Image

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, int(np.prod(shape)))).astype(np.float32)
    y = np.arange(20) % 10
    pred = y.copy()
    pred[:n_wrong] = (y[:n_wrong] + 1) % 10
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert evaluate.plot_misclassified(X, y, pred, list(range(10)), shape, 16, a) == n_wrong
    evaluate.plot_misclassified(X, y, pred, list(range(10)), shape, 16, b)
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as img:
        cols = min(8, max(n_wrong, 1))
        assert img.mode == "L" and img.width >= 8 + cols * 72


HEAVY = ("sklearn", "matplotlib", "dvclive", "dvc", "pandas", "scipy", "torch._dynamo")
PROBE = """
import runpy, sys
sys.argv = ["{stage}"]
try:
    runpy.run_module("pipeline.{stage}", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print("loaded:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.slow
def test_stages_do_not_import_heavy_libraries(tmp_path: Path):
    """Guards issue 12: train/evaluate stay free of sklearn, matplotlib, dvclive, DVC, pandas
    and torch's compiler stack (each costs 0.5-1.2 s per stage process; torch.optim would
    import torch._dynamo on first use, pipeline.optim avoids it)."""
    import shutil

    for rel in ("params.yaml", "src/pipeline"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tmp_path / rel)
    params = tmp_path / "params.yaml"
    params.write_text(params.read_text().replace("  epochs: 20", "  epochs: 1", 1))
    env = {"PYTHONPATH": "src", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    for stage in ("prepare", "train", "evaluate"):
        proc = subprocess.run(
            [sys.executable, "-c", PROBE.format(stage=stage, heavy=HEAVY)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        loaded = proc.stdout.strip().splitlines()[-1].removeprefix("loaded:")
        allowed = {
            "prepare": set(HEAVY),  # scikit-learn for digits and the split
            "train": set(),
            "evaluate": set(),
        }[stage]
        assert set(filter(None, loaded.split(","))) <= allowed, f"{stage} imported {loaded}"


OPTIM_PROBE = """
import hashlib, io, sys
import torch
from pipeline.config import TrainConfig
from pipeline.models import build_model
lean = sys.argv[1] == "lean"
if lean:
    from pipeline.optim import make_optimizer
digests = []
for name in ("adam", "adamw", "sgd"):
    cfg = TrainConfig(optimizer=name, weight_decay=0.01, hidden_dims=[16])
    torch.manual_seed(0)
    model = build_model(cfg, [8], 3)
    def new():
        if lean:
            return make_optimizer(cfg, model)
        if name == "sgd":
            return torch.optim.SGD(
                model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        return cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    opt = new()
    X, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    for i in range(6):
        if i == 3:  # as a resumed run: a fresh optimizer loads the saved state
            state = opt.state_dict()
            opt = new()
            opt.load_state_dict(state)
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, buf)
    digests.append(hashlib.sha256(buf.getvalue()).hexdigest())
print(" ".join(digests), "torch._dynamo" in sys.modules)
"""


@pytest.mark.slow
def test_optimizer_without_compiler_stack_matches_torch_optim():
    """pipeline.optim's Adam/AdamW/SGD (no torch._dynamo import) step, save and resume to the
    same bytes as plain torch.optim in a fresh process (which imports torch._dynamo)."""
    out = {}
    for mode in ("lean", "plain"):
        proc = subprocess.run(
            [sys.executable, "-c", OPTIM_PROBE, mode],
            cwd=ROOT,
            env={"PYTHONPATH": "src", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        *digests, dynamo = proc.stdout.split()
        out[mode] = (digests, dynamo)
    assert out["lean"] == (out["plain"][0], "False")
    assert out["plain"][1] == "True"  # the comparison is against torch.optim's usual path


def test_unknown_optimizer_step_is_left_alone():
    """The fallback: a step that is not torch's graph-break wrapper keeps running as it is."""
    import torch

    from pipeline import optim

    class Plain(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1, "differentiable": False})

        def step(self, closure=None):
            self.stepped = True

    optim.resolve_disable_wrappers()  # or constructing would import torch._dynamo here
    opt = Plain([torch.nn.Parameter(torch.zeros(1))])
    optim.step_without_graph_breaks(opt)
    assert "step" not in vars(opt)
    opt.step()
    assert opt.stepped
