"""`twin` command line: wiring only. User errors print one line and exit 2; no tracebacks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from twin.argtypes import number_in
from twin.bus.protocol import DEFAULT_COMMANDS, DEFAULT_STATE, ROLES, SPEED_MAX, SPEED_MIN
from twin.model import units
from twin.model.load import HallError, bundled_hall_names, hall_path, load_hall

__all__ = ["main", "parse_duration_s"]

def parse_duration_s(text: str) -> float:
    """A command-line duration: '600', '90s', '10min', '1h', '2d' (seconds)."""
    try:
        return units.parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_whatif_workers = number_in(1, 256, integer=True, what="a whole number of worker processes")


def _speed(text: str) -> float:
    """--speed: a positive factor of wall time, or 'max'."""
    if text.strip().lower() == "max":
        return float("inf")
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed {text!r}: give a number like 1 or 10, or max") from None
    if not (SPEED_MIN <= v <= SPEED_MAX):
        raise argparse.ArgumentTypeError(f"speed {text!r}: must be within {SPEED_MIN:g} … {SPEED_MAX:.0f}, or max")
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="twin", description="Digital twin of a data hall: headless runs, a live service on ZeroMQ, "
                                         "a 3D viewer and an operator console.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    hall_help = f"a hall file (.toml), or a bundled hall's name: {', '.join(bundled_hall_names())}"

    v = sub.add_parser("validate", help="check a hall file against the schema and its cross-references")
    v.add_argument("hall", help=hall_help)
    v.add_argument("--json", action="store_true", help="print a JSON summary of the hall")

    r = sub.add_parser("run", help="run a hall headless and write time series, fields and a summary")
    r.add_argument("hall", help=hall_help)
    r.add_argument("--duration", type=parse_duration_s, default=None,
                   help="simulated time (600, 10min, 1h; default: the scenario's, else 1h)")
    r.add_argument("--scenario", type=Path, default=None, help="a scenario file (assets/scenarios/*.toml) to play")
    r.add_argument("--control", choices=("embedded", "ideal"), default="embedded",
                   help="embedded: the units' own sampled controllers (default); ideal: setpoints held exactly")
    r.add_argument("--dt", type=parse_duration_s, default=1.0, help="time step (default 1s)")
    r.add_argument("--airflow", choices=("potential", "momentum"), default=None,
                   help="airflow model (default: the hall file's [airflow] model, else potential)")
    r.add_argument("--out", type=Path, default=None, help="output folder (default out/<hall name>)")
    r.add_argument("--record-every", type=parse_duration_s, default=10.0, help="time-series interval (10s)")
    r.add_argument("--fields-every", type=parse_duration_s, default=600.0, help="field snapshot interval (10min)")
    r.add_argument("--steady", action="store_true", help="solve the steady state directly instead")
    r.add_argument("--from-steady", action="store_true",
                   help="start the run from the steady state (default: still air at the initial temperature)")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")

    b = sub.add_parser("bench", help="time a run with no outputs and print its figures")
    b.add_argument("hall", help=hall_help)
    b.add_argument("--duration", type=parse_duration_s, default=600.0)
    b.add_argument("--dt", type=parse_duration_s, default=1.0)
    b.add_argument("--control", choices=("embedded", "ideal"), default="embedded")
    b.add_argument("--airflow", choices=("potential", "momentum"), default=None,
                   help="airflow model (default: the hall file's [airflow] model, else potential)")
    # One figure per run: the studies and the bus measurement exclude each other.
    study = b.add_mutually_exclusive_group()
    study.add_argument("--refresh-study", action="store_true",
                   help="momentum model: rack-inlet error and speed of refreshing the flow every 10/30/60 s "
                        "instead of every step (still air, then a load step)")
    study.add_argument("--threads-study", action="store_true",
                   help="the steady solve's time with 1 and with 2 BLAS threads while another process loads one "
                        "core (why the solver uses 1: twin/thermal/threads.py)")
    study.add_argument("--dt-study", action="store_true",
                   help="rack-inlet error against dt = 0.25 s for dt = 0.5, 1, 2 and 5 s (still air, then a load "
                        "step), and each dt's real-time factor")
    study.add_argument("--sweep", action="store_true",
                   help="the sweep's figures: N-1 over the CRAHs, cases/s of a 100-case grid on tiny and this hall, "
                        "speed-up from 1 to 2 workers (each printed as soon as it is measured)")
    study.add_argument("--bus", action="store_true",
                   help="measure the bus instead: `twin serve` with clients attached (rates, latency, late join)")
    from twin.sweep.bench import SWEEP_PARTS

    b.add_argument("--sweep-only", action="append", choices=SWEEP_PARTS, default=None, metavar="PART",
                   help=f"with --sweep, measure only this part (repeatable): {', '.join(SWEEP_PARTS)} "
                        f"(n1: N-1 over the CRAHs; worker: a case in a worker against one in this process; "
                        f"grid-tiny: the grid on tiny.toml; grid: the grid on this hall with 1 worker, then "
                        f"one per core, and the speed-up)")
    # The pandapower comparison takes seconds and checks the power solve; it measures nothing of the run.
    b.add_argument("--no-power-check", dest="power_check", action="store_false",
                   help="skip the power-chain solve's timing against pandapower (power_solve in the report)")
    b.add_argument("--json", action="store_true")

    s = sub.add_parser("serve", help="run the twin live and publish it on ZeroMQ (see docs/protocol.md)")
    s.add_argument("hall", help=hall_help)
    s.add_argument("--scenario", type=Path, default=None, help="a scenario file to play while serving")
    s.add_argument("--speed", type=_speed, default=None,
                   help="simulated seconds per wall second: 1, 10, … or max (as fast as it can; default 1, or "
                        "the checkpoint's with --resume)")
    s.add_argument("--state", default=DEFAULT_STATE, help=f"PUB endpoint for state (default {DEFAULT_STATE})")
    s.add_argument("--commands", default=DEFAULT_COMMANDS,
                   help=f"ROUTER endpoint for snapshots and commands (default {DEFAULT_COMMANDS})")
    s.add_argument("--control", choices=("embedded", "ideal"), default="embedded")
    s.add_argument("--airflow", choices=("potential", "momentum"), default=None,
                   help="airflow model (default: the hall file's [airflow] model, else potential)")
    s.add_argument("--dt", type=parse_duration_s, default=1.0, help="time step (default 1s)")
    s.add_argument("--duration", type=parse_duration_s, default=None,
                   help="stop after this much simulated time (default: run until stopped)")
    s.add_argument("--from-steady", action="store_true", help="start from the steady state")
    s.add_argument("--out", type=Path, default=None,
                   help="folder for the audit log and the checkpoint (default out/<hall name>-serve)")
    s.add_argument("--checkpoint-every", type=parse_duration_s, default=None,
                   help="write a checkpoint every so much wall time (e.g. 60s); one is always written at stop")
    s.add_argument("--resume", type=Path, default=None, help="continue from a checkpoint file")
    s.add_argument("--keys", type=Path, default=None,
                   help="CURVE key folder made by `twin keys` (required to bind anything but loopback)")
    s.add_argument("--max-role", choices=ROLES, default=ROLES[-1],
                   help="highest role a loopback client may claim (default engineer)")
    s.add_argument("--summary-hz", type=float, default=10.0, help="summary rate, per wall second (default 10)")
    s.add_argument("--fields-hz", type=float, default=2.0, help="field rate, per wall second (default 2)")
    s.add_argument("--heartbeat", type=parse_duration_s, default=1.0, help="heartbeat period (default 1s)")
    s.add_argument("--field-precision", choices=("float16", "float32"), default="float16")
    s.add_argument("--publish-every-step", action="store_true", help="also publish a summary after every step")
    s.add_argument("--metrics", default=None, metavar="HOST:PORT",
                   help="serve OpenMetrics for Prometheus at http://HOST:PORT/metrics, e.g. 127.0.0.1:9108 "
                        "(loopback unless --metrics-tls)")
    s.add_argument("--metrics-tls", type=Path, default=None, metavar="DIR",
                   help="mutual TLS for --metrics off loopback: DIR/metrics.crt, metrics.key, clients-ca.crt")
    s.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="run the bus's what-ifs on this Dask cluster (default: a local cluster started at the "
                        "first what-if, one worker per core but one)")
    s.add_argument("--whatif-workers", type=_whatif_workers, default=None,
                   help="worker processes of that local cluster")

    k = sub.add_parser("keys", help="make CURVE keys: the server's and one per client role")
    k.add_argument("folder", type=Path)
    k.add_argument("--client", action="append", default=None, metavar="NAME=ROLE",
                   help=f"a client key to make (repeatable; default: one per role, {', '.join(ROLES)})")

    from tui.cli import add_parsers as add_console_parsers

    add_console_parsers(sub)  # console, up

    from viewer.cli import add_parsers as add_viewer_parsers

    add_viewer_parsers(sub)  # view, render: the 3D viewer

    from twin.sweep.command import add_parsers as add_sweep_parsers

    add_sweep_parsers(sub, hall_help, parse_duration_s)  # sweep, capacity: what-ifs on Dask

    from twin.model.schemas import schema_names

    sc = sub.add_parser("schema", help="print the JSON Schema of a file kind (for editors: see README, Schemas)")
    sc.add_argument("kind", nargs="?", choices=schema_names(), help="which file's schema to print")
    sc.add_argument("--write", type=Path, default=None, metavar="FOLDER",
                    help="write every kind's NAME.schema.json into FOLDER instead (assets/schemas is generated so)")

    e = sub.add_parser("export", help="write a hall's geometry (--glb) or a run's time series as CSV (--csv)")
    e.add_argument("hall", metavar="HALL|RUN", help=f"{hall_help}; with --csv, the output folder of `twin run`")
    what = e.add_mutually_exclusive_group(required=True)
    what.add_argument("--glb", type=Path, help="output .glb file (glTF 2.0, +Y up)")
    what.add_argument("--csv", type=Path, nargs="?", const=True, default=None, metavar="FILE",
                      help="write RUN's time series as CSV, units in the header (default FILE: RUN/timeseries.csv)")
    return p


#: Commands that stay up (a server, a console, a window): they keep glibc's own memory policy, which gives
#: freed memory back, so that one peak (a steady what-if, a hall reload) does not stay in their footprint.
_LONG_LIVED_COMMANDS = frozenset({"serve", "up", "console", "view"})


#: Commands whose work is done when they return: files written and closed, stdout printed; no child processes,
#: sockets or servers. The ``twin`` command ends them without the interpreter's teardown (see :func:`entry`).
_FILE_ONLY_COMMANDS = frozenset({"run"})


def entry() -> NoReturn:
    """The ``twin`` console command: :func:`main`, then the process's exit.

    After ``twin run`` the process ends with ``os._exit`` once its streams and logs are flushed, skipping the
    interpreter's teardown: unloading numba's and LLVM's compiled code, scipy and the rest took 0.2-0.27 s of
    CPU on this machine (measured: a process that imports twin's solver and calls one compiled kernel, 0.97-1.04
    against 0.76-0.77 s of user time), about 4 % of a steady momentum solve of open-row-fine, for nothing that
    the command's outputs need (they are written and closed by then). Every other command exits as usual.
    """
    code = main(fast_exit=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None, *, fast_exit: bool = False) -> int:
    """Run the ``twin`` command line (``argv``, default sys.argv[1:]); returns the exit status.

    ``fast_exit`` (the console command's, :func:`entry`): end the process right here after a command of
    :data:`_FILE_ONLY_COMMANDS` that returned, its output flushed, without the interpreter's teardown."""
    from twin.bus.security import SecurityError
    from twin.sim.checkpoint import CheckpointError

    args = _parser().parse_args(argv)
    if args.command not in _LONG_LIVED_COMMANDS:
        from twin.allocator import reuse_freed_memory

        reuse_freed_memory()  # before the solves: fewer page faults for commands that end (twin.allocator)
    try:
        code = _dispatch(args)
    except (HallError, OSError, SecurityError, CheckpointError) as exc:  # OSError: e.g. --out names a file
        print(f"twin {args.command}: error: {exc}", file=sys.stderr)
        code = 2
    except ValueError as exc:
        from twin.sim.twin import NoSteadyState

        if not isinstance(exc, NoSteadyState):
            raise
        print(f"twin {args.command}: error: {args.hall}: {exc}", file=sys.stderr)
        code = 3
    if fast_exit and args.command in _FILE_ONLY_COMMANDS:
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "keys":
        return _keys(args)
    if args.command in ("view", "render"):
        from viewer.cli import run_render, run_view

        return run_view(args) if args.command == "view" else run_render(args)
    if args.command == "schema":
        return _schema(args)
    if args.command in ("console", "up"):  # no hall to load: `up` leaves it to `serve`, whose error it passes on
        from tui.cli import run_console, run_up

        return run_console(args) if args.command == "console" else run_up(args)
    if args.command == "export" and args.csv is not None:
        from twin.sim.csvexport import write_timeseries_csv

        path = write_timeseries_csv(Path(args.hall), None if args.csv is True else args.csv)
        print(f"wrote {path}")
        return 0
    args.hall = hall_path(args.hall)  # a bare name (`twin run reference`) is a bundled hall
    hall = load_hall(args.hall)
    if args.command == "serve":
        from twin.bus.serve import serve

        return serve(hall, args)
    if args.command == "bench" and args.sweep_only and not args.sweep:
        print("twin bench: error: --sweep-only picks parts of --sweep; add --sweep", file=sys.stderr)
        return 2
    if args.command == "bench" and args.bus:
        from twin.bus.bench import bench_bus, human

        result = bench_bus(args.hall)
        print(json.dumps(result) if args.json else human(result))
        return 0
    if args.command == "bench" and args.sweep:
        from twin.sweep.bench import SWEEP_PARTS, bench_sweep

        # Each measurement is printed as it is done (the whole takes minutes); --json prints the summary at the end.
        result = bench_sweep(hall, parts=args.sweep_only or SWEEP_PARTS,
                             emit=None if args.json else lambda line: print(line, flush=True))
        if args.json:
            print(json.dumps(result))
        return 0
    if args.command == "bench" and args.threads_study:
        from twin.sim.bench_threads import human as threads_human
        from twin.sim.bench_threads import threads_study

        result = threads_study(hall, airflow=args.airflow)
        print(json.dumps(result) if args.json else threads_human(result))
        return 0
    if args.command in ("sweep", "capacity"):
        from twin.sweep.command import capacity_command, sweep_command

        return sweep_command(hall, args) if args.command == "sweep" else capacity_command(hall, args)
    if args.command == "validate":
        from twin.sim.twin import HallTwin

        HallTwin(hall)  # the grid-level checks: objects smaller than a cell, blocked intakes, air paths
        info = {"hall": hall.name, "file": str(args.hall), "racks": len(hall.racks), "crahs": len(hall.crahs),
                "it_kw": hall.it_w / 1e3}
        if args.json:
            print(json.dumps(info))
        else:
            print(f"{args.hall}: ok ({hall.name}: {len(hall.racks)} racks, {hall.it_w / 1e3:,.1f} kW IT load, "
                  f"{len(hall.crahs)} CRAHs)")
        return 0
    if args.command == "export":
        from twin.geometry.export import export_glb

        path = export_glb(hall, args.glb)
        print(f"wrote {path}")
        return 0

    from twin.model.scenario import load_scenario
    from twin.sim.jobs import bench_job, run_job, steady_job
    from twin.sim.runner import steps_for

    if getattr(args, "steady", False) and getattr(args, "scenario", None):
        print(f"twin {args.command}: error: --scenario plays events in time; it cannot be combined with --steady",
              file=sys.stderr)
        return 2
    scenario = load_scenario(args.scenario, hall) if getattr(args, "scenario", None) else None
    if args.duration is None:
        args.duration = (scenario.spec.scenario.duration if scenario and scenario.spec.scenario.duration
                         else 3600.0)

    try:
        steps_for(args.duration, args.dt)
    except ValueError as exc:
        print(f"twin {args.command}: error: --duration/--dt: {exc}", file=sys.stderr)
        return 2

    if args.command == "bench" and args.refresh_study:
        from twin.sim.jobs import refresh_study

        result = refresh_study(hall, duration_s=args.duration, dt_s=args.dt, control=args.control)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{result['hall']}: {result['duration_s']:g} s, load ×{result['load_step']:g} at a third; "
                  f"differences from refreshing every step")
            for r in result["policies"]:
                print(f"  every {r['refresh_s']:>4g} s × {r['iterations']:>2} iterations: "
                      f"{r['flow_solves']:4d} solves, "
                      f"×{r['rtf']:g} real time, inlet rms {r['inlet_rms_k']:.3f} K, max {r['inlet_max_k']:.3f} K")
        return 0
    if args.command == "bench" and args.dt_study:
        from twin.sim.jobs import dt_study, dt_study_human

        result = dt_study(hall, duration_s=args.duration, control=args.control, airflow=args.airflow)
        print(json.dumps(result) if args.json else dt_study_human(result))
        return 0
    if args.command == "bench":
        result = bench_job(hall, duration_s=args.duration, dt_s=args.dt, control=args.control, airflow=args.airflow,
                           power_check=args.power_check)
        print(json.dumps(result) if args.json else _human(result))
        return 0
    out_dir = args.out or Path("out") / args.hall.stem
    if args.steady:
        result = steady_job(hall, out_dir=out_dir, airflow=args.airflow)
    else:
        from twin.sim.trackers import ProgressTracker

        result = run_job(hall, duration_s=args.duration, dt_s=args.dt, out_dir=out_dir,
                         record_every_s=args.record_every, fields_every_s=args.fields_every,
                         progress=not args.json and ProgressTracker.wanted(), from_steady=args.from_steady,
                         scenario=scenario, control=args.control, airflow=args.airflow)
    print(json.dumps(result) if args.json else _human(result))
    if result.get("interrupted"):
        return 143 if result.get("signal") == "SIGTERM" else 130  # 128 + signal number, by convention
    return 0


