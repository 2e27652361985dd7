"""A small client of the twin's bus: what viewer/ and tui/ use to see the twin and to command it.

Late joiners follow the ZeroMQ Guide's Clone pattern: subscribe first, ask for a snapshot, then apply
only updates whose sequence number is above the snapshot's. Summaries and fields are whole states, so
an update replaces what the client holds, and while a snapshot is on its way only the newest of each
kind needs keeping. A lost update costs nothing but its age while newer ones come; when none will
(a paused twin), the heartbeat names the last summary and fields, and a client that lacks them takes
a snapshot.

The client is single-threaded like its sockets: call :meth:`TwinClient.poll` from one thread (a UI
timer or a worker), and send commands from that same thread. Commands are asynchronous
(:meth:`send` returns the id; the reply arrives through :meth:`poll`), or blocking with
:meth:`request`.

Status: ``connecting`` until the first snapshot, ``live`` while messages arrive, ``stale`` when
nothing (not even a heartbeat) came for three heartbeat periods. A stale client keeps asking; when
messages flow again, or when a different server (a restart) speaks, it takes a new snapshot on its own.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from twin.bus import protocol as P
from twin.bus.protocol import ProtocolError, frames_digest
from twin.bus.security import ClientKeys

__all__ = ["CommandError", "Reply", "TwinClient"]


class CommandError(RuntimeError):
    """A command that could not be delivered or got no reply in time."""


@dataclass
class Reply:
    """The server's answer to a command."""

    id: str
    request: str | None
    status: str
    reason: str
    result: dict = field(default_factory=dict)
    header: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "clamped")


