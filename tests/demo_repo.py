"""A repository shaped like `make demo`'s, written fast with git plumbing: the example
pipeline's file layout (per-epoch dvclive curves without timestamps, per-optimizer-step curves
with them, sklearn plots, a PNG), one baseline and N experiments under refs/exps. Real git and
DVC (dvc init, dvc.yaml with plot titles); only the training is skipped.

Used by tests/test_ui_charts.py and benchmarks/ui.py.
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train]
    outs:
      - metrics/train/plots:
          cache: false
    metrics:
      - metrics/train/metrics.json:
          cache: false
  evaluate:
    cmd: python train.py
    deps: [train.py]
    metrics:
      - metrics/evaluate/metrics.json:
          cache: false
    plots:
      - metrics/evaluate/plots:
          cache: false
      - plots/misclassified.png:
          cache: false
plots:
  - metrics/train/plots/metrics/train:
      x: step
  - metrics/train/plots/metrics/val:
      x: step
      title: Validation curves
  - metrics/train/plots/metrics/step:
      x: step
  - metrics/evaluate/plots/sklearn/confusion_matrix.json:
      template: confusion
      x: actual
      y: predicted
      title: Confusion matrix (test)
"""

STEP_NAMES = ("loss", "lr", "grad_norm", "samples_per_s", "wallclock_s")
EPOCH_NAMES = (
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "val/precision",
    "val/recall",
    "val/f1",
    "time/epoch_s",
)


def _git(path: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)


def _png(w: int, h: int, shade: int) -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // w, y * 255 // h, shade)) for x in range(w))
        for y in range(h)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def run_files(
    i: int, lr: float, epochs: int = 20, steps_per_epoch: int = 45, extra: int = 0
) -> dict[str, str | bytes]:
    """The files one pipeline run writes (values shaped like real training, seeded by i)."""
    rnd = random.Random(i)
    acc = lambda e: 1 - 0.9 * math.exp(-(e + 1) * lr * 300) - rnd.random() * 0.01  # noqa: E731
    files: dict[str, str | bytes] = {}
    per_epoch: dict[str, list[float]] = {n: [] for n in EPOCH_NAMES}
    for e in range(epochs):
        a = acc(e)
        for n in EPOCH_NAMES:
            per_epoch[n].append(
                a
                if n.endswith(("acc", "precision", "recall", "f1"))
                else 1 - a
                if "loss" in n
                else 0.8 + rnd.random() * 0.1
            )
    for k in range(extra):
        per_epoch[f"val/extra_{k:02d}"] = [acc(e) * (1 + k / 50) for e in range(epochs)]
    for n, values in per_epoch.items():
        leaf = n.split("/")[-1]
        files[f"metrics/train/plots/metrics/{n}.tsv"] = f"step\t{leaf}\n" + "".join(
            f"{e}\t{v!r}\n" for e, v in enumerate(values)
        )
    t0 = 1796046278559 + i * 100_000
    total = epochs * steps_per_epoch
    for n in STEP_NAMES:
        rows = []
        for s in range(total):
            v = {"loss": 2.3 * math.exp(-s * lr * 5) + rnd.random() * 0.05, "lr": lr * 0.5 * (1 + math.cos(math.pi * s / total)),
                 "grad_norm": 1 + rnd.random(), "samples_per_s": 20000 + rnd.random() * 3000, "wallclock_s": s * 0.031}[n]  # fmt: skip
            rows.append(f"{t0 + s * 31}\t{s}\t{v!r}\n")
        files[f"metrics/train/plots/metrics/step/{n}.tsv"] = f"timestamp\tstep\t{n}\n" + "".join(
            rows
        )
    final = acc(epochs - 1)
    files["metrics/train/metrics.json"] = json.dumps(
        {
            "train": {"loss": 1 - final, "acc": final},
            "val": {"loss": 1 - final, "acc": final, "f1": final - 0.001},
            "step": epochs - 1,
        },
        indent=4,
    )
    files["metrics/evaluate/metrics.json"] = json.dumps(
        {"test": {"acc": final - 0.002, "loss": 1.01 - final}}, indent=4
    )
    pairs = [
        {"actual": str(a), "predicted": str(a if rnd.random() < final else rnd.randrange(10))}
        for a in range(10)
        for _ in range(54)
    ]
    files["metrics/evaluate/plots/sklearn/confusion_matrix.json"] = json.dumps(pairs, indent=4)
    roc = [
        {"fpr": x / 60, "tpr": min(1.0, (x / 60) ** 0.1), "threshold": 1 - x / 60}
        for x in range(61)
    ]
    files["metrics/evaluate/plots/sklearn/roc.json"] = json.dumps({"roc": roc}, indent=4)
    pr = [
        {"precision": 1 - (x / 300) ** 4 * 0.9, "recall": x / 300, "threshold": 1 - x / 300}
        for x in range(301)
    ]
    files["metrics/evaluate/plots/sklearn/precision_recall.json"] = json.dumps(
        {"precision_recall": pr}, indent=4
    )
    files["plots/misclassified.png"] = _png(24, 24, i * 37 % 255)
    files["params.yaml"] = (
        f"train:\n  lr: {lr}\n  epochs: {epochs}\n  seed: {i % 3}\n  model: mlp\n"
    )
    return files


def build_demo_repo(
    path: Path,
    lrs: list[float],
    *,
    epochs: list[int] | None = None,
    extra: int = 0,
    prefix: str = "demo-lr-",
) -> list[str]:
    """A DVC repo with one baseline and one experiment per learning rate; returns the names."""
    import pygit2

    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "demo")
    _git(path, "config", "user.email", "demo@expbook.invalid")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=path, check=True)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "train.py").write_text("print('the demo pipeline')\n")
    for name, data in run_files(0, 0.001, extra=extra).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data.encode() if isinstance(data, str) else data)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "baseline")
    repo = pygit2.Repository(str(path))
    base = repo.head.peel(pygit2.Commit)
    t0 = int(time.time()) - len(lrs) * 60
    names = []
    for i, lr in enumerate(lrs):
        name = f"{prefix}{i:02d}" if prefix != "demo-lr-" else f"demo-lr-{lr:g}".replace(".", "p")
        n_epochs = (epochs or [20] * len(lrs))[i]
        tree = files_tree(repo, base.tree, run_files(i + 1, lr, epochs=n_epochs, extra=extra))
        sig = pygit2.Signature("demo", "demo@expbook.invalid", t0 + i * 60, 0)
        oid = repo.create_commit(None, sig, sig, f"exp {name}", tree, [base.id])
        sha = str(base.id)
        repo.references.create(f"refs/exps/{sha[:2]}/{sha[2:]}/{name}", oid)
        names.append(name)
    return names


def files_tree(repo, base, files: dict[str, str | bytes]):
    """A git tree: `base` (a pygit2 Tree or None) with `files` (path -> text) written in."""
    import pygit2

    nested: dict = {}
    for name, text in files.items():
        node = nested
        *dirs, leaf = name.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = text

    def build(tree, node):
        builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
        for name, value in node.items():
            if isinstance(value, dict):
                sub = tree[name] if tree is not None and name in tree else None
                builder.insert(
                    name, build(repo[sub.id] if sub else None, value), pygit2.enums.FileMode.TREE
                )
            else:
                data = value.encode() if isinstance(value, str) else value
                builder.insert(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
        return builder.write()

    return build(base, nested)
