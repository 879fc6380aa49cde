"""Files: atomic writes, and safetensors with structured `golf.*` metadata.

Every tensor file golf writes is a safetensors file whose `__metadata__` holds JSON values under
`golf.*` keys: `golf.format` (what kind of file: checkpoint, hessians, quantized, ...),
`golf.format_version`, and whatever the stage adds (`golf.config`, `golf.provenance`, ...).
Nothing here unpickles anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:  # torch loads only where tensors are touched: `golf --help` never needs it
    import torch

from golfcli import __version__
from golfcli.errors import FormatError, GolfError

FORMAT_VERSION = 1
META_PREFIX = "golf."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it into place.

    On any exception the temporary file is removed, so a failed stage never leaves a half file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _a(what: str) -> str:
    """`what` with its indefinite article: "a checkpoint", "an artifact"."""
    return f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, fsync, rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def read_bytes(path: str | os.PathLike, what: str = "file") -> bytes:
    """Read a whole file, turning OS errors into a GolfError that names the file."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise GolfError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise GolfError(f"expected {_a(what)}, found a directory", path) from None
    except OSError as exc:
        raise GolfError(f"cannot read {what}: {exc.strerror}", path) from None


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return `path` as a Path if it is a readable file, else raise a GolfError naming it."""
    p = Path(path)
    if not p.exists():
        raise GolfError(f"{what} not found", p)
    if p.is_dir():
        raise GolfError(f"expected {_a(what)}, found a directory", p)
    if not os.access(p, os.R_OK):
        raise GolfError(f"{what} is not readable", p)
    return p


def _nearest_existing(path: Path) -> Path:
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_writable_folder(path: Path, target: Path) -> None:
    """`path`'s folder exists or can be created under a writable folder; else a GolfError naming `target`."""
    base = _nearest_existing(path)
    if not base.is_dir():
        raise GolfError(f"cannot create it: {base} is a file, not a folder", target)
    if not os.access(base, os.W_OK | os.X_OK):
        raise GolfError(f"cannot write here: folder {base} is not writable", target)


def check_output_file(path: str | os.PathLike, overwrite: bool = False, what: str = "output file") -> Path:
    """Check, before any work starts, that `path` may be written: not a directory, not an existing
    file unless `overwrite`, and its folder exists or can be created and is writable."""
    p = Path(path)
    if p.is_dir():
        raise GolfError(f"expected {_a(what)}, found a directory", p)
    if p.exists() and not overwrite:
        raise GolfError("already exists; pass --overwrite to replace it", p)
    if p.exists() and not os.access(p, os.W_OK):
        raise GolfError(f"{what} is not writable", p)
    _check_writable_folder(p.parent, p)
    return p


def check_output_dir(path: str | os.PathLike) -> Path:
    """Check, before any work starts, that directory `path` exists or can be created, and is writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise GolfError("expected a directory, found a file", p)
    _check_writable_folder(p, p)
    return p


def check_safetensors(path: str | os.PathLike) -> dict[str, Any]:
    """The header of a safetensors file after checking its tensors' byte ranges against the file size.

    Catches truncated or padded files without reading the tensor data; raises FormatError.
    """
    raw = _read_header(path)
    p = Path(path)
    with open(p, "rb") as handle:
        n = int.from_bytes(handle.read(8), "little")
    data = p.stat().st_size - 8 - n
    end = 0
    for name, info in raw.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"damaged safetensors file (tensor {name!r} has no valid data_offsets)", p) from None
        if not 0 <= begin <= stop:
            raise FormatError(f"damaged safetensors file (tensor {name!r} has bad data_offsets)", p)
        end = max(end, stop)
    if end > data:
        raise FormatError(f"damaged safetensors file (truncated: its tensors need {end:,} data bytes, "
                          f"the file holds {data:,})", p)
    if end < data:
        raise FormatError(f"damaged safetensors file ({data - end:,} bytes after the last tensor)", p)
    return raw


def save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    kind: str,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write `tensors` as a safetensors file of golf kind `kind`, atomically.

    `meta` values are JSON-encoded under `golf.<key>`. Tensors are made contiguous and moved to
    the CPU; shared storage is copied so safetensors accepts it.
    """
    save = _safetensors().save
    header = {f"{META_PREFIX}format": kind, f"{META_PREFIX}format_version": str(FORMAT_VERSION)}
    for key, value in (meta or {}).items():
        header[f"{META_PREFIX}{key}"] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    clean = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    write_bytes_atomic(path, _canonical_safetensors(save(clean, metadata=header)))


