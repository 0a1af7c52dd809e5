"""The train stage's optimizer: torch.optim's Adam, AdamW or SGD, used without importing torch's
compiler stack.

torch.optim marks its methods "never compile" with wrappers (`torch._disable_dynamo`, and
graph breaks around `step`) that import torch._dynamo on their first call: ~1 s of imports
(sympy, FX symbolic shapes; `python -X importtime`), more than the 2-epoch demo training
itself. In a process that never calls torch.compile these wrappers only forward the call, so
`make_optimizer` resolves them to the functions they wrap before the first call. The same
torch code does the math: parameters, state_dict() and checkpoints stay bit-identical
(tests/test_pipeline_lean.py compares them with plain torch.optim's).

A stage that uses torch.compile should build its optimizer with torch.optim directly (the
graph breaks matter there). If torch's wrappers change shape, nothing is resolved and
torch.optim imports torch._dynamo as before: slower, same results. Used by pipeline.train.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch.optim import adam, optimizer, sgd

from pipeline.config import TrainConfig

# the code objects of the two wrappers that import torch._dynamo when first called
_DISABLE_CODE = torch._disable_dynamo(lambda: None).__code__
_USE_GRAD_CODE = optimizer._use_grad_for_differentiable(lambda self: None).__code__


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """`train.optimizer` over the model's parameters: lr, weight_decay (sgd: momentum)."""
    lean = "torch._dynamo" not in sys.modules  # once imported, there is nothing to save
    if lean:
        resolve_disable_wrappers()
    params = model.parameters()
    opt: torch.optim.Optimizer
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    else:
        cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        opt = cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if lean:
        step_without_graph_breaks(opt)
    return opt


def resolve_disable_wrappers() -> None:
    """Point each `torch._disable_dynamo` wrapper on the optimizers' call paths (construction,
    zero_grad, state_dict, load_state_dict, the Adam/AdamW/SGD math) at the function it wraps.
    The wrapper keeps what torch._dynamo.disable() gave it in the function's `__dynamo_disable`
    attribute and imports torch._dynamo only while that is unset."""
    roots = [
        torch.optim.Optimizer.add_param_group,
        torch.optim.Optimizer.zero_grad,
        torch.optim.Optimizer.state_dict,
        torch.optim.Optimizer.load_state_dict,
        getattr(adam, "adam", None),
        getattr(sgd, "sgd", None),
    ]
    for fn in _reachable(roots):
        if fn.__code__ is _DISABLE_CODE:
            target = fn.__wrapped__  # type: ignore[attr-defined]
            if getattr(target, "__dynamo_disable", None) is None:
                setattr(target, "__dynamo_disable", target)


def step_without_graph_breaks(opt: torch.optim.Optimizer) -> None:
    """Make `opt.step()` call torch's step in the grad mode its wrapper sets (`differentiable`),
    with the same step hooks and profiler record, minus the wrapper's torch._dynamo graph
    breaks (no-ops without torch.compile)."""
    step = next((fn for fn in _unwrap(type(opt).step) if fn.__code__ is _USE_GRAD_CODE), None)
    if step is None:
        return
    inner = step.__wrapped__  # type: ignore[attr-defined]

    @functools.wraps(inner)
    def eager_step(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return inner(self, *args, **kwargs)

    hooked = torch.optim.Optimizer.profile_hook_step(eager_step)
    opt.step = types.MethodType(hooked, opt)  # type: ignore[method-assign]


def _unwrap(fn: Any) -> Iterator[types.FunctionType]:
    """fn and the functions it wraps, along functools.wraps' `__wrapped__` chain."""
    seen: set[int] = set()
    while isinstance(fn, types.FunctionType) and id(fn) not in seen:
        seen.add(id(fn))
        yield fn
        fn = getattr(fn, "__wrapped__", None)


def _reachable(roots: list[Any]) -> Iterator[types.FunctionType]:
    """Every function reachable from `roots` along `__wrapped__` chains and closure cells."""
    todo = [root for root in roots if root is not None]
    seen: set[int] = set()
    while todo:
        for fn in _unwrap(todo.pop()):
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            yield fn
            for cell in fn.__closure__ or ():
                try:
                    value = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if isinstance(value, types.FunctionType):
                    todo.append(value)
