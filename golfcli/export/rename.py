"""Shorter local names for an exported script's modules: the same program in fewer bytes.

Inside each function, the names only that function binds (its locals, and parameters no caller
can name) become one- or two-letter names, in order of first appearance, so the same golf
source always gives the same text. A parameter keeps its name when any bundled call passes a
keyword of that name, when the name appears as a string (a `**table` call could pass it) or as
a dataclass field. A function keeps all its names when it declares `global`/`nonlocal` or uses
a `match`; a name a nested function, lambda or class binds stays in both scopes. Private top-level functions and
constants no other module mentions get short names too; function-local annotations, then-idle
`from __future__ import annotations` lines and runs of `import` statements are folded.
"""

from __future__ import annotations

import ast
import keyword
from collections import Counter
from itertools import count, product
from string import ascii_letters
from typing import Any, Iterator

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_NESTED = (*_SCOPES, ast.ClassDef)


def shorten(modules: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """`modules` ({name: [is_package, source]}) with local and private names shortened."""
    trees = {name: ast.parse(src) for name, (_, src) in modules.items()}
    fixed = _nameable(trees.values())
    out = {}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, _SCOPES):
                _rename_scope(node, fixed)
        _LocalAnnotations().visit(tree)
    outside = _mentioned_elsewhere(trees)
    for name, tree in trees.items():
        _rename_privates(tree, outside[name])
        _drop_future(tree)
        _merge_imports(tree)
        out[name] = [modules[name][0], ast.unparse(tree) + "\n"]
    return out


class _LocalAnnotations(ast.NodeTransformer):
    """`x: T = v` inside a function becomes `x = v` (the same binding; the annotation is never
    stored, and under `from __future__ import annotations` never evaluated)."""

    def __init__(self) -> None:
        self.depth = 0

    def _scope(self, node: ast.AST, depth: int) -> ast.AST:
        outer, self.depth = self.depth, depth
        self.generic_visit(node)
        self.depth = outer
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._scope(node, self.depth + 1)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return self._scope(node, 0)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if self.depth and node.value is not None:
            return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
        return node


