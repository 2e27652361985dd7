"""Viewer tests render off screen: EGL (or OSMesa) chosen before pyvista makes its first window."""

from __future__ import annotations

from viewer.offscreen import use_offscreen

use_offscreen(force=True)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.ports import free_ports  # noqa: E402

ASSETS = Path(__file__).resolve().parents[2] / "assets"
TINY = ASSETS / "halls" / "tiny.toml"
REFERENCE = ASSETS / "halls" / "reference.toml"


@pytest.fixture(scope="session")
def tiny_hall():
    from twin.model.load import load_hall

    return load_hall(TINY)


@pytest.fixture(scope="session")
def tiny_view():
    """The steady state of tiny.toml as the bus would carry it (computed once: about a second)."""
    from twin.bus.offline import offline_view

    return offline_view(TINY)


def free_port() -> int:
    """A port of this xdist worker's own block (tests/ports.py: no race with the other worker)."""
    return free_ports(1)[0]
