"""The console's one link to the twin: a loop that owns the bus client, run in a worker thread.

The client's ZeroMQ sockets are not thread-safe, so one thread does every client call: it polls,
sends what the UI queued, collects replies and hands the UI immutable pictures (:class:`TwinData`)
and finished commands (:class:`CommandRecord`). The UI never blocks on the network, and a slow
network never freezes the keyboard.

Pictures are coalesced to ``ui_interval_s`` (a summary comes 10 times a second; redrawing tables that
often costs CPU over SSH and makes numbers unreadable); a change of connection status and every reply
go to the UI at once, because those are what the operator is waiting for.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from tui.model import CommandRecord, Trends, TwinData
from twin.bus import protocol as P
from twin.bus.client import CommandError

__all__ = ["BusLink", "ClientLike"]


class ClientLike(Protocol):
    """What the link needs of a client: :class:`twin.bus.client.TwinClient` has it."""

    status: str
    summary: dict | None
    summary_seq: int | None
    hall: dict | None
    events: Any

    def poll(self, timeout_s: float = 0.0) -> set[str]: ...
    def send(self, kind: str, args: dict | None = None, *, id: str | None = None) -> str: ...
    def reply(self, cid: str) -> Any: ...
    def close(self) -> None: ...


@dataclass
class _Pending:
    record: CommandRecord
    sent_s: float


class BusLink:
    """Runs the bus client for the UI.

    Args:
        client_factory: makes the client; called in the worker thread (sockets belong to the thread
            that uses them).
        ui_interval_s: shortest wall time between two pictures handed to the UI.
        poll_s: longest wait for a message in one turn of the loop (bounds how late a queued command
            goes out and how late a stop is noticed).
        reply_timeout_s: a command with no reply after this long is reported as ``timeout``.
        trend_window_s: simulated time the trends keep.
    """

    def __init__(self, client_factory: Callable[[], ClientLike], *, ui_interval_s: float = 0.25,
                 poll_s: float = 0.05, reply_timeout_s: float = 10.0, trend_window_s: float = 600.0) -> None:
        self.client_factory = client_factory
        self.ui_interval_s = ui_interval_s
        self.poll_s = poll_s
        # Back-pressure: a new picture goes to the UI only once it took the last one, so that on a busy
        # machine pictures never queue up in front of the operator's keys (they would wait behind them).
        self.ui_ready = threading.Event()
        self.ui_ready.set()
        self.reply_timeout_s = reply_timeout_s
        self.trends = Trends(trend_window_s)
        self._outbox: queue.Queue[CommandRecord] = queue.Queue()
        self._stop = False

    # --- called from the UI thread --------------------------------------------------------------

    def submit(self, kind: str, args: dict, label: str) -> CommandRecord:
        """Queue a command for the worker; returns its record (status ``sent``) with the id it will carry."""
        record = CommandRecord(id=P.new_id(), kind=kind, args=dict(args), label=label)
        self._outbox.put(record)
        return record

    def stop(self) -> None:
        """Ask the loop to end (it closes the client on its way out)."""
        self._stop = True

    # --- the worker -----------------------------------------------------------------------------

    def run(self, on_data: Callable[[TwinData], None], on_reply: Callable[[CommandRecord], None],
            cancelled: Callable[[], bool] = lambda: False) -> None:
        """Loop until :meth:`stop` or ``cancelled()``; ``on_data`` and ``on_reply`` must be thread-safe
        (the app passes its ``post_message``)."""
        client = self.client_factory()
        pending: dict[str, _Pending] = {}
        last_ui = -float("inf")
        dirty = True
        status = client.status
        try:
            while not self._stop and not cancelled():
                self._send_queued(client, pending, on_reply)
                changed = client.poll(self.poll_s)
                if "summary" in changed:
                    self.trends.add(client.summary)
                if changed & {"summary", "snapshot", "event", "status"}:
                    dirty = True
                for cid in list(pending):
                    reply = client.reply(cid)
                    if reply is not None:
                        p = pending.pop(cid)
                        on_reply(replace(p.record, status=reply.status, reason=reply.reason,
                                         result=dict(reply.result or {})))
                now = time.monotonic()
                for cid, p in list(pending.items()):
                    if now - p.sent_s > self.reply_timeout_s:
                        del pending[cid]
                        on_reply(replace(p.record, status="timeout",
                                         reason=f"no reply from the twin within {self.reply_timeout_s:g} s"))
                if dirty and self.ui_ready.is_set() and (client.status != status
                                                         or now - last_ui >= self.ui_interval_s):
                    status = client.status
                    self.ui_ready.clear()  # set again by the UI when it has shown this picture
                    on_data(self.picture(client))
                    last_ui, dirty = now, False
        finally:
            client.close()

    def _send_queued(self, client: ClientLike, pending: dict[str, _Pending],
                     on_reply: Callable[[CommandRecord], None]) -> None:
        while True:
            try:
                record = self._outbox.get_nowait()
            except queue.Empty:
                return
            if client.status == "connecting":
                on_reply(replace(record, status="unsent", reason="not connected to the twin yet"))
                continue
            try:
                client.send(record.kind, record.args, id=record.id)
            except CommandError as exc:
                on_reply(replace(record, status="unsent", reason=str(exc)))
                continue
            pending[record.id] = _Pending(record, time.monotonic())

    def picture(self, client: ClientLike) -> TwinData:
        """What the client holds now, copied (the client goes on changing in this thread)."""
        whatifs = getattr(client, "whatifs", None) or {}  # (1.3 clients keep them by id)
        return TwinData(status=client.status, summary=client.summary, hall=client.hall,
                        events=tuple(client.events), trends=self.trends.snapshot(),
                        summary_seq=client.summary_seq, whatifs=tuple(dict(w) for w in whatifs.values()))
