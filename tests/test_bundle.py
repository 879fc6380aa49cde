"""`golf bundle`: the loading and scoring code as one small self-extracting script.

The end-to-end check (the bundle scores a `golf run` artifact exactly as `golf eval-sliding`
does, using only its own modules) is in test_pipeline.py, which has a trained artifact.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from golfcli.artifact import build_bundle, code_files_for_loading, verify_size, write_artifact
from golfcli.artifact.bundle import bundle_modules, minify_source, module_name
from golfcli.cli import main
from test_artifact import make_model

# Runs a bundle without calling its entry, imports every module it holds, then reports where each
# golfcli module in sys.modules came from.
ORIGINS = ("import importlib,json,runpy,sys;runpy.run_path(sys.argv[1],run_name='bundle');"
           "[importlib.import_module(n) for n in sorted(sys.meta_path[0].m)];"
           "print(json.dumps({n:m.__spec__.origin for n,m in sys.modules.items() if n.split('.')[0]=='golfcli'}))")


def _defined_names(tree: ast.Module) -> list[str]:
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def test_minify_drops_docstrings_comments_and_function_annotations_only():
    source = '''"""Module doc."""
from dataclasses import dataclass

@dataclass
class Point:
    """A point."""
    x: int = 1  # a comment
    y: float = 2.0

def only_doc(a: int) -> None:
    """Nothing else."""

def add(a: int, *rest: int, scale: float = 1.0, **kw: str) -> float:
    """Sum."""
    return (a + sum(rest)) * scale
'''
    small = minify_source(source)
    assert '"""' not in small and "#" not in small and "-> " not in small and "a: int" not in small
    assert len(small) < 0.65 * len(source)
    space: dict = {}
    exec(compile(small, "<min>", "exec"), space)
    assert [f.name for f in dataclasses.fields(space["Point"])] == ["x", "y"]  # class annotations kept
    assert space["Point"]().y == 2.0 and space["only_doc"](3) is None
    assert space["add"](1, 2, 3, scale=2.0) == 12.0


def test_bundle_holds_exactly_the_counted_modules_and_each_is_the_same_program():
    files = code_files_for_loading()
    modules = bundle_modules(files)
    assert sorted(modules) == sorted(module_name(p)[0] for p in files)
    assert {"golfcli", "golfcli.scoring", "golfcli.artifact.reader", "golfcli.eval", "golfcli.model.gpt"} <= set(modules)
    assert modules["golfcli.eval"][0] is True and modules["golfcli.scoring"][0] is False
    for path in files:
        name, _ = module_name(path)
        original = ast.parse(path.read_text())
        minified = ast.parse(modules[name][1])
        assert _defined_names(minified) == _defined_names(original), name


def test_bundle_is_deterministic_and_far_smaller_than_its_source(tmp_path):
    first, report = build_bundle()
    again, _ = build_bundle()
    assert first == again
    assert report["bundle_bytes"] == len(first)
    assert report["source_bytes"] == sum(p.stat().st_size for p in code_files_for_loading())
    assert report["bundle_bytes"] * 3 < report["source_bytes"]  # ~45 KB for ~217 KB of source
    first.decode("ascii")  # the cap counts UTF-8 bytes: an ASCII script is counted byte for byte

    res = CliRunner().invoke(main, ["bundle", "--out", str(tmp_path / "sub.py"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["bundle_bytes"] == len(first)
    assert (tmp_path / "sub.py").read_bytes() == first


def test_bundle_runs_its_own_modules_not_the_installed_golf(tmp_path):
    script = tmp_path / "sub.py"
    script.write_bytes(build_bundle()[0])
    proc = subprocess.run([sys.executable, "-c", ORIGINS, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, check=True)
    origins = json.loads(proc.stdout)
    assert sorted(origins) == sorted(module_name(p)[0] for p in code_files_for_loading())
    assert all(origin == f"bundle:{name}" for name, origin in origins.items())


def test_bundle_command_line_errors_are_one_line(tmp_path):
    script = tmp_path / "sub.py"
    script.write_bytes(build_bundle()[0])
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "missing.bin"), "--device", "cpu"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "missing.bin" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_verify_size_counts_the_bundle(tmp_path):
    artifact = tmp_path / "a.bin"
    write_artifact(make_model(8), artifact)
    script, _ = build_bundle()
    bundled = verify_size(artifact)
    assert bundled["code_bytes"] == len(script)
    assert bundled["total_bytes"] == artifact.stat().st_size + len(script)
    assert bundled["code_bytes"] * 3 < verify_size(artifact, source=True)["code_bytes"]
    (tmp_path / "sub.py").write_bytes(script)
    assert verify_size(artifact, [tmp_path / "sub.py"])["code_bytes"] == len(script)
    res = CliRunner().invoke(main, ["verify-size", str(artifact), "--source", "--code", str(tmp_path / "sub.py")])
    assert res.exit_code == 2 and "not both" in res.output
