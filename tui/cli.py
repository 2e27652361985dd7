"""`twin console` and `twin up`: argparse wiring, hooked into twin/cli.py by :func:`add_parsers`.

``twin console`` connects to a running ``twin serve``. ``twin up HALL`` is the one command for a new
user: it starts ``twin serve`` as a child process (its output goes to a log file, so it does not
scribble over the console), waits until the server answers, opens the 3D viewer when a display
exists, runs the console in this terminal, and stops everything it started when the console closes.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from twin.bus.protocol import DEFAULT_COMMANDS, DEFAULT_STATE, ROLES, commands_endpoint_for
from twin.cli import parse_duration_s  # the argparse form of the one duration grammar

__all__ = ["add_parsers", "commands_endpoint_for", "free_loopback_endpoints", "main", "run_console", "run_up"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``console`` and ``up`` to the ``twin`` command's subparsers."""
    c = sub.add_parser("console", help="the operator console on a running twin (a terminal UI)")
    c.add_argument("--connect", default=DEFAULT_STATE, metavar="STATE_EP",
                   help=f"the server's state endpoint (default {DEFAULT_STATE})")
    c.add_argument("--commands", default=None, metavar="EP",
                   help="the server's command endpoint (default: the state endpoint's port + 1, "
                        f"i.e. {DEFAULT_COMMANDS} for the default)")
    _client_options(c)

    u = sub.add_parser("up", help="start the twin, the console in this terminal and (with a display) the 3D viewer")
    u.add_argument("hall", type=Path, help="the hall file (TOML), e.g. assets/halls/reference.toml")
    u.add_argument("--state", default=None, metavar="EP",
                   help=f"state endpoint for the server (default {DEFAULT_STATE}, or free ports if it is taken)")
    u.add_argument("--commands", default=None, metavar="EP", help="command endpoint (default: state port + 1)")
    u.add_argument("--speed", default="1", help="simulated seconds per wall second: 1, 10, … or max (default 1)")
    u.add_argument("--scenario", type=Path, default=None, help="a scenario file for the server to play")
    u.add_argument("--from-steady", action="store_true", help="start the server from the steady state")
    u.add_argument("--airflow", choices=("potential", "momentum"), default=None,
                   help="airflow model (default: the hall file's [airflow] model, else potential)")
    u.add_argument("--out", type=Path, default=None,
                   help="server folder: audit log, checkpoint, serve.log (default out/<hall>-serve)")
    u.add_argument("--no-viewer", action="store_true", help="do not open the 3D viewer even with a display")
    u.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="the Dask cluster of the server's what-ifs (default: a local one, started at the first)")
    _client_options(u)


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", choices=ROLES, default="operator",
                   help="the role the console claims (default operator; engineer may inject training faults "
                        "and run what-ifs)")
    p.add_argument("--name", default="console", help="this console's name in the audit log (default console)")
    p.add_argument("--keys", type=Path, default=None, metavar="DIR",
                   help="CURVE key folder made by `twin keys` (for a server started with --keys)")
    p.add_argument("--key-name", default=None,
                   help="which client key in --keys to use (default: the role's name)")
    p.add_argument("--trend-window", type=parse_duration_s, default=600.0, metavar="DURATION",
                   help="simulated time the trends view covers (default 10min)")


def _client_factory(state: str, commands: str, args: argparse.Namespace):
    keys = None
    if args.keys is not None:
        from twin.bus.security import load_client_keys

        name = args.key_name or args.role
        keys = load_client_keys(args.keys / f"{name}.key_secret", args.keys / "server.key")

    def make():
        from twin.bus.client import TwinClient

        # No "fields": the console shows no 3D field and they are the largest messages on the bus.
        return TwinClient(state, commands, role=args.role, name=args.name, keys=keys,
                          topics=("summary", "event", "heartbeat"))

    return make


def run_console(args: argparse.Namespace) -> int:
    """`twin console`: run the console until the operator quits; 0, or 2 for bad options."""
    from tui.app import ConsoleApp

    try:
        commands = args.commands or commands_endpoint_for(args.connect)
        factory = _client_factory(args.connect, commands, args)
    except Exception as exc:  # noqa: BLE001 - bad endpoint or keys: one line, like every twin command
        print(f"twin console: error: {exc}", file=sys.stderr)
        return 2
    ConsoleApp(factory, role=args.role, trend_window_s=args.trend_window).run()
    return 0


def _port_free(endpoint: str) -> bool:
    m = re.fullmatch(r"tcp://(.+):(\d+)", endpoint)
    if not m:
        return True  # ipc:// and the like: let the server say
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As ZeroMQ binds: a port whose old connections linger in TIME_WAIT is free to bind.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((m.group(1) if m.group(1) not in ("*", "localhost") else "127.0.0.1", int(m.group(2))))
        except OSError:
            return False
    return True


def free_loopback_endpoints() -> tuple[str, str]:
    """Two loopback endpoints on ports free just now (the OS picks them)."""
    ports = []
    socks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return f"tcp://127.0.0.1:{ports[0]}", f"tcp://127.0.0.1:{ports[1]}"


def _twin_command() -> list[str]:
    """How to run `twin` from here: this interpreter and twin.cli (no reliance on PATH)."""
    return [sys.executable, "-m", "twin.cli"]


