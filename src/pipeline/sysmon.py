"""System metrics per epoch, as dvclive's `monitor_system` names them: CPU %, RAM and this
process's RSS, and (when a CUDA GPU is used) GPU utilisation and memory.

psutil when it is installed, else /proc (Linux). The values go to dvclive-format TSVs under
plots/metrics/system/ only, not into metrics.json: they describe the machine, not the result
(`expbook reproduce` ignores `system.*` curves).
Used by train (one `sample()` per epoch).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

GB = 1024.0**3
# dvclive.monitor_system's names, plus this process's resident memory
CPU = "system/cpu/usage (%)"
RAM = "system/ram/usage (GB)"
RSS = "system/ram/process rss (GB)"
GPU = "system/gpu/usage (%)"
VRAM = "system/vram/usage (GB)"


def _proc_cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [float(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _proc_mem() -> tuple[float | None, float | None]:
    """(used GB of the machine, this process's RSS GB) from /proc."""
    used = rss = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {ln.split(":")[0]: float(ln.split()[1]) * 1024 for ln in fh if ":" in ln}
        used = (info["MemTotal"] - info.get("MemAvailable", info.get("MemFree", 0.0))) / GB
    except (OSError, ValueError, KeyError, IndexError):
        pass
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / GB
    except (OSError, ValueError, IndexError):
        pass
    return used, rss


class SystemMonitor:
    """`sample()` gives the metrics since the previous sample (CPU % is an average over it)."""

    def __init__(self) -> None:
        try:
            import psutil
        except ImportError:
            psutil = None
        self._psutil: Any = psutil
        if psutil is not None:
            psutil.cpu_percent(None)  # starts the interval
        self._cpu = _proc_cpu_times()
        self._t = time.monotonic()

    def _cpu_percent(self) -> float | None:
        if self._psutil is not None:
            return float(self._psutil.cpu_percent(None))
        now = _proc_cpu_times()
        prev, self._cpu = self._cpu, now
        if now is None or prev is None or now[1] <= prev[1]:
            return None
        return 100.0 * (now[0] - prev[0]) / (now[1] - prev[1])

    def sample(self) -> dict[str, float]:
        out: dict[str, float | None] = {CPU: self._cpu_percent()}
        if self._psutil is not None:
            out[RAM] = self._psutil.virtual_memory().used / GB
            out[RSS] = self._psutil.Process().memory_info().rss / GB
        else:
            out[RAM], out[RSS] = _proc_mem()
        out.update(gpu())
        return {k: round(v, 4) for k, v in out.items() if v is not None}


def gpu() -> dict[str, float]:
    """GPU utilisation (needs pynvml) and memory of the current CUDA device; {} without CUDA."""
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    out = {VRAM: torch.cuda.memory_reserved() / GB}
    with contextlib.suppress(RuntimeError, ModuleNotFoundError, AttributeError):
        out[GPU] = float(torch.cuda.utilization())  # needs pynvml; else memory only
    return out


def write(plots_dir: str | os.PathLike, step: int, values: dict[str, float]) -> None:
    """Append one row per metric to plots/metrics/<name>.tsv, as dvclive's
    `log_metric(name, val, timestamp=True)` writes it (timestamp in ms, step, value)."""
    stamp = int(time.time() * 1000)
    for name, value in values.items():
        path = os.path.join(os.fspath(plots_dir), "metrics", *name.split("/")) + ".tsv"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        new = not os.path.exists(path)
        with open(path, "a", encoding="utf-8", newline="") as fobj:
            if new:
                fobj.write(f"timestamp\tstep\t{os.path.basename(name)}\n")
            fobj.write(f"{stamp}\t{step}\t{value!r}\n")
