"""The per-case time limit by itself: it stops pure-Python work in any thread, raises again when the
first one is swallowed (as in a finalizer), and leaves nothing behind when the block ends in time."""

from __future__ import annotations

import threading
import time

import pytest

from twin.sweep.worker import CaseTimeout, _call_with_limit


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_call_past_its_limit_is_stopped_in_a_worker_thread():
    """Dask runs tasks outside the main thread: the limit works there, and soon after it passes."""
    got: dict = {}

    def task() -> None:
        t0 = time.perf_counter()
        try:
            _call_with_limit(0.3, _spin, 60.0)
        except CaseTimeout:
            got["after_s"] = time.perf_counter() - t0

    t = threading.Thread(target=task)
    t.start()
    t.join(60.0)
    assert 0.3 <= got["after_s"] < 10.0


def test_a_swallowed_timeout_is_raised_again():
    """An exception that lands where Python drops it (a finalizer) is raised again until it stops the call."""
    swallowed = 0

    def swallow_once() -> None:
        nonlocal swallowed
        while True:
            try:
                _spin(0.01)
            except CaseTimeout:
                swallowed += 1
                if swallowed > 1:
                    raise

    with pytest.raises(CaseTimeout):
        _call_with_limit(0.2, swallow_once)
    assert swallowed == 2


def test_a_call_within_its_limit_leaves_nothing_behind():
    """A call that ends in time raises nothing, then or later (no stray exception for the next case)."""
    assert _call_with_limit(0.2, lambda: _spin(0.05) or 7) == 7
    _spin(1.0)  # past the limit and several repeats: nothing may arrive
    assert _call_with_limit(None, lambda: 8) == 8


def test_calls_ending_at_their_limit_leave_no_stray_exception():
    """Hundreds of calls in a worker thread of 1 to 16 ms against a 1 ms limit (the watchdog gets the GIL
    within Python's 5 ms switch interval, so the short ones end around the moment it fires and the long ones
    are stopped), then the thread goes on past several repeat periods: no CaseTimeout may reach it outside a
    call (one that did would kill a Dask worker's executor thread; seen under heavy load)."""
    got: dict = {"stopped": 0, "finished": 0}

    def task() -> None:
        for i in range(300):
            try:
                _call_with_limit(0.001, _spin, 0.001 + 0.00005 * i)
                got["finished"] += 1
            except CaseTimeout:
                got["stopped"] += 1
        try:
            _spin(1.0)
            got["after"] = "nothing"
        except CaseTimeout:
            got["after"] = "a stray CaseTimeout"

    t = threading.Thread(target=task)
    t.start()
    t.join(120.0)
    assert got["stopped"] + got["finished"] == 300 and got["stopped"] > 0
    assert got["after"] == "nothing"


def test_a_call_that_ends_past_its_limit_before_the_watchdog_ran_is_a_timeout():
    """One C call that holds the GIL for ~0.3 s against a 10 ms limit: the watchdog cannot run (it needs the
    GIL to raise), so the call returns before it fires, as a fast case does on a busy machine. It ran past its
    limit all the same: a timeout, not a result."""
    import sys

    interval = sys.getswitchinterval()
    sys.setswitchinterval(5.0)  # nor may it take the GIL between the call's end and the clean-up
    try:
        with pytest.raises(CaseTimeout):
            _call_with_limit(0.01, sum, range(30_000_000))
    finally:
        sys.setswitchinterval(interval)
