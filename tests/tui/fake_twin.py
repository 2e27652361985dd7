"""A fake `twin serve` for the console's tests: real ZeroMQ sockets, the real wire format, fixed data.

The console under test runs its real bus client (twin.bus.client.TwinClient) against this fake, so
the tests cover the path an operator's keystroke takes to the wire and back: the fake answers the
client's snapshot request, publishes summaries, events and heartbeats with sequence numbers, and
answers commands with whatever status a test scripts, recording every command it got. Nothing in it
moves on its own (no physics, no clock), which keeps SVG snapshots identical run after run.

All socket work happens in the fake's own thread; tests talk to it through thread-safe calls.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from twin.bus import protocol as P

__all__ = ["FakeTwin", "Response"]

#: (status, reason, result) of a command.
Response = tuple[str, str, dict]


class FakeTwin:
    """A scriptable twin server on loopback.

    Args:
        hall: the hall description a snapshot carries (views.hall_info's shape).
        summary: the summary a snapshot carries.
        audit: audit records a snapshot carries.
        heartbeat_s: the heartbeat period the fake announces and keeps (clients go STALE after three).

    Attributes:
        respond: ``f(header) -> (status, reason, result)`` for every command but snapshots (default ok).
        on_accepted: ``f(header, fake)`` called after an ok/clamped reply, in the fake's thread (e.g. to
            publish the summary that shows the change, as the real server does on its next tick).
        received: headers of the commands received (snapshots excluded), in order.
        snapshot_extra: more fields for the snapshot reply.
        heartbeats: False stops heartbeats (and nothing else is published unless a test asks).
        hold_replies: True keeps replies back until :meth:`release`.
    """

    def __init__(self, hall: dict, summary: dict, *, audit: list[dict] | None = None, heartbeat_s: float = 0.2,
                 endpoints: tuple[str, str] | None = None, server_id: str = "fake-twin") -> None:
        self.hall = hall
        self.summary = summary
        self.audit = list(audit or [])
        self.heartbeat_s = heartbeat_s
        self.server_id = server_id
        self.seq = 0
        self.summary_seq = 0
        self.respond: Callable[[dict], Response] = lambda header: ("ok", "", {})
        self.on_accepted: Callable[[dict, FakeTwin], None] | None = None
        self.received: list[dict] = []
        self.snapshot_extra: dict[str, Any] = {}  # more fields of the snapshot reply (e.g. 1.3's whatifs)
        self.snapshots_served = 0
        self.heartbeats = True
        self.hold_replies = False
        self._held: list[tuple[list, dict]] = []
        self._todo: queue.Queue[Callable[[], None]] = queue.Queue()
        self._stop = threading.Event()
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.router = self.ctx.socket(zmq.ROUTER)
        for s in (self.pub, self.router):
            s.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, 10_000)
        if endpoints is None:  # random free ports: tests may run side by side
            self.state_endpoint = f"tcp://127.0.0.1:{self.pub.bind_to_random_port('tcp://127.0.0.1')}"
            self.commands_endpoint = f"tcp://127.0.0.1:{self.router.bind_to_random_port('tcp://127.0.0.1')}"
        else:  # the endpoints of an earlier fake: a restarted server
            self.state_endpoint, self.commands_endpoint = endpoints
            self.pub.bind(self.state_endpoint)
            self.router.bind(self.commands_endpoint)
        self._thread = threading.Thread(target=self._run, name="fake-twin", daemon=True)

    # --- life ---------------------------------------------------------------------------------

    def start(self) -> FakeTwin:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.pub.close(0)
        self.router.close(0)
        self.ctx.term()

    def __enter__(self) -> FakeTwin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- called from tests (any thread) -------------------------------------------------------

    def publish_summary(self, summary: dict) -> None:
        """Make ``summary`` the current state and publish it (in the fake's thread)."""
        self._todo.put(lambda: self.publish_summary_now(summary))

    def publish_event(self, body: dict) -> None:
        """Publish an event with this body (e.g. a what-if's result), in the fake's thread."""
        self._todo.put(lambda: self._send("event", {"body": body}))

    def release(self) -> None:
        """Send the replies held back while ``hold_replies`` was set."""
        def go() -> None:
            self.hold_replies = False
            held, self._held = self._held, []
            for envelope, header in held:
                self._reply(envelope, header)

        self._todo.put(go)

    def wait_received(self, n: int, timeout_s: float = 5.0) -> list[dict]:
        """The commands received once there are ``n`` of them (AssertionError after the timeout)."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= n, f"the fake twin got {len(self.received)} commands, expected {n}"
        return list(self.received)

    # --- the fake's thread --------------------------------------------------------------------

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        last_beat = 0.0
        while not self._stop.is_set():
            if dict(poller.poll(10)):
                while True:
                    try:
                        frames = self.router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._handle(frames)
            while True:
                try:
                    self._todo.get_nowait()()
                except queue.Empty:
                    break
            now = time.monotonic()
            if self.heartbeats and now - last_beat >= self.heartbeat_s:
                self._send("heartbeat", {"interval_s": self.heartbeat_s, "paused": False})
                last_beat = now

    def _header(self, kind: str) -> dict:
        self.seq += 1
        return {"protocol": P.PROTOCOL_VERSION, "kind": kind, "seq": self.seq, "server": self.server_id,
                "time_s": self.summary["clock"]["time_s"], "wall_time": time.time()}

    def _send(self, topic: str, extra: dict) -> None:
        header = {**self._header(topic), **extra}
        self.pub.send_multipart([topic.encode(), *P.encode_message(header)])

    def publish_summary_now(self, summary: dict) -> None:
        """Publish at once: only from the fake's own thread (``on_accepted`` callbacks)."""
        self.summary = summary
        self._send("summary", {"body": summary})
        self.summary_seq = self.seq

    def _handle(self, frames: list[bytes]) -> None:
        envelope, body = frames[:-1], frames[-1]
        header = P.decode_json(body)
        if header.get("kind") == "snapshot":
            self.snapshots_served += 1
            reply = {"protocol": P.PROTOCOL_VERSION, "kind": "snapshot", "id": header["id"], "request": "snapshot",
                     "status": "ok", "reason": "", "server": self.server_id, "seq": self.seq, "hall": self.hall,
                     "summary": self.summary, "summary_seq": self.summary_seq, "fields": None, "fields_seq": None,
                     "audit": list(self.audit), "heartbeat_s": self.heartbeat_s,
                     "time_s": self.summary["clock"]["time_s"], **self.snapshot_extra}
            self.router.send_multipart([*envelope, *P.encode_message(reply)])
            return
        self.received.append(header)
        if self.hold_replies:
            self._held.append((envelope, header))
        else:
            self._reply(envelope, header)

    def _reply(self, envelope: list, header: dict) -> None:
        status, reason, result = self.respond(header)
        kind, args = header.get("kind"), header.get("args") or {}
        reply = {"protocol": P.PROTOCOL_VERSION, "kind": "reply", "id": header["id"], "request": kind,
                 "status": status, "reason": reason, "result": result, "server": self.server_id,
                 "time_s": self.summary["clock"]["time_s"]}
        self.router.send_multipart([*envelope, *P.encode_message(reply)])
        record: dict[str, Any] = {"type": "command", "time": "2026-01-01T00:10:00.000+00:00",
                                  "sim_time_s": self.summary["clock"]["time_s"], "client": "00cc",
                                  "role": header.get("role"), "id": header["id"], "kind": kind,
                                  "name": header.get("client"), "target": args.get("target") or args.get("alarm"),
                                  "old": None, "new": args.get("value"), "status": status, "reason": reason}
        self.audit.append(record)
        self._send("event", {"body": record})
        if status in ("ok", "clamped") and self.on_accepted is not None:
            self.on_accepted(header, self)
