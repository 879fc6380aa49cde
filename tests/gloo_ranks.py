"""Spawned gloo ranks for the tests: one launcher with a fresh meeting place and stderr log per rank.

Every launch spawns `world` processes that meet through a FileStore in a new directory (no TCP port
picked as free beforehand, which another process can take before rank 0 binds it), with RANK,
WORLD_SIZE and LOCAL_RANK set, so golf's own `setup` finds the group already joined.

On a loaded machine a gloo rank has been seen to die by SIGABRT, with no Python traceback, in a
launch whose collectives are the same on every rank (three times in full suite runs, in two test
files; never in 50 launches of the same test alone, idle or under load): an abort from gloo's C++
transport threads. So a launch in which a rank dies by a signal the launcher did not send is run
once more, from the state it started from (the `outputs` it names are put back), with the ranks'
stderr in a warning. A Python error in a rank, or a second crash, fails the test at once with the
ranks' stderr; a crash the code under test causes (collectives that differ between ranks) repeats
on the second run and so still fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Callable, Sequence

import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessExitedException, ProcessRaisedException

ATTEMPTS = 2


def _rank_entry(rank: int, fn: Callable, world: int, folder: str, args: tuple) -> None:
    import torch
    import torch.distributed as dist

    log = os.open(os.path.join(folder, f"rank{rank}.stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 2)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(folder, 'store')}", rank=rank,
                            world_size=world)
    try:
        fn(rank, *args)
        if dist.is_initialized():
            dist.barrier()  # no rank tears gloo down while a peer still talks to it
    except BaseException:
        traceback.print_exc()  # into this rank's log: the report shows every rank's error, not only the first seen
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _stderr_tails(folder: Path, world: int, chars: int = 3000) -> str:
    parts = []
    for rank in range(world):
        path = folder / f"rank{rank}.stderr"
        text = path.read_text(errors="replace") if path.exists() else ""
        parts.append(f"--- rank {rank} stderr (last {chars} chars) ---\n{text[-chars:]}")
    return "\n".join(parts)


def _snapshot(outputs: Sequence[Path], into: Path) -> list[tuple[Path, Path | None]]:
    saved = []
    for i, path in enumerate(outputs):
        copy = into / f"output{i}"
        if path.is_dir():
            shutil.copytree(path, copy, symlinks=True)
        elif path.exists():
            shutil.copy2(path, copy)
        saved.append((path, copy if path.exists() else None))
    return saved


def _restore(saved: list[tuple[Path, Path | None]]) -> None:
    for path, copy in saved:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        if copy is not None:
            (shutil.copytree if copy.is_dir() else shutil.copy2)(copy, path)


def _crashed(context: mp.ProcessContext) -> list[int]:
    """Ranks killed by a signal the launcher did not send (it ends the survivors with SIGTERM/SIGKILL)."""
    ours = {-signal.SIGTERM, -signal.SIGKILL}
    return [r for r, p in enumerate(context.processes) if p.exitcode is not None and p.exitcode < 0
            and p.exitcode not in ours]


def launch(fn: Callable, *args, world: int = 2, outputs: Sequence[Path | str] = ()) -> None:
    """Run `fn(rank, *args)` on `world` spawned gloo ranks (group joined before, left after).

    `outputs`: the files or folders the ranks write, put back as they were before a retry.
    """
    outputs = [Path(p) for p in outputs]
    with tempfile.TemporaryDirectory(prefix="gloo-ranks-") as scratch:
        saved = _snapshot(outputs, Path(scratch))
        for attempt in range(1, ATTEMPTS + 1):
            folder = Path(tempfile.mkdtemp(prefix=f"attempt{attempt}-", dir=scratch))
            context = mp.start_processes(_rank_entry, args=(fn, world, str(folder), args), nprocs=world,
                                         join=False, start_method="spawn")
            try:
                while not context.join():
                    pass
                return
            except (ProcessRaisedException, ProcessExitedException) as exc:
                crashed = _crashed(context)
                report = f"{exc}\n{_stderr_tails(folder, world)}"
                if not crashed or attempt == ATTEMPTS:
                    raise AssertionError(f"{report}\n(attempt {attempt} of {ATTEMPTS})") from None
                names = ", ".join(f"rank {r} by {signal.Signals(-context.processes[r].exitcode).name}" for r in crashed)
                warnings.warn(f"gloo launch retried after a crash ({names}):\n{report}", RuntimeWarning,
                              stacklevel=2)
                _restore(saved)
