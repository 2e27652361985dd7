"""The command socket's side of the live twin: read, check, apply, answer, audit.

One place checks what every command shares (frames, JSON, id, version, role, idempotency) and writes
the audit; a table maps each command kind to a small function that returns its :class:`Outcome`
(ipykernel's handler table). Whatever a client sends, the twin goes on: a bug costs one ``invalid``
reply, never the running server.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from twin.bus import protocol as P
from twin.bus.audit import AuditLog
from twin.bus.clock import PacedClock
from twin.bus.protocol import ProtocolError, encode_message
from twin.bus.publisher import Publisher
from twin.bus.security import ServerKeys
from twin.bus.whatif import WHATIF_MAX_DURATION_S, WHATIF_SETS, WhatIfRunner
from twin.control.registry import Role
from twin.sim.state import TwinState
from twin.sim.twin import HallTwin

__all__ = ["CommandHandler", "Outcome", "alarm_command", "inject_event", "whatif_command"]

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a command came to: the reply's status, reason and result; what the audit log records
    besides the common fields (target, old, new); array frames for the reply (snapshots)."""

    status: str
    reason: str = ""
    result: dict = field(default_factory=dict)
    audit: dict = field(default_factory=dict)


class CommandHandler:
    """Answers the commands that wait on the ROUTER socket.

    Args:
        socket: the bound command socket (ROUTER).
        twin, state: the twin and the state it runs (the same object for the whole run).
        clock, publisher, audit: the server's clock, state publisher and audit log.
        keys: CURVE keys (roles from keys) or None (loopback: roles stated, up to ``max_role``).
        snapshot_header: callable giving the fixed part of a snapshot (hall, audit tail, heartbeat) and its
            version key, after making sure a summary and fields were published.
        checkpoint: callable(reason) writing a checkpoint (None: this server has no checkpoint file).
        whatif: the what-if runner (None: this server runs no what-ifs).
    """

    def __init__(self, socket: zmq.Socket, twin: HallTwin, state: TwinState, *, clock: PacedClock,
                 publisher: Publisher, audit: AuditLog, keys: ServerKeys | None, max_role: str,
                 snapshot_header: Callable[[], tuple[dict, tuple]],
                 checkpoint: Callable[[str], Path | None] | None, whatif: WhatIfRunner | None = None) -> None:
        self.socket = socket
        self.twin, self.state = twin, state
        self.clock, self.publisher, self.audit = clock, publisher, audit
        self.keys, self.max_role = keys, max_role
        self._snapshot_header = snapshot_header
        self._checkpoint = checkpoint
        self.whatif = whatif
        self.handled = 0
        self.injected = False  # a fault was injected over the bus (TRAINING while it is active)
        self._replies: OrderedDict[tuple, dict] = OrderedDict()  # (principal, id) → reply (idempotency)
        self._table: dict[str, Callable[[dict, str], Outcome]] = {
            "ping": self._ping, "snapshot": lambda args, role: Outcome("ok"),  # frames: _snapshot_frames
            "set_setpoint": self._set_setpoint, "alarm_ack": self._alarm("ack"),
            "alarm_shelve": self._alarm("shelve"), "alarm_unshelve": self._alarm("unshelve"),
            "pause": self._run(False), "resume": self._run(True), "set_speed": self._set_speed,
            "checkpoint": self._checkpoint_now, "scenario_event": self._inject, "whatif": self._whatif}
        assert set(self._table) == set(P.COMMANDS)

    # --- reading ----------------------------------------------------------------------------------

    def drain(self, *, limit: int = 200, budget_s: float = 0.02) -> None:
        """Answer what waits, bounded in count and time: a flood must not stop the twin or its heartbeats.

        It stops after a command that changed the published state, so that the server publishes that
        change before it reads the next command: a ping or snapshot that follows a pause or a setpoint
        write must find the change published (read in the same drain, a ping behind a pause answered with
        the digest from before the pause's summary, which no later message matched)."""
        end = time.perf_counter() + budget_s
        for _ in range(limit):
            if time.perf_counter() > end:
                return
            try:
                frames = self.socket.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            pending, self.publisher.changed = self.publisher.changed, False
            self.handle_frames(frames)
            changed_now = self.publisher.changed
            self.publisher.changed = pending or changed_now
            if changed_now:
                return

    def handle_frames(self, frames: list) -> None:
        """Answer one ROUTER message: [identity, (empty delimiter,) header]. Never raises."""
        self.handled += 1
        identity = frames[0].bytes
        rest = frames[1:]
        envelope: list[bytes] = [identity]
        if len(rest) > 1 and len(rest[0]) == 0:  # a REQ client's delimiter: echo it back
            envelope.append(b"")
            rest = rest[1:]
        ctx: dict[str, Any] = {"client": identity.hex(), "role": None, "name": None, "key": None}
        if self.keys is not None and rest:
            try:
                user_key = rest[0].get("User-Id")
            except (zmq.ZMQError, AttributeError):
                user_key = None
            if user_key:
                ctx["key"] = self.keys.names.get(user_key.encode(), user_key)
                ctx["role"] = self.keys.roles.get(user_key.encode())
        try:
            self._handle(envelope, rest, ctx)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one reply, not the running twin
            import traceback

            traceback.print_exc(file=sys.stderr)
            self._answer(envelope, None, None, Outcome("invalid", f"the server could not handle this message "
                                                                  f"({type(exc).__name__})"), ctx)

    def _handle(self, envelope: list[bytes], rest: list, ctx: dict) -> None:
        def refuse(cid: str | None, kind: str | None, status: str, reason: str, **audit: Any) -> None:
            self._answer(envelope, cid, kind, Outcome(status, reason, audit=audit), ctx)

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
            outcome = self._table[kind](args, role)
        except (ProtocolError, OverflowError) as exc:  # OverflowError: integers too large for a float
            outcome = Outcome("invalid", _short(str(exc), 400))
        self._answer(envelope, cid, kind, outcome, ctx, cache_key=key)
        return None

    def _role(self, header: dict, ctx: dict) -> str:
        if self.keys is not None:
            return ctx["role"] or "observer"  # CURVE: the key decides (only listed keys get through at all)
        role = header.get("role", "observer")
        if role not in P.ROLES:
            raise ProtocolError(f"header field 'role' must be {', '.join(P.ROLES)}, got {_short(repr(role))}")
        # On loopback the client states its role, up to what the server allows.
        return role if Role.parse(role) <= Role.parse(self.max_role) else self.max_role

    # --- answering ---------------------------------------------------------------------------------

    def _answer(self, envelope: list[bytes], cid: str | None, kind: str | None, outcome: Outcome, ctx: dict, *,
                cache_key: tuple | None = None) -> None:
        rec = {"sim_time_s": self.state.time_s, "client": ctx["client"], "name": ctx["name"], "role": ctx["role"],
               "id": cid, "kind": kind, "target": None, "old": None, "new": None, **outcome.audit,
               "status": outcome.status, "reason": outcome.reason}
        if ctx["key"] is not None:
            rec["key"] = ctx["key"]
        logged = self.audit.append(rec)
        who = f"{ctx['name'] or ctx['client']} ({ctx['role']})"
        if kind == "snapshot" and outcome.status == "ok":
            log.info("client %s joined: snapshot at seq %d", who, self.publisher.seq)
        elif outcome.status not in ("ok", "clamped"):
            log.warning("refused %s from %s: %s: %s", kind, who, outcome.status, outcome.reason)
        elif kind not in ("ping",):
            log.info("%s from %s: %s", kind, who, outcome.status)
        if kind not in (None, "snapshot", "ping"):
            self.publisher.publish_event(self.state.time_s, {"type": "command", **logged})
        if kind == "snapshot" and outcome.status == "ok" and cid is not None:  # (an ok has passed the id check)
            header, version = self._snapshot_header()
            frames = self.publisher.snapshot_frames(cid, header, version)
        else:
            header = {"protocol": P.PROTOCOL_VERSION, "kind": "reply", "id": cid, "request": kind,
                      "status": outcome.status, "reason": outcome.reason, "result": outcome.result,
                      "server": self.publisher.server_id, "time_s": self.state.time_s}
            frames = encode_message(header)
        self._reply_frames(envelope, frames)
        if cache_key is not None and kind != "snapshot":
            self._replies[cache_key] = {"frames": frames, "audit": {k: v for k, v in logged.items() if k != "time"}}
            while len(self._replies) > 10_000:
                self._replies.popitem(last=False)

    def _reply_frames(self, envelope: list[bytes], frames: list) -> None:
        try:
            self.socket.send_multipart([*envelope, *frames], flags=zmq.NOBLOCK, copy=False)
        except (zmq.Again, zmq.ZMQError):
            pass  # the client left or its queue is full: it will ask again

    # --- the commands (the table) ------------------------------------------------------------------

    def _ping(self, args: dict, role: str) -> Outcome:
        return Outcome("ok", result={"seq": self.publisher.seq, "digest": self.publisher.digest(),
                                     "time_s": self.state.time_s, "paused": self.clock.paused})

    def _set_setpoint(self, args: dict, role: str) -> Outcome:
        target, value = _short(_arg(args, "target", str)), args.get("value")
        controls = self.state.controls
        if controls is None:
            return Outcome("not_writable", "this twin runs ideal control: it has no setpoint registry",
                           audit={"target": target, "new": _jsonable(value)})
        res = controls.registry.write(target, value, role, self.state.time_s)
        self.publisher.changed |= res.accepted
        return Outcome(res.status, res.reason, res.to_dict(), {"target": target, "old": res.old_value,
                                                               "new": res.target if res.accepted else _jsonable(value)})

    def _alarm(self, action: str) -> Callable[[dict, str], Outcome]:
        def handle(args: dict, role: str) -> Outcome:
            outcome, changed = alarm_command(self.state, action, args)
            self.publisher.changed |= changed
            return outcome
        return handle

    def _run(self, running: bool) -> Callable[[dict, str], Outcome]:
        def handle(args: dict, role: str) -> Outcome:
            old = "paused" if self.clock.paused else "running"
            self.clock.set_running(running, time.monotonic(), self.state.time_s)
            self.publisher.changed = True
            new = "paused" if self.clock.paused else "running"
            return Outcome("ok", "", {"paused": self.clock.paused}, {"target": "clock", "old": old, "new": new})
        return handle

    def _set_speed(self, args: dict, role: str) -> Outcome:
        raw = args.get("speed")
        old = "max" if math.isinf(self.clock.speed) else self.clock.speed
        if raw == "max":
            speed = math.inf
        else:
            speed = _arg(args, "speed", (int, float))
            if not math.isfinite(speed):
                raise ProtocolError("speed must be a finite number or \"max\"")
            if not (P.SPEED_MIN <= speed <= P.SPEED_MAX):
                return Outcome("out_of_range", f"speed must be within [{P.SPEED_MIN:g}, {P.SPEED_MAX:g}] or \"max\"",
                               audit={"target": "speed", "old": old, "new": speed})
        self.clock.set_speed(speed, time.monotonic(), self.state.time_s)
        self.publisher.changed = True
        return Outcome("ok", "", {"speed": raw}, {"target": "speed", "old": old, "new": raw})

    def _checkpoint_now(self, args: dict, role: str) -> Outcome:
        path = self._checkpoint("command") if self._checkpoint is not None else None
        if path is None:
            return Outcome("not_writable", "this server has no checkpoint file (start it with --checkpoint FILE)",
                           audit={"target": "checkpoint"})
        return Outcome("ok", "", {"path": str(path), "time_s": self.state.time_s},
                       {"target": "checkpoint", "new": str(path)})

    def _whatif(self, args: dict, role: str) -> Outcome:
        return whatif_command(self.whatif, self.state, args)

    def _inject(self, args: dict, role: str) -> Outcome:
        outcome, changed, fault = inject_event(self.twin, self.state, args)
        self.publisher.changed |= changed
        self.injected |= fault
        return outcome


