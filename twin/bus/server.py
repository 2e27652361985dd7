"""`twin serve`: the twin as a live service on ZeroMQ (docs/protocol.md is the wire format).

One thread does everything, in a loop: answer commands that are waiting, step the twin when its paced
clock says so, publish what is due. ZeroMQ's publisher never blocks on a subscriber (a slow one
loses messages past its high-water mark), so the solver's pace does not depend on who listens, and
each subscriber's queue is bounded. Commands are read between steps, so a step is never cut in half.

The state socket is an XPUB in manual mode: subscriptions reach this loop as messages, and only the
prefixes of our topics are applied. Left to libzmq, every subscription a peer sends would go into its
trie (one node per byte: a 20 MiB subscription cost 1.8 GB) and be processed inside our send calls.
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import zmq

from twin.bus import protocol as P
from twin.bus.audit import AuditLog
from twin.bus.protocol import ProtocolError, encode_json, encode_message, frames_digest
from twin.bus.security import SecurityError, ServerKeys, is_loopback
from twin.bus.views import field_arrays, hall_info, summary_body
from twin.control.registry import Role
from twin.sim.twin import HallTwin, TwinState

__all__ = ["ServeOptions", "TwinServer"]

_MAX_SPEED = 1e4  # a larger finite factor is "max"
_MIN_SPEED = 0.01


@dataclass
class ServeOptions:
    state_endpoint: str = P.DEFAULT_STATE
    commands_endpoint: str = P.DEFAULT_COMMANDS
    speed: float = 1.0  # simulated seconds per wall second; math.inf runs as fast as it can
    summary_hz: float = 10.0
    fields_hz: float = 2.0
    heartbeat_s: float = 1.0
    field_precision: str = "float16"
    sndhwm: int = 32  # messages queued per subscriber before ZeroMQ drops (bounds the server's memory)
    max_role: str = "engineer"  # highest role a loopback client may claim
    keys: ServerKeys | None = None
    audit_path: Path | None = None
    checkpoint_path: Path | None = None
    checkpoint_every_s: float | None = None  # wall seconds between checkpoints
    publish_every_step: bool = False  # a summary after every step too (tests, recording)
    max_lag_s: float = 2.0  # a paced run that falls this far behind its clock stops trying to catch up


class TwinServer:
    """A twin, its sockets and its clock.

    Args:
        twin, state: the hall's physics and the state to run from (a fresh, steady or resumed state).
        scenario: a ScenarioPlayer whose events are applied when due (optional).
        options: endpoints, rates, security, checkpoints.
        save_checkpoint: callable(path, twin, state, scenario, meta) used by checkpoints (injected, so
            the bus does not depend on the file format).
    """

    def __init__(self, twin: HallTwin, state: TwinState, *, scenario=None, options: ServeOptions | None = None,
                 save_checkpoint: Callable[..., Path] | None = None, context: zmq.Context | None = None) -> None:
        self.twin = twin
        self.state = state
        self.scenario = scenario
        self.opt = options or ServeOptions()
        self._save_checkpoint = save_checkpoint
        self.server_id = uuid.uuid4().hex[:16]
        self.ctx = context or zmq.Context.instance()
        self.seq = 0
        self.speed = float(self.opt.speed)
        self.paused = False
        self.stopping: str | None = None
        self.hall = hall_info(twin)
        self.audit = AuditLog(self.opt.audit_path)
        self._replies: OrderedDict[tuple, dict] = OrderedDict()  # (principal, id) → reply (idempotency)
        self._snapshot_cache: tuple | None = None
        self._auth = None
        self.pub: zmq.Socket | None = None
        self.router: zmq.Socket | None = None
        # What was last published, for snapshots and digests.
        self.last_summary: dict | None = None
        self.last_summary_seq: int | None = None
        self.last_fields: tuple[dict, dict[str, np.ndarray]] | None = None
        self.last_fields_seq: int | None = None
        # The frames of the last summary and fields messages exactly as sent (the digest covers them).
        self._summary_frames: list | None = None
        self._fields_frames: list | None = None
        self._digest: tuple[tuple, str] | None = None  # ((summary_seq, fields_seq), digest) cache
        self.subscriptions_refused = 0  # subscriptions that were not a topic prefix (ignored)
        self._fields_steps: int | None = None  # the step count of the state last_fields shows
        # Figures for the benchmark and the summary's clock.
        self.steps_run = 0
        self.solver_s = 0.0
        self.publish_s = 0.0
        self.published = {t: 0 for t in P.TOPICS}
        self.published_bytes = {t: 0 for t in P.TOPICS}
        self.commands_handled = 0
        self.last_checkpoint: Path | None = None
        self._dirty = True  # the state changed since the last summary (a step or a command)
        self._injected = False  # a fault was injected over the bus (TRAINING while it is active)
        self.state_wall_time = time.time()  # when the state last changed by a step (Unix time)

    # --- sockets ------------------------------------------------------------------------------

    def bind(self) -> None:
        """Open the sockets; SecurityError for a non-loopback bind without CURVE keys."""
        opt = self.opt
        for ep in (opt.state_endpoint, opt.commands_endpoint):
            if not is_loopback(ep) and opt.keys is None:
                raise SecurityError(f"refusing to bind {ep}: it is reachable from other machines and no CURVE keys "
                                    f"are configured (make them with `twin keys DIR`, then pass --keys DIR)")
        for flag, v in (("--summary-hz", opt.summary_hz), ("--fields-hz", opt.fields_hz),
                        ("--heartbeat", opt.heartbeat_s)):
            if not (math.isfinite(v) and v > 0):
                raise SecurityError(f"{flag} {v:g}: must be a positive number")
        if opt.max_role not in ("observer", "operator", "engineer"):
            raise SecurityError(f"--max-role {opt.max_role!r}: use observer, operator or engineer")
        self.pub = self.ctx.socket(zmq.XPUB)
        self.router = self.ctx.socket(zmq.ROUTER)
        for s in (self.pub, self.router):
            s.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.XPUB_MANUAL, 1)  # we decide which subscriptions apply (_drain_subscriptions)
        # A subscription message is one byte (1 subscribe, 0 unsubscribe) and the topic; a peer that sends
        # a longer one is disconnected by libzmq before the message is assembled.
        self.pub.setsockopt(zmq.MAXMSGSIZE, 1 + P.MAX_SUBSCRIPTION_BYTES)
        self.pub.setsockopt(zmq.SNDHWM, opt.sndhwm)
        # A fixed kernel buffer (no TCP auto-tuning to megabytes): what waits in it for a slow subscriber
        # is old news, so keep it to a few messages and let ZeroMQ drop the rest at the high-water mark.
        self.pub.setsockopt(zmq.SNDBUF, 256 * 1024)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)  # a reply to a client that left is dropped
        self.router.setsockopt(zmq.MAXMSGSIZE, 16 * 1024 * 1024)  # beyond this a peer is disconnected
        self.router.setsockopt(zmq.SNDHWM, 50)  # snapshots of a large hall are megabytes each
        if opt.keys is not None:
            from zmq.auth.thread import ThreadAuthenticator

            self._auth = ThreadAuthenticator(self.ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(opt.keys.clients_dir))
            for s in (self.pub, self.router):
                s.curve_secretkey = opt.keys.secret
                s.curve_publickey = opt.keys.public
                s.curve_server = True
        try:
            self.pub.bind(opt.state_endpoint)
            self.router.bind(opt.commands_endpoint)
        except zmq.ZMQError as exc:
            self.close()
            raise SecurityError(f"cannot bind {opt.state_endpoint} / {opt.commands_endpoint}: {exc}") from None

    def close(self) -> None:
        for s in (self.pub, self.router):
            if s is not None and not s.closed:
                s.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self.audit.close()

    # --- the loop -----------------------------------------------------------------------------

    def run(self, *, duration_s: float | None = None, wall_limit_s: float | None = None,
            stop: Callable[[], bool] | None = None) -> None:
        """Serve until ``stop()`` is true, ``stopping`` is set (signals), ``duration_s`` of simulated
        time has passed or ``wall_limit_s`` elapsed; then publish the last state and write a final
        checkpoint (when a checkpoint path is set)."""
        opt, twin, state = self.opt, self.twin, self.state
        twin.operator(state)  # the flow field of the starting state, before anyone sees it
        t_end = state.time_s + duration_s if duration_s is not None else math.inf
        wall0 = time.monotonic()
        self._anchor(wall0)
        next_summary = next_fields = wall0
        last_sent = -math.inf
        next_ckpt = wall0 + opt.checkpoint_every_s if opt.checkpoint_every_s else math.inf
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.pub, zmq.POLLIN)  # subscriptions
        try:
            while True:
                now = time.monotonic()
                if self.stopping or (stop is not None and stop()) or state.time_s >= t_end - 1e-9 or (
                        wall_limit_s is not None and now - wall0 >= wall_limit_s):
                    break
                self._drain_subscriptions(limit=500)
                self._drain_commands(limit=200)
                stepped = False
                if not self.paused and self._step_due(now):
                    if self.scenario is not None:
                        self.scenario.apply_due(state)
                    t0 = time.perf_counter()
                    twin.step(state)
                    self.solver_s += time.perf_counter() - t0
                    self.steps_run += 1
                    self.state_wall_time = time.time()
                    stepped = self._dirty = True
                    now = time.monotonic()
                    # A solver that cannot keep this pace re-anchors the clock rather than build up a
                    # backlog to catch up on (at max speed the target is infinite: nothing to do).
                    if not math.isinf(self.speed) and \
                            self._sim_target(now) - state.time_s > opt.max_lag_s * max(self.speed, 1.0):
                        self._anchor(now)
                t0 = time.perf_counter()
                sent = False
                # Paused, a command's effect goes out at once (nothing else will change the state, and a
                # client that asks next must find it published); an unchanged paused state is not
                # published again: heartbeats say which summary and fields are the last ones.
                if now >= next_summary or (stepped and opt.publish_every_step) or (self._dirty and self.paused):
                    if self._dirty or not self.paused:
                        self.publish_summary()
                        sent = True
                    next_summary = max(next_summary + 1.0 / opt.summary_hz, now)
                if now >= next_fields:
                    if not self.paused or self.last_fields is None:
                        self.publish_fields()
                        sent = True
                    next_fields = max(next_fields + 1.0 / opt.fields_hz, now)
                if sent:
                    last_sent = now
                elif now - last_sent >= opt.heartbeat_s:
                    self.publish_heartbeat()
                    last_sent = now
                if now >= next_ckpt:
                    self.checkpoint("periodic")
                    next_ckpt = now + opt.checkpoint_every_s
                self.publish_s += time.perf_counter() - t0
                if not stepped:
                    # Idle (paused, or ahead of the paced clock): wait for a command or the next due time.
                    wake = min(next_summary, next_fields, last_sent + opt.heartbeat_s, self._next_step_wall(now))
                    timeout_ms = max(0, min(int((wake - time.monotonic()) * 1000), 100))
                    if timeout_ms > 0:
                        poller.poll(timeout_ms)
        finally:
            self.publish_summary()  # the last state, so every client ends where the server did
            if opt.checkpoint_path is not None and self._save_checkpoint is not None:
                self.checkpoint("final")

    def _anchor(self, now: float) -> None:
        self._wall_anchor = now
        self._sim_anchor = self.state.time_s

    def _sim_target(self, now: float) -> float:
        if math.isinf(self.speed):
            return math.inf
        return self._sim_anchor + (now - self._wall_anchor) * self.speed

    def _step_due(self, now: float) -> bool:
        return self._sim_target(now) >= self.state.time_s + self.twin.dt_s - 1e-9

    def _next_step_wall(self, now: float) -> float:
        if self.paused:
            return now + 0.1
        if math.isinf(self.speed):
            return now
        return self._wall_anchor + (self.state.time_s + self.twin.dt_s - self._sim_anchor) / self.speed

    # --- publishing ---------------------------------------------------------------------------

    def _header(self, kind: str) -> dict:
        self.seq += 1
        return {"protocol": P.PROTOCOL_VERSION, "kind": kind, "seq": self.seq, "server": self.server_id,
                "time_s": self.state.time_s, "wall_time": time.time()}

    def _send(self, topic: str, header: dict, arrays: dict | None = None) -> list:
        """Publish one message; returns its frames after the topic (as the digest sees them)."""
        frames = [topic.encode(), *encode_message(header, arrays)]
        try:
            self.pub.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # XPUB drops rather than blocks; kept for safety with other socket types
            pass
        else:
            self.published[topic] += 1
            self.published_bytes[topic] += sum(len(f) if isinstance(f, bytes) else f.nbytes for f in frames)
        return frames[1:]

    def clock(self) -> dict[str, Any]:
        return {"speed": None if math.isinf(self.speed) else self.speed, "max_speed": math.isinf(self.speed),
                "paused": self.paused, "dt_s": self.twin.dt_s, "server": self.server_id,
                "step_ms": 1e3 * self.solver_s / self.steps_run if self.steps_run else None,
                "state_wall_time": self.state_wall_time,
                "training": self._training()}

    def _training(self) -> bool:
        """Whether a fault injected over the bus is still active (consoles show a TRAINING banner)."""
        s = self.state
        return bool(self._injected and (s.crah_tripped.any() or not s.utility_ok))

    def publish_summary(self) -> None:
        # At ×1 a state lasts a second and is published ten times: build its body only once.
        if self._dirty or self.last_summary is None:
            # What a client decodes: JSON-normalised (NaN → null, arrays → lists).
            self.last_summary = P.decode_json(encode_json(summary_body(self.twin, self.state, clock=self.clock())))
        header = self._header("summary")
        header["fields_seq"] = self.last_fields_seq  # so that a client can tell it lost the last fields
        header["body"] = self.last_summary
        self._summary_frames = self._send("summary", header)
        self.last_summary_seq = header["seq"]
        self._dirty = False

    def publish_fields(self) -> None:
        # The fields change only with a step: between steps the last arrays are sent again as they are.
        if self.last_fields is None or self._fields_steps != self.state.steps:
            body, arrays = field_arrays(self.twin, self.state, precision=self.opt.field_precision)
            self.last_fields = (P.decode_json(encode_json(body)), arrays)
            self._fields_steps = self.state.steps
        body, arrays = self.last_fields
        header = self._header("fields")
        header["body"] = body
        self._fields_frames = self._send("fields", header, arrays)
        self.last_fields_seq = header["seq"]

    def publish_heartbeat(self) -> None:
        header = self._header("heartbeat")
        header["interval_s"] = self.opt.heartbeat_s
        header["paused"] = self.paused
        # The last summary and fields published: a client that holds older ones lost them (a slow reader
        # past its high-water mark) and, with nothing newer coming, must take a snapshot.
        header["summary_seq"] = self.last_summary_seq
        header["fields_seq"] = self.last_fields_seq
        self._send("heartbeat", header)

    def publish_event(self, record: dict) -> None:
        header = self._header("event")
        header["body"] = record
        self._send("event", header)

    def digest(self) -> str:
        """The state digest of what was last published (docs/protocol.md, section 4)."""
        version = (self.last_summary_seq, self.last_fields_seq)
        if self._digest is None or self._digest[0] != version:
            self._digest = (version, frames_digest(self._summary_frames, self._fields_frames))
        return self._digest[1]

    # --- subscriptions ------------------------------------------------------------------------

    def _drain_subscriptions(self, *, limit: int, budget_s: float = 0.005) -> None:
        """Apply waiting (un)subscriptions that name a topic prefix; ignore the rest. Bounded in count and
        time, so that a flood of them cannot hold up a step or a heartbeat."""
        end = time.perf_counter() + budget_s
        for _ in range(limit):
            if time.perf_counter() > end:
                return
            try:
                msg = self.pub.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(msg) >= 1 and msg[0] in (0, 1) and P.subscription_allowed(msg[1:]):
                # Manual mode: the option applies to the peer whose message was read last.
                self.pub.setsockopt(zmq.SUBSCRIBE if msg[0] == 1 else zmq.UNSUBSCRIBE, msg[1:])
            else:
                self.subscriptions_refused += 1

    # --- commands -----------------------------------------------------------------------------

    def _drain_commands(self, *, limit: int, budget_s: float = 0.02) -> None:
        # Bounded in count and time: a flood of commands must not stop the twin or its heartbeats.
        end = time.perf_counter() + budget_s
        for _ in range(limit):
            if time.perf_counter() > end:
                return
            try:
                frames = self.router.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self.handle_frames(frames)

    def handle_frames(self, frames: list) -> None:
        """Answer one ROUTER message: [identity, (empty delimiter,) header]. Never raises: whatever a
        client sends, the twin goes on (an unexpected failure is answered ``invalid`` and logged)."""
        self.commands_handled += 1
        identity = frames[0].bytes
        rest = frames[1:]
        envelope: list[bytes] = [identity]
        if len(rest) > 1 and len(rest[0]) == 0:  # a REQ client's delimiter: echo it back
            envelope.append(b"")
            rest = rest[1:]
        ctx = {"client": identity.hex(), "role": None, "name": None, "key": None}
        if self.opt.keys is not None and rest:
            try:
                user_key = rest[0].get("User-Id")
            except (zmq.ZMQError, AttributeError):
                user_key = None
            if user_key:
                ctx["key"] = self.opt.keys.names.get(user_key.encode(), user_key)
                ctx["role"] = self.opt.keys.roles.get(user_key.encode())
        try:
            self._handle(envelope, rest, ctx)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one reply, not the running twin
            import traceback

            traceback.print_exc(file=sys.stderr)
            self._answer(envelope, None, None, "invalid", f"the server could not handle this message "
                         f"({type(exc).__name__})", ctx=ctx, audit={})

    def _handle(self, envelope: list[bytes], rest: list, ctx: dict) -> None:
        def refuse(cid, kind, status, reason, **audit) -> None:
            self._answer(envelope, cid, kind, status, reason, ctx=ctx, audit=audit)

        if len(rest) != 1:
            return refuse(None, None, "invalid", f"a command is one header frame; got {len(rest)} frames")
        try:
            header = P.decode_json(rest[0].bytes, max_bytes=P.MAX_HEADER_BYTES)
        except ProtocolError as exc:
            return refuse(None, None, "invalid", str(exc))
        cid, kind = header.get("id"), header.get("kind")
        kind = _short(kind) if isinstance(kind, str) else None
        if isinstance(header.get("client"), str):
            ctx["name"] = _short(header["client"])
        if not isinstance(cid, str) or not (1 <= len(cid) <= 128):
            return refuse(None, kind, "invalid", "header field 'id' must be a string of 1 to 128 characters")
        try:
            P.check_version(header)
            ctx["role"] = self._role(header, ctx)
        except ProtocolError as exc:
            return refuse(cid, kind, "invalid", str(exc))
        # A repeated id from the same principal is applied once: send the first answer again. (Keyed by who
        # sends it, so that a broadcast id reused by someone else is a new command of theirs.)
        key = (ctx["key"] or f"{ctx['role']}:{ctx['name']}", cid)
        if key in self._replies:
            cached = self._replies[key]
            self.audit.append({**cached["audit"], "sim_time_s": self.state.time_s,
                               "client": ctx["client"], "duplicate": True})
            self._reply_frames(envelope, cached["frames"])
            return None
        if kind is None or kind not in P.COMMANDS:
            shown = repr(kind) if kind is not None else "(none)"
            return refuse(cid, kind, "invalid", f"unknown command kind {shown}; known: {', '.join(P.COMMANDS)}")
        args = header.get("args", {})
        if not isinstance(args, dict):
            return refuse(cid, kind, "invalid", "header field 'args' must be an object")
        role = ctx["role"]
        if Role.parse(role) < Role.parse(P.COMMANDS[kind]):
            return refuse(cid, kind, "denied", f"{kind} needs role {P.COMMANDS[kind]}; this client is {role}")
        try:
            status, reason, result, audit, arrays = self._dispatch(kind, args, role)
        except (ProtocolError, OverflowError) as exc:  # OverflowError: integers too large for a float
            status, reason, result, audit, arrays = "invalid", _short(str(exc), 400), {}, {}, None
        self._answer(envelope, cid, kind, status, reason, ctx=ctx, audit=audit, result=result, arrays=arrays,
                     cache_key=key)
        return None

    def _role(self, header: dict, ctx: dict) -> str:
        if self.opt.keys is not None:
            # CURVE: the key decides (only listed keys get through at all).
            return ctx["role"] or "observer"
        role = header.get("role", "observer")
        if role not in ("observer", "operator", "engineer"):
            raise ProtocolError(f"header field 'role' must be observer, operator or engineer, got {_short(repr(role))}")
        # On loopback the client states its role, up to what the server allows.
        return role if Role.parse(role) <= Role.parse(self.opt.max_role) else self.opt.max_role

    def _answer(self, envelope: list[bytes], cid: str | None, kind: str | None, status: str, reason: str, *,
                ctx: dict, audit: dict, result: dict | None = None, arrays: dict | None = None,
                cache_key: tuple | None = None) -> None:
        rec = {"sim_time_s": self.state.time_s, "client": ctx["client"], "name": ctx["name"], "role": ctx["role"],
               "id": cid, "kind": kind, "target": None, "old": None, "new": None, **audit,
               "status": status, "reason": reason}
        if ctx["key"] is not None:
            rec["key"] = ctx["key"]
        logged = self.audit.append(rec)
        if kind not in (None, "snapshot", "ping"):
            self.publish_event({"type": "command", **logged})
        if kind == "snapshot" and status == "ok":
            frames = self._snapshot_frames(cid)
        else:
            header = {"protocol": P.PROTOCOL_VERSION, "kind": "reply", "id": cid, "request": kind, "status": status,
                      "reason": reason, "result": result or {}, "server": self.server_id,
                      "time_s": self.state.time_s}
            frames = encode_message(header, arrays)
        self._reply_frames(envelope, frames)
        if cache_key is not None and kind != "snapshot":
            self._replies[cache_key] = {"frames": frames,
                                        "audit": {k: v for k, v in logged.items() if k != "time"}}
            while len(self._replies) > 10_000:
                self._replies.popitem(last=False)

    def _reply_frames(self, envelope: list[bytes], frames: list) -> None:
        try:
            self.router.send_multipart([*envelope, *frames], flags=zmq.NOBLOCK, copy=False)
        except (zmq.Again, zmq.ZMQError):
            pass  # the client left or its queue is full: it will ask again

    # --- what commands do ---------------------------------------------------------------------

    def _dispatch(self, kind: str, args: dict, role: str):
        """(status, reason, result, audit fields, arrays) of one command."""
        twin, state = self.twin, self.state
        if kind == "ping":
            return "ok", "", {"seq": self.seq, "digest": self.digest(), "time_s": state.time_s,
                              "paused": self.paused}, {}, None
        if kind == "snapshot":
            return "ok", "", {}, {}, None  # the frames are built by _snapshot_frames
        if kind == "set_setpoint":
            target, value = _short(_arg(args, "target", str)), args.get("value")
            if state.controls is None:
                return "not_writable", "this twin runs ideal control: it has no setpoint registry", {}, \
                    {"target": target, "new": _jsonable(value)}, None
            res = state.controls.registry.write(target, value, role, state.time_s)
            self._dirty = self._dirty or res.accepted
            return res.status, res.reason, res.to_dict(), {"target": target, "old": res.old_value,
                                                           "new": res.target if res.accepted else _jsonable(value)}, None
        if kind in ("alarm_ack", "alarm_shelve", "alarm_unshelve"):
            name = _short(_arg(args, "alarm", str))
            alarms = state.alarms
            if name not in alarms:
                return "invalid", f"unknown alarm {name!r}", {}, {"target": name}, None
            old = alarms.state(name)
            if kind == "alarm_ack":
                done = alarms.acknowledge(name, state.time_s)
                if not done:
                    return "ok", f"{name} needed no acknowledgement (state {old})", {"state": old}, \
                        {"target": name, "old": old, "new": old}, None
            elif kind == "alarm_shelve":
                duration = _arg(args, "duration_s", (int, float))
                if not (math.isfinite(duration) and 0 < duration <= 7 * 86400):
                    return "out_of_range", "duration_s must be within (0, 604800] s", {}, {"target": name}, None
                alarms.shelve(name, float(duration), state.time_s)
            else:
                alarms.unshelve(name, state.time_s)
            new = alarms.state(name)
            self._dirty = True
            return "ok", "", {"state": new}, {"target": name, "old": old, "new": new}, None
        if kind in ("pause", "resume"):
            old = "paused" if self.paused else "running"
            self.paused = kind == "pause"
            self._anchor(time.monotonic())
            self._dirty = True
            return "ok", "", {"paused": self.paused}, {"target": "clock", "old": old,
                                                        "new": "paused" if self.paused else "running"}, None
        if kind == "set_speed":
            raw = args.get("speed")
            old = "max" if math.isinf(self.speed) else self.speed
            if raw == "max":
                speed = math.inf
            else:
                speed = _arg(args, "speed", (int, float))
                if not math.isfinite(speed):
                    raise ProtocolError("speed must be a finite number or \"max\"")
                if not (_MIN_SPEED <= speed <= _MAX_SPEED):
                    return "out_of_range", f"speed must be within [{_MIN_SPEED:g}, {_MAX_SPEED:g}] or \"max\"", \
                        {}, {"target": "speed", "old": old, "new": speed}, None
            self.speed = float(speed)
            self._anchor(time.monotonic())
            self._dirty = True
            return "ok", "", {"speed": raw}, {"target": "speed", "old": old, "new": raw}, None
        if kind == "checkpoint":
            if self.opt.checkpoint_path is None or self._save_checkpoint is None:
                return "not_writable", "this server has no checkpoint file (start it with --checkpoint FILE)", {}, \
                    {"target": "checkpoint"}, None
            path = self.checkpoint("command")
            return "ok", "", {"path": str(path), "time_s": state.time_s}, {"target": "checkpoint",
                                                                           "new": str(path)}, None
        if kind == "scenario_event":
            return self._inject(args)
        raise ProtocolError(f"unknown command kind {kind!r}")  # pragma: no cover - COMMANDS is checked first

    def _snapshot_frames(self, cid: str) -> list:
        """The snapshot reply: built from what was last published (section 4 of the protocol), its big
        JSON and array frames encoded once per published state and reused for every late joiner."""
        if self.last_summary is None:
            self.publish_summary()
        if self.last_fields is None:
            self.publish_fields()
        version = (self.last_summary_seq, self.last_fields_seq, self.audit.count)
        if self._snapshot_cache is None or self._snapshot_cache[0] != version:
            fields_body, arrays = self.last_fields
            # summary_frame and fields_frame: those messages' header frames exactly as published (JSON strings
            # give back the same UTF-8 bytes in any language), so that a late joiner holds the very frames
            # the digest covers; the fields message's arrays are the frames that follow this header.
            header = {"protocol": P.PROTOCOL_VERSION, "kind": "snapshot", "request": "snapshot", "status": "ok",
                      "reason": "", "result": {}, "server": self.server_id, "time_s": self.state.time_s,
                      "hall": self.hall, "summary": self.last_summary, "summary_seq": self.last_summary_seq,
                      "fields": fields_body, "fields_seq": self.last_fields_seq, "audit": list(self.audit.tail),
                      "heartbeat_s": self.opt.heartbeat_s,
                      "summary_frame": bytes(self._summary_frames[0]).decode("utf-8"),
                      "fields_frame": bytes(self._fields_frames[0]).decode("utf-8")}
            self._snapshot_cache = (version, encode_message(header, arrays))
        head, *rest = self._snapshot_cache[1]
        # Per request only the id and the sequence number differ: put them in front of the cached object.
        prefix = b'{"id":' + encode_json(cid) + b',"seq":' + str(self.seq).encode() + b","
        return [prefix + bytes(head)[1:], *rest]

    def _inject(self, args: dict):
        from pydantic import TypeAdapter, ValidationError

        from twin.model.load import describe_validation_error
        from twin.model.scenario import Event, ScenarioError, SetpointEvent, check_event_target
        from twin.sim.scenario import apply_event

        event_in = args.get("event")
        if not isinstance(event_in, dict):
            raise ProtocolError("args.event must be an object like {\"kind\": \"crah_trip\", \"target\": \"CRAH-01\"}")
        if "at" in event_in:
            raise ProtocolError("args.event.at: not allowed; an event sent over the bus happens now")
        try:
            event = TypeAdapter(Event).validate_python({**event_in, "at": self.state.time_s})
        except ValidationError as exc:
            raise ProtocolError(_short(describe_validation_error("args.event", exc), 400)) from None
        controls = self.state.controls
        try:
            check_event_target(event, self.twin.hall, where="args.event",
                               setpoints=self.twin.setpoint_names, sensors=self.twin.sensor_names)
        except ScenarioError as exc:
            raise ProtocolError(_short(str(exc), 400)) from None
        target = getattr(event, "target", None)
        if isinstance(event, SetpointEvent) and controls is not None:
            # A setpoint event is a write like any other: the registry's own status is the answer.
            res = controls.registry.write(event.target, event.value, "engineer", self.state.time_s)
            self._dirty = self._dirty or res.accepted
            return res.status, res.reason, {"outcome": res.status, **res.to_dict()}, \
                {"target": target, "old": res.old_value, "new": res.target}, None
        outcome = apply_event(self.twin, event, self.state)
        self._injected = True
        self._dirty = True
        return "ok", outcome, {"outcome": outcome}, {"target": target, "new": event.kind}, None

    def clock_settings(self) -> dict[str, Any]:
        """What a checkpoint keeps of the clock, so that a resumed twin runs (or waits) as it did."""
        return {"paused": self.paused, "speed": "max" if math.isinf(self.speed) else self.speed}

    def restore_clock(self, settings: dict[str, Any]) -> None:
        """Take back :meth:`clock_settings` (from a checkpoint's meta); unknown or bad values are ignored."""
        speed = settings.get("speed")
        if speed == "max":
            self.speed = math.inf
        elif isinstance(speed, (int, float)) and not isinstance(speed, bool) and _MIN_SPEED <= speed <= _MAX_SPEED:
            self.speed = float(speed)
        if isinstance(settings.get("paused"), bool):
            self.paused = settings["paused"]

    def checkpoint(self, why: str) -> Path | None:
        if self.opt.checkpoint_path is None or self._save_checkpoint is None:
            return None
        path = self._save_checkpoint(self.opt.checkpoint_path, self.twin, self.state, scenario=self.scenario,
                                     meta={"reason": why, "server": self.server_id, "seq": self.seq,
                                           "clock": self.clock_settings()})
        self.last_checkpoint = path
        return path


def _arg(args: dict, key: str, types) -> Any:
    v = args.get(key)
    if isinstance(v, bool) or not isinstance(v, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ProtocolError(f"args.{key} must be a {names.replace('str', 'string').replace('int or float', 'number')}")
    return v


def _short(text: str, limit: int = 200) -> str:
    """A client's string as far as we keep or echo it: bounded, so that what clients send cannot grow the
    server's memory, the audit log or the replies."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def _jsonable(v: Any) -> Any:
    """A value for the audit log: what JSON can carry, else its repr (bounded)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v if not isinstance(v, str) else v[:200]
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    return repr(v)[:200]
