"""The state socket's side of the live twin: sequence numbers, the published frames, snapshots.

Every state message gets the next sequence number. The last summary and fields messages are kept as
the frames that went out: the state digest covers exactly those bytes (docs/protocol.md, 4.1), and a
snapshot carries them, encoded once per published state and reused for every late joiner.

The socket is an XPUB in manual mode: subscriptions reach :meth:`Publisher.drain_subscriptions` as
messages, and only the prefixes of our topics are applied. Left to libzmq, every subscription a peer
sends would go into its trie (one node per byte: a 20 MiB subscription cost 1.8 GB) and be processed
inside the send calls.

Messages may be sent from two threads: summaries and fields from the encoder's worker
(twin/bus/encoder.py), heartbeats, events and snapshot replies from the solver's. One lock numbers and
sends every message and guards what was last published, so sequence numbers are monotonic on the wire
and a snapshot or digest never mixes two publications (ZeroMQ sockets may change threads only behind
such a barrier).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from twin.bus import protocol as P
from twin.bus.protocol import encode_json, encode_message, frames_digest

__all__ = ["Publisher"]


class Publisher:
    """Publishes summaries, fields, events and heartbeats of one server run on ``socket`` (an XPUB).

    Args:
        socket: the bound state socket (never blocks: a slow subscriber loses messages instead).
        server_id: this server run's id, in every header.
    """

    def __init__(self, socket: zmq.Socket, server_id: str) -> None:
        self.socket = socket
        self.server_id = server_id
        self.lock = threading.RLock()  # held while a message is numbered and sent, and by readers of the last ones
        self.seq = 0
        self.changed = True  # the state changed since the last summary body was built (a step or a command)
        self._summary: dict | None = None  # the last summary body as a client decodes it (see .summary)
        self.summary_seq: int | None = None
        self.fields: tuple[dict, dict[str, np.ndarray]] | None = None
        self.fields_seq: int | None = None
        self._fields_steps: int | None = None  # the step count of the state ``fields`` shows
        # The frames of the last summary and fields messages exactly as sent (the digest covers them).
        self._summary_frames: list[P.FrameBytes] | None = None
        self._fields_frames: list[P.FrameBytes] | None = None
        self._summary_json = b""  # the last summary body's JSON
        self._digest: tuple[tuple, str] | None = None
        self._snapshot: tuple[tuple, list] | None = None
        self.subscriptions_refused = 0
        self.published = {t: 0 for t in P.TOPICS}
        self.published_bytes = {t: 0 for t in P.TOPICS}

    @property
    def summary(self) -> dict | None:
        """The last summary body published, as a client decodes it: decoded from its JSON when first asked
        for (a snapshot, a metrics scrape), not for every summary, since decoding holds the GIL the solver needs."""
        with self.lock:
            if self._summary is None and self._summary_json:
                self._summary = P.decode_json(self._summary_json)
            return self._summary

    # --- messages ---------------------------------------------------------------------------------

    def _header(self, kind: str, time_s: float) -> dict:
        self.seq += 1
        return {"protocol": P.PROTOCOL_VERSION, "kind": kind, "seq": self.seq, "server": self.server_id,
                "time_s": time_s, "wall_time": time.time()}

    def _send(self, topic: str, header: dict, arrays: dict | None = None) -> list[P.FrameBytes]:
        """Publish one message; returns its frames after the topic (as the digest sees them)."""
        return self._send_frames(topic, encode_message(header, arrays))

    def _send_frames(self, topic: str, message: list[P.FrameBytes]) -> list[P.FrameBytes]:
        frames: list[P.FrameBytes] = [topic.encode(), *message]
        try:
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # XPUB drops rather than blocks; kept for safety with other socket types
            pass
        else:
            self.published[topic] += 1
            self.published_bytes[topic] += sum(f.nbytes if isinstance(f, memoryview) else len(f) for f in frames)
        return frames[1:]

    def publish_summary(self, time_s: float, body: dict | None) -> None:
        """A summary of ``body`` (a snapshot no one else mutates), or of the last one again when None (the
        state did not change: at ×1 a state lasts a second and is published ten times)."""
        new = body is not None
        if new:
            # Encoded once, outside the lock; the header frame below splices these bytes in as its last key.
            body_json = encode_json(body)
        elif not self._summary_json:
            raise RuntimeError("the first summary needs a body")
        else:
            body_json = self._summary_json
        with self.lock:
            header = self._header("summary", time_s)
            header["fields_seq"] = self.fields_seq  # so that a client can tell it lost the last fields
            # The same bytes as encode_message(header + body): compact JSON nests without re-encoding.
            head = encode_json(header)
            frames: list[P.FrameBytes] = [head[:-1] + b',"body":' + body_json + b"}"]
            if new:
                self._summary, self._summary_json = None, body_json
            self._summary_frames = self._send_frames("summary", frames)
            self.summary_seq = header["seq"]

    def publish_fields(self, time_s: float, steps: int,
                       fields: Callable[[], tuple[dict, dict[str, np.ndarray]]] | None) -> None:
        """The 3D fields: ``fields()`` builds them from a snapshot; None, or a step count already
        published, sends the last arrays again as they are."""
        if self.fields is None or (fields is not None and self._fields_steps != steps):
            if fields is None:
                raise RuntimeError("the first fields need a builder")
            body, arrays = fields()
            new = (P.decode_json(encode_json(body)), arrays)
        else:
            new = self.fields
        with self.lock:
            self.fields = new
            self._fields_steps = steps
            body, arrays = new
            header = self._header("fields", time_s)
            header["body"] = body
            self._fields_frames = self._send("fields", header, arrays)
            self.fields_seq = header["seq"]

    def publish_heartbeat(self, time_s: float, interval_s: float, paused: bool) -> None:
        with self.lock:
            header = self._header("heartbeat", time_s)
            header["interval_s"] = interval_s
            header["paused"] = paused
            # The last summary and fields published: a client that holds older ones lost them (a slow reader
            # past its high-water mark) and, with nothing newer coming, must take a snapshot.
            header["summary_seq"] = self.summary_seq
            header["fields_seq"] = self.fields_seq
            self._send("heartbeat", header)

    def publish_event(self, time_s: float, record: dict) -> None:
        with self.lock:
            header = self._header("event", time_s)
            header["body"] = record
            self._send("event", header)

    # --- what was published -------------------------------------------------------------------------

    def digest(self) -> str:
        """The state digest of what was last published (docs/protocol.md, section 4.1)."""
        with self.lock:
            version = (self.summary_seq, self.fields_seq)
            if self._digest is None or self._digest[0] != version:
                self._digest = (version, frames_digest(self._summary_frames, self._fields_frames))
            return self._digest[1]

    def snapshot_frames(self, cid: str, header: dict[str, Any], version: tuple) -> list:
        """The snapshot reply to command ``cid``: ``header`` (the hall, the audit tail, …) with the last
        summary and fields as published, their arrays as frames; encoded once per ``version`` (of what
        was published and of the audit), only the id and sequence number put in front per request."""
        # Under the lock: the contents and the sequence number in front of them are of one moment (a
        # summary the encoder sends in between would otherwise be at or below the snapshot's number and
        # dropped by the client, while the snapshot still held the one before).
        with self.lock:
            version = (self.summary_seq, self.fields_seq, *version)
            if self._snapshot is None or self._snapshot[0] != version:
                if self.fields is None or self._summary_frames is None or self._fields_frames is None:
                    raise RuntimeError("a snapshot needs a summary and fields published first")
                fields_body, arrays = self.fields
                # summary_frame and fields_frame: those messages' header frames exactly as published (JSON
                # strings give back the same UTF-8 bytes in any language), so that a late joiner holds the very
                # frames the digest covers; the fields message's arrays are the frames that follow this header.
                full = {"protocol": P.PROTOCOL_VERSION, "kind": "snapshot", "request": "snapshot", "status": "ok",
                        "reason": "", "result": {}, "server": self.server_id, **header,
                        "summary": self.summary, "summary_seq": self.summary_seq,
                        "fields": fields_body, "fields_seq": self.fields_seq,
                        "summary_frame": bytes(self._summary_frames[0]).decode("utf-8"),
                        "fields_frame": bytes(self._fields_frames[0]).decode("utf-8")}
                self._snapshot = (version, encode_message(full, arrays))
            head, *rest = self._snapshot[1]
            prefix = b'{"id":' + encode_json(cid) + b',"seq":' + str(self.seq).encode() + b","
            return [prefix + bytes(head)[1:], *rest]

    # --- subscriptions ------------------------------------------------------------------------------

    def drain_subscriptions(self, *, limit: int = 500, budget_s: float = 0.005) -> None:
        """Apply waiting (un)subscriptions that name a topic prefix; ignore the rest. Bounded in count and
        time, so that a flood of them cannot hold up a step or a heartbeat."""
        with self.lock:  # the socket is the encoder's too
            self._drain_subscriptions(limit, budget_s)

    def _drain_subscriptions(self, limit: int, budget_s: float) -> None:
        end = time.perf_counter() + budget_s
        for _ in range(limit):
            if time.perf_counter() > end:
                return
            try:
                msg = self.socket.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(msg) >= 1 and msg[0] in (0, 1) and P.subscription_allowed(msg[1:]):
                # Manual mode: the option applies to the peer whose message was read last.
                self.socket.setsockopt(zmq.SUBSCRIBE if msg[0] == 1 else zmq.UNSUBSCRIBE, msg[1:])
            else:
                self.subscriptions_refused += 1