def alarm_command(state: TwinState, action: str, args: dict) -> tuple[Outcome, bool]:
    """``alarm_ack`` / ``alarm_shelve`` / ``alarm_unshelve`` (``action``: ack, shelve, unshelve) of one alarm:
    its outcome, and whether the alarms changed (to publish)."""
    name = _short(_arg(args, "alarm", str))
    alarms, t = state.alarms, state.time_s
    if name not in alarms:
        return Outcome("invalid", f"unknown alarm {name!r}", audit={"target": name}), False
    old = alarms.state(name)
    if action == "ack":
        if not alarms.acknowledge(name, t):
            return Outcome("ok", f"{name} needed no acknowledgement (state {old})", {"state": old},
                           {"target": name, "old": old, "new": old}), False
    elif action == "shelve":
        duration = _arg(args, "duration_s", (int, float))
        if not (math.isfinite(duration) and 0 < duration <= 7 * 86400):
            return Outcome("out_of_range", "duration_s must be within (0, 604800] s", audit={"target": name}), False
        alarms.shelve(name, float(duration), t)
    else:
        alarms.unshelve(name, t)
    new = alarms.state(name)
    return Outcome("ok", "", {"state": new}, {"target": name, "old": old, "new": new}), True


def whatif_command(runner: WhatIfRunner | None, state: TwinState, args: dict) -> Outcome:
    """``whatif``: fork the state now and run an N-1 set from it in the background (``runner``: None on a
    server that runs none); the reply only says it started."""
    from twin.sweep.cases import CasesError

    kinds = args.get("set")
    if kinds not in WHATIF_SETS:
        raise ProtocolError(f"args.set must be one of {', '.join(WHATIF_SETS)}")
    duration = args.get("duration_s")
    audit = {"target": "whatif", "new": kinds}
    if duration is not None:
        duration = _arg(args, "duration_s", (int, float))
        if not (math.isfinite(duration) and 0 < duration <= WHATIF_MAX_DURATION_S):
            return Outcome("out_of_range", f"duration_s must be within (0, {WHATIF_MAX_DURATION_S:g}] s "
                                           f"(or absent for a steady what-if)", audit=audit)
        duration = float(duration)
    if runner is None:
        return Outcome("not_writable", "this server runs no what-ifs", audit=audit)
    if runner.running is not None:
        r = runner.running
        return Outcome("interlock", f"what-if {r.id} (N-1 {r.set}, {r.cases} cases) is still running; one at "
                                    f"a time: its result comes as a whatif event", audit=audit)
    try:
        runner.plan(kinds, duration)
    except CasesError as exc:
        return Outcome("invalid", _short(str(exc), 400), audit=audit)
    wid = P.new_id()[:12]
    # The fork: a deep copy between two steps, the what-if's own from here on (the twin runs on).
    started = runner.start(wid, kinds, duration, state.copy())
    return Outcome("ok", f"what-if {wid} started: N-1 {kinds}, {started.cases} cases, {started.mode}, "
                         f"from t = {started.fork_time_s:,.0f} s",
                   {"whatif": wid, "set": kinds, "mode": started.mode, "duration_s": duration,
                    "cases": started.cases, "fork_time_s": started.fork_time_s},
                   {**audit, "new": f"{kinds} ({wid})"})


