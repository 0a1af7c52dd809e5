"""Run-time setup shared by train and evaluate: seeding, threads, device, determinism,
and the torch.distributed helpers (rank-0-only logging, cross-rank metric reduction).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch
import torch.distributed as dist

from pipeline.config import StageError

# literal copy of expbook.env.NUM_THREADS / PRUNE_FILE: the pipeline never imports expbook
NUM_THREADS_ENV = "EXPBOOK_NUM_THREADS"
PRUNE_FILE_ENV = "EXPBOOK_PRUNE_FILE"


def set_threads(num_threads: int) -> int:
    """Pin torch's intra-op threads: explicit value, else $EXPBOOK_NUM_THREADS, else torch's."""
    if num_threads <= 0:
        env = os.environ.get(NUM_THREADS_ENV, "").strip()
        num_threads = int(env) if env.isdigit() and int(env) > 0 else 0
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise StageError("params.yaml: base.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool, device: torch.device) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic and device.type == "cuda":
        # CUDA has non-deterministic kernels (atomics, cuDNN autotuning, cuBLAS workspaces):
        # make torch pick deterministic ones or raise. Not called on CPU, where it only costs
        # ~1 s of imports (it loads torch's compiler stack to set inductor's flag): the CPU
        # kernels this pipeline uses (matmul, elementwise, reductions, bincount) give the same
        # bits run to run for a fixed thread count (`train.num_threads`), and the few CPU ops
        # the flag changes (index_put/put_ with accumulate, index_copy) are not used here.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """Only rank 0 logs metrics and writes checkpoints."""
    return rank() == 0


def reduce_sums(values: list[float], device: torch.device | None = None) -> list[float]:
    """Sum scalars across ranks (identity without a process group): reduce before logging."""
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def prune_requested() -> bool:
    """True once the file named by $EXPBOOK_PRUNE_FILE exists (a sweep asks us to stop)."""
    path = os.environ.get(PRUNE_FILE_ENV)
    return bool(path) and os.path.exists(path)


def open_live(directory: str, resume: bool = False):
    """The stage's metrics logger: dvclive's file layout, written by pipeline.live (DVC owns
    the experiment, so nothing else of dvclive is needed)."""
    from pipeline.live import Live

    return Live(directory, resume=resume)
