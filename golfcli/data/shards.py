"""The challenge's token shard format, read and written exactly.

A shard `fineweb_{train,val}_NNNNNN.bin` is a header of 256 little-endian int32 (1024 bytes):
    [20240520 (magic), 1 (version), num_tokens, 0, 0, ...]
followed by `num_tokens` little-endian uint16 token ids; the file size is exactly
1024 + 2·num_tokens. Readers memory-map the body; every check failure names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from golfcli.errors import FormatError, GolfError
from golfcli.io import atomic_path, require_file

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
MAX_TOKEN_ID = 65535  # ids are stored as uint16
SPLITS = ("train", "val")

_HEADER_DTYPE = np.dtype("<i4")
TOKEN_DTYPE = np.dtype("<u2")


def shard_name(split: str, index: int) -> str:
    """The challenge's file name of shard `index` of `split`: fineweb_val_000000.bin, ..."""
    _check_split(split)
    return f"fineweb_{split}_{index:06d}.bin"


def read_header(path: str | os.PathLike) -> int:
    """Validate a shard's header and size; return its token count."""
    p = require_file(path, "shard")
    size = p.stat().st_size
    if size < HEADER_BYTES:
        raise FormatError(f"not a token shard: {size} bytes, shorter than the {HEADER_BYTES}-byte header", p)
    with open(p, "rb") as handle:
        header = np.frombuffer(handle.read(HEADER_BYTES), dtype=_HEADER_DTYPE)
    magic, version, n_tokens = (int(v) for v in header[:3])
    if magic != MAGIC:
        raise FormatError(f"not a token shard: magic is {magic}, expected {MAGIC}", p)
    if version != VERSION:
        raise FormatError(f"unsupported shard version {version} (this golf reads version {VERSION})", p)
    if n_tokens < 0:
        raise FormatError(f"damaged shard: negative token count {n_tokens}", p)
    expected = HEADER_BYTES + 2 * n_tokens
    if size != expected:
        raise FormatError(
            f"damaged shard: {size} bytes, but the header's {n_tokens} tokens need exactly {expected}", p
        )
    return n_tokens


def read_shard(path: str | os.PathLike) -> np.ndarray:
    """The tokens of a shard as a read-only memory-mapped uint16 array (validated first)."""
    n_tokens = read_header(path)
    if n_tokens == 0:
        return np.zeros(0, dtype=np.uint16)
    return np.memmap(path, dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(n_tokens,))


def shard_bytes(tokens: np.ndarray | torch.Tensor | list[int]) -> bytes:
    """The exact bytes of a shard holding `tokens` (ids must fit in uint16)."""
    arr = np.asarray(tokens.detach().cpu().numpy() if hasattr(tokens, "detach") else tokens)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size and arr.dtype != np.uint16:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > MAX_TOKEN_ID:
            raise GolfError(f"token id {lo if lo < 0 else hi} does not fit a shard (ids are 0..{MAX_TOKEN_ID})")
    header = np.zeros(HEADER_INTS, dtype=_HEADER_DTYPE)
    header[0], header[1], header[2] = MAGIC, VERSION, arr.size
    return header.tobytes() + arr.astype(TOKEN_DTYPE, copy=False).tobytes()


def write_shard(path: str | os.PathLike, tokens: np.ndarray | torch.Tensor | list[int]) -> None:
    """Write `tokens` as a challenge shard at `path`, atomically (temp file, fsync, rename)."""
    try:
        data = shard_bytes(tokens)
    except GolfError as exc:
        raise GolfError(str(exc), path) from None
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def shard_files(data_dir: str | os.PathLike, split: str) -> list[Path]:
    """The sorted `fineweb_{split}_*.bin` shards of `data_dir`; a GolfError if there are none."""
    _check_split(split)
    folder = Path(data_dir)
    if not folder.is_dir():
        raise GolfError("data directory not found" if not folder.exists() else "expected a data directory", folder)
    files = sorted(folder.glob(f"fineweb_{split}_*.bin"))
    if not files:
        raise GolfError(f"no {split} shards (fineweb_{split}_*.bin) in this directory", folder)
    return files


def load_validation_tokens(data_dir: str | os.PathLike, seq_len: int | None = None) -> torch.Tensor:
    """All validation shards concatenated as an int64 tensor.

    With `seq_len`, truncated to ((N-1)//seq_len)·seq_len + 1 tokens, as the challenge does, so
    the targets fill whole sequences.
    """
    files = shard_files(data_dir, "val")
    parts = [np.asarray(read_shard(f), dtype=np.int64) for f in files]
    import torch

    tokens = torch.from_numpy(np.concatenate(parts) if len(parts) > 1 else parts[0].copy())
    if seq_len is None:
        return tokens
    if seq_len <= 0:
        raise GolfError(f"seq_len must be positive, got {seq_len}")
    usable = ((tokens.numel() - 1) // seq_len) * seq_len
    if usable <= 0:
        raise GolfError(f"validation split has {tokens.numel()} tokens, too few for one sequence of {seq_len}",
                        data_dir)
    return tokens[: usable + 1]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise GolfError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