def _merge_imports(tree: ast.Module) -> None:
    """Consecutive `import a` / `import b` statements become one `import a,b` (run in the same order)."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                continue
            merged: list[ast.stmt] = []
            for stmt in body:
                if isinstance(stmt, ast.Import) and merged and isinstance(merged[-1], ast.Import):
                    merged[-1].names.extend(stmt.names)
                else:
                    merged.append(stmt)
            setattr(node, field, merged)


def _has_annotations(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) or getattr(node, "returns", None) is not None:
            return True
        if isinstance(node, ast.arg) and node.annotation is not None:
            return True
    return False


def _drop_future(tree: ast.Module) -> None:
    """Remove `from __future__ import annotations` from a module left without annotations."""
    if not _has_annotations(tree):
        tree.body = [n for n in tree.body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__"
                                                  and [a.name for a in n.names] == ["annotations"])] or [ast.Pass()]


def _mentioned_elsewhere(trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    """{module: every identifier and string of the other modules} (what they could reach it by)."""
    own = {name: _mentions(tree) for name, tree in trees.items()}
    modules_naming = Counter(word for words in own.values() for word in words)
    return {name: {w for w, n in modules_naming.items() if n > (w in words)} for name, words in own.items()}


def _mentions(tree: ast.Module) -> set[str]:
    """Every identifier, attribute name and string of one module."""
    out = _identifiers(tree)
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.add(n.value)
    return out


def _rename_privates(tree: ast.Module, outside: set[str]) -> None:
    """Give the module's private top-level functions and `_NAME = literal` constants short names
    no module mentions, when no other module mentions them and this one holds them in no string."""
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    privates = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            privates.append(node.name)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            privates.append(node.targets[0].id)
    bound_inside = _bound_below_top(tree)
    privates = [n for n in dict.fromkeys(privates) if n.startswith("_") and not n.startswith("__")
                and n not in outside and n not in strings and n not in attrs and n not in bound_inside]
    taken = _identifiers(tree) | outside | attrs
    fresh = (n for n in _short_names() if n not in taken)
    mapping = {old: next(fresh) for old in privates}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in mapping and node in tree.body:
            node.name = mapping[node.name]


def _bound_below_top(tree: ast.Module) -> set[str]:
    """Names bound other than by a top-level statement's Name: parameters, imports, handlers,
    nested defs and classes, and every name a `global` or `nonlocal` declares."""
    top = set(map(id, tree.body))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.alias):
            out.add(node.asname or node.name.partition(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            out.update(node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and id(node) not in top:
            out.add(node.name)
    return out


def _nameable(trees: Any) -> set[str]:
    """Names a caller could bind a parameter by: call keywords, strings, dataclass fields."""
    out: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg:
                out.add(node.arg)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
            elif isinstance(node, ast.ClassDef):
                out.update(s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name))
    return out


def _rename_scope(fn: ast.AST, fixed: set[str]) -> None:
    body = [fn.body] if isinstance(fn, ast.Lambda) else fn.body
    if any(isinstance(n, (ast.Global, ast.Nonlocal, ast.Match)) for b in _as_list(body) for n in ast.walk(b)):
        return
    own, nested = _own_bindings(fn), _nested_bindings(fn)
    args = fn.args
    free_args = {a.arg for a in (*args.posonlyargs, args.vararg, args.kwarg) if a is not None}
    named_args = {a.arg for a in (*args.args, *args.kwonlyargs)} - fixed
    candidates = [n for n in own if n not in nested and (n in free_args or n in named_args or n not in _arg_names(fn))]
    if not candidates:
        return
    taken = _identifiers(fn)
    fresh = (n for n in _short_names() if n not in taken)
    mapping = {old: next(fresh) for old in candidates}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, ast.arg) and node.arg in mapping and _arg_owner(fn, node):
            node.arg = mapping[node.arg]


def _as_list(body: Any) -> list[ast.AST]:
    return body[0] if isinstance(body[0], list) else body


def _arg_names(fn: ast.AST) -> set[str]:
    args = fn.args
    return {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a is not None}


def _arg_owner(fn: ast.AST, arg: ast.arg) -> bool:
    """True when `arg` is a parameter of `fn` itself (not of a nested function)."""
    args = fn.args
    return any(arg is a for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg))


def _walk_own(fn: ast.AST) -> Iterator[ast.AST]:
    """The nodes of `fn`'s own scope (comprehensions included), not of nested functions or classes."""
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop(0)
        yield node
        if not isinstance(node, _NESTED):
            todo.extend(ast.iter_child_nodes(node))


def _own_bindings(fn: ast.AST) -> list[str]:
    """Parameters, then stored names of `fn`'s own scope, in order of first appearance; names bound
    any other way (imports, `except ... as`, nested defs) are left out."""
    out = list(dict.fromkeys(a for a in _ordered_args(fn)))
    others = set()
    for node in _walk_own(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and node.id not in out:
            out.append(node.id)
        elif isinstance(node, ast.alias):
            others.add(node.asname or node.name.partition(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            others.add(node.name)
        elif isinstance(node, _NESTED) and not isinstance(node, ast.Lambda):
            others.add(node.name)
    return [n for n in out if n not in others]


def _ordered_args(fn: ast.AST) -> list[str]:
    args = fn.args
    return [a.arg for a in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg) if a is not None]


def _nested_bindings(fn: ast.AST) -> set[str]:
    """Every name a function, lambda or class nested in `fn` binds (parameters, stores, defs)."""
    out: set[str] = set()
    for node in _walk_own(fn):
        if isinstance(node, _NESTED):
            for inner in ast.walk(node):
                if isinstance(inner, ast.arg):
                    out.add(inner.arg)
                elif isinstance(inner, ast.Name) and isinstance(inner.ctx, (ast.Store, ast.Del)):
                    out.add(inner.id)
                elif isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    out.add(inner.name)
                elif isinstance(inner, ast.alias):
                    out.add(inner.asname or inner.name.partition(".")[0])
                elif isinstance(inner, ast.ExceptHandler) and inner.name:
                    out.add(inner.name)
    return out


def _identifiers(fn: ast.AST) -> set[str]:
    """Every name `fn` (with what it nests) mentions or binds: a fresh name must be none of them."""
    out: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.alias):
            out.add(node.asname or node.name.partition(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


def _short_names() -> Iterator[str]:
    for size in count(1):
        for letters in product(ascii_letters, repeat=size):
            name = "".join(letters)
            if not keyword.iskeyword(name) and not keyword.issoftkeyword(name):
                yield name
