"""Every shipped hall keeps working: it validates, voxelizes, and its physics closes (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from twin.model import ASSETS_DIR, load_hall
from twin.sim.twin import HallTwin

HALLS = sorted((ASSETS_DIR / "halls").glob("*.toml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", HALLS, ids=[p.stem for p in HALLS])
def test_bundled_hall_steady_state_is_sane(path):
    """Steady state: heat removed = heat released, all rack inlets in ASHRAE's recommended band."""
    twin = HallTwin(load_hall(path))
    state = twin.steady()
    heat_w = state.rack_heat_w.sum() + twin.mover_heat_w(state).sum()
    assert np.isclose(state.crah_heat_removed_w.sum(), heat_w, rtol=1e-6)
    assert np.all((state.t_intake_c >= 18.0) & (state.t_intake_c <= 27.0)), state.t_intake_c.max()
    assert np.all(state.t_rack_c > state.t_intake_c)


@pytest.mark.slow
def test_reference_hall_transient_conserves_energy():
    """Two minutes of the reference hall from still air: energy closes to round-off."""
    twin = HallTwin(load_hall(ASSETS_DIR / "halls" / "reference.toml"))
    state = twin.initial_state()
    for _ in range(120):
        twin.step(state)
    assert abs(twin.energy_balance_error(state)) < 1e-9
    assert state.t_intake_c.max() < 27.0