def _schema(args: argparse.Namespace) -> int:
    from twin.model.schemas import schema_text, write_schema_files

    if args.write is not None:
        for path in write_schema_files(args.write):
            print(f"wrote {path}")
        return 0
    if args.kind is None:
        print("twin schema: error: name a file kind (hall, scenario, …) or give --write FOLDER", file=sys.stderr)
        return 2
    sys.stdout.write(schema_text(args.kind))
    return 0


def _keys(args: argparse.Namespace) -> int:
    from twin.bus.security import make_keys

    clients = None
    if args.client:
        clients = {}
        for item in args.client:
            name, sep, role = item.partition("=")
            if not sep:
                print(f"twin keys: error: --client {item!r}: write NAME=ROLE, e.g. alice=operator", file=sys.stderr)
                return 2
            clients[name] = role
    for path in make_keys(args.folder, clients):
        print(f"wrote {path}")
    return 0


def _human(s: dict) -> str:
    lines = [
        f"{s['hall']} ({s['mode']}): {s['racks']} racks, {s['it_load_kw']:,.1f} kW IT load, {s['crahs']} CRAHs, "
        f"{s['cells']:,} cells",
        f"  rack inlet: max {s['max_inlet_c']:.2f} °C ({s['max_inlet_rack']}), mean {s['mean_inlet_c']:.2f} °C; "
        f"{s['racks_outside_recommended']} racks outside 18–27 °C" if s["racks"] else "  no racks",
        f"  heat removed {s['heat_removed_kw']:,.1f} kW; energy balance error {s['energy_balance_error']:.2e}",
    ]
    if s.get("pue") is not None:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in s["pue_parts"].items())
        lines.append(f"  PUE {s['pue']:.3f} ({parts}); facility {s['facility_energy_kwh']:,.1f} kWh, "
                     f"at the rack inputs {s['rack_input_energy_kwh']:,.1f} kWh")
    if s.get("min_battery_soc") is not None and s["min_battery_soc"] < 1.0:
        lines.append(f"  lowest battery charge {100 * s['min_battery_soc']:.1f} %")
    for key, limit in (("t_inlet_27c_s", 27), ("t_inlet_32c_s", 32)):
        if s.get(key) is not None:
            lines.append(f"  a rack inlet passed {limit} °C at t = {s[key]:,.0f} s")
    if s.get("alarms"):
        raised = ", ".join(f"{a['name']} ({a['priority']}, {a['raised_s']:,.0f} s)" for a in s["alarms"][:6])
        more = f" and {len(s['alarms']) - 6} more" if len(s["alarms"]) > 6 else ""
        lines.append(f"  alarms: {raised}{more}")
    if s["mode"] != "steady":
        lines.append(f"  {s['sim_s']:,.0f} s simulated in {s['wall_s']:.2f} s wall "
                     f"(×{s['rtf'] or 0:,.0f} real time, {s['steps']} steps of {s['dt_s']:g} s)"
                     + (" — interrupted" if s["interrupted"] else ""))
    else:
        lines.append(f"  solved in {s['wall_s']:.2f} s ({s['steady']})")
    if s.get("transport_step_ms") is not None:
        lines.append(f"  step {s['step_ms']:.2f} ms, of which transport {s['transport_step_ms']:.2f} ms "
                     f"({s['transport_sweeps_per_step']:.2f} sweeps; {100 * s['transport_bandwidth_ratio']:.0f} % of "
                     f"the memory-bandwidth bound)")
    flow = s.get("airflow")
    if flow:  # the bench's: which airflow model ran, and what its flow field cost
        model = flow["model"]
        if model == "momentum":
            model += (f" ({flow['turbulence']}, {flow['convection']} convection, buoyancy "
                      f"{'on' if flow['buoyancy'] else 'off'}, {flow['heat_mixing']} heat mixing)")
        cadence = (f"; {flow['refreshes']} refreshes of {flow['refresh_ms']:,.1f} ms, one per "
                   f"{flow['refresh_every_s']:,.1f} s simulated" if flow["refreshes"] else "; no refresh")
        every = (f" (at least every {flow['refresh_interval_s']:g} s)"
                 if flow["refreshes"] and flow.get("refresh_interval_s") else "")
        lines.append(f"  airflow {model}: first solve {flow['first_solve_s']:.2f} s{cadence}{every}")
    mem = s.get("memory") or {}
    if mem.get("peak_bytes_per_cell") is not None:
        own = (f"; the twin's own {mem['twin_peak_bytes_per_cell'] / 1e3:,.2f} kB per cell"
               if mem.get("twin_peak_bytes_per_cell") is not None else "")
        lines.append(f"  peak memory {mem['peak_bytes'] / 2**20:,.0f} MiB, {mem['peak_bytes_per_cell'] / 1e3:,.2f} kB "
                     f"per cell{own}")
    if s["outputs"]:
        lines.append("  outputs:")
        lines += [f"    {p}" for p in s["outputs"]]
    return "\n".join(lines)


if __name__ == "__main__":
    entry()
