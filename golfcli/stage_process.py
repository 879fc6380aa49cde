"""Start one golf stage (`golf <verb> ... --json`) as a child process of `golf run`.

A fresh `python -m golfcli` spends about two seconds importing torch before it does anything, and
`golf run` starts eleven of them. On Linux the stage is instead forked from the `golf run` process,
which imports torch and the other heavy libraries once (and never touches a tensor, a thread pool
or CUDA itself): the child drops golf's own modules, imports them afresh and runs the verb exactly
as `python -m golfcli` would, in a process of its own (its memory, GPU included, is freed when it
exits, and a crash stays in it). Elsewhere, when another thread is running (forking would copy a
lock held mid-use), or with GOLF_SPAWN_STAGES=1, the stage is a new interpreter as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import traceback
from typing import IO

# Imported once by `golf run` so that every forked stage finds them loaded.
WARM_MODULES = ("torch", "numpy", "safetensors", "safetensors.torch", "sentencepiece", "zstandard", "brotli")


def can_fork() -> bool:
    """Whether a stage can be forked from this process (Linux, one thread, not switched off)."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1
            and os.environ.get("GOLF_SPAWN_STAGES") != "1")


def warm_up() -> None:
    """Import the libraries every stage needs, once, before the first fork."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional codec a stage may never use
            pass


class ForkedStage:
    """A forked `golf <verb>`: the stdout/stderr/wait()/returncode of a `subprocess.Popen`."""

    def __init__(self, argv: list[str], env: dict[str, str], capture_stderr: bool) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if capture_stderr else (-1, -1)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the child would print our buffered text a second time
        self.pid = os.fork()
        if self.pid == 0:
            os.close(out_r)
            if err_r >= 0:
                os.close(err_r)
            _run_child(argv, env, out_w, err_w)  # never returns
        os.close(out_w)
        self.stdout: IO[str] = os.fdopen(out_r, "r")
        self.stderr: IO[str] | None = None
        if err_r >= 0:
            os.close(err_w)
            self.stderr = os.fdopen(err_r, "r")
        self.returncode: int | None = None

    def wait(self) -> int:
        """Wait for the child; its exit code (like Popen.wait, -N when killed by signal N)."""
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _run_child(argv: list[str], env: dict[str, str], out_fd: int, err_fd: int) -> None:
    """In the forked child: point fds 1 and 2 at the pipes, run the verb with fresh golf modules, exit."""
    code = 1
    try:
        os.dup2(out_fd, 1)
        os.close(out_fd)
        if err_fd >= 0:
            os.dup2(err_fd, 2)
            os.close(err_fd)
        # fresh text streams on fds 1 and 2, whatever sys.stdout/stderr were (a test's capture, say)
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace",
                                          closefd=False)
        os.environ.clear()
        os.environ.update(env)
        for name in [m for m in sys.modules if m == "golfcli" or m.startswith("golfcli.")]:
            del sys.modules[name]  # golf's process-wide state (quiet console, ...) starts afresh
        sys.argv = ["golf", *argv]
        from golfcli.cli import main

        main(args=argv, prog_name="golf")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # what an interpreter prints for an uncaught exception, and its exit code
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def start_stage(argv: list[str], env: dict[str, str], capture_stderr: bool) -> ForkedStage | subprocess.Popen:
    """Start `golf <argv>` with `env`: forked when possible, else `python -m golfcli`."""
    if can_fork():
        warm_up()
        return ForkedStage(argv, env, capture_stderr)
    return subprocess.Popen([sys.executable, "-m", "golfcli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE if capture_stderr else None, text=True, env=env)
