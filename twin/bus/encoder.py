"""The live twin's encoder: summaries and fields built and sent by a worker thread, off the solver's.

Between steps the solver hands over a *snapshot* of what a message will show and goes on at once: the
summary's body with every array copied (building it costs a fraction of a millisecond; encoding it as
JSON costs milliseconds), or copies of the two arrays the fields come from (the air temperature per
fluid cell and the flow through every open face; scattering them onto the grid, the cell velocities and
the float16 conversion cost tens of milliseconds on reference.toml). The worker encodes and publishes
them through the :class:`~twin.bus.publisher.Publisher`, which numbers every message under its lock, so
sequence numbers stay monotonic whichever thread sends. Nothing the worker reads is an array the solver
mutates, so a message never mixes two states.

The solver never waits for the worker: each kind (summary, fields) has one slot, and a snapshot handed
over while the previous one still waits replaces it (the newest state wins; what was never sent took no
sequence number, and a slow client still sees its own gaps as before). Only where the protocol needs a
publication to be out before the server goes on (a command's effect while paused, the first snapshot
a client asks for, the final state, ``publish_every_step``) does the solver :meth:`Encoder.flush`.

The numba transport sweep releases the GIL, so on a machine with a spare core the encoding runs beside
the solver instead of between its steps.

An exception in the worker is logged with its traceback, the worker stops, and the next
:meth:`Encoder.check` on the solver's thread raises :class:`EncoderError` (the server stops with it):
a twin that can no longer publish must not look alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.bus.publisher import Publisher

__all__ = ["Encoder", "EncoderError", "frozen"]

log = logging.getLogger(__name__)


class EncoderError(RuntimeError):
    """The encoder thread failed; the cause is the worker's exception."""


def frozen(obj: Any) -> Any:
    """A copy of a message body that shares no mutable object with the state it was built from: dicts and
    lists rebuilt, arrays copied (strings, numbers, None and other immutable leaves shared)."""
    if isinstance(obj, dict):
        return {k: frozen(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [frozen(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj


@dataclass
class _Job:
    time_s: float
    steps: int
    # summary: the frozen body, or None to send the last one again (the state did not change);
    # fields: a function of no argument that builds (body, arrays) from copies, or None likewise.
    payload: Any


class Encoder:
    """The worker thread that encodes and publishes summaries and fields for one server run.

    Args:
        publisher: where the messages go (its lock numbers and sends them).
        name: the thread's name (seen in py-spy and in logs).
    """

    KINDS = ("summary", "fields")

    def __init__(self, publisher: Publisher, *, name: str = "twin-bus-encoder") -> None:
        self.publisher = publisher
        self._cond = threading.Condition()
        self._slots: dict[str, _Job | None] = dict.fromkeys(self.KINDS)
        self._busy = False
        self._stopping = False
        self.error: BaseException | None = None
        # Figures of the serving: jobs sent, snapshots replaced before the worker took them, seconds spent.
        self.encoded = dict.fromkeys(self.KINDS, 0)
        self.superseded = dict.fromkeys(self.KINDS, 0)
        self.encode_s = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- the solver's side ----------------------------------------------------------------------------

    def submit(self, kind: str, time_s: float, steps: int, payload: Any) -> None:
        """Hand over a snapshot of ``kind`` and return at once. A pending snapshot of the same kind is
        replaced, except that "send the last one again" (``payload`` None) never replaces a new body."""
        with self._cond:
            if self.error is not None or self._stopping:
                return  # check() raises on the solver's thread; nothing more will be sent
            pending = self._slots[kind]
            if pending is not None:
                if payload is None and pending.payload is not None:
                    pending.time_s = time_s
                    return
                self.superseded[kind] += 1
            self._slots[kind] = _Job(time_s, steps, payload)
            self._cond.notify()

    def flush(self, timeout_s: float = 60.0) -> bool:
        """Wait until every snapshot handed over is published (False on timeout or a failed worker)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while (self._busy or any(self._slots.values())) and self.error is None and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self.error is None

    def check(self) -> None:
        """Raise :class:`EncoderError` on the caller's thread if the worker failed."""
        if self.error is not None:
            raise EncoderError(f"the bus encoder failed: {type(self.error).__name__}: {self.error}") from self.error

    def close(self, timeout_s: float = 30.0) -> None:
        """Publish what is pending, then stop the worker and wait for it."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("the bus encoder did not stop within %.0f s", timeout_s)

    # --- the worker -----------------------------------------------------------------------------------

    def _take(self) -> tuple[str, _Job] | None:
        """The next job (summary first: it is small and what consoles wait for), or None to stop."""
        with self._cond:
            while True:
                for kind in self.KINDS:
                    job = self._slots[kind]
                    if job is not None:
                        self._slots[kind] = None
                        self._busy = True
                        return kind, job
                if self._stopping:
                    return None
                self._cond.wait()

    def _run(self) -> None:
        publish: dict[str, Callable[[_Job], None]] = {
            "summary": lambda j: self.publisher.publish_summary(j.time_s, j.payload),
            "fields": lambda j: self.publisher.publish_fields(j.time_s, j.steps, j.payload),
        }
        while (taken := self._take()) is not None:
            kind, job = taken
            t0 = time.perf_counter()
            try:
                publish[kind](job)
            except BaseException as exc:  # noqa: BLE001 - logged here, raised on the solver's thread
                log.exception("the bus encoder failed on a %s at t = %.1f s; the server stops publishing",
                              kind, job.time_s)
                with self._cond:
                    self.error = exc
                    self._busy = False
                    self._cond.notify_all()
                return
            with self._cond:
                self.encode_s += time.perf_counter() - t0
                self.encoded[kind] += 1
                self._busy = False
                self._cond.notify_all()
