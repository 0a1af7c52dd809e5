"""Draw the benchmark plots of docs/benchmarks.md from the numbers in its tables.

Run by hand after a benchmark's table changes: `python benchmarks/plots/docs_plots.py`
(writes docs/bench-*.png). Numbers are copied from the tables, which name each run's date,
machine and load; nothing is measured here.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DOCS = Path(__file__).resolve().parents[2] / "docs"

# registry.py, 2026-11-30, 2-core machine (cold: load 1.1-1.3; warm: load ~5)
REGISTRY_COLD = {100: 0.184, 1_000: 0.62, 10_000: 1.18, 100_000: 11.6}
REGISTRY_WARM = {1_000: 0.152, 10_000: 0.184, 100_000: 0.224}
DVC_EXP_SHOW = {100: 3.58, 1_000: 38.9}

# sweep.py, 2026-11-30, 2-core machine, -j 2 (wall seconds; load high, not recorded, and 2.6-3.0)
SWEEPS = {
    "4 demo trials": (32.6, 92.8),
    "16 demo trials": (148.0, 392.9),
    "16 trivial trials": (3.3, 48.4),
}

# stages.py, 2026-11-30: process time of one demo trial, each pair from one run
STAGES = {
    "before issue 12\nvs now (load 5-7)": (("before", 6.53), ("now", 4.32)),
    "plain vs --warm-stages\n(load 1.9-2.3)": (("plain", 4.03), ("warm", 0.61)),
}


def registry() -> None:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, data, style in (
        ("expbook registry --format json, cold", REGISTRY_COLD, "o-"),
        ("expbook registry --format json, warm", REGISTRY_WARM, "s-"),
        ("dvc exp show --json", DVC_EXP_SHOW, "^--"),
    ):
        ax.plot(list(data), list(data.values()), style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("experiments in the repository")
    ax.set_ylabel("seconds (log)")
    ax.set_title("Reading every experiment (2-core machine, 2026-11-30)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(DOCS / "bench-registry.png", dpi=100)
    plt.close(fig)


def sweeps() -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = list(SWEEPS)
    y = range(len(names))
    ours = [SWEEPS[n][0] for n in names]
    queue = [SWEEPS[n][1] for n in names]
    ax.barh([i + 0.2 for i in y], ours, height=0.4, label="expbook sweep")
    ax.barh([i - 0.2 for i in y], queue, height=0.4, label="DVC queue")
    for i, (a, b) in enumerate(zip(ours, queue)):
        ax.text(a, i + 0.2, f" {a:g} s ({b / a:.1f}x faster)", va="center", fontsize=8)
        ax.text(b, i - 0.2, f" {b:g} s", va="center", fontsize=8)
    ax.set_yticks(list(y), names)
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds, -j 2 (log)")
    ax.set_title("Sweeps vs DVC's queue (2-core machine, 2026-11-30)")
    ax.legend(loc="lower right")
    ax.set_xlim(1, 2000)
    fig.tight_layout()
    fig.savefig(DOCS / "bench-sweep.png", dpi=100)
    plt.close(fig)


def stages() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.4), sharey=True)
    for ax, (title, pairs) in zip(axes, STAGES.items()):
        labels = [p[0] for p in pairs]
        values = [p[1] for p in pairs]
        bars = ax.bar(labels, values, color=["#999999", "#1f77b4"])
        ax.bar_label(bars, fmt="%.2f s")
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("process seconds per demo trial")
    fig.suptitle("One sweep trial of the demo pipeline (2-core machine, 2026-11-30)", fontsize=10)
    fig.tight_layout()
    fig.savefig(DOCS / "bench-stages.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    registry()
    sweeps()
    stages()
    print(f"wrote {DOCS}/bench-registry.png, bench-sweep.png, bench-stages.png")
