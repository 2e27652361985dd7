"""The per-case time limit by itself: it stops pure-Python work in any thread, raises again when the
first one is swallowed (as in a finalizer), and leaves nothing behind when the block ends in time."""

from __future__ import annotations

import threading
import time

import pytest

from twin.sweep.worker import CaseTimeout, _time_limit


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_block_past_its_limit_is_stopped_in_a_worker_thread():
    """Dask runs tasks outside the main thread: the limit works there, and soon after it passes."""
    got: dict = {}

    def task() -> None:
        t0 = time.perf_counter()
        try:
            with _time_limit(0.3):
                _spin(60.0)
        except CaseTimeout:
            got["after_s"] = time.perf_counter() - t0

    t = threading.Thread(target=task)
    t.start()
    t.join(60.0)
    assert 0.3 <= got["after_s"] < 10.0


def test_a_swallowed_timeout_is_raised_again():
    """An exception that lands where Python drops it (a finalizer) is raised again until it stops the block."""
    swallowed = 0
    with pytest.raises(CaseTimeout):
        with _time_limit(0.2):
            while True:
                try:
                    _spin(0.01)
                except CaseTimeout:
                    swallowed += 1
                    if swallowed > 1:
                        raise
    assert swallowed == 2


def test_a_block_within_its_limit_leaves_nothing_behind():
    """A block that ends in time raises nothing, then or later (no stray exception for the next case)."""
    with _time_limit(0.2):
        _spin(0.05)
    _spin(1.0)  # past the limit and several repeats: nothing may arrive
    with _time_limit(None):
        _spin(0.05)