def inject_event(twin: HallTwin, state: TwinState, args: dict) -> tuple[Outcome, bool, bool]:
    """``scenario_event``: one event of a scenario file, now: (its outcome, whether the state changed,
    whether it was a fault: consoles show TRAINING while one is active).

    A setpoint event is a write like any other: the registry's own status is the answer. Other events
    answer ``ok`` with what came of them. ProtocolError for an event that is not one, or names nothing.
    """
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
        event = TypeAdapter(Event).validate_python({**event_in, "at": state.time_s})
    except ValidationError as exc:
        raise ProtocolError(_short(describe_validation_error("args.event", exc), 400)) from None
    try:
        check_event_target(event, twin.hall, where="args.event", setpoints=twin.setpoint_names,
                           sensors=twin.sensor_names)
    except ScenarioError as exc:
        raise ProtocolError(_short(str(exc), 400)) from None
    target = getattr(event, "target", None)
    if isinstance(event, SetpointEvent) and state.controls is not None:
        res = state.controls.registry.write(event.target, event.value, "engineer", state.time_s)
        return Outcome(res.status, res.reason, {"outcome": res.status, **res.to_dict()},
                       {"target": target, "old": res.old_value, "new": res.target}), res.accepted, False
    outcome = apply_event(twin, event, state)
    return Outcome("ok", outcome, {"outcome": outcome}, {"target": target, "new": event.kind}), True, True


def _arg(args: dict, key: str, types: type | tuple[type, ...]) -> Any:
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