def _safetensors():
    """safetensors.torch when installed, else golf's own implementation of the same format."""
    try:
        import safetensors.torch as module
    except ImportError:  # an exported train_gpt.py, which needs torch, numpy, sentencepiece and brotli only
        from golfcli import tensorfile as module
    return module


def _canonical_safetensors(blob: bytes) -> bytes:
    """The same file with its `__metadata__` keys sorted: safetensors writes them in hash-map order,
    which changes from process to process, so equal inputs would give different bytes."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", None)
    ordered = {"__metadata__": dict(sorted(meta.items()))} if meta else {}
    ordered.update(header)  # tensor entries keep the order safetensors chose; offsets are unchanged
    text = json.dumps(ordered, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads the header to 8 bytes
    return len(text).to_bytes(8, "little") + text + blob[8 + n:]


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Return the decoded `golf.*` metadata of a safetensors file (keys without the prefix).

    `format` and `format_version` are always present for golf files; raises FormatError for a
    file that is not safetensors.
    """
    raw = _read_header(path)
    meta_raw = raw.get("__metadata__") or {}
    out: dict[str, Any] = {}
    for key, value in meta_raw.items():
        if not key.startswith(META_PREFIX):
            continue
        short = key[len(META_PREFIX):]
        if short in ("format", "format_version"):
            out[short] = value
            continue
        try:
            out[short] = json.loads(value)
        except json.JSONDecodeError:
            out[short] = value
    return out


def tensor_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Name, shape, dtype and byte size of every tensor in a safetensors file, sorted by name.

    The tensors' byte ranges are checked against the file size first (a truncated file fails)."""
    raw = check_safetensors(path)
    rows = []
    for name, info in raw.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        rows.append({"name": name, "shape": list(info["shape"]), "dtype": info["dtype"], "bytes": end - begin})
    rows.sort(key=lambda r: r["name"])
    return rows


def load_tensors(
    path: str | os.PathLike, kind: str | tuple[str, ...] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load every tensor and the golf metadata of a safetensors file.

    With `kind`, the file's `golf.format` must match (one of) it, else a GolfError says what the
    file is and what was expected.
    """
    load = _safetensors().load
    meta = read_metadata(path)
    if kind is not None:
        wanted = (kind,) if isinstance(kind, str) else kind
        found = meta.get("format")
        if found not in wanted:
            raise GolfError(f"expected a golf {' or '.join(wanted)} file, found {found or 'a non-golf file'}", path)
    try:
        tensors = load(read_bytes(path, "tensor file"))
    except GolfError:
        raise
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise FormatError(f"damaged safetensors file ({exc})", path) from None
    return tensors, meta


def _read_header(path: str | os.PathLike) -> dict[str, Any]:
    p = require_file(path, "tensor file")
    size = p.stat().st_size
    with open(p, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise FormatError("not a safetensors file (shorter than its 8-byte header length)", p)
        n = int.from_bytes(head, "little")
        if n <= 0 or n > 100_000_000 or 8 + n > size:
            raise FormatError("not a safetensors file (bad header length)", p)
        try:
            raw = json.loads(handle.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise FormatError("not a safetensors file (header is not JSON)", p) from None
    if not isinstance(raw, dict):
        raise FormatError("not a safetensors file (header is not a JSON object)", p)
    return raw


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(require_file(path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_revision() -> str | None:
    """The git commit of the golf source tree, when it is a git checkout; else None."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(seed: int | None = None, tokenizer: str | os.PathLike | None = None, **extra: Any) -> dict[str, Any]:
    """Provenance recorded in every golf file: versions, git revision, seed, tokenizer hash."""
    import torch

    info: dict[str, Any] = {
        "golf_version": __version__,
        "torch_version": torch.__version__,
        "git_revision": git_revision(),
    }
    if seed is not None:
        info["seed"] = seed
    if tokenizer is not None and Path(tokenizer).exists():
        info["tokenizer_sha256"] = sha256_file(tokenizer)
    info.update(extra)
    return info
