"""Real servers and clients on loopback for the bus tests: in-process threads or `twin serve` processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.halls import TINY
from tests.ports import free_ports
from twin.bus.client import TwinClient
from twin.bus.server import ServeOptions, TwinServer
from twin.model.load import load_hall
from twin.sim.twin import HallTwin

TWIN = Path(sys.executable).with_name("twin")


def endpoints() -> tuple[str, str]:
    a, b = free_ports(2)
    return f"tcp://127.0.0.1:{a}", f"tcp://127.0.0.1:{b}"


class ServerThread:
    """A TwinServer on tiny.toml running in a thread (stopped and closed on exit)."""

    def __init__(self, *, hall=None, control: str = "embedded", **options) -> None:
        self.hall = hall or load_hall(TINY)
        self.twin = HallTwin(self.hall, control=control)
        state_ep, commands_ep = endpoints()
        opts = {"speed": float("inf"), "heartbeat_s": 0.2, "state_endpoint": state_ep,
                "commands_endpoint": commands_ep, **options}
        self.state_ep, self.commands_ep = opts["state_endpoint"], opts["commands_endpoint"]
        self.server = TwinServer(self.twin, self.twin.initial_state(), options=ServeOptions(**opts),
                                 save_checkpoint=_save_checkpoint())
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def __enter__(self) -> ServerThread:
        self.server.bind()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.server.run(stop=self._stop.is_set)
        except BaseException as exc:  # surfaced by the test through .error
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=30)

    def __exit__(self, *exc) -> None:
        self.stop()
        self.server.close()
        assert self.error is None, f"server thread died: {self.error!r}"

    def client(self, **kw) -> TwinClient:
        return TwinClient(self.state_ep, self.commands_ep, **kw)


def _save_checkpoint():
    from twin.sim.checkpoint import save_checkpoint

    return save_checkpoint


@pytest.fixture
def server_thread():
    return ServerThread


@contextmanager
def serve_process(*args: str, hall: Path = TINY, ports: tuple[str, str] | None = None, out: Path | None = None):
    """`twin serve` as a real process; yields (process, state endpoint, commands endpoint)."""
    state_ep, commands_ep = ports or endpoints()
    cmd = [str(TWIN), "serve", str(hall), "--state", state_ep, "--commands", commands_ep, *args]
    if out is not None:
        cmd += ["--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc, state_ep, commands_ep
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def wait_until(cond, timeout_s: float, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step_s)
    return cond()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")
