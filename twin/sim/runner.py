"""The run loop: step the physics, hand the state to trackers at their own intervals (py-pde style).

One loop serves every use: headless runs (trackers write files), benchmarks, and the live twin, whose
bus is a :class:`StepGate` that answers commands, publishes and waits for its paced clock between steps.
Solver time and tracker time are measured apart, so a slow tracker shows up in the numbers instead of
silently slowing the twin. An interruption (Ctrl-C, SIGTERM) ends the loop between steps and still
finalizes every tracker and the gate, so what was computed so far is written. Signals only raise a flag
that the loop reads between steps: a step is never cut in half, so the state written is always consistent.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

from twin.sim.state import TwinState
from twin.sim.twin import HallTwin

__all__ = ["RunInfo", "Runner", "StepGate", "Tracker", "steps_for"]


def steps_for(duration_s: float, dt_s: float) -> int:
    """Whole steps of ``dt_s`` in ``duration_s``; ValueError if it is not a whole number of them."""
    n = duration_s / dt_s
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise ValueError(f"a duration of {duration_s:g} s is not a whole number of {dt_s:g} s steps")
    return int(round(n))


class Tracker:
    """Base class of things that look at the state during a run.

    Hooks, in the order the runner calls them:
        start(twin, state): once before the first step.
        handle(twin, state): at the start, then at the first step on or after each multiple of
            ``interval_s``, and at the end; must not change the state.
        finalize(twin, state, info): once after the last step, also after an interruption.
    """

    interval_s: float = float("inf")

    def start(self, twin: HallTwin, state: TwinState) -> None:  # noqa: B027 - optional hook
        pass

    def handle(self, twin: HallTwin, state: TwinState) -> None:  # noqa: B027
        pass

    def finalize(self, twin: HallTwin, state: TwinState, info: RunInfo) -> None:  # noqa: B027
        pass


class StepGate(Tracker):
    """A tracker that also decides when the next step happens (the live twin's bus).

    Hooks, besides a tracker's (``start`` before the first step, ``finalize`` at the end; ``handle`` is
    not called):
        before_step(twin, state, stop): before every step; may wait (pacing, a pause) and serve meanwhile;
            returns False to end the run. ``stop`` is the runner's list of signals received: a gate that
            waits must return False once it is not empty.
        after_step(twin, state, step_s): after every step, with the step's solver time.
    """

    def before_step(self, twin: HallTwin, state: TwinState, stop: list[str]) -> bool:
        return not stop

    def after_step(self, twin: HallTwin, state: TwinState, step_s: float) -> None:  # noqa: B027
        pass


@dataclass
class RunInfo:
    steps: int = 0
    sim_s: float = 0.0
    wall_s: float = 0.0
    solver_s: float = 0.0
    tracker_s: float = 0.0
    interrupted: bool = False
    signal: str | None = None  # SIGINT or SIGTERM when interrupted by one

    @property
    def rtf(self) -> float | None:
        return self.sim_s / self.wall_s if self.wall_s > 0 and self.sim_s > 0 else None


class ScenarioHook(Protocol):
    """What the runner needs of a scenario (a ScenarioPlayer): events applied when due."""

    def apply_due(self, state: TwinState) -> None: ...


class Runner:
    def __init__(self, twin: HallTwin, trackers: list[Tracker] | None = None, *, scenario: ScenarioHook | None = None,
                 gate: StepGate | None = None) -> None:
        """``scenario``: an object with ``apply_due(state)``, called before every step (a ScenarioPlayer);
        ``gate``: a :class:`StepGate` that may hold each step back (the live twin's bus)."""
        self.twin = twin
        self.trackers = list(trackers or [])
        self.scenario = scenario
        self.gate = gate

    def run(self, state: TwinState, duration_s: float | None, *, catch_signals: bool = True) -> RunInfo:
        """Advance ``state`` by ``duration_s`` (whole steps; None: until the gate or a signal ends the run),
        calling trackers; returns timings."""
        info = RunInfo()
        twin, gate = self.twin, self.gate
        if duration_s is None and gate is None:
            raise ValueError("a run without a duration needs a gate that ends it")
        n_steps = steps_for(duration_s, twin.dt_s) if duration_s is not None else None
        t_start_s = state.time_s
        wall0 = time.perf_counter()
        stop: list[str] = []
        previous = _install_signal_handlers(stop) if catch_signals else {}
        try:
            # The flow field of the starting state exists before any tracker looks at it (trackers
            # only read: a snapshot at t = 0 must show the flow, and must not trigger the solve itself).
            twin.operator(state)
            t0 = time.perf_counter()
            for tr in self.trackers:
                tr.start(twin, state)
            if gate is not None:
                gate.start(twin, state)
            next_due = [state.time_s for _ in self.trackers]
            info.tracker_s += time.perf_counter() - t0
            while n_steps is None or info.steps < n_steps:
                if stop or (gate is not None and not gate.before_step(twin, state, stop)):
                    if stop:
                        info.interrupted = True
                        info.signal = stop[0]
                    break
                t0 = time.perf_counter()
                if any(state.time_s >= due - 1e-9 for due in next_due):
                    for i, tr in enumerate(self.trackers):
                        if state.time_s >= next_due[i] - 1e-9:
                            tr.handle(twin, state)
                            # The next multiple of the interval: no drift when dt does not divide it.
                            next_due[i] = (math.floor(state.time_s / tr.interval_s + 1e-9) + 1) * tr.interval_s
                if self.scenario is not None:
                    self.scenario.apply_due(state)
                t1 = time.perf_counter()
                twin.step(state)
                t2 = time.perf_counter()
                info.tracker_s += t1 - t0
                info.solver_s += t2 - t1
                info.steps += 1
                if gate is not None:
                    gate.after_step(twin, state, t2 - t1)
        finally:
            _restore_signal_handlers(previous)
            info.sim_s = state.time_s - t_start_s
            info.wall_s = time.perf_counter() - wall0
            t0 = time.perf_counter()
            for tr in self.trackers:
                tr.handle(twin, state)
                tr.finalize(twin, state, info)
            if gate is not None:
                gate.finalize(twin, state, info)
            info.tracker_s += time.perf_counter() - t0
            info.wall_s = time.perf_counter() - wall0  # the final writes are part of the run's wall time
        return info


def _install_signal_handlers(stop: list[str]) -> dict:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.append(signal.Signals(signum).name)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, request_stop)
        except ValueError:  # not the main thread: leave signals alone
            pass
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