def _wait_ready(proc: subprocess.Popen, state: str, commands: str, timeout_s: float) -> bool:
    """True once the server answers a ping; False if it exits or stays silent."""
    from twin.bus.client import CommandError, TwinClient

    deadline = time.monotonic() + timeout_s
    with TwinClient(state, commands, role="observer", name="twin-up", topics=("heartbeat",)) as probe:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if probe.request("ping", timeout_s=0.5).status == "ok":
                    return True
            except CommandError:
                time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen | None, timeout_s: float = 10.0) -> int | None:
    """SIGTERM (the server then writes its final checkpoint), SIGKILL if it does not go in time."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _tail(path: Path, n: int = 5) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _die_with_parent():
    """A preexec_fn that makes a child get SIGTERM when `twin up` dies, however it dies (Linux's
    PR_SET_PDEATHSIG): a dropped SSH session or a kill -9 must not leave a twin running unseen."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork: only the call runs in the child
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, int(signal.SIGTERM))


def run_up(args: argparse.Namespace) -> int:
    """`twin up HALL`: server, console (and viewer); stops what it started when the console closes."""
    from tui.app import ConsoleApp

    state = args.state or DEFAULT_STATE
    try:
        commands = args.commands or commands_endpoint_for(state)
        factory = _client_factory(state, commands, args)
    except Exception as exc:  # noqa: BLE001 - bad endpoint or keys: one line, before anything starts
        print(f"twin up: error: {exc}", file=sys.stderr)
        return 2
    if not (_port_free(state) and _port_free(commands)):
        if args.state is not None or args.commands is not None:
            print(f"twin up: error: {state} or {commands} is in use (another twin serve?): stop it, or give "
                  f"other --state/--commands", file=sys.stderr)
            return 2
        state, commands = free_loopback_endpoints()
        factory = _client_factory(state, commands, args)
        print(f"twin up: the default ports are taken (another twin serve?); using {state} and {commands}",
              file=sys.stderr)
    out = args.out or Path("out") / f"{Path(args.hall).stem}-serve"
    try:
        out.mkdir(parents=True, exist_ok=True)
        log_path = out / "serve.log"
        log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - the child holds it as long as it runs
    except OSError as exc:
        print(f"twin up: error: --out {out}: {exc}", file=sys.stderr)
        return 2
    cmd = [*_twin_command(), "serve", str(args.hall), "--state", state, "--commands", commands,
           "--speed", str(args.speed), "--out", str(out)]
    if args.scenario is not None:
        cmd += ["--scenario", str(args.scenario)]
    if args.from_steady:
        cmd.append("--from-steady")
    if args.airflow is not None:
        cmd += ["--airflow", args.airflow]
    if args.keys is not None:
        cmd += ["--keys", str(args.keys)]
    if args.scheduler is not None:
        cmd += ["--scheduler", args.scheduler]
    print(f"twin up: starting the twin ({' '.join(cmd[3:])}); its log is {log_path}", file=sys.stderr, flush=True)
    # Children get a session of their own (Ctrl-C in this terminal is the console's; we stop them) and
    # die with us. Both are started before any thread exists (preexec_fn is unsafe with threads).
    spawn = {"stdin": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "start_new_session": True,
             "preexec_fn": _die_with_parent()}
    server = subprocess.Popen(cmd, stdout=log, **spawn)
    viewer = viewer_log = None
    if os.environ.get("DISPLAY") and not args.no_viewer:
        # The viewer keeps asking until the server answers, so it may start at the same time.
        viewer_log = open(out / "viewer.log", "w", encoding="utf-8")  # noqa: SIM115
        viewer = subprocess.Popen([*_twin_command(), "view", "--connect", state], stdout=viewer_log, **spawn)
    previous: dict = {}
    try:
        if not _wait_ready(server, state, commands, timeout_s=60.0):
            code = _stop(server)
            print(f"twin up: error: the twin did not start (exit {code}):\n{_tail(log_path)}", file=sys.stderr)
            return 2 if code in (None, 0) else code
        app = ConsoleApp(factory, role=args.role, trend_window_s=args.trend_window)

        def on_signal(signum, frame) -> None:
            # The terminal went away (SIGHUP) or someone asked us to stop: the children first.
            _stop(viewer, timeout_s=5.0)
            _stop(server)
            app.exit()
            # With its terminal gone the console may never get to run its exit (it blocks on the dead
            # terminal), and `twin up` would stay behind unseen. The children are stopped and nothing is left
            # to restore on a terminal that no longer exists: end the process if the app has not in 5 s.
            stopper = threading.Timer(5.0, os._exit, args=(128 + signum,))
            stopper.daemon = True
            stopper.start()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGHUP, signal.SIGTERM)}
        app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(viewer, timeout_s=5.0)
        code = _stop(server)
        log.close()
        if viewer_log is not None:
            viewer_log.close()
    # The server answers SIGTERM by writing its final checkpoint and exiting 143: that is a clean stop.
    how = "checkpoint written" if code in (143, -15) else f"exit {code}"
    print(f"twin up: stopped the twin ({how}); log {log_path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tui.cli console|up ...``: the same commands without the rest of ``twin``."""
    parser = argparse.ArgumentParser(prog="twin")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    return run_console(args) if args.command == "console" else run_up(args)


if __name__ == "__main__":
    sys.exit(main())
