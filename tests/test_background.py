"""Background checkpoint writes: one at a time, errors surface on the main thread."""

from __future__ import annotations

import threading

import pytest

from golfcli.train.background import BackgroundWriter


def test_writes_run_in_order_off_the_main_thread():
    done, threads = [], []
    writer = BackgroundWriter()
    for i in range(3):
        writer.submit(lambda i=i: (done.append(i), threads.append(threading.current_thread().name)))
    writer.wait()
    assert done == [0, 1, 2]
    assert threading.current_thread().name not in threads


def test_an_error_is_raised_by_the_next_call():
    writer = BackgroundWriter()

    def fail():
        raise OSError("disk full")

    writer.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        writer.wait()
    writer.wait()  # reported once
