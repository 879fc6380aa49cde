"""What an exported script can leave out: modules and definitions its frozen plan never runs.

Safe cuts on the minified modules, repeated until nothing more goes:
- modules of an evaluation the plan does not run (the Hedge mixer, score-first TTT): the plan's
  evaluation is frozen (the environment cannot switch it on), so their imports are removed and
  the names they provided are only referenced on branches the run never takes;
- `__all__` lists: golf has no `import *`, and their strings would keep every listed name alive;
- top-level functions, classes and literal constants no bundled module names anywhere (as a
  name, an attribute, an imported name or a string): what is unnamed cannot run;
- `from M import N` where the importing module never uses N and nothing imports N from it;
- modules no remaining import (or module-name string, for `import_module`) reaches from the roots;
- the help text and metavars of config fields (`setting(..., help=..., metavar=...)`): only the
  command line shows them, and the script builds no command line.
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


def shrink(modules: dict[str, list[Any]], plan: ExportPlan, entry: tuple[str, ...],
           roots: tuple[str, ...] = ()) -> dict[str, list[Any]]:
    """`modules` without the plan's unused modules, without definitions nothing names
    (`entry`: the names the script's stub calls, `name` or `module:name`) and, when `roots` are given, without the
    modules those roots no longer import."""
    drop = unused_modules(plan)
    trees = {name: ast.parse(src) for name, (_, src) in modules.items() if name not in drop}
    for tree in trees.values():
        tree.body = [node for node in tree.body if not (_imports_any(node, drop) or _is_all(node))] or [ast.Pass()]
        _blank_setting_help(tree)
    while _drop_unnamed(trees, entry) | _drop_unused_imports(trees) | _drop_unreached(trees, roots):
        pass
    return {name: [modules[name][0], ast.unparse(tree) + "\n"] for name, tree in trees.items()}


def _blank_setting_help(tree: ast.Module) -> None:
    """Drop the `help=` text and `metavar=` of every `setting(...)` call (command-line only)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setting":
            for kw in node.keywords:
                if kw.arg in ("help", "metavar"):
                    kw.value = ast.Constant("" if kw.arg == "help" else None)


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


def _defined_name(node: ast.stmt) -> str | None:
    """The one name a droppable top-level statement binds: a def, a class, or `NAME = literal`."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and node.value is not None and _is_literal(node.value):
            return targets[0].id
    return None


def _is_literal(node: ast.expr) -> bool:
    """An expression that cannot run code or fail: constants and containers of them."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) for k in node.keys) and all(_is_literal(v) for v in node.values)
    return False


def _drop_unnamed(trees: dict[str, ast.Module], entry: tuple[str, ...]) -> bool:
    """Remove one round of unnamed top-level definitions; True when something went. `entry` names
    stay wherever they are defined, `module:name` entries only in that module."""
    named: Counter = Counter(e for e in entry if ":" not in e)
    for tree in trees.values():
        named.update(_names(tree))
    dropped = False
    for module, tree in trees.items():
        keep = []
        for node in tree.body:
            name = _defined_name(node)
            if (name is not None and not name.startswith("__") and f"{module}:{name}" not in entry
                    and named[name] == _own_uses(node, name)):
                dropped = True
                continue
            keep.append(node)
        tree.body = keep or [ast.Pass()]
    return dropped


def _own_uses(node: ast.AST, name: str) -> int:
    """How often a definition names itself (recursion, its assignment target), which does not keep it alive."""
    return sum(1 for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == name)


def _drop_unused_imports(trees: dict[str, ast.Module]) -> bool:
    """Remove top-level `from M import N` names the module never uses and no module imports from it."""
    attrs: set[str] = set()
    imported_from: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                attrs.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported_from.setdefault(node.module, set()).update(a.name for a in node.names)
    dropped = False
    for module, tree in trees.items():
        used = _used_here(tree)
        reexported = imported_from.get(module, set()) | attrs
        keep = []
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                names = [a for a in node.names if (a.asname or a.name) in used or (a.asname or a.name) in reexported]
                dropped |= len(names) < len(node.names)
                if not names:
                    continue
                node.names = names
            keep.append(node)
        tree.body = keep or [ast.Pass()]
    return dropped


def _used_here(tree: ast.Module) -> set[str]:
    """The names a module reads (or holds as strings) outside its import statements."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            used.add(node.value)
    return used


def _drop_unreached(trees: dict[str, ast.Module], roots: tuple[str, ...]) -> bool:
    """Remove the modules no import from `roots` reaches (with their parent packages); True when some went."""
    if not roots:
        return False
    reached, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in reached or name not in trees:
            continue
        reached.add(name)
        todo.extend(_parents(name))
        todo.extend(_imported(trees[name], trees))
    gone = set(trees) - reached
    for name in gone:
        del trees[name]
    return bool(gone)


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(tree: ast.Module, trees: dict[str, ast.Module]) -> set[str]:
    """The bundled modules `tree` imports anywhere, or names as a string (`import_module`)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in trees:
            out.add(node.value)
    return out
