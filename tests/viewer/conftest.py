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


#: A containment with doors across both ends of tiny.toml's cold aisle (in front of row A), as a hall
#: file would add it: the smallest hall whose walk goes through doors.
CONTAINED_TINY_TOML = """

[[containment]]
name = "cold-aisle-A"
kind = "cold-aisle"
x_m = [1.0, 3.0]
y_m = [1.0, 2.5]
height_m = 2.0
"""


@pytest.fixture(scope="session")
def contained_tiny_path(tmp_path_factory) -> Path:
    """tiny.toml with its cold aisle contained (doors at both ends and a roof), written to a file."""
    path = tmp_path_factory.mktemp("halls") / "tiny-contained.toml"
    path.write_text(TINY.read_text() + CONTAINED_TINY_TOML)
    return path


@pytest.fixture(scope="session")
def contained_tiny_view(contained_tiny_path):
    """The steady state of the contained tiny hall as the bus would carry it."""
    from twin.bus.offline import offline_view

    return offline_view(contained_tiny_path)
