"""`twin serve HALL`: build the twin (fresh, steady or resumed), open the bus, serve until stopped.

SIGINT and SIGTERM only raise a flag that the run loop reads between steps (and while it waits); the
server then publishes its last state, writes its final checkpoint and closes the audit log, and the
command exits 130 or 143 (128 + the signal's number, as shells do).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from twin.model.load import HallModel

__all__ = ["serve"]


def serve(hall: HallModel, args: argparse.Namespace) -> int:
    from twin.bus.security import load_server_keys
    from twin.bus.server import ServeOptions, TwinServer
    from twin.model.scenario import load_scenario
    from twin.sim.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
    from twin.sim.scenario import ScenarioPlayer
    from twin.sim.twin import HallTwin

    # What an operator wants in serve.log: flow solves, checkpoints, clients joining, refused commands.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out_dir = args.out or Path("out") / f"{Path(args.hall).stem}-serve"
    if out_dir.exists() and not out_dir.is_dir():
        raise OSError(f"--out {out_dir}: is a file, not a folder")
    keys = load_server_keys(args.keys) if args.keys is not None else None
    if args.metrics is not None:  # refused at once, not after the hall is built
        from twin.bus.metrics import check_metrics_address

        check_metrics_address(args.metrics, args.metrics_tls)
    twin = HallTwin(hall, dt_s=args.dt, control=args.control, airflow=args.airflow)
    player = None
    if args.scenario is not None:
        player = ScenarioPlayer(twin, load_scenario(args.scenario, hall))
    clock: dict = {}
    if args.resume is not None:
        state = load_checkpoint(args.resume, twin, scenario=player)
        # A resumed twin runs as it was checkpointed: paused stays paused, at the speed it had (an
        # explicit --speed wins). Checkpoints written by `twin run` or older servers carry no clock.
        user = read_checkpoint_meta(args.resume).get("user") or {}
        clock = dict(user.get("clock") or {}) if isinstance(user, dict) else {}
        if args.speed is not None:
            clock.pop("speed", None)
    else:
        state = twin.initial_state()
        if args.from_steady:
            state = twin.steady(state)
            if state.controls is not None:
                state.controls.adopt(state)
    options = ServeOptions(
        state_endpoint=args.state, commands_endpoint=args.commands, speed=1.0 if args.speed is None else args.speed,
        summary_hz=args.summary_hz, fields_hz=args.fields_hz, heartbeat_s=args.heartbeat,
        field_precision=args.field_precision, max_role=args.max_role, keys=keys,
        audit_path=out_dir / "audit.jsonl", checkpoint_path=out_dir / "checkpoint.npz",
        checkpoint_every_s=args.checkpoint_every, publish_every_step=args.publish_every_step,
        metrics_address=args.metrics, metrics_tls=args.metrics_tls,
        scheduler=args.scheduler, whatif_workers=args.whatif_workers, out_dir=out_dir,
    )
    server = TwinServer(twin, state, scenario=player, options=options, save_checkpoint=save_checkpoint)
    server.restore_clock(clock)
    server.bind()
    speed = ("max" if math.isinf(server.speed) else f"×{server.speed:g}") + (", paused" if server.paused else "")
    print(f"twin serve: {hall.name} at t = {state.time_s:,.0f} s, speed {speed}; state {args.state}, "
          f"commands {args.commands}; "
          + (f"metrics {server.metrics.url}; " if server.metrics is not None else "")
          + f"audit {options.audit_path}, checkpoint {options.checkpoint_path}",
          file=sys.stderr, flush=True)
    from twin.bus.encoder import EncoderError

    try:
        server.run(duration_s=args.duration)
    except EncoderError as exc:  # its traceback is in the log already (twin/bus/encoder.py)
        print(f"twin serve: stopped at t = {server.state.time_s:,.0f} s: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        server.close()
    print(f"twin serve: stopped at t = {server.state.time_s:,.0f} s after {server.steps_run} steps"
          + (f"; checkpoint {server.last_checkpoint}" if server.last_checkpoint else ""), file=sys.stderr, flush=True)
    if server.stopping:
        return 143 if server.stopping == "SIGTERM" else 130
    return 0
