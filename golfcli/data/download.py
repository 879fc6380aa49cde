"""`golf data download`: the published challenge export, through huggingface_hub (extra `hub`).

Same source and layout as the challenge's own `data/cached_challenge_fineweb.py`: the dataset repo
`willdepueoai/parameter-golf` holds `datasets/manifest.json`, the shards under
`datasets/datasets/fineweb10B_<variant>/` and the tokenizer under `datasets/tokenizers/`. They land as
    OUT/manifest.json
    OUT/datasets/fineweb10B_<variant>/fineweb_val_000000.bin, fineweb_train_000000.bin, ...
    OUT/tokenizers/fineweb_1024_bpe.model (+ .vocab)
Files already present are kept (so an interrupted download resumes); each new file is copied into
place atomically and every shard's header and size are checked.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from golfcli import console
from golfcli.data.shards import read_header, shard_name
from golfcli.errors import GolfError
from golfcli.io import atomic_path

REPO_ID = "willdepueoai/parameter-golf"
REMOTE_ROOT = "datasets"
DEFAULT_TRAIN_SHARDS = 80
INSTALL_HINT = "pip install 'golfcli[hub]' (or build data offline: `golf data builtin --out DIR`)"


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise GolfError(f"golf data download needs huggingface_hub, which is not installed: {INSTALL_HINT}") from None
    return huggingface_hub


def dataset_dir_name(variant: str) -> str:
    """fineweb10B_<variant> for sp<N> and byte260 variants."""
    if variant == "byte260" or (variant.startswith("sp") and variant[2:].isdigit()):
        return f"fineweb10B_{variant}"
    raise GolfError(f"unknown variant {variant!r} (expected sp<VOCAB>, e.g. sp1024, or byte260)")


def _local_path(out: Path, remote: str) -> Path:
    parts = Path(remote).parts
    if parts[:1] == (REMOTE_ROOT,):
        parts = parts[1:]
    return out.joinpath(*parts)


def _fetch(hub, repo_id: str, remote: str, out: Path) -> tuple[Path, bool]:
    """Download `remote` (a path inside the dataset repo) to its local place; (path, newly fetched)."""
    dest = _local_path(out, remote)
    if dest.is_file():
        return dest, False
    remote_path = Path(remote)
    try:
        cached = hub.hf_hub_download(repo_id=repo_id, filename=remote_path.name,
                                     subfolder=remote_path.parent.as_posix(), repo_type="dataset")
    except Exception as exc:  # network, auth, missing file: huggingface_hub raises many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GolfError(f"cannot download {remote} from the Hugging Face dataset {repo_id} ({reason}); "
                        "check the network connection, or build data offline with `golf data builtin`",
                        dest) from None
    with atomic_path(dest) as tmp:
        shutil.copyfile(Path(cached).resolve(), tmp)
    return dest, True


def download(
    out_dir: str | os.PathLike = "./data",
    variant: str = "sp1024",
    train_shards: int = DEFAULT_TRAIN_SHARDS,
    repo_id: str = REPO_ID,
) -> dict[str, Any]:
    """Fetch the manifest, the validation shards, `train_shards` train shards and the tokenizer.

    Returns a summary with `data_dir` and `tokenizer` (the paths train and eval need).
    """
    if train_shards < 0:
        raise GolfError(f"--train-shards must be >= 0, got {train_shards}")
    dataset_dir = dataset_dir_name(variant)
    hub = _hub()
    out = Path(out_dir)
    manifest_path, _ = _fetch(hub, repo_id, f"{REMOTE_ROOT}/manifest.json", out)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entry = next(d for d in manifest.get("datasets", []) if d.get("name") == dataset_dir)
        stats = entry.get("stats") or {}
        n_train, n_val = int(stats["files_train"]), int(stats["files_val"])
        tok_entry = next(t for t in manifest.get("tokenizers", []) if t.get("name") == entry.get("tokenizer_name"))
    except (json.JSONDecodeError, StopIteration, KeyError, TypeError, ValueError):
        raise GolfError(f"manifest has no usable entry for {dataset_dir}", manifest_path) from None
    if train_shards > n_train:
        raise GolfError(f"{variant} has only {n_train} train shards, {train_shards} requested", manifest_path)

    prefix = f"{REMOTE_ROOT}/datasets/{dataset_dir}"
    wanted = [f"{prefix}/{shard_name('val', i)}" for i in range(n_val)]
    wanted += [f"{prefix}/{shard_name('train', i)}" for i in range(train_shards)]
    tok_files = [f"{REMOTE_ROOT}/{tok_entry[k]}" for k in ("model_path", "vocab_path") if tok_entry.get(k)]
    fetched = 0
    with console.progress(len(wanted) + len(tok_files), f"downloading {variant}") as bar:
        for remote in wanted:
            path, new = _fetch(hub, repo_id, remote, out)
            read_header(path)
            fetched += new
            bar.advance(1)
        local_tok = []
        for remote in tok_files:
            path, new = _fetch(hub, repo_id, remote, out)
            local_tok.append(path)
            fetched += new
            bar.advance(1)
    model = next((p for p in local_tok if p.suffix == ".model"), local_tok[0] if local_tok else None)
    return {
        "out_dir": str(out),
        "data_dir": str(out / "datasets" / dataset_dir),
        "tokenizer": None if model is None else str(model),
        "variant": variant,
        "repo_id": repo_id,
        "val_shards": n_val,
        "train_shards": train_shards,
        "files_fetched": int(fetched),
        "files_present": len(wanted) + len(tok_files) - int(fetched),
    }
