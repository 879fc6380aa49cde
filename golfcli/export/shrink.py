"""What an exported script can leave out: modules and definitions its frozen plan never runs.

Three safe cuts on the minified modules:
- modules of an evaluation the plan does not run (the Hedge mixer, score-first TTT): the plan's
  evaluation is frozen (the environment cannot switch it on), so their imports are removed and
  the names they provided are only referenced on branches the run never takes;
- `__all__` lists: golf has no `import *`, and their strings would keep every listed name alive;
- top-level functions and classes no bundled module names anywhere (as a name, an attribute,
  an imported name or a string), repeated until nothing more goes: what is unnamed cannot run.
"""

from __future__ import annotations

import ast
from collections import Counter
from typing import Any

from golfcli.export.plan import ExportPlan


def unused_modules(plan: ExportPlan) -> set[str]:
    """The modules of evaluations `plan` never runs."""
    out = set()
    if plan.mode != "hedge":
        out.add("golfcli.eval.hedge")
    if not plan.ttt:
        out.add("golfcli.eval.ttt")
    return out


def shrink(modules: dict[str, list[Any]], plan: ExportPlan, entry: tuple[str, ...]) -> dict[str, list[Any]]:
    """`modules` without the plan's unused modules and without definitions nothing names
    (`entry`: the names the script's stub calls)."""
    drop = unused_modules(plan)
    trees = {name: ast.parse(src) for name, (_, src) in modules.items() if name not in drop}
    for tree in trees.values():
        tree.body = [node for node in tree.body if not (_imports_any(node, drop) or _is_all(node))] or [ast.Pass()]
    while _drop_unnamed(trees, entry):
        pass
    return {name: [modules[name][0], ast.unparse(tree) + "\n"] for name, tree in trees.items()}


def _is_all(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)


def _imports_any(node: ast.stmt, modules: set[str]) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and node.module in modules
    if isinstance(node, ast.Import):
        return any(alias.name in modules for alias in node.names)
    return False


def _names(tree: ast.AST) -> Counter:
    found: Counter = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found[node.id] += 1
        elif isinstance(node, ast.Attribute):
            found[node.attr] += 1
        elif isinstance(node, ast.alias):
            found[node.name.rpartition(".")[2]] += 1
            found[node.asname or ""] += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found[node.value] += 1
    return found


def _drop_unnamed(trees: dict[str, ast.Module], entry: tuple[str, ...]) -> bool:
    """Remove one round of unnamed top-level definitions; True when something went."""
    named: Counter = Counter(entry)
    for tree in trees.values():
        named.update(_names(tree))
    dropped = False
    for tree in trees.values():
        keep = []
        for node in tree.body:
            is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if is_def and not node.name.startswith("__") and named[node.name] == _own_uses(node):
                dropped = True
                continue
            keep.append(node)
        tree.body = keep or [ast.Pass()]
    return dropped


def _own_uses(node: ast.AST) -> int:
    """How often a definition names itself (recursion), which does not keep it alive."""
    name = node.name
    return sum(1 for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == name)
