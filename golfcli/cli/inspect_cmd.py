"""`golf inspect FILE`: what any golf file holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from golfcli.cli.options import emit, json_option
from golfcli.errors import GolfError
from golfcli.io import read_metadata, require_file, tensor_table

TOKEN_TENSOR_NAMES = ("tokens", "calib.tokens", "generated_tokens")


def _is_shard(path: Path) -> bool:
    from golfcli.data.shards import MAGIC

    with open(path, "rb") as handle:
        head = handle.read(4)
    return len(head) == 4 and int.from_bytes(head, "little") == MAGIC


def inspect_shard(path: Path) -> dict[str, Any]:
    """Header fields and token statistics of a challenge shard."""
    from golfcli.data.shards import read_shard

    tokens = read_shard(path)
    return {
        "kind": "shard", "path": str(path), "tokens": int(tokens.size),
        "documents": int((tokens == 1).sum()), "max_id": int(tokens.max()) if tokens.size else None,
    }


def inspect_artifact(path: Path) -> dict[str, Any]:
    """The manifest of a packed artifact: tensors, bit widths, sizes."""
    from golfcli.artifact import read_artifact

    qm = read_artifact(path)
    rows = []
    for name in qm.names():
        if name in qm.quantized:
            q = qm.quantized[name]
            rows.append({"name": name, "shape": list(q.shape), "dtype": f"int{q.bits}", "role": q.role,
                         "bytes": None})
        else:
            t = qm.passthrough[name]
            rows.append({"name": name, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."),
                         "role": "passthrough", "bytes": t.numel() * t.element_size()})
    return {"kind": "artifact", "path": str(path), "bytes": path.stat().st_size,
            "metadata": {"config": qm.config, **qm.meta}, "tensors": rows}


def inspect_tensor_file(path: Path, tokenizer: str | None) -> dict[str, Any]:
    """Metadata and tensor table of a golf safetensors file (checkpoint, hessians, quantized, ...)."""
    meta = read_metadata(path)
    result: dict[str, Any] = {
        "kind": meta.get("format", "safetensors"), "path": str(path), "bytes": path.stat().st_size,
        "metadata": meta, "tensors": tensor_table(path),
    }
    if tokenizer:
        result["decoded"] = _decode_tokens(path, tokenizer)
    return result


def _decode_tokens(path: Path, tokenizer: str) -> list[str]:
    from golfcli.data.tokenizer import load_tokenizer
    from golfcli.io import load_tensors

    tensors, _ = load_tensors(path)
    name = next((n for n in TOKEN_TENSOR_NAMES if n in tensors), None)
    if name is None:
        raise GolfError("no token tensor to decode in this file", path)
    sp = load_tokenizer(tokenizer)
    rows = tensors[name].reshape(-1, tensors[name].shape[-1]).tolist()
    return [sp.decode([int(t) for t in row]) for row in rows]


def inspect_file(path: str, tokenizer: str | None = None) -> dict[str, Any]:
    """Describe any golf file: shard, artifact, or golf safetensors file."""
    p = require_file(path)
    if _is_shard(p):
        return inspect_shard(p)
    from golfcli.artifact import is_artifact

    if is_artifact(p):
        return inspect_artifact(p)
    return inspect_tensor_file(p, tokenizer)


def _render(result: dict[str, Any]) -> None:
    console = Console()
    console.print(f"[bold]{result['path']}[/bold]: golf {result['kind']}")
    for key in ("bytes", "tokens", "documents", "max_id"):
        if key in result:
            console.print(f"  {key}: {result[key]:,}" if isinstance(result[key], int) else f"  {key}: {result[key]}")
    meta = result.get("metadata") or {}
    for key, value in meta.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if len(text) > 300:
            text = text[:300] + f"... ({len(text):,} chars; --json shows all)"
        console.print(f"  [cyan]{key}[/cyan]: {text}", soft_wrap=True)
    if result.get("tensors"):
        table = Table("name", "shape", "dtype", "bytes")
        for row in result["tensors"]:
            table.add_row(row["name"], "×".join(map(str, row["shape"])) or "scalar", row["dtype"],
                          "" if row.get("bytes") is None else f"{row['bytes']:,}")
        console.print(table)
    for i, text in enumerate(result.get("decoded", [])):
        console.print(f"[bold]sequence {i}[/bold]: {text}")


@click.command("inspect")
@click.argument("file")
@click.option("--tokenizer", default=None, help="Decode stored token tensors (e.g. calibration text) with this model.")
@json_option
def command(file: str, tokenizer: str | None, as_json: bool) -> None:
    """Print what any golf file holds: kind, metadata and its tensors."""
    emit(inspect_file(file, tokenizer), as_json, _render)
