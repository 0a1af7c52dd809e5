"""Python params files (`params.py`) read the way DVC reads them (dvc/utils/serialize/_py.py):
literal assignments at module level, class attributes and `self.x = ...` in `__init__`, found
with `ast`; the file is never imported or executed. Used by expbook.registry.dvcfiles.load_bytes.
"""

from __future__ import annotations

import ast
from typing import Any


def parse_py(text: str, path: str) -> dict[str, Any]:
    """A python params file as DVC reads it (dvc/utils/serialize/_py.py): module-level and class
    attribute assignments of literals, `self.x = ...` in `__init__`; never imported or run.
    A SyntaxError is the caller's to report (dvcfiles.load_bytes: a ParseError)."""
    return _py_body(ast.parse(text, filename=path).body, False)


def _py_body(body: list[ast.stmt], only_self: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in body:
        try:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
                if len(targets) != 1 or node.value is None:
                    continue
                target = targets[0]
                if isinstance(target, ast.Name) and not only_self:
                    name = target.id
                elif (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    name = target.attr
                else:
                    continue
                out[name] = _py_value(node.value)
            elif isinstance(node, ast.ClassDef):
                out[node.name] = _py_body(node.body, False)
            elif isinstance(node, ast.FunctionDef) and node.name == "__init__":
                out.update(_py_body(node.body, True))
        except ValueError:
            continue  # not a literal: DVC skips it too
    return out


def _py_value(node: Any) -> Any:  # an ast node
    if isinstance(node, ast.Dict):
        return {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
    if isinstance(node, ast.List):
        return [ast.literal_eval(v) for v in node.elts]
    if isinstance(node, ast.Set):
        return {ast.literal_eval(v) for v in node.elts}
    if isinstance(node, ast.Tuple):
        return tuple(ast.literal_eval(v) for v in node.elts)
    return ast.literal_eval(node)
