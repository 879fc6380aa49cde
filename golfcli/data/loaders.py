"""Training token loaders over challenge shards, with exact resume.

Three kinds, all deterministic and all returning (x, y) LongTensors for one rank:
- "sequential": the reference TokenStream. Shards are read in sorted order, wrapping forever;
  each step takes (local+1)·world_size contiguous tokens and rank r uses the r-th slice.
- "coprime": the 1.1063 record's multi-shard sampler (spec record-1204.md §A.3). Every rank
  builds the same global list of windows from the same RNG stream and takes windows[r::world].
- "shuffled": the 1.0810 record's shuffled-sequence loader. Rank r owns shards[r::world] and its own
  RNG (PCG64 seeded with r); each shard gets a random phase and a random order of its sequences,
  each row comes from a shard drawn in proportion to the sequences it has left.

`state_dict()` is plain JSON; `load_state_dict` on a fresh loader over the same shards makes the
next batch identical to the one the saved loader would have produced.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golfcli.config.train import LOADER_KINDS
from golfcli.data.shards import read_shard, shard_files
from golfcli.errors import GolfError


def make_train_loader(
    data_dir: str | os.PathLike, kind: str = "sequential", rank: int = 0, world_size: int = 1,
    ramp_batches: int = 1800,
) -> "SequentialLoader | CoprimeLoader | ShuffledLoader":
    """A train loader of `kind` over the train shards of `data_dir`, for `rank` of `world_size`.

    The coprime loader's RNG seed hashes the shard paths as `os.path.join(data_dir, name)`, as the
    record does with its glob, so every rank must be given the same `data_dir` string;
    `ramp_batches` is the number of batches over which it goes from mixing 8 shards to 64.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise GolfError(f"bad rank {rank} for world size {world_size}")
    files = shard_files(data_dir, "train")
    if kind == "sequential":
        return SequentialLoader(files, rank, world_size)
    if kind == "coprime":
        names = [os.path.join(str(data_dir), f.name) for f in files]
        return CoprimeLoader(files, rank, world_size, seed=path_hash_seed(names), ramp_batches=ramp_batches)
    if kind == "shuffled":
        if len(files) < world_size:
            raise GolfError(f"the shuffled loader gives each rank its own train shards: {len(files)} shard(s) "
                            f"for {world_size} ranks", data_dir)
        return ShuffledLoader(files[rank::world_size], rank, world_size)
    raise GolfError(f"unknown loader kind {kind!r} (expected one of {', '.join(LOADER_KINDS)})")


def _local_rows(global_tokens: int, seq_len: int, world_size: int) -> int:
    if seq_len <= 0:
        raise GolfError(f"seq_len must be positive, got {seq_len}")
    rows = global_tokens // world_size // seq_len
    if rows <= 0:
        raise GolfError(
            f"batch of {global_tokens} tokens over {world_size} ranks is less than one sequence of {seq_len}"
        )
    return rows


def _check_state(state: dict[str, Any], kind: str, files: list[Path]) -> None:
    if state.get("kind") != kind:
        raise GolfError(f"loader state is for a {state.get('kind')!r} loader, not {kind!r}")
    names = [f.name for f in files]
    if state.get("shards") != names:
        raise GolfError("loader state was saved over different train shards than the ones found now")


