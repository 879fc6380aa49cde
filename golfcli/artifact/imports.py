"""The golfcli source a submission needs to load and evaluate an artifact: an import graph.

The modules reachable by `import` statements (at any depth, including imports inside functions)
from the loading roots below, plus every package `__init__.py` on the way, plus every module of
the root packages (the model and eval). Third-party libraries (torch, numpy, brotli, ...) are not
part of it, as in the challenge. `golf bundle` ships these files; `golf verify-size --source`
counts them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "golfcli"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Modules a submission runs to turn an artifact into a scored model; packages count whole.
# `golfcli.scoring` is the entry (validation shards, tokenizer byte tables, eval, its command line).
LOADING_ROOTS = ("golfcli.scoring", "golfcli.artifact.reader", "golfcli.loading", "golfcli.model", "golfcli.eval",
                 "golfcli.metric")


def _module_path(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package) of a golfcli source file."""
    parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts)), is_package


def _is_package(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == PACKAGE and PACKAGE_DIR.joinpath(*parts[1:]).is_dir()


def _imports(path: Path, module: str) -> set[str]:
    """golfcli modules `path` imports (anywhere in the file), as absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {name for name in out if name.split(".")[0] == PACKAGE}


def code_files_for_loading(roots: tuple[str, ...] = LOADING_ROOTS) -> list[Path]:
    """The golfcli source files needed to load and evaluate an artifact (sorted)."""
    seen: set[str] = set()
    files: set[Path] = set()
    queue = list(roots)
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts)):  # parent packages run their __init__ first
            queue.append(".".join(parts[:i]))
        if _is_package(name):
            pkg_dir = PACKAGE_DIR.joinpath(*parts[1:])
            if name in roots:  # a root package counts whole
                queue.extend(module_name(f)[0] for f in sorted(pkg_dir.rglob("*.py")))
        path = _module_path(name)
        if path is None:
            continue
        files.add(path)
        queue.extend(_imports(path, name))
    return sorted(files)
