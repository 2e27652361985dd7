"""Fixtures of the console's tests: a fake twin on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tui.data import AUDIT, hall, scene
from tests.tui.fake_twin import FakeTwin


@pytest.fixture
def fake_twin() -> Iterator[FakeTwin]:
    """A fake twin serving the tiny hall's frozen scene (alarms in every state, A03 above the band)."""
    with FakeTwin(hall(), scene(), audit=AUDIT) as fake:
        yield fake

