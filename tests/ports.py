"""Loopback ports for tests that hand an endpoint to a server (a thread, a `twin serve` process, a viewer).

A port found with ``bind(0)`` and released is handed out again by the kernel to whoever asks next: with two
pytest-xdist workers, both could pick it and one server then fails to bind. So each worker draws from its
own block of ports below Linux's ephemeral range (32768-60999, where ``bind(0)``, ZeroMQ's
``bind_to_random_port`` and outgoing connections take theirs), and moves on through its block from call to
call, so that a port a finished test released (its server may still be closing) is not reused at once.
The block starts at a random offset: two suites on one machine (two checkouts) seldom meet.
"""

from __future__ import annotations

import os
import random
import re
import socket

__all__ = ["free_ports"]

_FIRST_PORT = 20000
_BLOCK = 1500  # ports per worker: 8 blocks fit below 32000


def _worker_index() -> int:
    """0 outside xdist (PYTEST_XDIST_WORKER unset); k+1 for worker ``gwk``."""
    m = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return 0 if m is None else int(m.group(1)) % 7 + 1


_LO = _FIRST_PORT + _worker_index() * _BLOCK
_next = random.randrange(_BLOCK)


def free_ports(n: int = 2) -> list[int]:
    """``n`` distinct ports of this worker's block that nothing listens on now."""
    global _next
    ports: list[int] = []
    for _ in range(_BLOCK):
        if len(ports) == n:
            break
        port = _LO + _next
        _next = (_next + 1) % _BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # taken (a server still closing, or another program): try the next one
                continue
        ports.append(port)
    if len(ports) < n:
        raise RuntimeError(f"no {n} free ports in {_LO}-{_LO + _BLOCK - 1}")
    return ports