class TwinClient:
    """Subscribe to a twin, hold its latest state and send it commands.

    Args:
        state: the server's PUB endpoint.
        commands: the server's ROUTER endpoint.
        role: the role stated in commands (loopback servers without keys believe it, up to their limit).
        name: a name for this client, written to the audit log.
        keys: CURVE keys (the server's public key and this client's pair) for a server that has them.
        topics: what to subscribe to (fields are large: a console may leave them out).
    """

    def __init__(self, state: str = P.DEFAULT_STATE, commands: str = P.DEFAULT_COMMANDS, *, role: str = "observer",
                 name: str = "client", keys: ClientKeys | None = None,
                 topics: tuple[str, ...] = ("summary", "fields", "event", "heartbeat"),
                 context: zmq.Context | None = None, snapshot_timeout_s: float = 2.0, rcvhwm: int = 64) -> None:
        self.state_endpoint = state
        self.commands_endpoint = commands
        self.role = role
        self.name = name
        self.ctx = context or zmq.Context.instance()
        self.snapshot_timeout_s = snapshot_timeout_s
        self.drain_budget_s = 0.05  # longest a poll() spends reading a backlog
        self.drain_wait_ms = 2  # a pause this long with nothing new ends the drain
        self.status = "connecting"
        self.server_id: str | None = None
        self.heartbeat_s = 1.0
        self.hall: dict | None = None
        self.summary: dict | None = None
        self.summary_seq: int | None = None
        self.fields: tuple[dict, dict[str, np.ndarray]] | None = None
        self.fields_seq: int | None = None
        self.seq = 0  # the highest sequence number applied
        self.events: deque[dict] = deque(maxlen=500)  # audit/command events, oldest first
        # (1.3) What-ifs by id, oldest first: each one's latest event (running, then done or failed). Kept
        # across snapshots (a what-if's result is not in the audit tail) and bounded.
        self.whatifs: OrderedDict[str, dict] = OrderedDict()
        self.last_message_s = -np.inf  # monotonic time of the last message of any kind
        self.resyncs = 0  # snapshots taken after the first (server restarts, stale periods)
        self.dropped = 0  # updates the publisher dropped for us (gaps in the sequence)
        self.latency_s: deque[float] = deque(maxlen=1000)  # end of the state's step → receipt (same host)
        self._replies: OrderedDict[str, Reply] = OrderedDict()  # bounded: replies nobody took are dropped
        self._all_topics = set(topics) >= set(P.TOPICS)  # only then does a gap in seq mean a loss
        self.snapshot_refused: str | None = None  # the server's reason, when it refused our snapshot
        self._next_snapshot_s = 0.0
        self._snapshot_id: str | None = None
        self._snapshot_sent_s = 0.0
        # Updates that arrived before the snapshot they follow: the newest summary, fields and heartbeat
        # (whole states: older ones would be replaced anyway) and the events, bounded.
        self._pending: dict[str, P.Message] = {}
        self._pending_events: deque[P.Message] = deque(maxlen=500)
        self._topics = set(topics)
        self.summary_frames: list[P.FrameBytes] | None = None  # the frames of the summary held, as published
        self.fields_frames: list[P.FrameBytes] | None = None

        self.sub = self.ctx.socket(zmq.SUB)
        self.dealer = self.ctx.socket(zmq.DEALER)
        for s in (self.sub, self.dealer):
            s.setsockopt(zmq.LINGER, 0)
            if keys is not None:
                s.curve_secretkey = keys.secret
                s.curve_publickey = keys.public
                s.curve_serverkey = keys.server_public
        self.sub.setsockopt(zmq.RCVHWM, rcvhwm)
        self.sub.setsockopt(zmq.RCVBUF, 256 * 1024)  # small kernel buffer: a slow reader gets recent news
        # IMMEDIATE: a command is queued only on a live connection, so it can't reach a later server
        # long after the user gave up on it.
        self.dealer.setsockopt(zmq.IMMEDIATE, 1)
        for t in topics:
            self.sub.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.sub.connect(state)
        self.dealer.connect(commands)
        self.poller = zmq.Poller()
        self.poller.register(self.sub, zmq.POLLIN)
        self.poller.register(self.dealer, zmq.POLLIN)

    # --- life ---------------------------------------------------------------------------------

    def connect(self, timeout_s: float = 5.0) -> bool:
        """Take the first snapshot; True once the client is live (False after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll(0.05)
            if self.status == "live":
                return True
        return self.status == "live"

    def close(self) -> None:
        self.sub.close(linger=0)
        self.dealer.close(linger=0)

    def __enter__(self) -> TwinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- receiving ----------------------------------------------------------------------------

    def poll(self, timeout_s: float = 0.0) -> set[str]:
        """Read everything waiting (waiting up to ``timeout_s`` for the first message); returns the
        kinds of what changed ("summary", "fields", "event", "snapshot", "reply", "status")."""
        changed: set[str] = set()
        status0 = self.status
        events = dict(self.poller.poll(max(0, int(timeout_s * 1000))))
        if events:
            # Drain what waits, including what ZeroMQ's I/O thread is still moving in from the kernel's
            # buffer (a slow reader wants the newest state, not the backlog), within a time budget so
            # that a fast publisher cannot keep us here.
            budget_end = time.monotonic() + self.drain_budget_s
            while True:
                got = self._read(self.dealer, changed) | self._read(self.sub, changed)
                if got:
                    if time.monotonic() > budget_end:
                        break
                    continue
                if time.monotonic() > budget_end or not self.poller.poll(self.drain_wait_ms):
                    break
        self._housekeeping()
        if self.status != status0:
            changed.add("status")
        return changed

    def _read(self, sock: zmq.Socket, changed: set[str]) -> bool:
        try:
            frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        now = time.monotonic()
        try:
            if sock is self.sub:
                if len(frames) < 2:
                    return True
                msg = P.decode_message(frames[1:])
                self.last_message_s = now
                self._on_update(msg, changed)
            else:
                msg = P.decode_message(frames)
                self.last_message_s = now
                self._on_reply(msg, changed)
        except ProtocolError:
            pass  # a message we cannot read (another major version, corruption) is dropped
        return True

    def _on_update(self, msg: P.Message, changed: set[str]) -> None:
        server = msg.header.get("server")
        seq = msg.seq
        if seq is None:
            return
        if self.server_id is not None and server != self.server_id:
            # A different server (a restart): what we hold belongs to the old one.
            self._resync()
            self._keep_pending(msg)
            return
        if self.status != "live" or self._snapshot_id is not None:
            self._keep_pending(msg)
            if self.status == "stale" and self._snapshot_id is None:
                self._resync()
            return
        self._apply(msg, changed)

    def _keep_pending(self, msg: P.Message) -> None:
        if msg.kind == "event":
            self._pending_events.append(msg)
        elif isinstance(msg.kind, str) and msg.kind in P.TOPICS:
            old = self._pending.get(msg.kind)
            if old is None or (old.seq or 0) < (msg.seq or 0) or old.header.get("server") != msg.header.get("server"):
                self._pending[msg.kind] = msg

    def _apply(self, msg: P.Message, changed: set[str]) -> None:
        seq = msg.seq
        if seq is None or seq <= self.seq:
            return  # already in the snapshot (or older)
        if seq > self.seq + 1 and self._all_topics:
            self.dropped += seq - self.seq - 1
        self.seq = seq
        kind = msg.kind
        body = msg.header.get("body")
        if kind == "summary" and isinstance(body, dict):
            clock = body.get("clock")
            if not isinstance(clock, dict):
                clock = {}
            previous = self.summary.get("clock", {}) if isinstance(self.summary, dict) else {}
            stepped = clock.get("state_wall_time")
            if isinstance(stepped, (int, float)) and stepped != previous.get("state_wall_time"):
                self.latency_s.append(time.time() - stepped)  # first sight of a new state, from its step
            self.summary, self.summary_seq, self.summary_frames = body, seq, msg.frames
            changed.add("summary")
        elif kind == "fields" and isinstance(body, dict):
            self.fields, self.fields_seq, self.fields_frames = (body, dict(msg.arrays)), seq, msg.frames
            changed.add("fields")
        elif kind == "event" and isinstance(body, dict):
            self.events.append(body)
            changed.add("event")
            if body.get("type") == "whatif":
                self._keep_whatif(body)
                changed.add("whatif")
        elif kind == "heartbeat":
            iv = msg.header.get("interval_s")
            if isinstance(iv, (int, float)) and iv > 0:
                self.heartbeat_s = float(iv)
            if self._lost_last_state(msg.header):
                self._resync()
        # other kinds: ignored (the compatibility rule)

    def _lost_last_state(self, heartbeat: dict) -> bool:
        """Whether a heartbeat names a summary or fields message newer than the one held: it was lost (a
        slow reader past the high-water mark), and a heartbeat means nothing newer is on its way."""
        for kind, held in (("summary", self.summary_seq), ("fields", self.fields_seq)):
            last = heartbeat.get(f"{kind}_seq")
            if kind in self._topics and isinstance(last, int) and not isinstance(last, bool) and last > (held or 0):
                return True
        return False

    def _on_reply(self, msg: P.Message, changed: set[str]) -> None:
        h = msg.header
        cid = h.get("id")
        if h.get("kind") == "snapshot":
            if cid != self._snapshot_id:
                return  # an answer to a request we gave up on
            self._take_snapshot(msg, changed)
            return
        if h.get("kind") == "reply" and isinstance(cid, str):
            if cid == self._snapshot_id:  # the snapshot was refused: say why, and ask again later
                self._snapshot_id = None
                self.snapshot_refused = f"{h.get('status')}: {h.get('reason', '')}"
                self._next_snapshot_s = time.monotonic() + self.snapshot_timeout_s
                changed.add("status")
                return
            result = h.get("result")
            self._replies[cid] = Reply(cid, h.get("request"), str(h.get("status")), str(h.get("reason", "")),
                                       result if isinstance(result, dict) else {}, h)
            while len(self._replies) > 1000:
                self._replies.popitem(last=False)
            changed.add("reply")

    def _take_snapshot(self, msg: P.Message, changed: set[str]) -> None:
        h = msg.header
        self._snapshot_id = None
        self.snapshot_refused = None
        if self.server_id is not None and h.get("server") != self.server_id:
            self.resyncs += 1
        self.server_id = h.get("server")
        self.hall = h.get("hall")
        self.heartbeat_s = float(h.get("heartbeat_s", self.heartbeat_s))
        self.summary, self.summary_seq = h.get("summary"), h.get("summary_seq")
        fields = h.get("fields")
        self.fields = (fields, dict(msg.arrays)) if fields is not None else None
        self.fields_seq = h.get("fields_seq")
        # Protocol 1.1: the exact frames of those two messages (older servers send only their bodies).
        sf, ff = h.get("summary_frame"), h.get("fields_frame")
        self.summary_frames = [sf.encode("utf-8")] if isinstance(sf, str) else None
        self.fields_frames = [ff.encode("utf-8"), *msg.frames[1:]] if isinstance(ff, str) else None
        self.seq = int(h.get("seq", 0))
        self.events.clear()
        self.events.extend(h.get("audit", []))
        whatifs = h.get("whatifs")
        for body in whatifs if isinstance(whatifs, list) else []:
            if isinstance(body, dict) and body.get("type") == "whatif":
                self._keep_whatif(body)
        self.status = "live"
        changed.update({"snapshot", "summary", "fields"})
        pending = sorted([*self._pending.values(), *self._pending_events], key=lambda m: m.seq or 0)
        self._pending, self._pending_events = {}, deque(maxlen=500)
        for m in pending:  # updates that came while the snapshot was on its way
            if m.header.get("server") == self.server_id:
                self._apply(m, changed)

    def _keep_whatif(self, body: dict) -> None:
        wid = body.get("id")
        if not isinstance(wid, str):
            return
        old = self.whatifs.pop(wid, None)
        if old is not None and old.get("state") in ("done", "failed") and body.get("state") == "running":
            body = old  # a snapshot's "running" that an event already finished
        self.whatifs[wid] = body
        while len(self.whatifs) > 20:
            self.whatifs.popitem(last=False)

    def _resync(self) -> None:
        """Forget the old server's sequence and ask for a new snapshot."""
        if self._snapshot_id is None:
            self._request_snapshot()

    def _request_snapshot(self) -> None:
        self._pending, self._pending_events = {}, deque(maxlen=500)
        self._snapshot_id = P.new_id()
        self._snapshot_sent_s = time.monotonic()
        try:
            self._send_header({"protocol": P.PROTOCOL_VERSION, "kind": "snapshot", "id": self._snapshot_id,
                               "role": self.role, "client": self.name, "args": {}})
        except CommandError:
            pass  # no connection yet: asked again after the timeout

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self.status == "live" and now - self.last_message_s > 3.0 * self.heartbeat_s:
            self.status = "stale"
        if self._snapshot_id is None and self.status == "connecting":
            if now >= self._next_snapshot_s:
                self._request_snapshot()
        elif self._snapshot_id is not None and now - self._snapshot_sent_s > self.snapshot_timeout_s:
            self._request_snapshot()  # lost (the server was down): ask again
        elif self.status == "stale" and self._snapshot_id is None and now - self.last_message_s < self.heartbeat_s:
            self._request_snapshot()

    # --- state --------------------------------------------------------------------------------

    def digest(self) -> str:
        """SHA-256 of the frames this client holds, comparable with the server's (``ping`` returns it)."""
        return frames_digest(self.summary_frames, self.fields_frames)

    @property
    def stale(self) -> bool:
        return self.status == "stale"

    # --- commands -----------------------------------------------------------------------------

    def _send_header(self, header: dict) -> None:
        try:
            self.dealer.send_multipart(P.encode_message(header), flags=zmq.NOBLOCK)
        except zmq.Again:
            raise CommandError(f"no connection to {self.commands_endpoint}") from None

    def send(self, kind: str, args: dict | None = None, *, id: str | None = None) -> str:
        """Send a command without waiting; returns its id (the reply comes through :meth:`poll`)."""
        cid = id or P.new_id()
        self._send_header({"protocol": P.PROTOCOL_VERSION, "kind": kind, "id": cid, "role": self.role,
                           "client": self.name, "args": args or {}})
        return cid

    def reply(self, cid: str) -> Reply | None:
        """The reply to command ``cid`` once it came (removed from the client when taken)."""
        return self._replies.pop(cid, None)

    def request(self, kind: str, args: dict | None = None, *, timeout_s: float = 5.0, id: str | None = None) -> Reply:
        """Send a command and wait for its reply (reading updates meanwhile); CommandError on timeout."""
        cid = self.send(kind, args, id=id)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll(0.02)
            r = self.reply(cid)
            if r is not None:
                return r
        raise CommandError(f"no reply to {kind} ({cid}) from {self.commands_endpoint} within {timeout_s:g} s")

    def set_setpoint(self, target: str, value: Any, **kw: Any) -> Reply:
        return self.request("set_setpoint", {"target": target, "value": value}, **kw)

    def ack_alarm(self, alarm: str, **kw: Any) -> Reply:
        return self.request("alarm_ack", {"alarm": alarm}, **kw)

    def shelve_alarm(self, alarm: str, duration_s: float, **kw: Any) -> Reply:
        return self.request("alarm_shelve", {"alarm": alarm, "duration_s": duration_s}, **kw)

    def unshelve_alarm(self, alarm: str, **kw: Any) -> Reply:
        return self.request("alarm_unshelve", {"alarm": alarm}, **kw)

    def pause(self, **kw: Any) -> Reply:
        return self.request("pause", **kw)

    def resume(self, **kw: Any) -> Reply:
        return self.request("resume", **kw)

    def set_speed(self, speed: float | str, **kw: Any) -> Reply:
        return self.request("set_speed", {"speed": speed}, **kw)

    def inject(self, event: dict, **kw: Any) -> Reply:
        """A scenario event now, e.g. ``{"kind": "crah_trip", "target": "CRAH-01"}`` (engineer)."""
        return self.request("scenario_event", {"event": event}, **kw)

    def checkpoint(self, **kw: Any) -> Reply:
        return self.request("checkpoint", **kw)

    def ping(self, **kw: Any) -> Reply:
        return self.request("ping", **kw)

    def whatif(self, kinds: str, duration_s: float | None = None, **kw: Any) -> Reply:
        """Start a what-if (engineer): the N-1 set ``kinds`` (crah, ups, pdu, feed or all) from the live
        state, steady, or run for ``duration_s``. The reply says it started (``result["whatif"]`` is its
        id); the result comes as an event (:meth:`wait_whatif`, or :attr:`whatifs`)."""
        args: dict[str, Any] = {"set": kinds}
        if duration_s is not None:
            args["duration_s"] = duration_s
        return self.request("whatif", args, **kw)

    def wait_whatif(self, wid: str, timeout_s: float = 120.0) -> dict:
        """Poll until what-if ``wid`` is done or failed; its final event body. CommandError on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll(0.05)
            body = self.whatifs.get(wid)
            if body is not None and body.get("state") in ("done", "failed"):
                return body
        raise CommandError(f"what-if {wid} did not finish within {timeout_s:g} s")
