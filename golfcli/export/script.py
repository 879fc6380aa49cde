"""The exported train_gpt.py: the golf modules one run needs, compressed into one self-extracting file.

It reuses `golf bundle`'s machinery (minified modules, the import hook) on the import graph of
`golfcli.export.runtime`, less what the frozen plan never runs (`shrink.py`), with short local
names (`rename.py`) and minimal spacing (`compact.py`). Every byte of the
file counts against the cap, so the payload is denser than a bundle's: the plan (resolved config
+ evaluation) and the module sources joined by NUL / SOH separators rather than JSON (no escaped
quotes and newlines), compressed with brotli (quality 11, which beats xz on this text by 4%), and
stored as one triple-quoted latin-1 string literal, about 1.01 bytes per compressed byte where base85
spends 1.25.
Before anything else the script makes the libraries it must not use unimportable, so the run
needs exactly its requirements.txt.
"""

from __future__ import annotations

from typing import Any

from golfcli import __version__
import json
import re

import brotli

from golfcli.artifact.bundle import bundle_modules, hook_stub
from golfcli.artifact.size import code_files_for_loading
from golfcli.export.plan import ExportPlan
from golfcli.export.compact import compact
from golfcli.export.rename import shorten
from golfcli.export.shrink import shrink

ROOTS = ("golfcli.export.runtime",)
REQUIREMENTS = ("torch", "numpy", "sentencepiece", "brotli")
BLOCKED = ("click", "rich", "safetensors", "zstandard")
ENTRY = "if __name__=='__main__':\n from golfcli.export.runtime import main;sys.exit(main(__file__,P))\n"
# Bytes a triple-quoted latin-1 string literal cannot hold as themselves (a quote is escaped
# only before another quote or at the end, where it could close the literal).
_ESCAPES = {0x00: b"\\x00", 0x0D: b"\\r", 0x5C: b"\\\\"}
_TABLE = [_ESCAPES.get(i, bytes([i])) for i in range(256)]


def latin1_literal(data: bytes) -> bytes:
    """A Python string literal (in a latin-1 source file) whose `.encode('latin-1')` is `data`."""
    body = b"".join(_TABLE[b] for b in data)
    return b"'''" + re.sub(rb"'(?='|$)", rb"\\'", body) + b"'''"


def requirements(plan: ExportPlan) -> list[str]:
    """The packages the script imports: the four, plus zstandard when the plan packs with zstd."""
    return [*REQUIREMENTS, *(["zstandard"] if _uses_zstd(plan) else [])]


def _uses_zstd(plan: ExportPlan) -> bool:
    return plan.config.get("pack", {}).get("codec") == "zstd"


def script_modules(plan: ExportPlan) -> dict[str, list[Any]]:
    """{module: [is_package, minified source]} of what the plan's run imports."""
    kept = shrink(bundle_modules(code_files_for_loading(ROOTS)), plan, entry=("golfcli.export.runtime:main",), roots=ROOTS)
    return {name: [pkg, compact(src)] for name, (pkg, src) in shorten(kept).items()}


def pack_payload(modules: dict[str, list[Any]], plan: ExportPlan) -> bytes:
    """The plan's JSON, then name SOH is_package SOH source per module, NUL-separated, brotli'd."""
    parts = [json.dumps(plan.to_dict(), sort_keys=True, separators=(",", ":"))]
    for name in sorted(modules):
        is_package, source = modules[name]
        if "\0" in source or "\1" in source:  # ast.unparse writes such characters as escapes
            raise ValueError(f"{name}: source holds a separator character")
        parts.append(f"{name}\1{int(is_package)}\1{source}")
    return brotli.compress("\0".join(parts).encode("utf-8"), quality=11, lgwin=24)


# Unpacks pack_payload's format into P (the plan) and M (the module map the hook serves).
_UNPACK = ("P,*R=brotli.decompress(B.encode('latin-1')).decode().split('\\0');P=json.loads(P)\n"
           "M={n:[p=='1',s] for n,p,s in(r.split('\\1')for r in R)}\n")


def build_script(plan: ExportPlan) -> tuple[bytes, dict[str, Any]]:
    """(train_gpt.py's bytes, a report: bytes, modules, compressed bytes)."""
    modules = script_modules(plan)
    packed = pack_payload(modules, plan)
    blocked = tuple(m for m in BLOCKED if not (m == "zstandard" and _uses_zstd(plan)))
    prelude = f"for _m in {blocked!r}:sys.modules[_m]=None\n" + _UNPACK
    header = (f"# -*- coding: latin-1 -*-\n# golf export: golfcli {__version__}, preset {plan.preset}, "
              f"{len(modules)} modules. torchrun --standalone --nproc_per_node=8 train_gpt.py\n")
    stub = hook_stub("brotli,importlib.abc,importlib.util,json,sys", "M", ENTRY, prelude)
    script = header.encode("ascii") + b"B=" + latin1_literal(packed) + b"\n" + stub.encode("ascii")
    report = {"code_bytes": len(script), "modules": len(modules), "compressed_bytes": len(packed),
              "minified_bytes": sum(len(src.encode("utf-8")) for _, src in modules.values())}
    return script, report