class SequentialLoader:
    """The reference loader: one contiguous stream over the sorted shards, split across ranks."""

    kind = "sequential"

    def __init__(self, files: list[Path], rank: int = 0, world_size: int = 1):
        self.files, self.rank, self.world_size = list(files), rank, world_size
        self.file_idx, self.pos = 0, 0
        self._tokens = read_shard(self.files[0])

    def _take(self, n: int) -> np.ndarray:
        chunks, remaining, empty_in_a_row = [], n, 0
        while remaining > 0:
            avail = len(self._tokens) - self.pos
            if avail <= 0:
                empty_in_a_row += 1
                if empty_in_a_row > len(self.files):
                    raise GolfError("every train shard is empty", self.files[0].parent)
                self._open((self.file_idx + 1) % len(self.files))
                continue
            empty_in_a_row = 0
            k = min(remaining, avail)
            chunks.append(self._tokens[self.pos : self.pos + k])
            self.pos += k
            remaining -= k
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def _open(self, idx: int) -> None:
        self.file_idx, self.pos = idx, 0
        self._tokens = read_shard(self.files[idx])

    def next_batch(
        self, global_tokens: int, seq_len: int, grad_accum_steps: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's (x, y) of shape (global_tokens // world_size // grad_accum_steps // seq_len, seq_len)."""
        rows = _local_rows(global_tokens // grad_accum_steps, seq_len, self.world_size)
        span = rows * seq_len + 1
        chunk = self._take(span * self.world_size)
        local = torch.from_numpy(np.asarray(chunk[self.rank * span : (self.rank + 1) * span], dtype=np.int64))
        return local[:-1].reshape(rows, seq_len), local[1:].reshape(rows, seq_len)

    def state_dict(self) -> dict[str, Any]:
        """Where the stream stands (JSON-able)."""
        return {"kind": self.kind, "shards": [f.name for f in self.files], "file_idx": self.file_idx, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where `state` left off."""
        _check_state(state, self.kind, self.files)
        self._open(int(state["file_idx"]))
        self.pos = int(state["pos"])


def path_hash_seed(paths: list[str]) -> int:
    """The record's 64-bit FNV-style seed over the bytes of every shard path string (start 0)."""
    seed = 0
    for path in paths:
        for byte in path.encode("utf-8"):
            seed = ((seed ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return seed


@dataclass
class _Cursor:
    """A full permutation of one shard's seq_len-blocks: block k = (start + k·stride) mod count."""

    phase: int
    count: int
    start: int
    stride: int
    taken: int = 0

    @property
    def remaining(self) -> int:
        return self.count - self.taken

    def next_offset(self, seq_len: int) -> int:
        block = (self.start + self.taken * self.stride) % self.count
        self.taken += 1
        return self.phase + block * seq_len


class CoprimeLoader:
    """The record's deterministic coprime-stride multi-shard sampler, identical on every rank.

    Per batch of G windows (seq_len+1 tokens each), with progress p = min(batches/ramp, 1):
    shard weights ∝ remaining_blocks^(0.9 − 0.4p); m = round(low + p·(high − low)) distinct shards
    drawn by weight; counts = 1 + multinomial(G − m); each shard's windows come from its cursor
    (re-drawn when exhausted), are shuffled inside the bucket, and buckets are interleaved
    round-robin in a fresh random order each round. Rank r takes windows[r::world_size].
    The RNG is seeded from the shard paths only, so the data order does not depend on the seed.
    """

    kind = "coprime"

    def __init__(self, files: list[Path], rank: int = 0, world_size: int = 1, seed: int = 0,
                 ramp_batches: int = 1800):
        self.files, self.rank, self.world_size = list(files), rank, world_size
        self.seed, self.ramp_batches = seed, ramp_batches
        self._tokens = [read_shard(f) for f in self.files]
        self._reset()

    def _reset(self) -> None:
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.batches_built = 0
        self.seq_len: int | None = None
        self.cursors: list[_Cursor | None] = [None] * len(self.files)

    # -- cursors ---------------------------------------------------------------------------
    def _draw_cursor(self, n: int, seq_len: int) -> _Cursor:
        phase = int(self.rng.integers(0, min(seq_len - 1, n - seq_len - 1) + 1))
        count = (n - 1 - phase) // seq_len
        start = int(self.rng.integers(0, count))
        stride = 1
        if count > 1:
            stride = int(self.rng.integers(1, count))
            while math.gcd(stride, count) != 1:
                stride = int(self.rng.integers(1, count))
        return _Cursor(phase, count, start, stride)

    def _start_epoch(self, seq_len: int) -> None:
        self.seq_len = seq_len
        usable = [i for i, t in enumerate(self._tokens) if len(t) >= seq_len + 2]
        if not usable:
            raise GolfError(f"no train shard holds a window of {seq_len}+1 tokens", self.files[0].parent)
        for i in range(len(self.files)):
            self.cursors[i] = self._draw_cursor(len(self._tokens[i]), seq_len) if i in usable else None

    def _take(self, shard: int, seq_len: int) -> int:
        cursor = self.cursors[shard]
        assert cursor is not None
        offset = cursor.next_offset(seq_len)
        if cursor.remaining == 0:
            self.cursors[shard] = self._draw_cursor(len(self._tokens[shard]), seq_len)
        return offset

    # -- batches ---------------------------------------------------------------------------
    def _windows(self, n_windows: int, seq_len: int) -> list[tuple[int, int]]:
        if self.seq_len is None:
            self._start_epoch(seq_len)
        elif seq_len != self.seq_len:
            raise GolfError(f"the coprime loader was started with seq_len {self.seq_len}, not {seq_len}")
        live = [i for i, c in enumerate(self.cursors) if c is not None]
        p = min(self.batches_built / self.ramp_batches, 1.0) if self.ramp_batches > 0 else 1.0
        alpha = 0.9 - 0.4 * p
        weights = np.array([self.cursors[i].remaining for i in live], dtype=np.float64) ** alpha
        ws = self.world_size
        low = min(max(8, ws), len(live), n_windows)
        high = min(max(32, 8 * ws), len(live), n_windows)
        m = int(round(low + p * (high - low)))
        picked = self.rng.choice(len(live), size=m, replace=False, p=weights / weights.sum())
        sub = weights[picked]
        counts = 1 + self.rng.multinomial(n_windows - m, sub / sub.sum())
        order = self.rng.permutation(m)
        buckets: list[list[tuple[int, int]]] = []
        for j in order:
            shard = live[int(picked[j])]
            bucket = [(shard, self._take(shard, seq_len)) for _ in range(int(counts[j]))]
            perm = self.rng.permutation(len(bucket))
            buckets.append([bucket[int(k)] for k in perm])
        windows: list[tuple[int, int]] = []
        while any(buckets):
            for b in self.rng.permutation(len(buckets)):
                if buckets[int(b)]:
                    windows.append(buckets[int(b)].pop(0))
        self.batches_built += 1
        return windows

    def next_batch(
        self, global_tokens: int, seq_len: int, grad_accum_steps: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's (x, y) of shape (global_tokens // world_size // grad_accum_steps // seq_len, seq_len)."""
        rows = _local_rows(global_tokens // grad_accum_steps, seq_len, self.world_size)
        windows = self._windows(rows * self.world_size, seq_len)[self.rank :: self.world_size]
        batch = np.empty((rows, seq_len + 1), dtype=np.int64)
        for row, (shard, offset) in enumerate(windows):
            batch[row] = self._tokens[shard][offset : offset + seq_len + 1]
        full = torch.from_numpy(batch)
        return full[:, :-1], full[:, 1:]

    def state_dict(self) -> dict[str, Any]:
        """RNG state, batch counter and every shard cursor (JSON-able; PCG64 state holds big ints)."""
        return {
            "kind": self.kind,
            "shards": [f.name for f in self.files],
            "seed": str(self.seed),
            "batches_built": self.batches_built,
            "seq_len": self.seq_len,
            "rng": _rng_to_json(self.rng.bit_generator.state),
            "cursors": [None if c is None else [c.phase, c.count, c.start, c.stride, c.taken] for c in self.cursors],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where `state` left off."""
        _check_state(state, self.kind, self.files)
        self.seed = int(state["seed"])
        self.batches_built = int(state["batches_built"])
        self.seq_len = None if state["seq_len"] is None else int(state["seq_len"])
        self.rng = np.random.Generator(np.random.PCG64())
        self.rng.bit_generator.state = _rng_from_json(state["rng"])
        self.cursors = [None if c is None else _Cursor(*(int(v) for v in c)) for c in state["cursors"]]


class ShuffledLoader:
    """The record's shuffled-sequence loader over this rank's own shards (no two ranks share one).

    A round gives every shard a phase in [0, seq_len) (at most len − seq_len − 1) and a random
    permutation of its (len − 1 − phase) // seq_len sequences. Each row draws a shard with
    probability ∝ its sequences left and takes that shard's last remaining start; when every
    shard is used up, a new round begins. The RNG is PCG64(rank), so the order ignores the seed.
    """

    kind = "shuffled"

    def __init__(self, files: list[Path], rank: int = 0, world_size: int = 1):
        self.files, self.rank, self.world_size = list(files), rank, world_size
        self._tokens = [read_shard(f) for f in self.files]
        self.rng = np.random.Generator(np.random.PCG64(rank))
        self.seq_len: int | None = None
        self._round_rng: dict[str, Any] | None = None  # RNG state at the start of the current round
        self.starts: list[list[int]] = [[] for _ in self.files]

    def _new_round(self) -> None:
        self._round_rng = self.rng.bit_generator.state
        for i, tokens in enumerate(self._tokens):
            n, seq_len = len(tokens), self.seq_len
            max_phase = min(seq_len - 1, max(0, n - seq_len - 1))
            phase = int(self.rng.integers(max_phase + 1)) if max_phase > 0 else 0
            count = max(0, (n - 1 - phase) // seq_len)
            self.starts[i] = (phase + self.rng.permutation(count) * seq_len).tolist()
        if not any(self.starts):
            raise GolfError(f"no train shard of this rank holds a window of {self.seq_len}+1 tokens",
                            self.files[0].parent)

    def _start(self, seq_len: int) -> None:
        if self.seq_len is None:
            self.seq_len = seq_len
            self._new_round()
        elif seq_len != self.seq_len:
            raise GolfError(f"the shuffled loader was started with seq_len {self.seq_len}, not {seq_len}")

    def next_batch(
        self, global_tokens: int, seq_len: int, grad_accum_steps: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's (x, y) of shape (global_tokens // world_size // grad_accum_steps // seq_len, seq_len)."""
        rows = _local_rows(global_tokens // grad_accum_steps, seq_len, self.world_size)
        self._start(seq_len)
        batch = np.empty((rows, seq_len + 1), dtype=np.int64)
        left = np.array([len(s) for s in self.starts], dtype=np.float64)
        for row in range(rows):
            if left.sum() <= 0:
                self._new_round()
                left = np.array([len(s) for s in self.starts], dtype=np.float64)
            shard = int(self.rng.choice(len(self.files), p=left / left.sum()))
            start = self.starts[shard].pop()
            left[shard] -= 1
            batch[row] = self._tokens[shard][start : start + seq_len + 1]
        full = torch.from_numpy(batch)
        return full[:, :-1], full[:, 1:]

    def state_dict(self) -> dict[str, Any]:
        """The RNG now and at the round's start, and each shard's sequences left (JSON-able).

        A round's orders are rebuilt from its starting RNG state; starts are taken from the end,
        so the ones left are each order's first `left` entries.
        """
        return {
            "kind": self.kind,
            "shards": [f.name for f in self.files],
            "rank": self.rank,
            "seq_len": self.seq_len,
            "round_rng": None if self._round_rng is None else _rng_to_json(self._round_rng),
            "rng": _rng_to_json(self.rng.bit_generator.state),
            "left": [len(s) for s in self.starts],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where `state` left off."""
        _check_state(state, self.kind, self.files)
        self.seq_len = None if state["seq_len"] is None else int(state["seq_len"])
        self.starts = [[] for _ in self.files]
        self._round_rng = None
        if state["round_rng"] is not None:
            self.rng.bit_generator.state = _rng_from_json(state["round_rng"])
            self._new_round()
            self.starts = [s[: int(k)] for s, k in zip(self.starts, state["left"])]
        self.rng.bit_generator.state = _rng_from_json(state["rng"])


def _rng_to_json(state: dict[str, Any]) -> dict[str, Any]:
    # 128-bit PCG64 integers as decimal strings, so any JSON reader keeps them exact.
    inner = state["state"]
    return {"bit_generator": state["bit_generator"], "state": str(inner["state"]), "inc": str(inner["inc"]),
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def _rng_from_json(d: dict[str, Any]) -> dict[str, Any]:
    return {"bit_generator": d["bit_generator"], "state": {"state": int(d["state"]), "inc": int(d["inc"])},
            "has_uint32": int(d["has_uint32"]), "uinteger": int(d["uinteger"])}


class PrefetchLoader:
    """Batches of `loader` made on a background thread, `depth` ahead of the training step.

    Each batch is made contiguous (and pinned when `pin` is set, i.e. training on CUDA) so that
    the step's `.to(device, non_blocking=True)` is a real asynchronous copy. The batches and their
    order are exactly the wrapped loader's. `state_dict()` is the wrapped loader's state after the
    last batch taken, so resume is exact although the thread runs ahead; `close()` stops the thread
    and rewinds the wrapped loader to that point.
    """

    def __init__(self, loader, global_tokens: int, seq_len: int, grad_accum_steps: int = 1,
                 pin: bool = False, depth: int = 2):
        self.loader, self.args = loader, (global_tokens, seq_len, grad_accum_steps)
        self.pin, self.depth = pin, depth
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._after: dict[str, Any] | None = None  # the wrapped loader's state after the last batch taken

    def _work(self, out: queue.Queue, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                x, y = self.loader.next_batch(*self.args)
                x, y = x.contiguous(), y.contiguous()
                if self.pin:
                    x, y = x.pin_memory(), y.pin_memory()
                item = (x, y, self.loader.state_dict())
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the consumer, raised there
            out.put((exc, None, None))

    def next_batch(self, global_tokens: int, seq_len: int, grad_accum_steps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (x, y), as the wrapped loader's `next_batch` with the arguments given at construction."""
        if (global_tokens, seq_len, grad_accum_steps) != self.args:
            raise GolfError(f"the prefetching loader makes batches of {self.args} (tokens, seq_len, accum), "
                            f"asked for {(global_tokens, seq_len, grad_accum_steps)}")
        if self._thread is None:
            self._after = self.loader.state_dict()
            self._stop, self._queue = threading.Event(), queue.Queue(maxsize=self.depth)
            self._thread = threading.Thread(target=self._work, args=(self._queue, self._stop), daemon=True,
                                            name="golf-prefetch")
            self._thread.start()
        x, y, after = self._queue.get()
        if after is None:
            self.close()
            raise x
        self._after = after
        return x, y

    def state_dict(self) -> dict[str, Any]:
        """The wrapped loader's state after the last batch taken."""
        return self._after if self._thread is not None else self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the wrapped loader; batches made ahead are dropped."""
        self.close()
        self.loader.load_state_dict(state)

    def close(self) -> None:
        """Stop the thread and rewind the wrapped loader to just after the last batch taken."""
        if self._thread is None:
            return
        self._stop.set()
        while self._thread.is_alive():  # drain, so a worker blocked on a full queue can finish
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)
        self._thread = None
        self.loader.load_state_dict(self._after)
