"""A submission bundle: the golfcli code that scores an artifact, as one small self-extracting script.

The challenge counts the bytes of the code a submission ships. The bundle holds exactly the
modules `golf verify-size` counts (the import graph of the loading roots, see `imports.py`), each
with docstrings, comments and function annotations removed (`ast.unparse`; class-level
annotations stay, dataclasses need them), serialised as sorted JSON, compressed with xz and
written as base85 text under a short stub. The stub puts an import hook first on `sys.meta_path`,
so `import golfcli...` inside the script runs the bundled modules, never an installed golf, and
then calls `golfcli.scoring.main`. The same golf source and Python version give the same bytes.

Third-party libraries (torch, numpy, sentencepiece, brotli, zstandard, rich) are not bundled, as
the challenge does not count them; Click is not needed.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import lzma
from pathlib import Path
from typing import Any

from golfcli import __version__
from golfcli.artifact.imports import code_files_for_loading, module_name
from golfcli.io import write_bytes_atomic

XZ_PRESET = 9 | lzma.PRESET_EXTREME

# The import hook of every bundle: `m` maps each module name to [is_package, source]; one space
# indents keep it short. `hook_stub` puts it between the imports and the script's entry.
_HOOK = """class _Bundle(importlib.abc.MetaPathFinder,importlib.abc.Loader):
 def __init__(s,m):s.m=m
 def find_spec(s,name,path=None,target=None):
  if name in s.m:return importlib.util.spec_from_loader(name,s,origin='bundle:'+name,is_package=s.m[name][0])
 def create_module(s,spec):return None
 def exec_module(s,mod):
  mod.__file__=mod.__spec__.origin;exec(compile(s.m[mod.__name__][1],mod.__file__,'exec'),mod.__dict__)
"""
SCORING_ENTRY = "if __name__=='__main__':\n from golfcli.scoring import main;sys.exit(main())\n"


def hook_stub(imports: str, modules: str, entry: str, prelude: str = "") -> str:
    """The script text after the payload: `import {imports}`, `prelude`, the hook serving the
    module map the expression `modules` evaluates to, then `entry`."""
    return f"import {imports}\n{prelude}{_HOOK}sys.meta_path.insert(0,_Bundle({modules}))\n{entry}"


_STUB = hook_stub("base64,importlib.abc,importlib.util,json,lzma,sys", "json.loads(lzma.decompress(base64.b85decode(B)))",
                  SCORING_ENTRY)


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def minify_source(source: str, filename: str = "<source>") -> str:
    """`source` without docstrings, comments and function annotations; the same program otherwise."""
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.body and _is_docstring(node.body[0]):
                node.body = node.body[1:] or [ast.Pass()]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    arg.annotation = None
    return ast.unparse(tree) + "\n"


def bundle_modules(files: list[Path]) -> dict[str, list[Any]]:
    """{module name: [is_package, minified source]} for golfcli source `files`."""
    modules: dict[str, list[Any]] = {}
    for path in files:
        name, is_package = module_name(path)
        modules[name] = [is_package, minify_source(path.read_text(encoding="utf-8"), str(path))]
    return modules


def compress_modules(modules: Any) -> bytes:
    """`modules` (any JSON value holding the module map) as sorted compact JSON, xz-compressed."""
    payload = json.dumps(modules, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return lzma.compress(payload, preset=XZ_PRESET)


def build_bundle() -> tuple[bytes, dict[str, Any]]:
    """(the bundle script's bytes, a report: bytes, modules, source bytes it replaces)."""
    files = code_files_for_loading()
    modules = bundle_modules(files)
    packed = base64.b85encode(compress_modules(modules)).decode("ascii")
    header = (f"# golf submission bundle: golfcli {__version__}, {len(modules)} modules.\n"
              "# python THIS.py ARTIFACT [--data DIR] [--tokenizer FILE] [--mode sliding|standard|hedge] [--json]\n")
    script = (header + f"B='{packed}'\n" + _STUB).encode("ascii")
    report = {
        "bundle_bytes": len(script),
        "modules": len(modules),
        "source_bytes": sum(p.stat().st_size for p in files),
        "minified_bytes": sum(len(src.encode("utf-8")) for _, src in modules.values()),
        "compressed_bytes": len(packed),
    }
    return script, report


def source_digest() -> str:
    """sha256 over the names and bytes of the source files a bundle holds (changes when golf does)."""
    digest = hashlib.sha256()
    for path in code_files_for_loading():
        data = path.read_bytes()
        digest.update(f"{module_name(path)[0]}:{len(data)}:".encode() + data)
    return digest.hexdigest()


def write_bundle(out: str | Path) -> dict[str, Any]:
    """Write the bundle script to `out` atomically; return its report with `path`."""
    script, report = build_bundle()
    write_bytes_atomic(out, script)
    return {"path": str(out), **report}
