"""The Hessians file written by `golf gptq-calibrate` and read by `golf quantize`.

A golf `hessians` safetensors file: `hessian.<weight name>` = E[x xᵀ] (float32, in × in) of the
input that weight multiplies, averaged over calibration token positions (a weight applied on two
passes of a recurrent stack gets the sum over both passes); `tokens` = the calibration tokens
(int32, seqs × seq_len). Identical matrices (Q, K and V read the same input) are stored once:
metadata `aliases` maps a weight name to the name whose matrix it shares. Other metadata: `source`
(selfgen | random | shards), `seqs`, `seq_len`, `temperature`, `seed`, `kv_cache`, `phase`,
`passes` (calls per forward for each weight), `unused` (hooked weights the forward never used:
no Hessian), `checkpoint_sha256`, `warnings`, `provenance`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from golfcli.errors import FormatError
from golfcli.io import load_tensors, save_tensors

HESSIANS_FORMAT = "hessians"
PREFIX = "hessian."
TOKENS_KEY = "tokens"


def save_hessians(
    path: str | os.PathLike, hessians: dict[str, torch.Tensor], tokens: torch.Tensor, meta: dict[str, Any]
) -> None:
    """Write Hessians (deduplicated: identical matrices stored once) and the calibration tokens."""
    stored: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    by_key: dict[tuple, list[str]] = {}  # cheap fingerprint → stored names, before the exact comparison
    for name in sorted(hessians):
        h = hessians[name].detach().float().cpu()
        key = (tuple(h.shape), float(h.diagonal().sum()), float(h[0].sum()))
        twin = next((other for other in by_key.get(key, []) if torch.equal(stored[other], h)), None)
        if twin is None:
            stored[name] = h
            by_key.setdefault(key, []).append(name)
        else:
            aliases[name] = twin
    tensors = {PREFIX + name: h for name, h in stored.items()}
    tensors[TOKENS_KEY] = tokens.to(torch.int32).cpu()
    save_tensors(path, tensors, HESSIANS_FORMAT, {**meta, "aliases": aliases, "names": sorted(hessians)})


def load_hessians(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, Any]]:
    """Read a Hessians file: ({weight name: H}, tokens, metadata), aliases resolved."""
    tensors, meta = load_tensors(path, HESSIANS_FORMAT)
    hessians = {k[len(PREFIX):]: v.float() for k, v in tensors.items() if k.startswith(PREFIX)}
    for name, twin in (meta.get("aliases") or {}).items():
        if twin not in hessians:
            raise FormatError(f"Hessian {name!r} refers to {twin!r}, which the file does not hold", path)
        hessians[name] = hessians[twin]
    for name, h in hessians.items():
        if h.ndim != 2 or h.shape[0] != h.shape[1]:
            raise FormatError(f"Hessian {name!r} is not a square matrix (shape {list(h.shape)})", path)
    tokens = tensors.get(TOKENS_KEY, torch.zeros(0, 0, dtype=torch.int32))
    return hessians, tokens, meta
