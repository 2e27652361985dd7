"""`twin serve`: the twin as a live service on ZeroMQ (docs/protocol.md is the wire format).

The twin runs in the same loop as every run, :class:`~twin.sim.runner.Runner`; the bus is its gate
between steps (:class:`ServeGate`): there it answers commands, publishes what is due and waits for the
paced clock. Its parts: :class:`~twin.bus.clock.PacedClock` (when the next step is due),
:class:`~twin.bus.publisher.Publisher` (the state socket: sequence numbers, published frames,
snapshots, subscriptions) and :class:`~twin.bus.commands.CommandHandler` (the command socket: a table
of commands, roles, idempotency, audit). ZeroMQ's publisher never blocks on a subscriber (a slow one
loses messages past its high-water mark), so the solver's pace does not depend on who listens.
Commands are read between steps, so a step is never cut in half. Summaries and fields are encoded and
sent by :class:`~twin.bus.encoder.Encoder`'s thread from snapshots the gate hands over between steps
without waiting, so the solver does not pay for the encoding either.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq

from twin.bus import protocol as P
from twin.bus.audit import AuditLog
from twin.bus.clock import PacedClock
from twin.bus.commands import CommandHandler
from twin.bus.encoder import Encoder, frozen
from twin.bus.publisher import Publisher
from twin.bus.security import SecurityError, ServerKeys
from twin.bus.sockets import ServerSockets, check_options, open_sockets
from twin.bus.views import fields_from, hall_info, summary_body
from twin.bus.whatif import WhatIfRunner
from twin.sim.runner import RunInfo, Runner, ScenarioHook, StepGate
from twin.sim.state import TwinState
from twin.sim.twin import HallTwin

if TYPE_CHECKING:
    from twin.bus.metrics import MetricsServer

__all__ = ["ServeGate", "ServeOptions", "TwinServer"]

log = logging.getLogger(__name__)


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
    metrics_address: str | None = None  # HOST:PORT of the OpenMetrics endpoint (twin/bus/metrics.py); None: off
    metrics_tls: Path | None = None  # folder of the endpoint's TLS files (required off loopback)
    scheduler: str | None = None  # Dask scheduler of what-ifs (tcp://HOST:8786); None: a LocalCluster on first use
    whatif_workers: int | None = None  # worker processes of that LocalCluster (default: one per core but one)
    whatif_connect_timeout_s: float = 20.0  # how long a what-if tries to reach the scheduler
    out_dir: Path | None = None  # the run's folder: each what-if leaves OUT/whatif/ID (None: results only in events)


class TwinServer:
    """A twin, its sockets and its clock.

    Args:
        twin, state: the hall's physics and the state to run from (a fresh, steady or resumed state).
        scenario: a ScenarioPlayer whose events are applied when due (optional).
        options: endpoints, rates, security, checkpoints.
        save_checkpoint: callable(path, twin, state, scenario, meta) used by checkpoints (injected, so
            the bus does not depend on the file format).
    """

    def __init__(self, twin: HallTwin, state: TwinState, *, scenario: ScenarioHook | None = None,
                 options: ServeOptions | None = None, save_checkpoint: Callable[..., Path] | None = None,
                 context: zmq.Context | None = None) -> None:
        self.twin, self.state, self.scenario = twin, state, scenario
        self.opt = options or ServeOptions()
        self._save_checkpoint = save_checkpoint
        self.server_id = uuid.uuid4().hex[:16]
        self.ctx = context or zmq.Context.instance()
        self.clock = PacedClock(self.opt.speed, twin.dt_s, max_lag_s=self.opt.max_lag_s)
        self.stopping: str | None = None  # the signal that stopped the run (SIGINT/SIGTERM), if one did
        self.hall = hall_info(twin)
        self.audit = AuditLog(self.opt.audit_path)
        self._sockets: ServerSockets | None = None
        self.pub: zmq.Socket | None = None
        self.router: zmq.Socket | None = None
        self.publisher: Publisher | None = None
        self.encoder: Encoder | None = None  # the thread that encodes and sends summaries and fields
        self._fields_steps: int | None = None  # the step count of the last fields snapshot handed over
        self.commands: CommandHandler | None = None
        self.gate: ServeGate | None = None
        self.last_checkpoint: Path | None = None
        self.metrics: MetricsServer | None = None  # the OpenMetrics endpoint when options.metrics_address is set
        self.whatif: WhatIfRunner | None = None  # the what-ifs' runner (with the sockets; its cluster on first use)

    # --- what others read -------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        return self.publisher.seq if self.publisher is not None else 0

    @property
    def speed(self) -> float:
        return self.clock.speed

    @property
    def paused(self) -> bool:
        return self.clock.paused

    @property
    def steps_run(self) -> int:
        return self.gate.steps_run if self.gate is not None else 0

    def digest(self) -> str:
        """The state digest of what was last published (docs/protocol.md, section 4.1)."""
        return self._publisher().digest()

    def _publisher(self) -> Publisher:
        if self.publisher is None:
            raise RuntimeError("TwinServer.bind() first: the publisher opens with the sockets")
        return self.publisher

    def _gate(self) -> ServeGate:
        if self.gate is None:
            raise RuntimeError("TwinServer.bind() first: the loop's gate needs the sockets")
        return self.gate

    def clock_settings(self) -> dict[str, Any]:
        return self.clock.settings()

    def restore_clock(self, settings: dict[str, Any]) -> None:
        self.clock.restore(settings)

    # --- sockets ------------------------------------------------------------------------------

    def bind(self) -> None:
        """Open the sockets; SecurityError for a non-loopback bind without CURVE keys."""
        opt = self.opt
        check_options(opt.state_endpoint, opt.commands_endpoint, opt.keys, max_role=opt.max_role,
                      rates={"--summary-hz": opt.summary_hz, "--fields-hz": opt.fields_hz,
                             "--heartbeat": opt.heartbeat_s})
        if opt.metrics_address is not None:
            from twin.bus.metrics import check_metrics_address

            check_metrics_address(opt.metrics_address, opt.metrics_tls)  # before anything binds
        self._sockets = open_sockets(self.ctx, opt.state_endpoint, opt.commands_endpoint, opt.keys,
                                     sndhwm=opt.sndhwm)
        self.pub, self.router = self._sockets.pub, self._sockets.router
        self.publisher = Publisher(self.pub, self.server_id)
        self.encoder = Encoder(self.publisher)
        if self._save_checkpoint is not None:  # a what-if starts from a checkpoint of the fork
            self.whatif = WhatIfRunner(self.twin, save_checkpoint=self._save_checkpoint, scheduler=opt.scheduler,
                                       n_workers=opt.whatif_workers, out_dir=opt.out_dir,
                                       connect_timeout_s=opt.whatif_connect_timeout_s)
        self.commands = CommandHandler(
            self.router, self.twin, self.state, clock=self.clock, publisher=self.publisher, audit=self.audit,
            keys=opt.keys, max_role=opt.max_role, snapshot_header=self._snapshot_header,
            checkpoint=self.checkpoint if opt.checkpoint_path is not None and self._save_checkpoint else None,
            whatif=self.whatif)
        self.gate = ServeGate(self.clock, self.publisher, self.commands, opt, publish_summary=self.publish_summary,
                              publish_fields=self.publish_fields, checkpoint=self.checkpoint, encoder=self.encoder,
                              whatif=self.whatif)
        if opt.metrics_address is not None:
            self._start_metrics()

    def _start_metrics(self) -> None:
        """The OpenMetrics endpoint, fed by the last published summary: a scrape costs the solver nothing."""
        from twin.bus.metrics import SummaryCollector, start_metrics

        publisher, address = self._publisher(), self.opt.metrics_address
        if address is None:
            return
        collector = SummaryCollector(lambda: publisher.summary, hall=self.twin.hall.name,
                                     rack_rows={r.name: r.row for r in self.twin.hall.racks})
        try:
            metrics = self.metrics = start_metrics(address, collector, tls_dir=self.opt.metrics_tls)
        except SecurityError:
            self.close()
            raise
        log.info("metrics at %s", metrics.url)

    def close(self) -> None:
        if self.whatif is not None:  # a running what-if fails; a LocalCluster of ours is closed
            self.whatif.close()
        if self.encoder is not None:  # before the socket it sends on closes
            self.encoder.close()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self._sockets is not None:
            self._sockets.close()
        self.audit.close()

    # --- the loop -----------------------------------------------------------------------------

    def run(self, *, duration_s: float | None = None, wall_limit_s: float | None = None,
            stop: Callable[[], bool] | None = None, catch_signals: bool = True) -> RunInfo:
        """Serve until ``stop()`` is true, a signal came (SIGINT, SIGTERM), ``duration_s`` of simulated
        time has passed or ``wall_limit_s`` elapsed; then publish the last state and write a final
        checkpoint (when a checkpoint path is set)."""
        gate = self._gate()
        gate.until(stop, wall_limit_s)
        info = Runner(self.twin, scenario=self.scenario, gate=gate).run(self.state, duration_s,
                                                                             catch_signals=catch_signals)
        self.stopping = info.signal
        return info

    # --- publishing -------------------------------------------------------------------------------

    def clock_summary(self) -> dict[str, Any]:
        """The ``clock`` part of a summary."""
        g = self.gate
        return {**self.clock.as_dict(), "server": self.server_id,
                "step_ms": 1e3 * g.solver_s / g.steps_run if g is not None and g.steps_run else None,
                "state_wall_time": g.state_wall_time if g is not None else time.time(),
                "training": self._training()}

    def _training(self) -> bool:
        """Whether a fault injected over the bus is still active (consoles show a TRAINING banner)."""
        s = self.state
        if self.commands is None or not self.commands.injected:
            return False
        # (1.2) A failed sensor and a rack load other than the hall file's are drills too, until repaired
        # or set back.
        sensors_failed = s.controls is not None and any(
            m != "ok" for array, index in s.controls.sensors().values() if index is None
            for m in array.failure(s.time_s))
        loads_changed = not np.array_equal(s.rack_it_w, self.twin.racks.it_w)
        return bool(s.crah_tripped.any() or not s.utility_ok or sensors_failed or loads_changed)

    def _encoder(self) -> Encoder:
        if self.encoder is None:
            raise RuntimeError("TwinServer.bind() first: the encoder starts with the sockets")
        return self.encoder

    def publish_summary(self, *, wait: bool = False) -> None:
        """Hand the encoder a summary of the state now (built only when the state changed since the last
        one; a frozen copy, so the next step cannot change it); ``wait``: until it is sent."""
        pub, enc, s = self._publisher(), self._encoder(), self.state
        body = None
        if pub.changed or pub.summary_seq is None:
            body = frozen(summary_body(self.twin, s, clock=self.clock_summary()))
            pub.changed = False
        enc.submit("summary", s.time_s, s.steps, body)
        if wait:
            self._wait()

    def publish_fields(self, *, wait: bool = False) -> None:
        """Hand the encoder the fields of the state now: copies of the air temperature and the face
        flows, which its thread turns into grids (only after a step: between steps the last ones go again)."""
        enc, s = self._encoder(), self.state
        build = None
        if self._fields_steps != s.steps or self._publisher().fields is None:
            twin, precision, time_s, steps = self.twin, self.opt.field_precision, s.time_s, s.steps
            t_air_c, flows_m3s = s.t_air_c.copy(), twin.face_flows_m3s(s).copy()

            def build() -> tuple[dict, dict[str, np.ndarray]]:
                return fields_from(twin, t_air_c, flows_m3s, time_s=time_s, steps=steps, precision=precision)

            self._fields_steps = s.steps
        enc.submit("fields", s.time_s, s.steps, build)
        if wait:
            self._wait()

    def _wait(self) -> None:
        enc = self._encoder()
        enc.flush()
        enc.check()

    def _snapshot_header(self) -> tuple[dict, tuple]:
        """The fixed part of a snapshot reply and its version (what was published, the audit's length)."""
        pub = self._publisher()
        if pub.summary_seq is None:
            self.publish_summary(wait=True)
        if pub.fields is None:
            self.publish_fields(wait=True)
        header = {"time_s": self.state.time_s, "hall": self.hall, "audit": list(self.audit.tail),
                  "heartbeat_s": self.opt.heartbeat_s}
        whatif_version = 0
        if self.whatif is not None:  # (1.3) the recent what-ifs and the running one, for late joiners
            header["whatifs"] = self.whatif.snapshot()
            whatif_version = self.whatif.version
        return header, (pub.summary_seq, pub.fields_seq, self.audit.count, whatif_version)

    def checkpoint(self, why: str) -> Path | None:
        if self.opt.checkpoint_path is None or self._save_checkpoint is None:
            return None
        path = self._save_checkpoint(self.opt.checkpoint_path, self.twin, self.state, scenario=self.scenario,
                                     meta={"reason": why, "server": self.server_id, "seq": self.seq,
                                           "clock": self.clock.settings()})
        self.last_checkpoint = path
        log.info("checkpoint (%s) at t = %.0f s: %s", why, self.state.time_s, path)
        return path


class ServeGate(StepGate):
    """The bus between the runner's steps: commands, publications on the wall clock's schedule, pacing.

    :meth:`before_step` serves (answers commands, publishes what is due, beats the heart, writes
    periodic checkpoints) until the paced clock says a step is due, or the run must end. It keeps the
    figures of the serving: steps, solver and publishing time, when the state last changed.
    """

    IDLE_WAKE_S = 0.02  # longest idle wait: how late a subscription may be applied while the twin waits

    def __init__(self, clock: PacedClock, publisher: Publisher, commands: CommandHandler, options: ServeOptions, *,
                 publish_summary: Callable[..., None], publish_fields: Callable[..., None],
                 checkpoint: Callable[[str], Path | None], encoder: Encoder | None = None,
                 whatif: WhatIfRunner | None = None) -> None:
        self.clock, self.publisher, self.commands, self.opt = clock, publisher, commands, options
        self.whatif = whatif
        self._publish_summary, self._publish_fields, self._checkpoint = publish_summary, publish_fields, checkpoint
        self.encoder = encoder
        self._poller = zmq.Poller()
        self._poller.register(commands.socket, zmq.POLLIN)
        # Not the state socket: the encoder's thread sends on it, and a ZeroMQ socket is one thread's at a
        # time (the publisher's lock). Subscriptions are read at every wake-up instead (IDLE_WAKE_S).
        self._stop: Callable[[], bool] | None = None
        self._wall_limit_s: float | None = None
        self.steps_run = 0
        self.solver_s = 0.0
        self.publish_s = 0.0
        self.state_wall_time = time.time()  # when the state last changed by a step (Unix time)

    def until(self, stop: Callable[[], bool] | None, wall_limit_s: float | None) -> None:
        """End the coming run when ``stop()`` turns true or after ``wall_limit_s`` of wall time."""
        self._stop, self._wall_limit_s = stop, wall_limit_s

    def start(self, twin: HallTwin, state: TwinState) -> None:
        self._wall0 = now = time.monotonic()
        self.clock.anchor(now, state.time_s)
        self._next_summary = self._next_fields = now
        self._last_sent = -math.inf
        # No period (None or 0): never due, as now + inf stays inf.
        self._ckpt_every_s = self.opt.checkpoint_every_s or math.inf
        self._next_ckpt = now + self._ckpt_every_s
        self._stepped = False

    def before_step(self, twin: HallTwin, state: TwinState, stop: list[str]) -> bool:
        while True:
            if self.encoder is not None:
                self.encoder.check()  # a failed encoder stops the twin instead of leaving clients stale
            now = time.monotonic()
            if stop or (self._stop is not None and self._stop()) or (
                    self._wall_limit_s is not None and now - self._wall0 >= self._wall_limit_s):
                return False
            self.publisher.drain_subscriptions()
            self.commands.drain()
            self._publish_whatifs(state)
            due = self.clock.step_due(now, state.time_s)
            self._publish_due(now, state)
            self._stepped = False
            if due:
                return True
            # Idle (paused, or ahead of the paced clock): wait for a command or the next due time.
            wake = min(self._next_summary, self._next_fields, self._last_sent + self.opt.heartbeat_s,
                       self.clock.next_step_wall(now, state.time_s))
            timeout_ms = max(0, min(int((wake - time.monotonic()) * 1000), int(1000 * self.IDLE_WAKE_S)))
            if timeout_ms > 0:
                self._poller.poll(timeout_ms)

    def _publish_whatifs(self, state: TwinState) -> None:
        """What the what-if thread finished, as events (the publisher's lock orders them with the encoder's
        sends; taking never blocks)."""
        if self.whatif is None:
            return
        for body in self.whatif.take_events():
            try:
                self.publisher.publish_event(state.time_s, body)
            except (ValueError, TypeError) as exc:  # e.g. a number JSON cannot carry: say so, run on
                log.error("what-if %s: its event could not be encoded: %s", body.get("id"), exc)
                self.publisher.publish_event(state.time_s, {
                    "type": "whatif", "id": body.get("id"), "state": "failed", "set": body.get("set"),
                    "reason": f"the result could not be encoded ({type(exc).__name__})"})

    def after_step(self, twin: HallTwin, state: TwinState, step_s: float) -> None:
        self.solver_s += step_s
        self.steps_run += 1
        self.state_wall_time = time.time()
        self.publisher.changed = True
        self._stepped = True
        self.clock.after_step(time.monotonic(), state.time_s)

    def _publish_due(self, now: float, state: TwinState) -> None:
        opt, pub, paused = self.opt, self.publisher, self.clock.paused
        t0 = time.perf_counter()
        sent = False
        # Paused, a command's effect goes out at once (nothing else will change the state, and a client
        # that asks next must find it published); an unchanged paused state is not published again:
        # heartbeats say which summary and fields are the last ones.
        if now >= self._next_summary or (self._stepped and opt.publish_every_step) or (pub.changed and paused):
            if pub.changed or not paused:
                # Paused, or asked for every step: out before the next command is read (or step taken).
                self._publish_summary(wait=paused or opt.publish_every_step)
                sent = True
            self._next_summary = max(self._next_summary + 1.0 / opt.summary_hz, now)
        if now >= self._next_fields:
            if not paused or pub.fields is None:
                self._publish_fields(wait=paused)
                sent = True
            self._next_fields = max(self._next_fields + 1.0 / opt.fields_hz, now)
        if sent:
            self._last_sent = now
        elif now - self._last_sent >= opt.heartbeat_s:
            pub.publish_heartbeat(state.time_s, opt.heartbeat_s, paused)
            self._last_sent = now
        if now >= self._next_ckpt:
            self._checkpoint("periodic")
            self._next_ckpt = now + self._ckpt_every_s
        self.publish_s += time.perf_counter() - t0

    def finalize(self, twin: HallTwin, state: TwinState, info: RunInfo) -> None:
        if self.encoder is None or self.encoder.error is None:
            self._publish_summary(wait=True)  # the last state, so every client ends where the server did
        self._checkpoint("final")  # (nothing without a checkpoint file)
