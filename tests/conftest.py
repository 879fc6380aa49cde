"""Shared fixtures: the built-in corpus and one tiny `golf run` (each built once per test run, also
when pytest-xdist spreads the modules over several workers), and the real challenge sample.

Most tests train, quantize and score on the built-in corpus (`golf data builtin`), so they run on
any checkout. Only tests where the real data itself matters (byte-identical shards, the metric's
totals on FineWeb) use ../shared/data beside the checkout and skip when it is absent; set
GOLF_SHARED_DATA to read it from elsewhere (a missing directory shows what skips without it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# One thread per process: the suite starts subprocesses (torchrun, the CLI, examples) on a 2-core
# machine, and oversubscribed OpenMP threads made some steps 40x slower than a single thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

SHARED_DATA = Path(os.environ.get("GOLF_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
SHARED_SHARDS = SHARED_DATA / "datasets" / "fineweb10B_sp1024"
SHARED_TOKENIZER = SHARED_DATA / "tokenizers" / "fineweb_1024_bpe.model"
SMALL_VAL_TOKENS = 64 * 128 + 1  # whole 128-token sequences plus the last target


@dataclass(frozen=True)
class Corpus:
    """A built shard directory and its tokenizer (shared by the session: read it, never write to it)."""

    data_dir: Path
    tokenizer: Path
    summary: dict


@contextmanager
def built_once(tmp_path_factory, name: str) -> Iterator[tuple[Path, bool]]:
    """(folder, done) for something every worker of this test run shares: the first xdist worker to
    take the lock builds it into `folder` (done False), later ones find it built (done True). Without
    xdist it is a fresh temporary folder."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield tmp_path_factory.mktemp(name), False
        return
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent / name
    with FileLock(f"{root}.lock"):
        done = (root / ".built").exists()
        if not done:
            shutil.rmtree(root, ignore_errors=True)  # what a failed build left
            root.mkdir()
        yield root, done
        (root / ".built").touch()


@pytest.fixture(scope="session")
def builtin_data(tmp_path_factory) -> Corpus:
    """The built-in corpus, built once: 1 val shard (~59k tokens), 3 train shards, a 1024-piece tokenizer."""
    from golfcli.data.builtin import build_builtin

    with built_once(tmp_path_factory, "builtin") as (root, done):
        if not done:
            summary = build_builtin(root / "data", workers=1)
            (root / "summary.json").write_text(json.dumps(summary))
        summary = json.loads((root / "summary.json").read_text())
    return Corpus(Path(summary["data_dir"]), Path(summary["tokenizer"]), summary)


@pytest.fixture(scope="session")
def small_corpus(builtin_data: Corpus, tmp_path_factory) -> Corpus:
    """The built-in corpus with its validation split cut to SMALL_VAL_TOKENS, for end-to-end runs
    (`golf run`, examples/) whose every evaluation scores the whole split."""
    from golfcli.data.shards import read_shard, write_shard

    with built_once(tmp_path_factory, "builtin-small") as (root, done):
        out = root / "data"
        if not done:
            out.mkdir()
            for shard in sorted(builtin_data.data_dir.glob("fineweb_train_*.bin")):
                shutil.copyfile(shard, out / shard.name)
            shutil.copyfile(builtin_data.tokenizer, out / "tokenizer.model")
            val = read_shard(builtin_data.data_dir / "fineweb_val_000000.bin")
            write_shard(out / "fineweb_val_000000.bin", val[:SMALL_VAL_TOKENS])
    return Corpus(out, out / "tokenizer.model", {})


@dataclass(frozen=True)
class TinyRun:
    """One finished `golf run --preset tiny --hedge`, shared by the session: read it, never write to it
    (copy `out` with shutil.copytree to change it). `out` is `home / "tiny run"`, run from `home`, so
    its logged commands name its files relative to `home` and need shell quoting."""

    home: Path
    out: Path
    summary: dict
    settings: tuple[str, ...]  # the --set items; the same items with --hedge reproduce the run

    def argv(self, corpus: Corpus, out: str | Path, *extra: str) -> list[str]:
        """The `golf run` command line of this run, writing to `out` (plus `extra` options)."""
        sets = [arg for item in self.settings for arg in ("--set", item)]
        return [sys.executable, "-m", "golfcli", "run", "--preset", "tiny", "--out", str(out),
                "--data", str(corpus.data_dir), "--tokenizer", str(corpus.tokenizer), *sets, "--hedge", *extra,
                "--json"]


# Chosen so every user can share the run: the export's settings (12 steps, coprime loader), a checkpoint
# every 4 steps for the resume test, and a small hedge table.
TINY_RUN_SETTINGS = ("train.iterations=12", "train.loader=coprime", "train.val_every=0", "train.checkpoint_every=4",
                     "train.log_every=4", "calib.seqs=2", "calib.seq_len=64", "calib.batch=2",
                     "eval.hedge_table_size=4096")


@pytest.fixture(scope="session")
def tiny_run(small_corpus: Corpus, tmp_path_factory) -> TinyRun:
    """`golf run --preset tiny --hedge` on the small corpus, once per test run."""
    with built_once(tmp_path_factory, "tiny-run-home") as (home, done):
        run = TinyRun(home, home / "tiny run", {}, TINY_RUN_SETTINGS)
        if not done:
            proc = subprocess.run(run.argv(small_corpus, "tiny run"), capture_output=True, text=True, cwd=home)
            assert proc.returncode == 0, proc.stderr[-2000:]
            (home / "summary.json").write_text(proc.stdout)
        summary = json.loads((home / "summary.json").read_text())
    return TinyRun(home, run.out, summary, TINY_RUN_SETTINGS)


@pytest.fixture(autouse=True)
def _process_wide_state():
    """Each test starts with the process-wide state this file sets up, whatever ran before it:
    an in-process `--json` turns the console quiet, and `golf bench ... --threads N` sets torch's
    thread count (left at 2, every later in-process training ran several times slower)."""
    from golfcli import console

    console.set_quiet(False)
    torch.set_num_threads(1)
    yield
    console.set_quiet(False)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (the challenge's sp1024 tokenizer and a FineWeb sample), or skip."""
    if not (SHARED_SHARDS / "fineweb_val_000000.bin").exists() or not SHARED_TOKENIZER.exists():
        pytest.skip(f"real challenge sample not found at {SHARED_DATA} (GOLF_SHARED_DATA=DIR points elsewhere)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_tokenizer(shared_data: Path) -> Path:
    """The challenge's sp1024 SentencePiece model."""
    return SHARED_TOKENIZER


@pytest.fixture(scope="session")
def shared_shards(shared_data: Path) -> Path:
    """The directory of challenge-format shards (1 val, 3 train)."""
    return SHARED_SHARDS
