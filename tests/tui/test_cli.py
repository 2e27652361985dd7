"""`twin console` and `twin up`: options, a bad hall, and (with tmux) the real commands in an 80 × 24
terminal, driven like a person would: the screen renders, q quits, and `up` stops the server it started."""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.halls import TINY
from tests.tui.data import AUDIT, hall, scene
from tests.tui.fake_twin import FakeTwin
from tui.cli import add_parsers, commands_endpoint_for, free_loopback_endpoints, run_up
from twin.bus.protocol import DEFAULT_STATE

REPO = Path(__file__).resolve().parents[2]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="twin")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_console_options():
    """Defaults: the protocol's endpoints, role operator, a 10 min trend window; roles are checked."""
    a = _parse("console")
    assert (a.connect, a.commands, a.role, a.name, a.trend_window) == (DEFAULT_STATE, None, "operator", "console", 600)
    a = _parse("console", "--connect", "tcp://10.0.0.5:6000", "--role", "engineer", "--trend-window", "30min")
    assert (a.role, a.trend_window) == ("engineer", 1800)
    with pytest.raises(SystemExit):
        _parse("console", "--role", "admin")
    assert _parse("up", "hall.toml").hall == Path("hall.toml")


def test_commands_endpoint_is_the_next_port():
    assert commands_endpoint_for("tcp://127.0.0.1:5556") == "tcp://127.0.0.1:5557"
    with pytest.raises(ValueError, match="--commands"):
        commands_endpoint_for("ipc:///tmp/twin")


def test_up_with_a_bad_hall_says_why_and_stops(tmp_path, capsys):
    """The server fails to start: `twin up` exits 2 with the server's one-line error, no console."""
    state, commands = free_loopback_endpoints()
    bad = tmp_path / "bad.toml"
    bad.write_text("[hall]\nname = 1\n", encoding="utf-8")
    code = run_up(_parse("up", str(bad), "--state", state, "--commands", commands, "--out", str(tmp_path / "o"),
                         "--no-viewer"))
    err = capsys.readouterr().err
    assert code == 2
    assert "the twin did not start" in err and "bad.toml" in err


# --- in a real terminal (tmux) ----------------------------------------------------------------

tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One tmux server of our own (its socket in a private folder), so no one else's sessions are touched
    and nothing is left behind."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="twin-tmux-"))
        self.socket = self.folder / "socket"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, check=check)

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", command)

    def screen(self) -> list[str]:
        r = self.run("capture-pane", "-t", "t", "-p", check=False)
        return r.stdout.splitlines()

    def wait_for(self, *texts: str, timeout_s: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = self.screen()
            if all(any(t in line for line in lines) for t in texts):
                return lines
            time.sleep(0.2)
        raise AssertionError(f"{texts} not on screen after {timeout_s:g} s:\n" + "\n".join(lines))

    def alive(self) -> bool:
        return self.run("has-session", "-t", "t", check=False).returncode == 0

    def wait_gone(self, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.2)
        return False

    def kill(self) -> None:
        self.run("kill-server", check=False)

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def terminal():
    t = Tmux()
    yield t
    t.remove()


def _port_free(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("tcp://").rsplit(":", 1)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds (TIME_WAIT is no owner)
        try:
            s.bind((host, int(port)))
        except OSError:
            return False
    return True


@tmux
@pytest.mark.slow
def test_console_renders_at_80x24_in_a_terminal(terminal):
    """`twin console` in a real 80 × 24 terminal: header, view, footer fit; q quits."""
    with FakeTwin(hall(), scene(), audit=AUDIT) as fake:
        terminal.start(f"cd {REPO} && {sys.executable} -m tui.cli console --connect {fake.state_endpoint} "
                       f"--commands {fake.commands_endpoint}")
        lines = terminal.wait_for("LIVE", "RACKS", "A03", "1 Racks")
        # Nothing the operator needs is cut off at 80 columns: the racks table's last column and the
        # footer's last entry are on screen.
        columns = next(line for line in lines if line.lstrip().startswith("Rack "))
        assert all(c in columns for c in ("Inlet", "Exhaust", "IT kW", "ASHRAE", "Feed")), columns
        assert "palette" in lines[-1]
        assert lines[0].lstrip().startswith("Tiny test hall")
        assert "Inlet 27.8 °C A03" in lines[1]
        assert lines[-1].startswith("1 Racks 2 Cooling 3 Power 4 Alarms 5 Trends 6 Audit")
        terminal.run("send-keys", "-t", "t", "2")
        terminal.wait_for("COOLING", "supply_temp_setpoint")
        terminal.run("send-keys", "-t", "t", "q")
        assert terminal.wait_gone(), "q did not quit the console"


@tmux
@pytest.mark.slow
def test_up_runs_the_twin_and_the_console_and_stops_the_twin(terminal, tmp_path):
    """`twin up tiny.toml`: the console goes LIVE on the server it started; q stops both."""
    state, commands = free_loopback_endpoints()
    out = tmp_path / "up"
    terminal.start(f"cd {REPO} && {sys.executable} -m tui.cli up {TINY} --state {state} --commands {commands} "
                   f"--out {out} --no-viewer --speed 10; echo EXIT=$? > {tmp_path / 'exit.txt'}")
    terminal.wait_for("LIVE", "Tiny test hall", "RACKS", timeout_s=30.0)
    assert not _port_free(state)  # the server holds its port
    terminal.run("send-keys", "-t", "t", "q")
    assert terminal.wait_gone(20.0), "twin up did not end after q"
    assert (tmp_path / "exit.txt").read_text().strip() == "EXIT=0"
    assert "twin serve: stopped" in (out / "serve.log").read_text()
    assert _port_free(state) and _port_free(commands)


@tmux
@pytest.mark.slow
def test_up_stops_the_twin_when_its_terminal_goes_away(terminal, tmp_path):
    """A dropped SSH session (SIGHUP to `twin up`) stops the server too: no twin left running unseen."""
    state, commands = free_loopback_endpoints()
    out = tmp_path / "up"
    terminal.start(f"cd {REPO} && {sys.executable} -m tui.cli up {TINY} --state {state} --commands {commands} "
                   f"--out {out} --no-viewer")
    terminal.wait_for("LIVE", timeout_s=30.0)
    assert _servers(state), "no twin serve process found"
    terminal.kill()  # the terminal closes: SIGHUP
    deadline = time.monotonic() + 15.0
    while _servers(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _servers(state), "the server outlived its terminal"
    assert "twin serve: stopped" in (out / "serve.log").read_text()
    deadline = time.monotonic() + 15.0
    while _servers(state, b"up") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _servers(state, b"up"), "`twin up` itself outlived its terminal"


def _servers(state: str, command: bytes = b"serve") -> list[int]:
    """Pids of `twin serve` (or `twin up`) processes bound to ``state`` (read from /proc; nothing is signalled)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command in argv and state.encode() in argv:
            pids.append(int(proc.name))
    return pids
